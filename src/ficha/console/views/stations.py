"""Café: the live room map, a station's page (commands, session, bill), checkout of
postpaid sessions, and the owner's station setup (add, arrange, pair, unpair)."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from ficha.accounts import services as accounts
from ficha.ledger import services as ledger
from ficha.stations import services as st
from ficha.stations.models import CafeSession, Station
from ficha.tariffs.models import StationGroup

from ..access import actor, capability_required
from ..forms import ConsoleForm


class StationForm(ConsoleForm):
    name = forms.CharField(label=gettext_lazy("Name"), max_length=40)
    kind = forms.ChoiceField(label=gettext_lazy("Kind"), choices=Station.Kind.choices)
    col = forms.IntegerField(label=gettext_lazy("Column on the room map"), min_value=1,
                             max_value=st.stations.MAX_GRID, initial=1)
    row = forms.IntegerField(label=gettext_lazy("Row on the room map"), min_value=1,
                             max_value=st.stations.MAX_GRID, initial=1)
    group = forms.ModelChoiceField(label=gettext_lazy("Group (its tariff)"), required=False,
                                   queryset=StationGroup.objects.all(),
                                   empty_label=gettext_lazy("Default tariff"))


def _cells_context():
    cells = st.room()
    # one reverse() for every cell's link ({% url %} per cell is most of the render)
    return {"cells": cells, "unpaid": list(st.unpaid()[:50]),
            "door_up": st.door_status()[0] or not any(c.station.is_agent for c in cells),
            "station_url": reverse("console:station", args=[0])[:-2],
            "counts": {state: sum(1 for c in cells if c.state == state)
                       for state in st.STATE_LABELS},
            "labels": st.STATE_LABELS}


@never_cache
@capability_required("operate_stations")
def room_map(request):
    return render(request, "console/stations/room.html", _cells_context())


@never_cache
@capability_required("operate_stations")
def room_fragment(request):
    """What the room map polls every 2 seconds (htmx): the map and the unpaid list."""
    return render(request, "console/stations/_room.html", _cells_context())


def _station_page(request, station: Station, status=200):
    session = st.open_session(station)
    cell = next((c for c in st.room() if c.station.pk == station.pk), None)
    last = None
    if session is None:
        last = station.sessions.order_by("-started_at").first()
    shown = session or last
    return render(request, "console/stations/station.html", {
        "station": station, "cell": cell, "session": session, "last": last,
        "bill": st.bill(shown) if shown is not None else None,
        "actions": st.ACTIONS, "agent_only": st.AGENT_ONLY,
        "free_stations": Station.objects.exclude(pk=station.pk).exclude(
            sessions__status__in=["running", "paused"]).exclude(locked=True),
        "commands": station.commands.exclude(action__in=["refresh", "revoke"])
        .order_by("-id")[:10],
    }, status=status)


@never_cache
@capability_required("operate_stations")
def station_page(request, pk: int):
    return _station_page(request, get_object_or_404(Station, pk=pk))


@never_cache
@require_POST
@capability_required("operate_stations")
def station_command(request, pk: int):
    station = get_object_or_404(Station, pk=pk)
    action = request.POST.get("action", "")
    target = customer = None
    try:
        if action == "move":
            target_id = request.POST.get("target", "")
            target = Station.objects.filter(pk=int(target_id)).first() \
                if target_id.isdecimal() else None
        if action == "start" and request.POST.get("customer", "").strip():
            customer = accounts.find_customer(request.POST["customer"].strip())
            if customer is None:
                raise st.StationError(_("No customer with this username."))
        st.run(actor(request), station, action, text=request.POST.get("text", ""),
               target=target, customer=customer)
    except st.StationError as exc:
        messages.error(request, str(exc))
        return _station_page(request, station, status=400)
    label = st.ACTIONS.get(action, action)
    messages.success(request, _("%(action)s: done on %(name)s.")
                     % {"action": label, "name": station.name})
    if action == "move" and target is not None:
        return redirect("console:station", target.pk)
    return redirect("console:station", station.pk)


@never_cache
@capability_required("operate_stations")
def session_bill(request, pk: int):
    session = get_object_or_404(CafeSession.objects.select_related("station", "customer"), pk=pk)
    return render(request, "console/stations/bill.html", {
        "session": session, "bill": st.bill(session),
        "my_shift": ledger.current_shift(request.user)})


@never_cache
@require_POST
@capability_required("operate_stations", "use_shift")
def session_checkout(request, pk: int):
    session = get_object_or_404(CafeSession, pk=pk)
    try:
        session = st.checkout(actor(request), session)
    except (st.StationError, ledger.LedgerError) as exc:
        messages.error(request, str(exc))
        return redirect("console:station_bill", pk)
    messages.success(request, _("Paid: the café time is in your shift."))
    return redirect("console:station_bill", session.pk)


# --- setup -------------------------------------------------------------------------------
def _setup(request, form=None, status=200, code=None, code_for=None):
    return render(request, "console/stations/setup.html", {
        "stations": Station.objects.select_related("group"), "form": form or StationForm(),
        "groups": StationGroup.objects.all(),
        "pairing_code": code, "pairing_station": code_for,
        "grid": range(1, st.stations.MAX_GRID + 1)}, status=status)


@never_cache
@capability_required("manage_stations")
def station_setup(request):
    if request.method != "POST":
        return _setup(request)
    form = StationForm(request.POST)
    if form.is_valid():
        try:
            station = st.create_station(actor(request), **form.cleaned_data)
        except st.StationError as exc:
            form.add_service_error(exc)
        else:
            messages.success(request, _("Station %(name)s added.") % {"name": station.name})
            return redirect("console:station_setup")
    return _setup(request, form, status=400)


@never_cache
@require_POST
@capability_required("manage_stations")
def station_arrange(request):
    positions = {}
    for station in Station.objects.all():
        col = request.POST.get(f"col-{station.pk}", "")
        row = request.POST.get(f"row-{station.pk}", "")
        if col.isdecimal() and row.isdecimal():
            positions[station.pk] = (int(col), int(row))
    groups = {str(g.pk): g for g in StationGroup.objects.all()}
    try:
        n = st.arrange(actor(request), positions)
        for station in Station.objects.all():
            key = f"group-{station.pk}"
            if key not in request.POST:
                continue
            group = groups.get(request.POST[key])
            if (group.pk if group else None) != station.group_id:
                st.update_station(actor(request), station, group=group)
    except st.StationError as exc:
        messages.error(request, str(exc))
        return _setup(request, status=400)
    messages.success(request, _("Room map saved (%(n)d stations moved).") % {"n": n})
    return redirect("console:station_setup")


@never_cache
@require_POST
@capability_required("manage_stations")
def station_pair(request, pk: int):
    station = get_object_or_404(Station, pk=pk)
    try:
        code = st.issue_pairing_code(actor(request), station)
    except st.StationError as exc:
        messages.error(request, str(exc))
        return redirect("console:station_setup")
    return _setup(request, code=code, code_for=station)


@never_cache
@require_POST
@capability_required("manage_stations")
def station_revoke(request, pk: int):
    station = get_object_or_404(Station, pk=pk)
    st.revoke(actor(request), station)
    messages.success(request, _("Station %(name)s unpaired: its agent must be paired "
                                "again.") % {"name": station.name})
    return redirect("console:station_setup")
