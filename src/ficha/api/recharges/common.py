"""What the recharges endpoints share: error answers, input types and row helpers."""

from __future__ import annotations

import functools

from django.db.models import Count
from django.http import Http404, HttpResponse
from django.utils.translation import gettext as _

from ficha.core import clock, codes
from ficha.core.money import Money
from ficha.core.services import currency as venue_currency
from ficha.recharges import printouts
from ficha.recharges import services as recharges
from ficha.recharges.models import Batch, Recharge

from .. import errors
from ..schemas import ERRORS, Message, money
from .payloads import BatchPrintQuery, PrintSelection, RechargeFilter, _Selection

# RechargeError.reason -> (HTTP status, machine code)
REASON_STATUS: dict[str, tuple[int, str]] = {
    "input": (400, "recharge_error"),
    "format": (400, "invalid_code_format"),
    "invalid": (400, "invalid_code"),
    "used": (409, "code_used"),
    "state": (409, "recharge_state"),
    "shift": (409, "no_open_shift"),
    "disabled": (409, "customer_disabled"),
    "expired": (410, "code_expired"),
    "throttled": (429, "throttled"),
}


# A RechargeError raised outside this router (and any unknown reason) answers 400.
errors.register(recharges.RechargeError, 400, "recharge_error")


ERRORS_REDEEM = {**ERRORS, 410: Message, 429: Message}
ERRORS_PRINT = {**ERRORS, 422: Message}


def recharge_error_response(exc: recharges.RechargeError) -> HttpResponse:
    """The JSON answer to a refused recharge request (see ``REASON_STATUS``)."""
    status, code = REASON_STATUS.get(exc.reason, (400, "recharge_error"))
    extra = {"reason": exc.reason}
    if exc.reason == "expired" and exc.expired_at is not None:
        extra["expired_at"] = exc.expired_at.isoformat()
    if exc.reason == "throttled":
        extra["retry_after"] = max(1, int(exc.retry_after or 1))
    message = str(exc) or _("The request cannot be done.")
    response = errors.error_response(status, message, code, **extra)
    if exc.reason == "throttled":
        response["Retry-After"] = str(extra["retry_after"])
    return response


def answer_recharge_errors(handler):
    """Turn a RechargeError into its answer inside the operation (so the idempotency
    layer stores it like any other final answer, and 429 carries Retry-After)."""

    @functools.wraps(handler)
    def wrapper(request, *args, **kwargs):
        try:
            return handler(request, *args, **kwargs)
        except recharges.RechargeError as exc:
            return recharge_error_response(exc)

    return wrapper


def _money_or_none(minor, cur):
    return money(minor, cur) if minor is not None else None


def recharge_out(r: Recharge) -> dict:
    return {
        "id": r.pk,
        "code": r.code,
        "display_code": codes.group(r.code),
        "status": r.status,
        "amount": money(r.amount, r.currency),
        "batch": {"id": r.batch_id, "label": r.batch.label},
        "created_at": r.created_at,
        "expires_at": r.expires_at,
        "sold_at": r.sold_at,
        "sold_by": r.sold_by.get_username() if r.sold_by_id else None,
        "sold_shift_id": r.sold_shift_id,
        "sale_price": _money_or_none(r.sale_price, r.currency),
        "payment_method": r.payment_method,
        "used_at": r.used_at,
        "used_by": ({"id": r.used_by_id, "username": r.used_by.username}
                    if r.used_by_id else None),
        "used_door": r.used_door,
        "expired_at": r.expired_at,
        "voided_at": r.voided_at,
        "voided_by": r.voided_by.get_username() if r.voided_by_id else None,
        "void_reason": r.void_reason,
        "deleted_at": r.deleted_at,
    }


def _counts(batch_ids: list[int]) -> dict[int, dict[str, int]]:
    out: dict[int, dict[str, int]] = {pk: {} for pk in batch_ids}
    if batch_ids:
        rows = (Recharge.objects.filter(batch_id__in=batch_ids).order_by()
                .values_list("batch_id", "status").annotate(n=Count("pk")))
        for batch_id, status, n in rows:
            out[batch_id][status] = n
    return out


def batch_out(batch: Batch, counts: dict[str, int] | None = None) -> dict:
    if counts is None:
        counts = _counts([batch.pk])[batch.pk]
    return {
        "id": batch.pk,
        "label": batch.label,
        "amount": money(batch.amount, batch.currency),
        "count": batch.count,
        "expires_at": batch.expires_at,
        "valid_days": batch.valid_days,
        "code_length": batch.code_length,
        "check_digit": batch.check_digit,
        "created_by": batch.created_by.get_username() if batch.created_by_id else None,
        "created_at": batch.created_at,
        "counts": counts,
    }


def _get_batch(batch_id: int) -> Batch:
    batch = Batch.objects.select_related("created_by").filter(pk=batch_id).first()
    if batch is None:
        raise Http404(_("No batch with id %(id)s.") % {"id": batch_id})
    return batch


def _batch_ref(ref) -> Batch:
    """A batch named in a body (id or label); an unknown one is a 404."""
    try:
        return recharges.get_batch(ref)
    except recharges.RechargeError:
        raise Http404(_("No such batch: %(ref)s") % {"ref": ref})


