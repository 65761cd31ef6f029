"""Call shop models: the venue's dialling plan, rate decks and their rate rows.

Prices are stored as integers in micro-units (millionths of the currency's major unit,
see ``callshop.rating``); call costs are rounded once to the currency's minor unit.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from ficha.accounts.models import Customer

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
