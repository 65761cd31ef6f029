from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from . import clock


class Access(models.Model):
    """Holds the capability permissions (see roles.py); no table."""

    class Meta:
        managed = False
        default_permissions = ()
        permissions = ()  # created by roles.sync_roles()


class AuditLog(models.Model):
    """Who did what, when, from where, with the state before and after. Append-only."""

    at = models.DateTimeField(default=clock.now, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )
    actor_label = models.CharField(max_length=150, blank=True)
    source = models.CharField(max_length=20, blank=True)  # console, api, cli, portal, worker
    ip = models.GenericIPAddressField(null=True, blank=True)
    action = models.CharField(max_length=60, db_index=True)
    object_type = models.CharField(max_length=60, blank=True, db_index=True)
    object_id = models.CharField(max_length=64, blank=True)
    summary = models.TextField(blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["object_type", "object_id"])]
        verbose_name = _("audit entry")

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.actor_label} {self.action}"


class VenueSettings(models.Model):
    """The venue's own settings, edited by the owner; one row (pk=1)."""

    venue_name = models.CharField(_("venue name"), max_length=120)
    currency = models.CharField(_("currency"), max_length=3)
    time_zone = models.CharField(_("time zone"), max_length=64)
    language = models.CharField(_("default language"), max_length=8)
    code_length = models.PositiveSmallIntegerField(_("recharge code length"), default=8)
    code_check_digit = models.BooleanField(_("Damm check digit in codes"), default=False)
    breakage_enabled = models.BooleanField(
        _("move expired, unused recharges to breakage revenue"), default=True
    )
    # Money limits: above these the console asks again before recording (0 = no limit).
    max_deposit = models.BigIntegerField(_("largest deposit without confirmation"), default=0)
    max_face_value = models.BigIntegerField(
        _("largest recharge face value without confirmation"), default=0
    )
    max_shift_variance = models.BigIntegerField(
        _("largest shift variance without confirmation"), default=0
    )
    # Where customers reach the portal (printed QR codes); empty = FICHA_PUBLIC_URL.
    public_url = models.CharField(_("public address"), max_length=200, blank=True)
    date_format = models.CharField(_("date format"), max_length=16, default="dmy")
    # Receipt/ticket printer on the network (raw ESC/POS, usually port 9100).
    printer_host = models.CharField(_("ticket printer address"), max_length=255, blank=True)
    printer_port = models.PositiveIntegerField(_("ticket printer port"), default=9100)
    ticket_width = models.PositiveSmallIntegerField(_("ticket width (mm)"), default=80)
    # Staff sessions on shared counter PCs.
    staff_idle_minutes = models.PositiveIntegerField(_("staff idle timeout (minutes)"), default=30)
    staff_session_hours = models.PositiveIntegerField(
        _("staff session lifetime (hours)"), default=12
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("venue settings")

    def __str__(self) -> str:
        return self.venue_name


class Throttle(models.Model):
    """Failure counter and lock-out for one source (IP, MAC, station, account) in a scope."""

    scope = models.CharField(max_length=32)
    key = models.CharField(max_length=128)
    failures = models.PositiveIntegerField(default=0)
    locked_until = models.DateTimeField(null=True, blank=True)
    last_failure_at = models.DateTimeField(null=True, blank=True)
    # Attempts refused (not evaluated) while locked, and the last one: names the sources
    # of a flood (see ThrottleTally for the totals).
    refused = models.PositiveBigIntegerField(default=0, db_default=0)
    last_refused_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["scope", "key"], name="throttle_unique")]
        indexes = [models.Index(fields=["scope", "locked_until"])]

    def __str__(self) -> str:
        return f"{self.scope} {self.key} ({self.failures})"


class ThrottleTally(models.Model):
    """Attempts refused by the throttle in one scope during one minute (one row a minute,
    bumped with one statement): a flood is counted without a row per attempt."""

    scope = models.CharField(max_length=32)
    minute = models.DateTimeField()
    refused = models.PositiveBigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["scope", "minute"],
                                               name="throttle_tally_unique")]


class Alert(models.Model):
    """Something the owner should look at: a fraud signal, a brute-force alarm, ...

    Repeats of the same alert (same ``dedupe_key``) while it is open and recent bump
    ``count`` and ``last_seen_at`` instead of adding rows (see ``core.alerts``).
    """

    kind = models.CharField(max_length=32)  # fraud, bruteforce, ... (alerts.KINDS)
    message = models.TextField()
    source = models.CharField(max_length=255, blank=True)  # who/where, in words
    data = models.JSONField(null=True, blank=True)
    dedupe_key = models.CharField(max_length=255, blank=True)
    count = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(default=clock.now)
    last_seen_at = models.DateTimeField(default=clock.now)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )
    note = models.TextField(blank=True)  # what the person acknowledging wrote

    class Meta:
        ordering = ["-last_seen_at", "-id"]
        indexes = [
            models.Index(fields=["acknowledged_at", "last_seen_at"]),
            models.Index(fields=["dedupe_key", "last_seen_at"]),
        ]
        verbose_name = _("alert")

    def __str__(self) -> str:
        return f"{self.kind}: {self.message[:60]}"

    @property
    def is_open(self) -> bool:
        return self.acknowledged_at is None
