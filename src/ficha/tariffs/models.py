"""Café tariffs, station groups and time packages.

A :class:`CafeTariff` stores a :class:`~ficha.tariffs.cafe.TariffSpec` without its currency
and time zone (those are the venue's): the simple settings as columns, the price lists
and bands as JSON validated by the engine itself (:meth:`CafeTariff.clean`).
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

from ficha.accounts.models import Customer
from ficha.core import clock
from ficha.ledger.models import Transaction

from . import cafe


class CafeTariff(models.Model):
    name = models.CharField(_("name"), max_length=64, unique=True)
    is_default = models.BooleanField(
        _("default"), default=False,
        help_text=_("Used by stations without a group and groups without a tariff."))
    first_block = models.PositiveIntegerField(
        _("first block (seconds)"), default=0,
        help_text=_("Any session is billed at least this long (0: no first block)."))
    increment = models.PositiveIntegerField(
        _("then every (seconds)"), default=60,
        help_text=_("After the first block, time is billed in started steps this long."))
    start_fee = models.BigIntegerField(_("start fee"), default=0)
    minimum = models.BigIntegerField(_("minimum charge"), default=0)
    fallback = models.CharField(_("price list outside the bands"), max_length=40)
    rates = models.JSONField(_("price lists"), default=list)
    bands = models.JSONField(_("bands"), default=list, blank=True)
    created_at = models.DateTimeField(default=clock.now)
    updated_at = models.DateTimeField(default=clock.now)

    class Meta:
        ordering = ["name"]
        verbose_name = _("café tariff")
        verbose_name_plural = _("café tariffs")

    def __str__(self) -> str:
        return self.name

    def spec(self, currency: str = "", time_zone: str = "UTC") -> cafe.TariffSpec:
        """The engine's spec for this tariff (TariffError when the stored data is bad)."""
        return cafe.spec_from_json({
            "rates": self.rates, "fallback": self.fallback, "bands": self.bands,
            "first_block": self.first_block, "increment": self.increment,
            "start_fee": self.start_fee, "minimum": self.minimum,
            "currency": currency, "time_zone": time_zone, "name": self.name,
        })

    def clean(self) -> None:
        try:
            self.spec()
        except cafe.TariffError as exc:
            raise ValidationError(str(exc)) from None


class StationGroup(models.Model):
    """Stations priced alike ("gaming PCs", "office PCs"); a station points to one."""

    name = models.CharField(_("name"), max_length=64, unique=True)
    tariff = models.ForeignKey(
        CafeTariff, null=True, blank=True, on_delete=models.PROTECT,
        related_name="station_groups", verbose_name=_("tariff"),
        help_text=_("Empty: the default tariff."))
    description = models.CharField(_("description"), max_length=200, blank=True)
    created_at = models.DateTimeField(default=clock.now)

    class Meta:
        ordering = ["name"]
        verbose_name = _("station group")
        verbose_name_plural = _("station groups")

    def __str__(self) -> str:
        return self.name


class Package(models.Model):
    """Prepaid time: e.g. 3 hours for a fixed price, to use within N days."""

    name = models.CharField(_("name"), max_length=64, unique=True)
    seconds = models.PositiveIntegerField(_("time (seconds)"))
    price = models.BigIntegerField(_("price"))
    valid_days = models.PositiveIntegerField(
        _("valid for (days)"), default=30, help_text=_("0: never expires."))
    station_groups = models.ManyToManyField(
        StationGroup, blank=True, related_name="packages", verbose_name=_("station groups"),
        help_text=_("None: every station."))
    active = models.BooleanField(_("on sale"), default=True)
    created_at = models.DateTimeField(default=clock.now)

    class Meta:
        ordering = ["name"]
        verbose_name = _("time package")
        verbose_name_plural = _("time packages")

    def __str__(self) -> str:
        return self.name


class PackageHolding(models.Model):
    """A package a customer bought: the time left and until when it can be used."""

    customer = models.ForeignKey(Customer, on_delete=models.PROTECT,
                                 related_name="package_holdings")
    package = models.ForeignKey(Package, on_delete=models.PROTECT, related_name="holdings")
    seconds_total = models.PositiveIntegerField()
    seconds_left = models.PositiveIntegerField()
    bought_at = models.DateTimeField(default=clock.now)
    expires_at = models.DateTimeField(null=True, blank=True)
    transaction = models.ForeignKey(Transaction, null=True, blank=True,
                                    on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["expires_at", "pk"]
        indexes = [models.Index(fields=["customer", "expires_at"])]
        constraints = [
            models.CheckConstraint(condition=models.Q(seconds_left__lte=models.F("seconds_total")),
                                   name="tariffs_holding_left_le_total"),
        ]

    def __str__(self) -> str:
        return f"{self.package} → {self.customer_id}"
