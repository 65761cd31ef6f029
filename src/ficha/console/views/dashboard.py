from __future__ import annotations

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from ficha.core import alerts, roles
from ficha.core.models import Alert
from ficha.ledger import services as ledger
from ficha.reports import labels
from ficha.reports import services as reports

from ..access import actor, capability_required
from ..forms import CloseShiftForm, OpenShiftForm
from .common import safe_next

ALERTS_SHOWN = 10


@capability_required("view_dashboard")
def dashboard(request):
    user = request.user
    venue_wide = roles.can(user, "view_reports")
    figures = reports.day_figures(staff=None if venue_wide else user)
    shift = ledger.current_shift(user)
    request._console_shift = shift  # the page's header shows it too: read once
    summary = reports.shift_summary(shift) if shift else None
    context = {
        "figures": figures,
        "venue_wide": venue_wide,
        "streams": [(labels.STREAMS[k], v) for k, v in figures.revenue.streams.items()],
        "shift": shift,
        "summary": summary,
        "open_form": OpenShiftForm(),
        "close_form": CloseShiftForm(),
    }
    if roles.can(user, "view_alerts"):
        open_alerts = alerts.open_alerts()
        shown = list(open_alerts[:ALERTS_SHOWN])
        # counted only when there are more than are shown; the menu's badge shows the
        # same number, so it is handed over instead of counted again
        total = open_alerts.count() if len(shown) == ALERTS_SHOWN else len(shown)
        context["alerts"] = shown
        context["alerts_total"] = total
        request._console_badges = {"console:alerts": total}
        context["alert_kinds"] = alerts.KINDS
    return render(request, "console/dashboard.html", context)


@require_POST
@capability_required("ack_alerts")
def alert_ack(request, pk: int):
    alert = get_object_or_404(Alert, pk=pk)
    alerts.acknowledge(actor(request), alert, note=request.POST.get("note", "")[:500])
    if getattr(request, "htmx", False):
        return render(request, "console/_alert_done.html", {"alert": alert})
    messages.success(request, _("Alert acknowledged."))
    return redirect(safe_next(request, "console:dashboard"))
