"""Selling and its undoing: sell, unsell, delete, void, and the printout record."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.db.models import Count, F, Max, Min, QuerySet, Sum
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from ficha.core import audit, clock, codes
from ficha.core.services import currency
from ficha.ledger import services as ledger
from ficha.ledger.models import Account, Transaction

from ..models import Recharge, Tally
from .base import PAYMENT_METHODS, S, _chunks, _ids, _money
from .errors import RechargeError, _error_input, _int
from .queries import get_batch, get_by_code
from .tally import _tally, _tally_rows


@dataclass(frozen=True)
class Sale:
    """What a sale did: ``count`` codes of ``face`` total value sold for ``paid`` (minor
    units) by ``method``, posted as ``transaction``."""

    count: int
    paid: int
    face: int
    method: str
    transaction: Transaction
    shift_id: int


@dataclass(frozen=True)
class Unsale:
    """What undoing sales did: ``count`` codes back to unsold, ``refund`` (minor units)
    to give back to the buyers, per payment method in ``refunds``."""

    count: int
    refund: int
    face: int
    refunds: dict[str, int]
    transactions: list[int]


def _payment_account(method: str) -> str | Account:
    if method not in PAYMENT_METHODS:
        raise _error_input(_("Unknown payment method."))
    if method == "cash":
        return ledger.CASH
    code = f"payment:{method}"
    acct = Account.objects.filter(code=code).first()
    if acct is None:
        try:
            with transaction.atomic():
                acct = ledger.open_account(code, Account.Kind.ASSET, PAYMENT_METHODS[method])
        except IntegrityError:
            acct = Account.objects.get(code=code)
    return acct


def _account_pk(acct) -> int:
    return acct.pk if isinstance(acct, Account) else ledger.account_id(acct)


def _sale_lines(method: str, face: int, paid: int, sign: int = 1) -> list:
    """Ledger lines of a sale (sign 1) or of its mirror (sign −1)."""
    return [
        (_payment_account(method), sign * paid),
        (ledger.RECHARGE_LIABILITY, -sign * face),
        (ledger.ADJUSTMENTS, sign * (face - paid)),
    ]


def _staff_shift(actor: audit.Actor, what: str):
    if actor.staff is None:
        raise RechargeError("state", _("Only a staff member can %(what)s.") % {"what": what})
    try:
        return ledger.require_shift(actor.staff)
    except ledger.NoOpenShift as exc:
        raise RechargeError("shift", str(exc))


def _codes_for_audit(ids_or_codes: list, limit: int = 100) -> list:
    return list(ids_or_codes[:limit])


def record_print(actor: audit.Actor, recharges: list, fmt: str) -> None:
    """Audit a printout: who printed which codes, in what format (codes are money)."""
    batches = sorted({r.batch.label for r in recharges if r.batch_id})
    audit.record(
        actor, "recharges.print", object_type="recharges.recharge",
        object_id=",".join(batches)[:64],
        after={"count": len(recharges), "format": fmt, "batches": batches,
               "codes": _codes_for_audit([r.code for r in recharges])},
        summary=ngettext("%(n)d code printed (%(fmt)s)", "%(n)d codes printed (%(fmt)s)",
                         len(recharges)) % {"n": len(recharges), "fmt": fmt},
    )


def _sell(actor: audit.Actor, selections: list[QuerySet], *, payment_method: str,
          price: int | None, what: dict) -> Sale:
    _payment_account(payment_method)  # validates the method before anything else
    if price is not None:
        price = _int(price, _("The price"))
        if price < 0:
            raise _error_input(_("The price cannot be negative."))
    shift = _staff_shift(actor, _("sell recharges"))
    user = actor.staff
    now = clock.now()
    cur = currency()
    with transaction.atomic():
        n = 0
        for qs in selections:
            n += (
                qs.sellable(now).filter(currency=cur)
                .update(status=S.SOLD, sold_at=now, sold_by=user, sold_shift=shift,
                        payment_method=payment_method,
                        sale_price=F("amount") if price is None else price)
            )
        if not n:
            raise RechargeError("state", _("None of these codes can be sold (only unsold, "
                                           "unexpired codes can)."))
        # This transaction's rows are the shift's sold rows without a sale transaction
        # yet (others' uncommitted rows are invisible; committed ones have it set).
        mine = Recharge.objects.filter(status=S.SOLD, sold_shift=shift,
                                       sale_transaction__isnull=True)
        agg = mine.aggregate(n=Count("pk"), face=Sum("amount"), paid=Sum("sale_price"),
                             lo=Min("amount"), hi=Max("amount"))
        if price is not None and agg["lo"] != agg["hi"]:
            raise _error_input(_("These codes have different amounts; sell them at their "
                                 "face value or one amount at a time."))
        face, paid = int(agg["face"]), int(agg["paid"])
        n = agg["n"]
        tx = ledger.post(
            "recharge.sale", _sale_lines(payment_method, face, paid), actor=actor,
            shift=shift, memo=f"{agg['n']} recharge(s)", reference="recharges",
        )
        per_batch = list(mine.order_by().values_list("batch_id")
                         .annotate(n=Count("pk"), v=Sum("amount"))
                         .values_list("batch_id", "n", "v"))
        sold_codes = list(mine.order_by("id").values_list("code", flat=True)[:100])
        mine.update(sale_transaction=tx)
        _tally(*[d for b, bn, bv in per_batch for d in (
            (S.UNSOLD, b, -bn, -bv), (S.SOLD, b, bn, bv), (Tally.LIABILITY, b, bn, bv))])
        audit.record(
            actor, "recharges.sell", tx, object_type="ledger.transaction",
            after={**what, "count": n, "face": face, "paid": paid,
                   "payment_method": payment_method, "shift": shift.pk, "codes": sold_codes},
            summary=_("Sold %(count)d recharges for %(paid)s")
            % {"count": n, "paid": _money(paid)},
        )
    return Sale(count=n, paid=paid, face=face, method=payment_method, transaction=tx,
                shift_id=shift.pk)


def mine_by_batch(tx) -> list[tuple[int, int, int]]:
    """(batch id, count, face) of the codes a sale transaction sold."""
    return list(Recharge.objects.filter(sale_transaction=tx).order_by().values_list("batch_id")
                .annotate(n=Count("pk"), v=Sum("amount")).values_list("batch_id", "n", "v"))


def sell(actor: audit.Actor, recharges, *, payment_method: str = "cash",
         price: int | None = None) -> Sale:
    """Sell the given codes (Recharge objects or ids): those not unsold are skipped.

    ``price`` is per code (default: its face amount) and needs codes of one amount.
    Needs the seller's open shift. Returns the :class:`Sale` (how many, paid, face,
    method); none sold → RechargeError.
    """
    ids = _ids(recharges)
    if not ids:
        raise _error_input(_("Select at least one code."))
    selections = [Recharge.objects.filter(pk__in=chunk) for chunk in _chunks(ids)]
    return _sell(actor, selections, payment_method=payment_method, price=price,
                 what={"ids": _codes_for_audit(ids)})


def sell_range(actor: audit.Actor, first_code: str, last_code: str, **kw) -> Sale:
    """Sell the codes of one batch from ``first_code`` to ``last_code`` in print order.

    Codes are random, so a "range" is the printed sequence (generation order) of one
    batch, both ends included, whichever of the two comes first.
    """
    first, last = get_by_code(first_code), get_by_code(last_code)
    if first is None or last is None:
        missing = first_code if first is None else last_code
        raise _error_input(_("No such code: %(code)s") % {"code": missing})
    if first.batch_id != last.batch_id:
        raise _error_input(_("Both codes must come from the same batch."))
    lo, hi = sorted((first.pk, last.pk))
    qs = Recharge.objects.filter(batch_id=first.batch_id, pk__gte=lo, pk__lte=hi)
    return _sell(actor, [qs], what={"batch": first.batch_id, "from": first.code,
                                    "to": last.code}, **_sell_kw(kw))


def sell_batch(actor: audit.Actor, batch, **kw) -> Sale:
    """Sell every unsold, unexpired code of a batch (Batch, id or label)."""
    batch = get_batch(batch)
    return _sell(actor, [Recharge.objects.filter(batch_id=batch.pk)],
                 what={"batch": batch.pk, "label": batch.label}, **_sell_kw(kw))


def _sell_kw(kw: dict) -> dict:
    unknown = set(kw) - {"payment_method", "price"}
    if unknown:
        raise TypeError(f"unexpected arguments: {sorted(unknown)}")
    return {"payment_method": kw.get("payment_method", "cash"), "price": kw.get("price")}


def unsell(actor: audit.Actor, recharges) -> Unsale:
    """Undo sales made in the actor's current shift (sold, unused codes only).

    Posts the mirror image of the sale lines of those codes, in the same shift; codes
    that do not qualify are skipped; none → RechargeError("state"). Returns the
    :class:`Unsale`: how many, and what goes back to the buyers.
    """
    ids = _ids(recharges)
    if not ids:
        raise _error_input(_("Select at least one code."))
    shift = _staff_shift(actor, _("undo a sale"))
    now = clock.now()
    with transaction.atomic():
        rows = []
        for chunk in _chunks(ids):
            rows += list(
                Recharge.objects.select_for_update()
                .filter(pk__in=chunk, status=S.SOLD, sold_shift=shift)
                .values("pk", "code", "amount", "sale_price", "payment_method",
                        "sale_transaction_id", "batch_id")
            )
        if not rows:
            raise RechargeError("state", _("Only sales made in your current shift can be "
                                           "undone, before the code is used. An owner can "
                                           "void a sold code instead."))
        by_tx: dict[int, list[dict]] = defaultdict(list)
        for r in rows:
            by_tx[r["sale_transaction_id"]].append(r)
        posted = []
        for tx_id, group in by_tx.items():
            method = group[0]["payment_method"]
            face = sum(r["amount"] for r in group)
            paid = sum(r["sale_price"] for r in group)
            lines = _sale_lines(method, face, paid, sign=-1)
            sale = Transaction.objects.get(pk=tx_id)
            mirror = sorted((e.account_id, -e.amount) for e in sale.entries.all())
            mine = sorted((_account_pk(a), amt) for a, amt in lines if amt)
            if mine == mirror and not Transaction.objects.filter(reverses=sale).exists():
                tx = ledger.reverse(sale, actor=actor, shift=shift, kind="recharge.unsell",
                                    memo=f"unsell: reverses #{tx_id}")
            else:
                tx = ledger.post("recharge.unsell", lines, actor=actor, shift=shift,
                                 memo=f"unsell {len(group)} of #{tx_id}",
                                 reference=f"sale:{tx_id}")
            posted.append(tx.pk)
        pks = [r["pk"] for r in rows]
        n = 0
        for chunk in _chunks(pks):
            n += Recharge.objects.filter(pk__in=chunk, status=S.SOLD).update(
                status=S.UNSOLD, sold_at=None, sold_by=None, sold_shift=None, sale_price=None,
                payment_method="", sale_transaction=None,
            )
        if n != len(rows):  # pragma: no cover - rows are locked above
            raise RechargeError("state", _("These codes changed meanwhile; try again."))
        face = sum(r["amount"] for r in rows)
        refunds: dict[str, int] = defaultdict(int)
        for r in rows:
            refunds[r["payment_method"]] += r["sale_price"]
        _tally_rows([(r["batch_id"], r["amount"]) for r in rows],
                    (S.SOLD, -1), (S.UNSOLD, 1), (Tally.LIABILITY, -1))
        audit.record(
            actor, "recharges.unsell", object_type="recharges.recharge",
            object_id=rows[0]["pk"] if n == 1 else "",
            after={"count": n, "face": face, "refund": sum(refunds.values()),
                   "codes": [r["code"] for r in rows[:100]],
                   "transactions": posted, "shift": shift.pk, "at": now.isoformat()},
            summary=_("Sale of %(count)d recharges undone") % {"count": n},
        )
    return Unsale(count=n, refund=sum(refunds.values()), face=face, refunds=dict(refunds),
                  transactions=posted)


def delete(actor: audit.Actor, recharges) -> int:
    """Delete unsold codes (also unsold ones that expired). Others are skipped.

    The row stays as a tombstone (status ``deleted``), so the code is never issued
    again and a later attempt to use it still raises a fraud alert.
    """
    ids = _ids(recharges)
    if not ids:
        raise _error_input(_("Select at least one code."))
    now = clock.now()
    with transaction.atomic():
        rows = []
        for chunk in _chunks(ids):
            rows += list(
                Recharge.objects.select_for_update().deletable().filter(pk__in=chunk)
                .values("pk", "code", "amount", "status", "batch_id")
            )
        if not rows:
            raise RechargeError("state", _("Only unsold codes can be deleted. A sold code "
                                           "can be voided by an owner; a used one never."))
        n = 0
        for chunk in _chunks([r["pk"] for r in rows]):
            n += (Recharge.objects.filter(pk__in=chunk).deletable()
                  .update(status=S.DELETED, deleted_at=now, deleted_by=actor.staff))
        for st in (S.UNSOLD, S.EXPIRED):
            _tally_rows([(r["batch_id"], r["amount"]) for r in rows if r["status"] == st],
                        (st, -1), (S.DELETED, 1))
        face = sum(r["amount"] for r in rows)
        audit.record(
            actor, "recharges.delete", object_type="recharges.recharge",
            object_id=rows[0]["pk"] if n == 1 else "",
            after={"count": n, "face": face, "codes": [r["code"] for r in rows[:100]]},
            summary=_("%(count)d unsold recharges deleted") % {"count": n},
        )
    return n


def void(actor: audit.Actor, recharge, reason: str) -> Recharge:
    """Void a sold, unused code with a reason and refund what the buyer paid.

    The refund is the mirror image of the code's sale lines: cash leaves the voiding
    staff member's open shift (the sale's shift is usually closed by then; otherwise
    "unsell" is the tool), or the original non-cash payment account.
    """
    reason = (reason or "").strip()
    if not reason:
        raise _error_input(_("Say why you void this code."))
    pk = _ids(recharge)
    if len(pk) != 1:
        raise _error_input(_("Void one code at a time."))
    if actor.staff is None:
        raise RechargeError("state", _("Only a staff member can void a code."))
    now = clock.now()
    with transaction.atomic():
        row = Recharge.objects.select_for_update().filter(pk=pk[0]).first()
        if row is None:
            raise _error_input(_("Unknown recharge."))
        if row.status == S.USED:
            raise RechargeError("state", _("A used code cannot be voided."))
        if row.status in (S.UNSOLD, S.DELETED) or (row.status == S.EXPIRED
                                                   and row.sold_at is None):
            raise RechargeError("state", _("This code was not sold; delete it instead."))
        if row.status == S.VOID:
            raise RechargeError("state", _("This code is already void."))
        if row.effective_status(now) == S.EXPIRED:
            raise RechargeError("state", _("This code has expired; it cannot be voided."))
        shift = ledger.current_shift(actor.staff)
        if row.payment_method == "cash" and shift is None:
            raise RechargeError("shift", _("Open a shift to pay the refund in cash."))
        tx = ledger.post(
            "recharge.void", _sale_lines(row.payment_method, row.amount, row.sale_price, -1),
            actor=actor, shift=shift, memo=f"void: {reason}"[:255],
            reference=f"recharge:{row.pk}",
        )
        n = Recharge.objects.filter(pk=row.pk, status=S.SOLD).update(
            status=S.VOID, voided_at=now, voided_by=actor.staff, void_reason=reason,
            void_transaction=tx,
        )
        if n != 1:  # pragma: no cover - the row is locked
            raise RechargeError("state", _("This code changed meanwhile; try again."))
        _tally_rows([(row.batch_id, row.amount)], (S.SOLD, -1), (S.VOID, 1),
                    (Tally.LIABILITY, -1))
        audit.record(
            actor, "recharges.void", row,
            before={"status": S.SOLD, "sale_price": row.sale_price},
            after={"status": S.VOID, "reason": reason, "refund": row.sale_price,
                   "transaction": tx.pk, "code": row.code},
            summary=_("Recharge %(code)s voided: %(reason)s")
            % {"code": codes.group(row.code), "reason": reason},
        )
        row.refresh_from_db()
    return row

