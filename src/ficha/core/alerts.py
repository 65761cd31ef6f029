"""Alerts for the owner: fraud signals, brute-force alarms (and later: station offline, ...).

``raise_alert`` records one; a repeat with the same ``dedupe_key`` (by default kind +
source) while the alert is still open and was last seen less than ``DEDUPE_SECONDS`` ago
only bumps its ``count`` and ``last_seen_at``, so an attack does not flood the page.
The first occurrence is written to the audit log (source "system"); acknowledging is
audited with the staff member who did it. Messages are written in the venue's language,
whoever triggered them.
"""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.db.models import F
from django.utils import translation
from django.utils.translation import gettext_lazy as _

from . import audit, clock
from .models import Alert

FRAUD = "fraud"  # an unsold, deleted or voided code was tried (copied from a display?)
BRUTEFORCE = "bruteforce"  # the global failure rate of code guesses is above the threshold
ACCOUNT = "account"  # one account's password or PIN is being guessed (accounts.logins)

KINDS = {
    FRAUD: _("Fraud"),
    BRUTEFORCE: _("Brute-force alarm"),
    ACCOUNT: _("Account under attack"),
}

# A repeat within this many seconds of the last occurrence is counted, not added.
DEDUPE_SECONDS = 300

ALERT_FIELDS = ["kind", "message", "source", "count", "acknowledged_at", "note"]


def kind_label(kind: str) -> str:
    return str(KINDS.get(kind, kind))


def raise_alert(kind: str, message: str, *, source: str = "", data: dict | None = None,
                dedupe_key: str | None = None) -> Alert:
    """Record an alert, or count a repeat of an open one with the same ``dedupe_key``."""
    kind = str(kind)[:32]
    source = str(source)[:255]
    key = (dedupe_key if dedupe_key is not None else f"{kind}:{source}")[:255]
    now = clock.now()
    with transaction.atomic():
        if key:
            recent = (
                Alert.objects.select_for_update()
                .filter(dedupe_key=key, acknowledged_at__isnull=True,
                        last_seen_at__gte=now - dt.timedelta(seconds=DEDUPE_SECONDS))
                .order_by("-last_seen_at", "-id")
                .first()
            )
            if recent is not None:
                Alert.objects.filter(pk=recent.pk).update(
                    count=F("count") + 1, last_seen_at=now, message=str(message),
                    data=data,
                )
                recent.refresh_from_db()
                return recent
        alert = Alert.objects.create(
            kind=kind, message=str(message), source=source, data=data, dedupe_key=key,
            created_at=now, last_seen_at=now,
        )
        audit.record(
            audit.Actor(source="system", label="alerts"), "alert.raise", alert,
            after={"kind": kind, "source": source, "data": data},
            summary=str(message)[:500],
        )
    return alert


def is_open(dedupe_key: str) -> bool:
    """Whether an alert with this key is still waiting for someone to look at it."""
    return Alert.objects.filter(dedupe_key=dedupe_key[:255],
                                acknowledged_at__isnull=True).exists()


def acknowledge(actor: audit.Actor, alert: Alert | int, note: str = "") -> Alert:
    """Mark an alert as seen and handled (idempotent: a second call changes nothing)."""
    pk = alert.pk if isinstance(alert, Alert) else int(alert)
    with transaction.atomic():
        obj = Alert.objects.select_for_update().get(pk=pk)
        if obj.acknowledged_at is not None:
            return obj
        before = audit.snapshot(obj, ALERT_FIELDS)
        obj.acknowledged_at = clock.now()
        obj.acknowledged_by = actor.staff
        obj.note = (note or "").strip()
        obj.save(update_fields=["acknowledged_at", "acknowledged_by", "note"])
        audit.record(actor, "alert.acknowledge", obj, before=before,
                     after=audit.snapshot(obj, ALERT_FIELDS),
                     summary=str(_("Alert acknowledged: %(message)s")
                                 % {"message": obj.message[:200]}))
    return obj


def acknowledge_all(actor: audit.Actor, kind: str | None = None) -> int:
    """Acknowledge every open alert (of ``kind``); each one is audited."""
    qs = open_alerts()
    if kind:
        qs = qs.filter(kind=kind)
    n = 0
    for pk in list(qs.values_list("pk", flat=True)[:1000]):
        acknowledge(actor, pk)
        n += 1
    return n


def open_alerts():
    """Alerts nobody has acknowledged yet, newest first."""
    return Alert.objects.filter(acknowledged_at__isnull=True).order_by("-last_seen_at", "-id")


def in_venue_language():
    """Context manager: write stored messages in the venue's language."""
    from .services import venue_settings

    try:
        lang = venue_settings().language
    except Exception:  # settings table missing in odd contexts: keep the current one
        lang = translation.get_language()
    return translation.override(lang)
