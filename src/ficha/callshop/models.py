"""Call shop models: the venue's dialling plan, rate decks and their rate rows.

Prices are stored as integers in micro-units (millionths of the currency's major unit,
see ``callshop.rating``); call costs are rounded once to the currency's minor unit.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from ficha.accounts.models import Customer
from ficha.core import clock

from . import rating


class DialingPlan(models.Model):
    """How the venue's booths dial (one row, pk=1): prefixes and country code."""

    international_prefix = models.CharField(_("international prefix"), max_length=4,
                                            default="00", blank=True)
    national_prefix = models.CharField(_("national trunk prefix"), max_length=2, default="0",
                                       blank=True)
    country_code = models.CharField(_("country code"), max_length=3, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("dialing plan")


class Deck(models.Model):
    """A named rate deck (a sell deck per price group, a buy deck, ...)."""

    class Rounding(models.TextChoices):
        HALF_UP = rating.HALF_UP, _("half up")
        HALF_EVEN = rating.HALF_EVEN, _("half even (banker's)")
        UP = rating.UP, _("always up")
        DOWN = rating.DOWN, _("always down")

    name = models.CharField(_("name"), max_length=60, unique=True)
    description = models.CharField(_("description"), max_length=200, blank=True)
    currency = models.CharField(_("currency"), max_length=3)
    # Customers of this price group are rated with this deck (blank: no group).
    price_group = models.CharField(_("price group"), max_length=12, blank=True,
                                   choices=Customer.PriceGroup.choices)
    rounding = models.CharField(_("rounding"), max_length=10, choices=Rounding.choices,
                                default=Rounding.HALF_UP)
    whole_duration = models.BooleanField(
        _("round the whole duration to the increment (A2Billing/MagnusBilling)"),
        default=False)
    # Defaults for rows whose file gives no billing columns ("60/60": per started minute).
    default_min_block = models.PositiveIntegerField(_("default minimum block (s)"), default=60)
    default_increment = models.PositiveIntegerField(_("default increment (s)"), default=60)
    # Bumped by every import: in-memory indexes are cached per (deck, version).
    version = models.PositiveIntegerField(default=0)
    row_count = models.PositiveIntegerField(default=0)
    imported_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("rate deck")
        ordering = ["name"]
        constraints = [
            # One deck per price group: customers of a group are rated with exactly one.
            models.UniqueConstraint(fields=["price_group"], condition=~models.Q(price_group=""),
                                    name="callshop_deck_one_per_price_group"),
        ]

    def __str__(self) -> str:
        return self.name


class Rate(models.Model):
    """One row of a deck: the terms for numbers starting with ``prefix`` (E.164 digits)."""

    # No index of its own: the (deck, prefix) index below serves lookups by deck too.
    deck = models.ForeignKey(Deck, on_delete=models.CASCADE, related_name="rates",
                             db_index=False)
    prefix = models.CharField(_("prefix"), max_length=15)
    description = models.CharField(_("destination"), max_length=100, blank=True)
    price = models.BigIntegerField(_("price per minute (micro-units)"))
    connect_fee = models.BigIntegerField(_("connect fee (micro-units)"), default=0)
    min_block = models.PositiveIntegerField(_("minimum block (s)"), default=60)
    increment = models.PositiveIntegerField(_("increment (s)"), default=60)
    grace = models.PositiveIntegerField(_("grace (s)"), default=0)
    free_seconds = models.PositiveIntegerField(_("free seconds"), default=0)
    min_cost = models.BigIntegerField(_("minimum cost (micro-units)"), default=0)
    tiers = models.CharField(_("tiers"), max_length=200, blank=True)  # "60:0.10|300:0.08"
    windows = models.CharField(_("time windows"), max_length=200, blank=True)
    valid_from = models.DateField(_("valid from"), null=True, blank=True)
    valid_to = models.DateField(_("valid until"), null=True, blank=True)

    class Meta:
        verbose_name = _("rate")
        indexes = [models.Index(fields=["deck", "prefix"], name="callshop_rate_deck_prefix")]

    def __str__(self) -> str:
        return f"{self.prefix} {self.description}"

    def terms(self) -> rating.Terms:
        return rating.Terms(
            prefix=self.prefix, description=self.description, price=self.price,
            connect_fee=self.connect_fee, min_block=self.min_block, increment=self.increment,
            grace=self.grace, free_seconds=self.free_seconds, min_cost=self.min_cost,
            tiers=rating.parse_tiers(self.tiers), windows=rating.parse_windows(self.windows),
            valid_from=self.valid_from, valid_to=self.valid_to, rate_id=self.pk,
        )


class Booth(models.Model):
    """A phone in the shop: one endpoint on the PBX (Asterisk, FreeSWITCH).

    The PBX names it by the CDR ``accountcode`` set on the endpoint, or else by the
    endpoint in the channel name (``PJSIP/booth3-0000001a`` → ``booth3``).
    """

    name = models.CharField(_("name"), max_length=60, unique=True)
    accountcode = models.CharField(_("PBX account code"), max_length=80, blank=True)
    endpoint = models.CharField(_("PBX endpoint"), max_length=80, blank=True,
                                help_text=_("As in the channel name: PJSIP/booth3-… → booth3."))
    # Calls from this booth are rated with the deck of this price group (blank: the deck
    # without a price group).
    price_group = models.CharField(_("price group"), max_length=12, blank=True,
                                   choices=Customer.PriceGroup.choices)
    active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(default=clock.now)

    class Meta:
        verbose_name = _("booth")
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["accountcode"], condition=~models.Q(accountcode=""),
                                    name="callshop_booth_unique_accountcode"),
            models.UniqueConstraint(fields=["endpoint"], condition=~models.Q(endpoint=""),
                                    name="callshop_booth_unique_endpoint"),
        ]

    def __str__(self) -> str:
        return self.name


