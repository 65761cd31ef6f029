"""The console's navigation: one entry per page, shown only to roles that may use it.

To add a page (say the recharges window): write the view with
``@capability_required("view_recharges")``, add its URL to ``console/urls.py`` and one
``NavItem`` here. ``match`` lists URL-name prefixes that highlight the entry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.utils.translation import gettext_lazy as _

from ficha.core import roles


@dataclass(frozen=True)
class NavItem:
    url_name: str  # "console:customers"
    label: str
    capability: str
    match: tuple[str, ...] = ()  # URL names (without "console:") that light this entry up
    order: int = 100
    # optional: a number shown beside the label (e.g. open alerts); 0 shows nothing
    badge: Callable[[object], int] | None = None


def _open_alert_count(user) -> int:
    from ficha.core import alerts

    return alerts.open_alerts().count()


ITEMS: list[NavItem] = [
    NavItem("console:dashboard", _("Dashboard"), "view_dashboard", ("dashboard",), 10),
    NavItem("console:customers", _("Customers"), "view_customers", ("customer",), 20),
    NavItem("console:recharges", _("Recharges"), "view_recharges", ("recharge",), 30),
    NavItem("console:shifts", _("Shifts"), "use_shift", ("shift",), 40),
    NavItem("console:hotspot", _("Hotspot"), "manage_hotspot", ("hotspot",), 50),
    NavItem("console:stations", _("Room map"), "operate_stations", ("station",), 45),
    NavItem("console:tariffs", _("Tariffs"), "view_tariffs",
            ("tariff", "station_group", "package"), 55),
    NavItem("console:booths", _("Booths"), "use_booths", ("booth",), 45),
    NavItem("console:cdr_import", _("Call records"), "import_cdrs", ("cdr_",), 47),
    NavItem("console:rate_decks", _("Call rates"), "manage_rates", ("rate_",), 48),
    NavItem("console:alerts", _("Alerts"), "view_alerts", ("alert",), 60,
            badge=_open_alert_count),
    NavItem("console:audit", _("Audit log"), "view_audit", ("audit",), 70),
    NavItem("console:staff", _("Staff"), "manage_staff", ("staff",), 80),
    NavItem("console:tokens", _("API tokens"), "manage_tokens", ("token",), 85),
    NavItem("console:settings", _("Settings"), "manage_settings", ("settings",), 90),
]


def register(item: NavItem) -> None:
    """Add a page to the navigation (idempotent on ``url_name``)."""
    ITEMS[:] = [i for i in ITEMS if i.url_name != item.url_name] + [item]


def items_for(user, current: str = "") -> list[tuple[NavItem, bool]]:
    """The entries ``user`` may use, in order, each with whether it is the current page."""
    out = []
    for item in sorted(ITEMS, key=lambda i: i.order):
        if roles.can(user, item.capability):
            active = any(current == m or current.startswith(m) for m in item.match)
            out.append((item, active))
    return out