def _get_recharge(code: str) -> Recharge:
    found = recharges.get_by_code(code)
    if found is None:
        raise Http404(_("No recharge with code %(code)s.") % {"code": code[:64]})
    return Recharge.objects.select_related("batch", "sold_by", "used_by", "voided_by").get(
        pk=found.pk)


def _ids_of_codes(typed: list[str]) -> list[int]:
    """Recharge ids of codes as typed (``codes.parse``); an unknown code is refused by
    name."""
    wanted = {}
    for text in typed:
        try:
            digits = codes.parse(text)
        except codes.CodeError:
            raise Http404(_("No recharge with code %(code)s.") % {"code": text})
        wanted.setdefault(digits, text)
    found: dict[str, int] = {}
    keys = list(wanted)
    for i in range(0, len(keys), 500):
        found.update(Recharge.objects.filter(code__in=keys[i:i + 500])
                     .values_list("code", "pk"))
    for digits, text in wanted.items():
        if digits not in found:
            raise Http404(_("No recharge with code %(code)s.") % {"code": text})
    return [found[d] for d in wanted]


def _selected_ids(payload: _Selection) -> list[int]:
    ids = list(payload.ids or [])
    if payload.codes:
        ids += _ids_of_codes(payload.codes)
    if not ids:
        raise recharges.RechargeError("input", _("Select at least one code."))
    return ids


def _query(filters: RechargeFilter) -> recharges.RechargeQuery:
    amount = filters.amount_minor
    if filters.amount is not None:
        if amount is not None:
            raise recharges.RechargeError("input", _("Give either amount or amount_minor, "
                                                     "not both."))
        amount = Money.parse(filters.amount, venue_currency()).minor
    return recharges.RechargeQuery(
        status=list(filters.status) or None, batch=filters.batch, amount=amount,
        code=filters.code or None, sold_from=filters.sold_from, sold_to=filters.sold_to,
        used_from=filters.used_from, used_to=filters.used_to,
        created_from=filters.created_from, created_to=filters.created_to,
        order=filters.order,
    )


def _totals_out(totals: dict) -> dict:
    cur = venue_currency()
    return {key: {"count": value["count"], "value": money(value["value"], cur)}
            for key, value in totals.items()}


def _binary(content_type: str, extension: str) -> dict:
    return {"responses": {200: {
        "description": f"The {extension} file",
        "content": {content_type: {"schema": {"type": "string", "format": "binary"}}},
    }}}


def _download(data: bytes, content_type: str, filename: str) -> HttpResponse:
    response = HttpResponse(data, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Content-Length"] = str(len(data))
    return response


def _safe_name(label: str) -> str:
    name = "".join(ch if ch.isascii() and (ch.isalnum() or ch in "-_.") else "-"
                   for ch in label).strip("-.")
    return name[:60] or "recharges"


def _capped(rows: list, total=None) -> list:
    """``rows`` if one printout holds them, else 422. ``total()`` counts what was asked
    for when ``rows`` stopped one past the cap (the message names the real number)."""
    if len(rows) > printouts.MAX_CARDS:
        n = total() if total is not None else len(rows)
        raise errors.ApiError(422, _(
            "One printout holds at most %(max)s cards and this one would have %(n)s; print "
            "it in parts (offset and limit).") % {"max": f"{printouts.MAX_CARDS:,}",
                                                  "n": f"{n:,}"},
            "too_many_cards")
    return rows


def _batch_rows(batch_id: int, query: BatchPrintQuery) -> tuple[Batch, list[Recharge]]:
    batch = _get_batch(batch_id)
    qs = recharges.search(batch=batch, order="id").printable()
    if query.status:
        qs = qs.filter(status=query.status)
    end = asked = query.offset + query.limit if query.limit is not None else None
    if end is None or query.limit > printouts.MAX_CARDS:
        # read one more than the cap at most: enough to refuse without loading a batch
        end = query.offset + printouts.MAX_CARDS + 1 if end is None else min(
            end, query.offset + printouts.MAX_CARDS + 1)
    rows = list(qs[query.offset:end])
    if not rows:
        raise Http404(_("This batch has no printable codes (unsold or sold, not expired)."))
    return batch, _capped(rows, lambda: qs[query.offset:asked].count())


def _selection_rows(selection: PrintSelection) -> list[Recharge]:
    ids = list(selection.id)
    if selection.code:
        ids += _ids_of_codes(selection.code)
    if not ids:
        raise recharges.RechargeError("input", _("Give id or code parameters to print."))
    ids = list(dict.fromkeys(ids))
    _capped(ids)
    by_pk = {r.pk: r for r in Recharge.objects.filter(pk__in=ids).printable()
             .select_related("batch")}
    rows = [by_pk[pk] for pk in ids if pk in by_pk]
    if not rows:
        raise Http404(_("None of these codes can be printed (only unsold or sold ones, "
                        "not expired)."))
    return rows


def _stamp() -> str:
    return f"{recharges.local_time(clock.now()):%Y%m%d-%H%M}"

