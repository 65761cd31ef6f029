"""Café stations (PCs with an agent, or unmanaged devices timed from the console), their
sessions, the commands queued for them and the events their agents reported."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from ficha.accounts.models import Customer
from ficha.core import clock
from ficha.ledger.models import Shift, Transaction


class Station(models.Model):
    class Kind(models.TextChoices):
        AGENT = "agent", _("PC with agent")
        DEVICE = "device", _("Unmanaged device (timed from the console)")

    name = models.CharField(_("name"), max_length=40, unique=True)
    kind = models.CharField(_("kind"), max_length=8, choices=Kind.choices, default=Kind.AGENT)
    group = models.ForeignKey("tariffs.StationGroup", null=True, blank=True,
                              on_delete=models.PROTECT, related_name="stations",
                              verbose_name=_("group"),
                              help_text=_("Its tariff prices the station; empty: the default."))
    # Where the station sits on the room map (grid column and row, from 1).
    col = models.PositiveSmallIntegerField(_("column"), default=1)
    row = models.PositiveSmallIntegerField(_("row"), default=1)
    # Locked from the console: no new session; a running one is paused.
    locked = models.BooleanField(default=False)
    # Pairing: a one-time code (only its hash is kept) and, once paired, the device secret
    # every message is signed with. Revoking clears the secret.
    pairing_hash = models.CharField(max_length=64, blank=True)
    pairing_expires_at = models.DateTimeField(null=True, blank=True)
    secret = models.CharField(max_length=64, blank=True)
    paired_at = models.DateTimeField(null=True, blank=True)
    hostname = models.CharField(max_length=64, blank=True)
    # What the link knows (written by the link door, flushed every second or so).
    connected = models.BooleanField(default=False)
    last_seen_at = models.DateTimeField(null=True, blank=True)
    boot_id = models.CharField(max_length=64, blank=True)
    restarts = models.PositiveIntegerField(default=0)
    agent_version = models.CharField(max_length=32, blank=True)
    # The PC is believed on: heartbeats came and no goodbye (shutdown) was said since.
    powered = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=clock.now)

    class Meta:
        ordering = ["row", "col", "name"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_agent(self) -> bool:
        return self.kind == self.Kind.AGENT

    @property
    def is_paired(self) -> bool:
        return bool(self.secret)


class CafeSession(models.Model):
    class Kind(models.TextChoices):
        PREPAID = "prepaid", _("Prepaid (account credit)")
        POSTPAID = "postpaid", _("Postpaid (pay at the counter)")

    class Status(models.TextChoices):
        RUNNING = "running", _("Running")
        PAUSED = "paused", _("Paused")
        ENDED = "ended", _("Ended")

    station = models.ForeignKey(Station, on_delete=models.PROTECT, related_name="sessions")
    kind = models.CharField(max_length=8, choices=Kind.choices)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.RUNNING)
    customer = models.ForeignKey(Customer, null=True, blank=True, on_delete=models.PROTECT,
                                 related_name="cafe_sessions")
    label = models.CharField(max_length=60, blank=True)  # a guest's name, for the bill
    price_group = models.CharField(max_length=60, default="guest")
    tariff = models.JSONField()  # the tariff spec when the session started (cafe.spec_to_json)
    started_at = models.DateTimeField(default=clock.now)
    paused_at = models.DateTimeField(null=True, blank=True)
    paused_by_lock = models.BooleanField(default=False)
    paused_seconds = models.PositiveIntegerField(default=0)
    # each ended pause: [used seconds when it began, its length] (bands are priced at the
    # hours really used, so where a pause fell matters, not only its length)
    pauses = models.JSONField(default=list, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    end_reason = models.CharField(max_length=20, blank=True)
    seconds = models.PositiveIntegerField(default=0)  # used time, as last metered
    package_seconds = models.PositiveIntegerField(default=0)  # of it, paid by packages
    # where those seconds came from, in order: [[package holding id, seconds], ...], so an
    # end earlier than metered (an agent offline) gives them back to the same holdings
    package_parts = models.JSONField(default=list, blank=True)
    charged = models.BigIntegerField(default=0)  # price of `seconds` (minor units)
    debited = models.BigIntegerField(default=0)  # prepaid: taken from the account so far
    warned = models.PositiveSmallIntegerField(default=0)  # last warning sent: 5, 1 minutes
    # postpaid: settled at the counter
    paid = models.BigIntegerField(default=0)
    settled_at = models.DateTimeField(null=True, blank=True)
    settled_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.PROTECT, related_name="+")
    shift = models.ForeignKey(Shift, null=True, blank=True, on_delete=models.PROTECT,
                              related_name="+")
    transaction = models.ForeignKey(Transaction, null=True, blank=True,
                                    on_delete=models.PROTECT, related_name="+")
    started_by = models.CharField(max_length=150, blank=True)

    class Meta:
        ordering = ["-started_at"]
        constraints = [
            models.UniqueConstraint(fields=["station"], condition=~Q(status="ended"),
                                    name="stations_one_open_session_per_station"),
        ]
        indexes = [models.Index(fields=["status"]), models.Index(fields=["kind", "settled_at"])]

    @property
    def is_open(self) -> bool:
        return self.status != self.Status.ENDED

    def used_seconds(self, at=None) -> int:
        """Seconds of use up to ``at`` (pauses excluded)."""
        if self.status == self.Status.ENDED:
            return self.seconds
        return self.used_until(at or clock.now())

    def gaps(self) -> tuple[tuple[int, int], ...]:
        """The ended pauses as (used seconds when it began, length) pairs."""
        return tuple((int(u), int(g)) for u, g in (self.pauses or ()))

    def used_until(self, at) -> int:
        """Seconds of use from the start to wall time ``at``, even an ``at`` before or
        inside an earlier pause (an agent's offline end): recorded pauses are walked."""
        wall = int((at - self.started_at).total_seconds())
        if wall <= 0:
            return 0
        paused = 0
        for used, length in self.gaps():
            begin = used + paused  # the pause began at this wall offset
            if wall <= begin:
                return wall - paused
            if wall < begin + length:
                return used
            paused += length
        # pauses from before pauses were recorded one by one count as before: in total
        paused = max(paused, self.paused_seconds)
        if self.paused_at is not None:
            wall = min(wall, int((self.paused_at - self.started_at).total_seconds()))
        return max(0, wall - paused)


class StationCommand(models.Model):
    """A command for a station's agent (or an internal note for the link door: ``refresh``
    after a state change, ``revoke``). The link door polls new rows and delivers them."""

    station = models.ForeignKey(Station, on_delete=models.CASCADE, related_name="commands")
    action = models.CharField(max_length=16)
    text = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=clock.now)
    created_by = models.CharField(max_length=150, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    acked_at = models.DateTimeField(null=True, blank=True)
    ok = models.BooleanField(null=True)
    result = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["id"]


class StationEvent(models.Model):
    """An event an agent queued while offline; its id makes a resend harmless."""

    station = models.ForeignKey(Station, on_delete=models.CASCADE, related_name="events")
    event_id = models.CharField(max_length=64)
    kind = models.CharField(max_length=16)
    session = models.ForeignKey(CafeSession, null=True, blank=True, on_delete=models.SET_NULL)
    happened_at = models.DateTimeField()
    received_at = models.DateTimeField(default=clock.now)
    outcome = models.CharField(max_length=40, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["station", "event_id"],
                                               name="stations_event_once")]


class LinkStatus(models.Model):
    """One row: when the link door (``ficha stationd``) started and last beat, so silence
    from every PC while the door itself is down is not blamed on the PCs."""

    started_at = models.DateTimeField()
    beat_at = models.DateTimeField()
