"""The alerts page: fraud signals and brute-force alarms, and the sources locked out.

Acknowledging one alert is ``dashboard.alert_ack`` (shared with the dashboard's panel);
this page adds the full list with filters, "acknowledge all" and unlocking a source.
"""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext, pgettext_lazy
from django.views.decorators.http import require_POST

from ficha.core import alerts, roles, throttle
from ficha.core import services as core
from ficha.core.models import Alert

from ..access import actor, capability_required
from .common import paginate

STATES = {
    "open": pgettext_lazy("alerts", "Open"),
    "acknowledged": pgettext_lazy("alerts", "Acknowledged"),
    "all": pgettext_lazy("alerts", "All"),
}
SCOPES = {
    "redeem": gettext_lazy("Recharge codes"),
    "portal_login": gettext_lazy("Customer login"),
    "staff_login": gettext_lazy("Staff login"),
}
KEY_KINDS = {
    "ip": gettext_lazy("IP address"),
    "mac": gettext_lazy("MAC address"),
    "station": gettext_lazy("Station"),
    "account": gettext_lazy("Account"),
    "user": gettext_lazy("Username"),
    "door": gettext_lazy("Door"),
}


class Locked:
    __slots__ = ("row", "scope_label", "kind_label", "value")

    def __init__(self, row):
        self.row = row
        self.scope_label = SCOPES.get(row.scope, row.scope)
        kind, _sep, value = row.key.partition(":")
        self.kind_label = KEY_KINDS.get(kind, kind) if value else ""
        self.value = value or row.key


@capability_required("view_alerts")
def alert_list(request):
    state = request.GET.get("state") or "open"
    if state not in STATES:
        state = "open"
    kind = request.GET.get("kind") or ""
    if kind not in alerts.KINDS:
        kind = ""
    qs = Alert.objects.select_related("acknowledged_by").order_by("-last_seen_at", "-id")
    if state == "open":
        qs = qs.filter(acknowledged_at__isnull=True)
    elif state == "acknowledged":
        qs = qs.filter(acknowledged_at__isnull=False)
    if kind:
        qs = qs.filter(kind=kind)
    page_obj = paginate(request, qs, 25)
    context = {
        "state": state,
        "states": list(STATES.items()),
        "kind": kind,
        "kinds": [(k, alerts.kind_label(k)) for k in alerts.KINDS],
        "alert_kinds": alerts.KINDS,
        "page_obj": page_obj,
        "open_count": alerts.open_alerts().count(),
        "locked": [Locked(t) for t in throttle.locked_now()[:200]],
        "can_ack": roles.can(request.user, "ack_alerts"),
        "here": request.get_full_path(),
    }
    return render(request, "console/alerts/list.html", context)


@require_POST
@capability_required("view_alerts", "ack_alerts")
def alert_ack_all(request):
    kind = request.POST.get("kind") or None
    if kind not in alerts.KINDS:
        kind = None
    n = alerts.acknowledge_all(actor(request), kind=kind)
    if n:
        messages.success(request, ngettext("%(n)d alert acknowledged.",
                                           "%(n)d alerts acknowledged.", n) % {"n": n})
    else:
        messages.info(request, _("There was no open alert."))
    return redirect(reverse("console:alerts"))


@require_POST
@capability_required("view_alerts", "ack_alerts")
def unlock(request):
    scope = (request.POST.get("scope") or "")[:32]
    key = (request.POST.get("key") or "")[:128]
    if scope and key and core.unlock_source(actor(request), scope, key):
        messages.success(request, _("%(key)s may try again now.") % {"key": key})
    else:
        messages.error(request, _("This source is not locked."))
    return redirect(reverse("console:alerts"))
