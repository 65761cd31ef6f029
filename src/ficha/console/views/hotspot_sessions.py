"""Hotspot sessions: who is online (with a kick), one session with its charge line by
line, past sessions, CoA/Disconnect requests."""

from __future__ import annotations

import datetime as dt

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from ficha.core.services import currency as venue_currency
from ficha.hotspot import services as hotspot
from ficha.hotspot.models import Nas
from ficha.hotspot.services import coa_jobs
from ficha.reports import services as reports

from ..access import actor, capability_required
from ..forms import SessionFilterForm
from .common import paginate


@never_cache
@capability_required("manage_hotspot")
def live(request):
    """The "Online now" table alone (the hotspot page refreshes it with htmx)."""
    return render(request, "console/hotspot/_live.html",
                  {"live": hotspot.live_sessions()})


@never_cache
@capability_required("manage_hotspot")
def session(request, pk: int):
    """One session: its charge so far line by line, its accounting records, its debits."""
    detail = hotspot.session_detail(pk)
    if detail is None:
        raise Http404
    s = detail.live.session
    currency = venue_currency()
    return render(request, "console/hotspot/session.html", {
        "detail": detail, "s": s, "row": detail.live, "currency": currency,
        "charge_rows": hotspot.charge_rows(detail.live.breakdown, currency)})


@require_POST
@capability_required("manage_hotspot")
def kick(request, pk: int):
    try:
        job = hotspot.kick(pk, actor(request))
    except hotspot.HotspotError as exc:
        messages.error(request, str(exc))
    else:
        coa_jobs.send_soon([job])
        if job.state == job.State.SKIPPED:
            messages.warning(request, _("This gateway cannot be told to disconnect anyone "
                                        "(no CoA support): end the session on the gateway."))
        else:
            messages.success(request, _(
                "Disconnect requested for %(user)s: the gateway's answer shows under "
                "Requests to gateways.") % {"user": job.session.username})
    if getattr(request, "htmx", False):
        response = render(request, "console/hotspot/_live.html",
                          {"live": hotspot.live_sessions()})
        return response
    return redirect("console:hotspot")


def _day_start(day: dt.date | None):
    return reports.day_range(day)[0] if day else None


@never_cache
@capability_required("manage_hotspot")
def history(request):
    form = SessionFilterForm(request.GET or None, nas=Nas.objects.all())
    filters = {}
    if form.is_bound and form.is_valid():
        d = form.cleaned_data
        filters = {"customer": d.get("customer") or "", "nas": d.get("nas"),
                   "since": _day_start(d.get("since")),
                   "until": reports.day_range(d["until"])[1] if d.get("until") else None}
    page_obj = paginate(request, hotspot.history(**filters), 50)
    context = {"form": form, "page_obj": page_obj, "pager_target": "#session-rows"}
    if getattr(request, "htmx", False) and request.htmx.target == "session-rows":
        return render(request, "console/hotspot/_history_rows.html", context)
    return render(request, "console/hotspot/history.html", context)


@never_cache
@capability_required("manage_hotspot")
def coa(request):
    return render(request, "console/hotspot/coa.html",
                  {"jobs": hotspot.coa_requests(200)})
