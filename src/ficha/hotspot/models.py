"""Hotspot: gateways (NAS), plans, sessions and accounting records."""

from __future__ import annotations

import datetime as dt
import ipaddress

from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from ficha.accounts.models import Customer
from ficha.core import clock
from ficha.ledger.models import Transaction
from ficha.tariffs.pricing import Tariff


def parse_network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """A NAS address: one IP ("192.168.88.1") or a network ("10.0.0.0/24")."""
    try:
        return ipaddress.ip_network(str(text).strip(), strict=False)
    except ValueError:
        raise ValidationError(_("“%(text)s” is not an IP address or a network such as "
                                "10.0.0.0/24.") % {"text": text}) from None


class Nas(models.Model):
    """A gateway allowed to ask us: a RADIUS client (Network Access Server)."""

    class Vendor(models.TextChoices):
        MIKROTIK = "mikrotik", _("MikroTik")
        COOVACHILLI = "coovachilli", _("CoovaChilli")
        OPENNDS = "opennds", _("openNDS")
        PFSENSE = "pfsense", _("pfSense / OPNsense")
        GENERIC = "generic", _("Generic")

    name = models.CharField(_("name"), max_length=64, unique=True)
    address = models.CharField(_("address or network"), max_length=64,
                               help_text=_("An IP address, or a network such as "
                                           "10.0.0.0/24."))
    secret = models.CharField(_("shared secret"), max_length=128)
    vendor = models.CharField(_("vendor"), max_length=16, choices=Vendor.choices,
                              default=Vendor.GENERIC)
    coa_port = models.PositiveIntegerField(_("CoA/Disconnect port"), default=3799)
    coa_address = models.GenericIPAddressField(
        _("CoA/Disconnect address"), null=True, blank=True,
        help_text=_("Where to send CoA and Disconnect requests; empty: the NAS address "
                    "(needed when that is a network)."))
    require_message_authenticator = models.BooleanField(
        _("require Message-Authenticator"), default=True,
        help_text=_("Drop Access-Requests without it (BlastRADIUS, CVE-2024-3596)."))
    language = models.CharField(_("customers' language"), max_length=8, blank=True,
                                help_text=_("For reject messages; empty: the venue's."))
    active = models.BooleanField(_("active"), default=True)
    # Captive portal (hotspot/gateways.py): where the portal may send a customer's browser
    # back to, and the gateway's portal secrets.
    portal_hosts = models.CharField(
        _("login page addresses"), max_length=255, blank=True,
        help_text=_("Addresses or names the gateway's login URL may use (the hotspot's "
                    "LAN address, e.g. 10.5.50.1 or hotspot.lan), separated by commas; "
                    "empty: the NAS address."))
    uam_secret = models.CharField(_("UAM secret"), max_length=128, blank=True,
                                  help_text=_("CoovaChilli's uamsecret."))
    fas_key = models.CharField(_("FAS key"), max_length=128, blank=True,
                               help_text=_("openNDS's faskey."))
    # Learned: since when the gateway reports each login it lets on (openNDS: the BinAuth
    # script's auth_client report); a portal session opened since then that it never
    # confirms is not billed.
    confirms_logins_since = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(default=clock.now)
    # Packets dropped, per reason (flushed from the RADIUS server's memory every few s).
    dropped_bad_authenticator = models.BigIntegerField(default=0)
    dropped_missing_authenticator = models.BigIntegerField(default=0)
    dropped_malformed = models.BigIntegerField(default=0)
    last_packet_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("NAS")
        verbose_name_plural = _("NAS")

    def __str__(self) -> str:
        return self.name

    @property
    def network(self):
        return parse_network(self.address)

    @property
    def dropped(self) -> int:
        return (self.dropped_bad_authenticator + self.dropped_missing_authenticator
                + self.dropped_malformed)


class UnknownSource(models.Model):
    """Packets from an address that is no NAS: dropped and counted, shown to the owner."""

    address = models.GenericIPAddressField(unique=True)
    dropped = models.BigIntegerField(default=0)
    first_seen_at = models.DateTimeField(default=clock.now)
    last_seen_at = models.DateTimeField(default=clock.now)

    class Meta:
        ordering = ["-last_seen_at"]


