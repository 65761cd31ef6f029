"""What the recharges pages share: constants, selection and redirect helpers, row display."""

from __future__ import annotations

import datetime as dt

from django.urls import reverse
from django.utils.translation import gettext_lazy

from ficha.core.money import Money
from ficha.core.services import currency
from ficha.recharges import services as rs
from ficha.recharges.models import Recharge

from ..common import safe_next

S = Recharge.Status


PER_PAGE = 50


PER_PAGE_CHOICES = (25, 50, 100, 200)


# Statuses a person filters by, in the order of a code's life; deleted codes (tombstones)
# are listed only when asked for.
STATUSES = [S.UNSOLD, S.SOLD, S.USED, S.EXPIRED, S.VOID]




MAX_SELECTION = 1000  # ids per POST (a page shows at most 200)


BATCH_CHOICES = 300  # recent batches offered in the filter's list


# column -> (label, the first direction a click sorts by)
COLUMNS = {
    "code": (gettext_lazy("Code"), ""),
    "amount": (gettext_lazy("Amount"), "-"),
    "status": (gettext_lazy("Status"), ""),
    "batch": (gettext_lazy("Batch"), "-"),
    "expires_at": (gettext_lazy("Expires"), ""),
    "sold_at": (gettext_lazy("Sold"), "-"),
    "used_at": (gettext_lazy("Used"), "-"),
}


SORTS = {"id", "created_at", *COLUMNS} | {f"-{c}" for c in ("id", "created_at", *COLUMNS)}


DEFAULT_SORT = "-id"


def _money(minor: int) -> str:
    return Money(int(minor or 0), currency()).format()


def _ngroup(n: int) -> str:
    """A count as people read it (thousands grouped)."""
    from django.utils.formats import number_format

    return number_format(n, force_grouping=True)


def payment_choices() -> list[tuple[str, str]]:
    return [(m, rs.payment_method_label(m)) for m in rs.PAYMENT_METHODS]


def _ids(request) -> list[int]:
    out = []
    for value in request.POST.getlist("ids")[:MAX_SELECTION]:
        try:
            out.append(int(value))
        except (TypeError, ValueError):
            continue
    return out


def _back(request) -> str:
    return safe_next(request, reverse("console:recharges"))


def _window_url(**params) -> str:
    from urllib.parse import urlencode

    url = reverse("console:recharges")
    params = {k: v for k, v in params.items() if v not in (None, "")}
    return f"{url}?{urlencode(params)}" if params else url


def shown_status(r: Recharge, now: dt.datetime) -> str:
    """The status a person should see (``Recharge.effective_status``)."""
    return r.effective_status(now)


DOORS = {
    "portal": gettext_lazy("in the portal"),
    "portal_login": gettext_lazy("at the portal's login"),
    "console": gettext_lazy("at the counter (console)"),
    "api": gettext_lazy("through the API"),
    "station": gettext_lazy("at a station"),
    "hotspot": gettext_lazy("at the hotspot login"),
}


def door_label(door: str) -> str:
    return str(DOORS.get(door, door or ""))


def status_label(value: str) -> str:
    return str(S(value).label) if value in S.values else value


class Row:
    """One line of the window."""

    __slots__ = ("r", "status", "status_label", "was_sold")

    def __init__(self, r: Recharge, now: dt.datetime):
        self.r = r
        self.status = shown_status(r, now)
        self.status_label = status_label(self.status)
        self.was_sold = r.sold_at is not None

