"""Alerts for the owner (fraud signals, brute-force alarms): list and acknowledge."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from django.http import Http404
from django.utils.translation import gettext as _
from ninja import Field, Path, Query, Router, Schema

from ficha.core import alerts
from ficha.core.models import Alert

from .auth import actor, require
from .schemas import ERRORS, Id, In, LongText, PageMeta, PageQuery, Text40, paginate

router = Router(tags=["alerts"])

AlertState = Literal["open", "acknowledged", "all"]


class AlertOut(Schema):
    id: int
    kind: str = Field(..., description="fraud, bruteforce, …")
    kind_label: str
    message: str = Field(..., description="In the venue's language")
    source: str = Field(..., description="Who or where, in words")
    data: dict[str, Any] | None = Field(None, description="Details for programs (code, "
                                                          "ip, station, counts, …)")
    count: int = Field(..., description="Occurrences folded into this alert")
    created_at: dt.datetime
    last_seen_at: dt.datetime
    acknowledged_at: dt.datetime | None
    acknowledged_by: str | None
    note: str


class AlertPage(PageMeta):
    items: list[AlertOut]


class AlertFilter(PageQuery):
    state: AlertState = Field("open", description="Open (default), acknowledged or all")
    kind: Text40 | None = Field(None, description="fraud, bruteforce, …")


class AcknowledgeIn(In):
    note: LongText = Field("", description="What you did about it")


class AcknowledgeAllIn(In):
    kind: Text40 | None = Field(None, description="Only alerts of this kind")


class AcknowledgedOut(Schema):
    count: int


def alert_out(alert: Alert) -> dict:
    return {
        "id": alert.pk,
        "kind": alert.kind,
        "kind_label": alerts.kind_label(alert.kind),
        "message": alert.message,
        "source": alert.source,
        "data": alert.data if isinstance(alert.data, dict) else None,
        "count": alert.count,
        "created_at": alert.created_at,
        "last_seen_at": alert.last_seen_at,
        "acknowledged_at": alert.acknowledged_at,
        "acknowledged_by": (alert.acknowledged_by.get_username()
                            if alert.acknowledged_by_id else None),
        "note": alert.note,
    }


@router.get("/alerts", response={200: AlertPage, **ERRORS}, auth=require("view_alerts"),
            summary="List alerts")
def list_alerts(request, filters: Query[AlertFilter]):
    """Open alerts by default, most recent first (by their last occurrence)."""
    if filters.state == "open":
        qs = alerts.open_alerts()
    else:
        qs = Alert.objects.order_by("-last_seen_at", "-id")
        if filters.state == "acknowledged":
            qs = qs.filter(acknowledged_at__isnull=False)
    if filters.kind:
        qs = qs.filter(kind=filters.kind)
    items, meta = paginate(qs.select_related("acknowledged_by"), filters.page,
                           filters.page_size)
    return {**meta, "items": [alert_out(a) for a in items]}


@router.post("/alerts/acknowledge", response={200: AcknowledgedOut, **ERRORS},
             auth=require("ack_alerts"), summary="Acknowledge every open alert")
def acknowledge_all(request, payload: AcknowledgeAllIn):
    """Every open alert (of ``kind``); each one is audited. At most 1,000 at a time."""
    return {"count": alerts.acknowledge_all(actor(request), payload.kind or None)}


@router.get("/alerts/{alert_id}", response={200: AlertOut, **ERRORS},
            auth=require("view_alerts"), summary="Get an alert")
def get_alert(request, alert_id: Path[Id]):
    return alert_out(_get(alert_id))


@router.post("/alerts/{alert_id}/acknowledge", response={200: AlertOut, **ERRORS},
             auth=require("ack_alerts"), summary="Acknowledge an alert")
def acknowledge(request, alert_id: Path[Id], payload: AcknowledgeIn):
    """Marks it seen and handled, with an optional note (audited). Acknowledging an
    acknowledged alert changes nothing and answers it as it is."""
    alert = alerts.acknowledge(actor(request), _get(alert_id), payload.note)
    return alert_out(_get(alert.pk))


def _get(alert_id: int) -> Alert:
    alert = Alert.objects.select_related("acknowledged_by").filter(pk=alert_id).first()
    if alert is None:
        raise Http404(_("No alert with id %(id)s.") % {"id": alert_id})
    return alert