class Plan(models.Model):
    """What a hotspot customer pays and gets: price of time and data, speed, limits."""

    name = models.CharField(_("name"), max_length=64, unique=True)
    price_per_hour = models.BigIntegerField(_("price per hour"), default=0)
    price_per_mb = models.BigIntegerField(_("price per MB"), default=0)
    minimum_charge = models.BigIntegerField(_("minimum charge"), default=0)
    increment_seconds = models.PositiveIntegerField(_("billing increment (s)"), default=60)
    rate_up_kbps = models.PositiveIntegerField(_("upload (kbit/s)"), null=True, blank=True)
    rate_down_kbps = models.PositiveIntegerField(_("download (kbit/s)"), null=True, blank=True)
    quota_bytes = models.BigIntegerField(_("data quota (bytes)"), null=True, blank=True)
    idle_timeout = models.PositiveIntegerField(_("idle timeout (s)"), null=True, blank=True)
    interim_interval = models.PositiveIntegerField(_("interim interval (s)"), default=300)
    devices = models.PositiveIntegerField(_("simultaneous devices"), default=1)
    validity_seconds = models.PositiveIntegerField(
        _("validity from first login (s)"), null=True, blank=True)
    mac_login = models.BooleanField(
        _("returning devices log in by MAC"), default=False,
        help_text=_("A device this account used before is accepted without a password."))
    # Customers of this price group get this plan (unless their account overrides it).
    price_group = models.CharField(_("price group"), max_length=60, blank=True)
    is_default = models.BooleanField(_("default plan"), default=False)
    created_at = models.DateTimeField(default=clock.now)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def tariff(self) -> Tariff:
        return self.tariff_for(pass_paid=False)

    def tariff_for(self, pass_paid: bool) -> Tariff:
        """The price of a session; ``pass_paid``: an earlier session of the same validity
        period paid the minimum charge (a pass's price is paid once per period, see
        ``services.plans.pass_period``)."""
        return Tariff(price_per_hour=self.price_per_hour, price_per_mb=self.price_per_mb,
                      minimum=self.session_minimum(self.minimum_charge, pass_paid),
                      increment=self.increment_seconds)

    @staticmethod
    def session_minimum(minimum_charge: int, pass_paid: bool) -> int:
        """The minimum charge a session pays: none once its pass period's is paid."""
        return 0 if pass_paid else minimum_charge

    def valid_until(self, first_login_at: dt.datetime | None) -> dt.datetime | None:
        """When the pass period that began at ``first_login_at`` ends (None: the plan is
        not a pass, or no period began)."""
        if not self.validity_seconds or first_login_at is None:
            return None
        return first_login_at + dt.timedelta(seconds=self.validity_seconds)


class HotspotAccount(models.Model):
    """A customer's hotspot state: plan override and the first login (validity)."""

    customer = models.OneToOneField(Customer, on_delete=models.CASCADE,
                                    related_name="hotspot")
    plan = models.ForeignKey(Plan, null=True, blank=True, on_delete=models.SET_NULL,
                             verbose_name=_("plan override"))
    first_login_at = models.DateTimeField(null=True, blank=True)


