"""Shifts: the cash drawer of one staff member, from its opening float to the cash counted
at its close (every line on the cash account belongs to an open shift)."""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils.translation import gettext as _

from ficha.core import audit, clock
from ficha.core.services import currency

from ..models import Entry, Shift
from . import CASH, OVER_SHORT, SAFE, LedgerError, NoOpenShift, account_id, post


def current_shift(user) -> Shift | None:
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    return Shift.objects.filter(opened_by=user, closed_at__isnull=True).first()


def require_shift(user) -> Shift:
    shift = current_shift(user)
    if shift is None:
        raise NoOpenShift(_("Open a shift before moving cash."))
    return shift


def shift_cash(shift: Shift) -> int:
    """Cash that should be in the drawer now (float included, before closing)."""
    return (
        Entry.objects.filter(transaction__shift=shift, account_id=account_id(CASH))
        .exclude(transaction__kind="shift.close")
        .aggregate(s=Sum("amount"))["s"]
        or 0
    )


def open_shift(actor: audit.Actor, opening_float: int = 0) -> Shift:
    user = actor.staff
    if user is None:
        raise LedgerError(_("Only a staff member can open a shift."))
    if isinstance(opening_float, bool) or not isinstance(opening_float, int):
        raise LedgerError("opening float must be an integer of minor units")
    if opening_float < 0:
        raise LedgerError(_("The opening float cannot be negative."))
    with transaction.atomic():
        if current_shift(user) is not None:
            raise LedgerError(_("You already have an open shift."))
        try:
            with transaction.atomic():
                shift = Shift.objects.create(
                    opened_by=user, opening_float=opening_float, currency=currency(),
                    opened_at=clock.now(),
                )
        except IntegrityError:
            raise LedgerError(_("You already have an open shift."))
        if opening_float:
            post("shift.open", [(CASH, opening_float), (SAFE, -opening_float)],
                 actor=actor, shift=shift, memo="opening float")
        audit.record(actor, "shift.open", shift,
                     after={"opening_float": opening_float, "currency": shift.currency},
                     summary=_("Shift opened"))
    return shift


def close_shift(actor: audit.Actor, shift: Shift, counted: int, note: str = "") -> Shift:
    """Close with the cash counted: records expected, counted and variance.

    The variance goes to cash over/short; then the counted cash leaves the drawer for
    the safe, so the drawer starts the next shift at its new float.
    """
    if isinstance(counted, bool) or not isinstance(counted, int):
        raise LedgerError("counted cash must be an integer of minor units")
    if counted < 0:
        raise LedgerError(_("Counted cash cannot be negative."))
    with transaction.atomic():
        locked = Shift.objects.select_for_update().get(pk=shift.pk)
        if locked.closed_at is not None:
            raise LedgerError(_("This shift is already closed."))
        expected = shift_cash(locked)
        variance = counted - expected
        if variance:
            post("shift.variance", [(CASH, variance), (OVER_SHORT, -variance)],
                 actor=actor, shift=locked, memo="drawer variance")
        if counted:
            post("shift.close", [(CASH, -counted), (SAFE, counted)],
                 actor=actor, shift=locked, memo="cash to safe")
        locked.closed_at = clock.now()
        locked.closed_by = actor.staff
        locked.expected = expected
        locked.counted = counted
        locked.variance = variance
        locked.note = note
        locked.save()
        audit.record(actor, "shift.close", locked,
                     before={"expected": expected},
                     after={"counted": counted, "variance": variance, "note": note},
                     summary=_("Shift closed"))
    return locked