class BoothSession(models.Model):
    """A booth unlocked for a walk-in customer who pays at the counter afterwards
    (postpaid): calls accumulate on the session until checkout."""

    class State(models.TextChoices):
        OPEN = "open", _("open")
        CLOSED = "closed", _("closed")
        SETTLED = "settled", _("settled")

    booth = models.ForeignKey(Booth, on_delete=models.PROTECT, related_name="sessions")
    state = models.CharField(_("state"), max_length=8, choices=State.choices,
                             default=State.OPEN)
    opened_at = models.DateTimeField(_("opened"), default=clock.now)
    opened_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                  on_delete=models.PROTECT, related_name="+")
    closed_at = models.DateTimeField(_("closed"), null=True, blank=True)
    closed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                  on_delete=models.PROTECT, related_name="+")

    class Meta:
        verbose_name = _("booth session")
        ordering = ["-opened_at", "-id"]
        constraints = [
            # A booth has at most one open session: its calls know where they belong.
            models.UniqueConstraint(fields=["booth"], condition=models.Q(state="open"),
                                    name="callshop_one_open_session_per_booth"),
        ]

    def __str__(self) -> str:
        return f"{self.booth_id}#{self.pk}"


class Call(models.Model):
    """One call from a booth: authorized by the PBX through the API (prepaid account,
    calling-card PIN or an open booth session) or imported from a CDR.

    The rate row's terms are copied at authorization (rating at the end uses the copy,
    so a deck re-imported during the call changes nothing). ``cost`` is in minor units of
    ``currency``; prepaid calls are debited through the ledger once, at the end
    (``ledger_transaction``); calls of a booth session are paid at checkout.
    """

    class State(models.TextChoices):
        RESERVED = "reserved", _("authorized")
        ANSWERED = "answered", _("answered")
        ENDED = "ended", _("ended")
        REJECTED = "rejected", _("refused")
        # Authorized, then nothing: no end and no CDR past its granted time and a margin;
        # the worker released its hold (``calls.sweep_lost_calls``). A late end or CDR
        # still rates and debits it (at most the credit then: ``unpaid`` keeps the rest).
        LOST = "lost", _("lost")

    class Source(models.TextChoices):
        API = "api", _("PBX request")
        CDR = "cdr", _("CDR import")

    # Foreign keys without an index of their own where an index below starts with them
    # or nothing looks calls up by them (fewer indexes: faster bulk CDR imports).
    booth = models.ForeignKey(Booth, null=True, blank=True, on_delete=models.PROTECT,
                              related_name="calls", db_index=False)
    session = models.ForeignKey(BoothSession, null=True, blank=True, on_delete=models.PROTECT,
                                related_name="calls")
    customer = models.ForeignKey(Customer, null=True, blank=True, on_delete=models.PROTECT,
                                 related_name="calls", db_index=False)
    recharge = models.ForeignKey("recharges.Recharge", null=True, blank=True,
                                 on_delete=models.PROTECT, related_name="calls",
                                 db_index=False)
    source = models.CharField(max_length=4, choices=Source.choices, default=Source.API)
    # The PBX's id for the call (Asterisk uniqueid, FreeSWITCH uuid): a CDR or a retried
    # request for the same call finds this row instead of charging twice.
    external_id = models.CharField(max_length=150, null=True, blank=True, unique=True)
    caller = models.CharField(_("caller"), max_length=80, blank=True)
    dialled = models.CharField(_("dialled number"), max_length=80)
    digits = models.CharField(_("number"), max_length=15, blank=True)  # E.164, no "+"
    # The rate row as it was when the call was rated (micro-units, seconds).
    # No database constraint on the two links below (each one costs a check per row at
    # commit, a third of a bulk CDR import's database time): the deck is a pointer next
    # to the copied terms (deleting a deck clears it through the ORM), and ledger
    # transactions are append-only, never deleted.
    deck = models.ForeignKey(Deck, null=True, blank=True, on_delete=models.SET_NULL,
                             related_name="+", db_index=False, db_constraint=False)
    prefix = models.CharField(_("prefix"), max_length=15, blank=True)
    destination = models.CharField(_("destination"), max_length=100, blank=True)
    price = models.BigIntegerField(_("price per minute (micro-units)"), null=True, blank=True)
    connect_fee = models.BigIntegerField(default=0)
    min_block = models.PositiveIntegerField(default=60)
    increment = models.PositiveIntegerField(default=60)
    grace = models.PositiveIntegerField(default=0)
    free_seconds = models.PositiveIntegerField(default=0)
    min_cost = models.BigIntegerField(default=0)
    tiers = models.CharField(max_length=200, blank=True)
    state = models.CharField(_("state"), max_length=8, choices=State.choices,
                             default=State.RESERVED)
    reason = models.CharField(_("reason"), max_length=200, blank=True)  # why refused
    disposition = models.CharField(max_length=12, blank=True)  # ANSWERED, NO ANSWER, ...
    started_at = models.DateTimeField(_("started"), default=clock.now)
    answered_at = models.DateTimeField(_("answered"), null=True, blank=True)
    ended_at = models.DateTimeField(_("ended"), null=True, blank=True)
    max_seconds = models.PositiveIntegerField(null=True, blank=True)  # granted talk time
    billsec = models.PositiveIntegerField(_("talk time (s)"), default=0)
    billed_seconds = models.PositiveIntegerField(_("billed seconds"), default=0)
    currency = models.CharField(max_length=3)
    cost = models.BigIntegerField(_("cost"), default=0)  # minor units
    reserved = models.BigIntegerField(default=0)  # credit held while the call is live
    # Prepaid: the part of ``cost`` not debited because the account's spendable credit
    # was short when the call was charged (a lost call's late end, a CDR-only call).
    unpaid = models.BigIntegerField(_("unpaid"), default=0)
    ledger_transaction = models.ForeignKey("ledger.Transaction", null=True, blank=True,
                                           on_delete=models.PROTECT, related_name="+",
                                           db_index=False, db_constraint=False)

    class Meta:
        verbose_name = _("call")
        ordering = ["-started_at", "-id"]
        indexes = [
            models.Index(fields=["customer", "state"], name="callshop_call_customer_state"),
            models.Index(fields=["booth", "started_at"], name="callshop_call_booth_started"),
            models.Index(fields=["started_at"], name="callshop_call_started"),
        ]

    def __str__(self) -> str:
        return f"{self.dialled} ({self.state})"

    @property
    def live(self) -> bool:
        return self.state in (self.State.RESERVED, self.State.ANSWERED)

    def terms(self) -> rating.Terms | None:
        """The copied rate terms (None: the call matched no rate)."""
        if self.price is None:
            return None
        return rating.Terms(
            prefix=self.prefix or "0", description=self.destination, price=self.price,
            connect_fee=self.connect_fee, min_block=self.min_block, increment=self.increment,
            grace=self.grace, free_seconds=self.free_seconds, min_cost=self.min_cost,
            tiers=rating.parse_tiers(self.tiers))


# The counter's rows (extras, checkouts, counter settings) live in their own module.
from .counter_models import BoothExtra, Checkout, CounterSettings  # noqa: E402, F401
