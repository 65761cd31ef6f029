"""The counter's arithmetic (pure, no database): cash rounding, number masking, receipts.

Cash rounding: coins do not go down to the currency's minor unit everywhere (no 1 and 2
cent coins; in XOF the smallest coin in use is often 25 F). The amount a booth customer
pays is the receipt's total rounded to a *step* (minor units) with a *mode*:

- ``nearest`` — to the nearest multiple of the step, a tie rounded up (the usual
  "Swedish rounding": 0.05 EUR, 25 XOF);
- ``down`` — in the customer's favour;
- ``up`` — in the venue's favour.

A step of 0 or 1 is no rounding. The difference is printed as its own receipt line and
posted to the ledger's adjustments account, so revenue stays the exact sum of the lines.

Number masking: the receipt and the live screen show a dialled number with its last
``hide`` digits replaced (``+225 07 12 34 5••``) so a receipt left on the counter does
not give away whom the customer called.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

from django.utils.translation import gettext_lazy as _

NEAREST = "nearest"
DOWN = "down"
UP = "up"
ROUNDING_MODES = (NEAREST, DOWN, UP)
ROUNDING_LABELS = {
    NEAREST: _("to the nearest step"),
    DOWN: _("down (the customer's favour)"),
    UP: _("up (the venue's favour)"),
}
MAX_STEP = 10**9  # minor units; a step is a coin, not a fortune
MASK_CHAR = "\u2022"  # •
MAX_HIDE = 15


def round_cash(amount: int, step: int, mode: str = NEAREST) -> int:
    """``amount`` (minor units, ≥ 0) rounded to a multiple of ``step`` with ``mode``."""
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise TypeError("amount must be an int of minor units")
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise ValueError("step must be an int ≥ 0")
    if mode not in ROUNDING_MODES:
        raise ValueError(f"unknown cash rounding mode {mode!r}")
    if step <= 1:
        return amount
    low = amount - amount % step  # floor to the step (also for negative amounts)
    if low == amount:
        return amount
    if mode == DOWN:
        return low
    if mode == UP:
        return low + step
    return low + step if 2 * (amount - low) >= step else low


def mask_number(number: str, hide: int, char: str = MASK_CHAR) -> str:
    """``number`` with its last ``hide`` digits replaced by ``char`` (other characters —
    "+", spaces — kept); ``hide`` 0 shows the number as it is."""
    if hide <= 0 or not number:
        return number
    out = list(number)
    left = hide
    for pos in range(len(out) - 1, -1, -1):
        if left == 0:
            break
        if out[pos].isdigit():
            out[pos] = char
            left -= 1
    return "".join(out)


# --- receipts ---------------------------------------------------------------------------
@dataclass(frozen=True)
class CallLine:
    destination: str
    number: str  # masked as configured
    started: dt.datetime | None
    duration: int  # seconds talked (billsec)
    billed: int  # billed seconds
    cost: int  # minor units


@dataclass(frozen=True)
class ExtraLine:
    kind: str  # internet, product, other
    description: str
    amount: int  # minor units


class BillTotals:
    """Totals of a bill's ``calls`` (each with a ``cost``) and ``extras`` (each with an
    ``amount``): the one rule the live bill and the printed receipt both follow."""

    @property
    def calls_total(self) -> int:
        return sum(c.cost for c in self.calls)

    @property
    def extras_total(self) -> int:
        return sum(e.amount for e in self.extras)

    @property
    def subtotal(self) -> int:
        return self.calls_total + self.extras_total


@dataclass(frozen=True)
class Receipt(BillTotals):
    """Everything a booth receipt shows, already computed; renderers only lay it out."""

    venue: str
    currency: str
    booth: str
    session: int
    opened: dt.datetime | None
    closed: dt.datetime | None
    cashier: str
    calls: Sequence[CallLine]
    extras: Sequence[ExtraLine] = field(default_factory=tuple)
    rounding: int = 0  # the cash-rounding line (signed, minor units)
    tendered: int | None = None  # None: not paid yet (a pro-forma receipt)
    change: int | None = None

    @property
    def total(self) -> int:
        return self.subtotal + self.rounding

    @property
    def paid(self) -> bool:
        return self.tendered is not None


def duration_text(seconds: int) -> str:
    """``1:05`` for 65 s, ``1:01:05`` past an hour."""
    seconds = max(0, int(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}:{minutes:02d}:{secs:02d}"
    return f"{minutes}:{secs:02d}"
