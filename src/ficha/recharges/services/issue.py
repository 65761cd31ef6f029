"""Issuing codes: generate a batch of fresh, never reused codes."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable

from django.db import IntegrityError, connection, transaction
from django.db.models import Sum
from django.utils.translation import gettext as _

from ficha.core import audit, clock, codes
from ficha.core.services import venue_settings

from ..models import Batch, Recharge
from .base import (
    CHUNK,
    MAX_BATCH,
    MAX_SPACE_SHARE,
    MAX_VALID_DAYS,
    S,
    _aware,
    _money,
    end_of_day,
    local_time,
)
from .errors import _error_input, _int
from .queries import _bound
from .tally import _tally

_formats_cache: tuple[float, frozenset] | None = None


def _code_formats() -> frozenset[tuple[int, bool]]:
    """(length, check digit) of every batch ever issued, plus the current setting."""
    global _formats_cache
    if _formats_cache is None or time.monotonic() - _formats_cache[0] >= 5.0:
        issued = frozenset(Batch.objects.values_list("code_length", "check_digit").distinct())
        _formats_cache = (time.monotonic(), issued)
    vs = venue_settings()
    return _formats_cache[1] | {(vs.code_length, vs.code_check_digit)}


def clear_cache() -> None:
    global _formats_cache
    _formats_cache = None


def _expiry(expires_at, valid_days, now: dt.datetime) -> dt.datetime | None:
    if expires_at not in (None, "") and valid_days not in (None, ""):
        raise _error_input(_("Give an expiry date or a number of days, not both."))
    if valid_days not in (None, ""):
        days = _int(valid_days, _("The number of days"))
        if not 1 <= days <= MAX_VALID_DAYS:
            raise _error_input(_("A code is valid for 1 to %(max)d days.")
                               % {"max": MAX_VALID_DAYS})
        return end_of_day(local_time(now).date() + dt.timedelta(days=days))
    if expires_at in (None, ""):
        return None
    if isinstance(expires_at, str):
        op, value = _bound(expires_at, end=True)
        expires_at = value - dt.timedelta(seconds=1) if op == "lt" else value
    elif isinstance(expires_at, dt.datetime):
        expires_at = _aware(expires_at)
    elif isinstance(expires_at, dt.date):
        if not 1970 <= expires_at.year <= 2999:
            raise _error_input(_("Dates must be between the years 1970 and 2999."))
        expires_at = end_of_day(expires_at)
    else:
        raise _error_input(_("“%(text)s” is not a date.") % {"text": expires_at})
    if expires_at <= now:
        raise _error_input(_("The expiry date is already past."))
    if expires_at > now + dt.timedelta(days=MAX_VALID_DAYS + 1):
        raise _error_input(_("A code is valid for 1 to %(max)d days.")
                           % {"max": MAX_VALID_DAYS})
    return expires_at


def generate(actor: audit.Actor, *, count: int, amount: int,
             expires_at: dt.datetime | dt.date | None = None, valid_days: int | None = None,
             label: str = "", progress: Callable[[int], None] | None = None) -> Batch:
    """Create a batch of ``count`` unsold codes worth ``amount`` minor units each.

    Expiry: ``expires_at`` (a datetime; a date means the end of that venue-local day),
    or ``valid_days`` (the end of the venue-local day N days from today), or neither.
    ``progress(n)`` is called with the number of codes stored so far (cumulative).
    Codes follow the venue's code settings (length, Damm check digit) and are unique
    among every code ever issued: the unique index refuses a collision and the
    shortfall is drawn again.
    """
    count = _int(count, _("The number of codes"))
    if not 1 <= count <= MAX_BATCH:
        raise _error_input(_("A batch has 1 to %(max)s codes.") % {"max": f"{MAX_BATCH:,}"})
    amount = _int(amount, _("The amount"))
    if amount <= 0:
        raise _error_input(_("The amount must be more than zero."))
    if amount >= 10**15:
        raise _error_input(_("The amount is too large."))
    now = clock.now()
    expiry = _expiry(expires_at, valid_days, now)
    vs = venue_settings()
    length, check, cur = vs.code_length, vs.code_check_digit, vs.currency
    label = (label or "").strip()[:80]
    space = 10 ** (length - 1 if check else length)
    issued = Batch.objects.filter(code_length=length).aggregate(n=Sum("count"))["n"] or 0
    if issued + count > space * MAX_SPACE_SHARE:
        raise _error_input(_("Too many codes of %(n)d digits exist; choose longer codes "
                             "in the settings.") % {"n": length})
    days = _int(valid_days, "days") if valid_days not in (None, "") else None

    with transaction.atomic():
        if label and Batch.objects.filter(label=label).exists():
            raise _error_input(_("A batch named “%(label)s” exists; choose another name.")
                               % {"label": label})
        try:
            with transaction.atomic():
                batch = Batch.objects.create(
                    label=label or f"tmp-{codes.random_code(16, False)}", amount=amount,
                    currency=cur, count=count, expires_at=expiry, valid_days=days,
                    code_length=length, check_digit=check, created_by=actor.staff,
                    created_at=now,
                )
        except IntegrityError:
            raise _error_input(_("A batch named “%(label)s” exists; choose another name.")
                               % {"label": label})
        if not label:
            batch.label = f"{local_time(now):%Y%m%d}-{batch.pk}"
            batch.save(update_fields=["label"])
        _insert_codes(batch, now, progress)
        _tally((S.UNSOLD, batch.pk, count, count * amount))
        audit.record(
            actor, "recharges.generate", batch,
            after={"label": batch.label, "count": count, "amount": amount, "currency": cur,
                   "expires_at": expiry.isoformat() if expiry else None,
                   "code_length": length, "check_digit": check},
            summary=_("Generated %(count)d recharges of %(amount)s (batch %(label)s)")
            % {"count": count, "amount": _money(amount), "label": batch.label},
        )
    clear_cache()
    return batch


def _insert_codes(batch: Batch, now: dt.datetime, progress) -> None:
    """Bulk-insert ``batch.count`` fresh codes; collisions are drawn again."""
    fields = [f for f in Recharge._meta.concrete_fields if not f.primary_key]
    fixed = {
        "amount": batch.amount, "currency": batch.currency, "batch": batch.pk,
        "status": S.UNSOLD,
        "created_at": connection.ops.adapt_datetimefield_value(now),
        "expires_at": (connection.ops.adapt_datetimefield_value(batch.expires_at)
                       if batch.expires_at else None),
    }
    # Only the columns that need a value: the nullable ones default to NULL.
    assert fields[0].name == "code"
    columns, values = [fields[0].column], []
    for f in fields[1:]:
        if fixed.get(f.name) is not None:
            columns.append(f.column)
            values.append(fixed[f.name])
        elif not f.null:  # blank text columns
            columns.append(f.column)
            values.append("")
    q = connection.ops.quote_name
    head = (f"INSERT INTO {q(Recharge._meta.db_table)} ({', '.join(q(c) for c in columns)}) ")
    one = f"VALUES ({', '.join(['%s'] * len(columns))})"
    tail = f" ON CONFLICT ({q('code')}) DO NOTHING"
    rest = tuple(values)
    # SQLite's executemany is a tight C loop over one prepared statement. PostgreSQL
    # pays per statement (and plans a multi-row VALUES list slowly), so it gets one
    # INSERT ... SELECT over the array of codes per chunk: 100,000 codes in ~2 s
    # instead of ~6 s on a busy 2-core machine (python -m bench recharges.generate).
    if connection.vendor == "postgresql":
        width = Recharge._meta.get_field("code").max_length
        from_array = (f"SELECT c, {', '.join(['%s'] * len(rest))} "
                      f"FROM unnest(%s::varchar({width})[]) AS c")

    def insert(cur, fresh: list[str]) -> None:
        if connection.vendor == "postgresql":
            cur.execute(head + from_array + tail, [*rest, fresh])
        else:
            cur.executemany(head + one + tail, [(c, *rest) for c in fresh])

    length, check = batch.code_length, batch.check_digit
    stored = 0
    rounds = 0
    while stored < batch.count:
        rounds += 1
        if rounds > 50:  # pragma: no cover - needs an almost full code space
            raise _error_input(_("Could not find enough free codes; choose longer codes."))
        want = batch.count - stored
        done_this_round = 0
        with connection.cursor() as cur:
            for start in range(0, want, CHUNK):
                n = min(CHUNK, want - start)
                fresh: set[str] = set()
                while len(fresh) < n:
                    fresh.add(codes.random_code(length, check))
                insert(cur, list(fresh))
                done_this_round += n
                if progress is not None:
                    progress(min(stored + done_this_round, batch.count))
        stored = Recharge.objects.filter(batch_id=batch.pk).count()
    mine = Recharge.objects.filter(batch_id=batch.pk)
    batch.first_id = mine.order_by("id").values_list("id", flat=True).first()
    batch.last_id = mine.order_by("-id").values_list("id", flat=True).first()
    batch.save(update_fields=["first_id", "last_id"])
    if progress is not None:
        progress(stored)

