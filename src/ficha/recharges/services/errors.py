"""The error every recharges service raises for people, and input checks."""

from __future__ import annotations

import datetime as dt

from django.utils.translation import gettext as _


class RechargeError(ValueError):
    """A recharge request that cannot be done; ``str(exc)`` is the message for people.

    ``reason`` tells doors what happened: ``invalid`` (unknown, unsold, deleted or void
    code: always the same message), ``expired`` (``expired_at`` says when), ``used``,
    ``throttled`` (``retry_after`` seconds; ``shared`` when only the Wi-Fi gateway's key,
    which every phone behind it shares, holds the attempt back), ``disabled`` (the
    customer), ``format`` (a
    typo: wrong length or failed check digit, refused before costing an attempt),
    ``state`` (an operator action not allowed in the code's status), ``shift`` (the
    action needs the staff member's open shift), ``input`` (bad arguments: count,
    amount, label, price, payment method, ...).
    """

    def __init__(self, reason: str, message: str, *, retry_after: int = 0,
                 expired_at: dt.datetime | None = None, shared: bool = False):
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.retry_after = retry_after
        self.expired_at = expired_at
        self.shared = shared


def _error_input(message: str) -> RechargeError:
    return RechargeError("input", message)


def _int(value, what: str) -> int:
    if isinstance(value, bool):
        raise _error_input(_("%(what)s must be a whole number.") % {"what": what})
    try:
        out = int(value)
    except (TypeError, ValueError):
        raise _error_input(_("%(what)s must be a whole number.") % {"what": what})
    if isinstance(value, float) and value != out:
        raise _error_input(_("%(what)s must be a whole number.") % {"what": what})
    return out