class LoginTicket(models.Model):
    """A short-lived one-time credential the captive portal hands the gateway after it
    authenticated the customer itself (so CHAP never needs a stored password)."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    secret = models.CharField(max_length=32, unique=True)
    created_at = models.DateTimeField(default=clock.now)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        # A login reads the customer's five newest unused tickets: five index entries,
        # not every ticket the customer was ever given (used ones wait an hour for purge).
        indexes = [models.Index(fields=["customer", "-created_at"],
                                condition=models.Q(used_at__isnull=True),
                                name="hotspot_ticket_usable")]


# Why a session ended, for people: RFC 2866's Acct-Terminate-Cause names as gateways send
# them, and the ones Ficha writes itself. Others are shown as sent.
END_CAUSES = {
    "User-Request": _("logged out"),
    "Lost-Carrier": _("connection lost"),
    "Lost-Service": _("service lost"),
    "Idle-Timeout": _("idle too long"),
    "Session-Timeout": _("time or data used up"),
    "Admin-Reset": _("disconnected by staff"),
    "Admin-Reboot": _("gateway restarted by staff"),
    "Port-Error": _("gateway port error"),
    "NAS-Error": _("gateway error"),
    "NAS-Request": _("ended by the gateway"),
    "NAS-Reboot": _("gateway restarted"),
    "Service-Unavailable": _("service unavailable"),
    "User-Error": _("device error"),
    "Host-Request": _("ended by the device"),
    "NAS-Accounting-On": _("gateway restarted"),
    "NAS-Accounting-Off": _("gateway stopped"),
    "Stale": _("no news from the gateway"),
    "Not-On-NAS": _("not on the gateway any more"),
    "Disconnected": _("disconnected: credit or pass used up"),
}


class HotspotSession(models.Model):
    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        CLOSED = "closed", pgettext_lazy("a session", "Closed")
        STALE = "stale", _("Closed (no Stop received)")

    # No index of its own: the unique (NAS, session key) index starts with it and serves
    # every look-up by NAS; with a second one, a plan made before the table had statistics
    # (radiusd's kept batch plans) took it and read every session of the NAS per item.
    nas = models.ForeignKey(Nas, on_delete=models.PROTECT, related_name="sessions",
                            db_index=False)
    # Acct-Unique-Session-Id if the NAS sends one, else Acct-Session-Id + User-Name.
    session_key = models.CharField(max_length=200)
    acct_session_id = models.CharField(max_length=100)
    username = models.CharField(max_length=150)
    customer = models.ForeignKey(Customer, null=True, on_delete=models.PROTECT,
                                 related_name="hotspot_sessions")
    plan = models.ForeignKey(Plan, null=True, on_delete=models.SET_NULL, related_name="+")
    mac = models.CharField(max_length=32, blank=True)
    called_station = models.CharField(max_length=100, blank=True)
    framed_ip = models.GenericIPAddressField(null=True, blank=True)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.OPEN)
    started_at = models.DateTimeField(default=clock.now)
    updated_at = models.DateTimeField(default=clock.now)
    stopped_at = models.DateTimeField(null=True, blank=True)
    terminate_cause = models.CharField(max_length=40, blank=True)
    # Highest cumulative counters seen (input = from the client, output = to the client).
    session_time = models.BigIntegerField(default=0)
    input_octets = models.BigIntegerField(default=0)
    output_octets = models.BigIntegerField(default=0)
    charged = models.BigIntegerField(default=0)  # what the usage costs at the plan
    debited = models.BigIntegerField(default=0)  # what the ledger took (≤ charged)
    # The credit (balance + this session's debits) the last CoA decision assumed, and
    # the Session-Timeout (seconds from the session's start) it sent: the worker compares
    # them with the ledger so that a top-up from any door reaches the gateway.
    decided_credit = models.BigIntegerField(null=True, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_timeout = models.BigIntegerField(null=True, blank=True)
    # Sessions the captive portal opened for a gateway that reports no usage (openNDS):
    # the end the gateway was given (BinAuth); the worker meters them by wall clock.
    granted_until = models.DateTimeField(null=True, blank=True)
    # A plan with a validity is a pass: its minimum charge is paid once per validity
    # period. True when an earlier session of the period had paid it when this one
    # began (this one is charged its usage only).
    pass_paid = models.BooleanField(default=False)
    # When the gateway said it let the phone on (openNDS BinAuth auth_client; see
    # Nas.confirms_logins), for sessions the portal opened.
    gateway_confirmed_at = models.DateTimeField(null=True, blank=True)
    # The plan's prices when the session began: a session is charged at them to its end
    # (a price changed meanwhile is for new sessions; it never re-prices time already
    # used). None: a session from before they were kept, charged at its plan's prices.
    price_per_hour = models.BigIntegerField(null=True, blank=True)
    price_per_mb = models.BigIntegerField(null=True, blank=True)
    minimum_charge = models.BigIntegerField(null=True, blank=True)
    increment_seconds = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at"]
        constraints = [models.UniqueConstraint(fields=["nas", "session_key"],
                                               name="hotspot_session_unique_key")]
        # No index holds a column an accounting record changes (counters, charged,
        # debited, updated_at): PostgreSQL then updates the row in place on its page (a
        # HOT update, the table keeps room for it: migration 0012) instead of adding an
        # entry to each of the table's indexes at every Interim-Update. The stale-session
        # sweep reads the open sessions by status and filters their updated_at.
        indexes = [models.Index(fields=["status"], name="hotspot_session_status"),
                   models.Index(fields=["customer", "status"]),
                   models.Index(fields=["mac", "started_at"])]

    def __str__(self) -> str:
        return f"{self.username}@{self.nas_id}:{self.acct_session_id}"

    @property
    def octets(self) -> int:
        return self.input_octets + self.output_octets

    # A NAS may use an Acct-Session-Id again after a reboot (MikroTik's counter starts
    # over), and a customer named after a code logs in with the same User-Name: a Start
    # with the key of a session that ended longer ago than a retransmitted Start can
    # arrive is a new session (RADIUS clients retry for seconds, not a minute).
    REUSE_AFTER = dt.timedelta(seconds=60)

    def ended_before(self, now: dt.datetime) -> bool:
        """Whether a Start with this session's key, arriving at ``now``, opens a new
        session: this one was closed (Stop, NAS restart, stale) at least
        :attr:`REUSE_AFTER` earlier."""
        return (self.status != self.Status.OPEN and self.stopped_at is not None
                and self.stopped_at <= now - self.REUSE_AFTER)

    def retired_key(self) -> str:
        """The key this session keeps once a new session took its own (unique per NAS:
        it ends with the session's id)."""
        suffix = f"#{self.pk}"
        return self.session_key[:200 - len(suffix)] + suffix

    @property
    def unpaid(self) -> int:
        return self.charged - self.debited

    @property
    def end_cause(self) -> str:
        """Why the session ended, for people ("" while it runs without a cause)."""
        cause = self.terminate_cause
        return str(END_CAUSES.get(cause, cause))

    # How far a reported session time may run ahead of the time since the session began
    # on this server's clock (its Start reached us late; a Start-less session began when
    # its first record says, not before its customer's account existed): more is not
    # charged. An ended session (its Stop, or our Disconnect the gateway acknowledged)
    # grows at most AFTER_END past its end: its Stop, arriving after the acknowledgement,
    # has the last seconds.
    AHEAD = dt.timedelta(hours=1)
    AFTER_END = dt.timedelta(minutes=1)

    def believable_seconds(self, reported: int, now: dt.datetime) -> int:
        """``reported`` Acct-Session-Time, at most what the session can have lasted (see
        AHEAD): a gateway's wrong counter must not take a customer's whole credit."""
        if self.status == self.Status.CLOSED and self.stopped_at:
            end = self.stopped_at + self.AFTER_END
        else:
            end = now + self.AHEAD
        return min(reported, max(0, int((end - self.started_at).total_seconds())))

    def record_came(self, kind: str, grew: bool, now: dt.datetime, cause: str) -> None:
        """The status after an accounting record of ``kind`` (an AccountingRecord.Kind
        value) that raised the counters or not (``grew``). A Stop ends an open session.
        A session closed without a Stop (NAS restart, silence, "not on the NAS") for
        which the gateway reports more use still runs there: an Interim opens it again
        (run-out checks and device counts see it), a Stop ends it for real."""
        if self.status == self.Status.STALE and grew and kind != AccountingRecord.Kind.START:
            if kind == AccountingRecord.Kind.INTERIM:
                self.status, self.stopped_at, self.terminate_cause = self.Status.OPEN, None, ""
            else:
                self.status, self.stopped_at, self.terminate_cause = (
                    self.Status.CLOSED, now, cause)
        elif kind == AccountingRecord.Kind.STOP and self.status == self.Status.OPEN:
            self.status, self.stopped_at, self.terminate_cause = self.Status.CLOSED, now, cause

    PRICES = ("price_per_hour", "price_per_mb", "minimum_charge", "increment_seconds")

    def keep_prices(self, plan: Plan) -> None:
        """Keep ``plan``'s prices as this session's (when it begins)."""
        for name in self.PRICES:
            setattr(self, name, getattr(plan, name))

    def session_tariff(self) -> Tariff | None:
        """What this session is charged at: the prices kept when it began (its plan's
        for a session from before they were kept), without the minimum once its pass
        period's is paid. None: no plan, not charged."""
        if self.price_per_hour is None:
            return None if self.plan is None else self.plan.tariff_for(self.pass_paid)
        return Tariff(price_per_hour=self.price_per_hour, price_per_mb=self.price_per_mb,
                      minimum=Plan.session_minimum(self.minimum_charge, self.pass_paid),
                      increment=self.increment_seconds)


class AccountingRecord(models.Model):
    class Kind(models.TextChoices):
        START = "start", _("Start")
        INTERIM = "interim", _("Interim-Update")
        STOP = "stop", _("Stop")

    # indexed by hotspot_record_idempotent (session first), not on its own
    session = models.ForeignKey(HotspotSession, on_delete=models.CASCADE,
                                related_name="records", db_index=False)
    kind = models.CharField(max_length=8, choices=Kind.choices)
    received_at = models.DateTimeField(default=clock.now)
    session_time = models.BigIntegerField(default=0)
    input_octets = models.BigIntegerField(default=0)  # with Gigawords folded in
    output_octets = models.BigIntegerField(default=0)
    terminate_cause = models.CharField(max_length=40, blank=True)
    debit = models.BigIntegerField(default=0)
    transaction = models.ForeignKey(Transaction, null=True, blank=True,
                                    on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["received_at", "pk"]
        constraints = [models.UniqueConstraint(
            fields=["session", "kind", "session_time", "input_octets", "output_octets"],
            name="hotspot_record_idempotent")]


class CoaJob(models.Model):
    """One Disconnect-Request or CoA-Request (RFC 5176) to send to a gateway, with its
    attempts and the gateway's last answer. Claimed by the worker with a conditional
    UPDATE (``state`` and ``next_try_at``), so several workers never send it twice at once."""

    class Kind(models.TextChoices):
        COA = "coa", _("Change of authorization")
        DISCONNECT = "disconnect", _("Disconnect")

    class State(models.TextChoices):
        PENDING = "pending", _("Waiting")
        SENDING = "sending", _("Sending")
        ACKED = "acked", _("Acknowledged")
        NAKED = "naked", _("Refused")
        FAILED = "failed", _("No answer")
        SKIPPED = "skipped", _("Not supported by the gateway")
        SUPERSEDED = "superseded", _("Replaced by a newer request")

    class Reason(models.TextChoices):
        CREDIT = "credit", _("Credit used up")
        VALIDITY = "validity", _("Validity ended")
        KICK = "kick", _("Kicked by staff")
        TOPUP = "topup", _("Credit added")
        REDUCED = "reduced", _("Credit reduced")
        DISABLED = "disabled", _("Account disabled")
        FALLBACK = "fallback", _("CoA refused: disconnect instead")

    ACTIVE = (State.PENDING, State.SENDING)

    session = models.ForeignKey(HotspotSession, on_delete=models.CASCADE,
                                related_name="coa_jobs")
    nas = models.ForeignKey(Nas, on_delete=models.CASCADE, related_name="coa_jobs")
    kind = models.CharField(max_length=12, choices=Kind.choices)
    reason = models.CharField(max_length=12, choices=Reason.choices)
    state = models.CharField(max_length=12, choices=State.choices, default=State.PENDING)
    session_timeout = models.BigIntegerField(null=True, blank=True)
    quota = models.BigIntegerField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    next_try_at = models.DateTimeField(default=clock.now)
    created_at = models.DateTimeField(default=clock.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    last_answer = models.CharField(max_length=40, blank=True)  # ack / nak / timeout / error
    error_cause = models.PositiveIntegerField(null=True, blank=True)
    requested_by = models.CharField(max_length=150, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["state", "next_try_at"])]

    def __str__(self) -> str:
        return f"{self.kind} {self.session_id} ({self.state})"

    @property
    def is_active(self) -> bool:
        return self.state in self.ACTIVE
