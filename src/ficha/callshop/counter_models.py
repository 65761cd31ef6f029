"""The counter's rows: what the cashier adds to a booth session (extras), the payment
that settles it (checkout) and the venue's counter settings (cash rounding, masking).

Imported by ``callshop.models`` (Django finds models there); the booth, session and call
rows are in ``callshop.models``.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from ficha.core import clock

from . import counter


class CounterSettings(models.Model):
    """How the counter takes cash for booths (one row, pk=1)."""

    cash_rounding_step = models.PositiveBigIntegerField(
        _("cash rounding step (minor units)"), default=0,
        help_text=_("The smallest coin in use, e.g. 5 for 0.05 EUR or 25 for 25 XOF; "
                    "0 rounds nothing."))
    cash_rounding_mode = models.CharField(
        _("cash rounding"), max_length=8, default=counter.NEAREST,
        choices=[(k, v) for k, v in counter.ROUNDING_LABELS.items()])
    mask_digits = models.PositiveSmallIntegerField(
        _("digits hidden in dialled numbers"), default=3,
        help_text=_("On receipts and the booth screen: 3 shows 0712345•••."))
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("counter settings")


class BoothExtra(models.Model):
    """Something else the booth customer pays for at checkout: internet time, a product."""

    class Kind(models.TextChoices):
        INTERNET = "internet", _("Internet time")
        PRODUCT = "product", _("Product")
        OTHER = "other", _("Other")

    session = models.ForeignKey("callshop.BoothSession", on_delete=models.PROTECT,
                                related_name="extras")
    kind = models.CharField(_("kind"), max_length=8, choices=Kind.choices,
                            default=Kind.PRODUCT)
    description = models.CharField(_("description"), max_length=100)
    amount = models.BigIntegerField(_("amount"))  # minor units, > 0
    currency = models.CharField(max_length=3)
    created_at = models.DateTimeField(default=clock.now)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.PROTECT, related_name="+")

    class Meta:
        verbose_name = _("booth extra")
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.description} {self.amount}"


class Checkout(models.Model):
    """The payment that settled a booth session: what was due, tendered and given back.

    ``calls_total`` is the sum of the session's calls and ``extras_total`` of its extras
    at checkout; ``total = calls_total + extras_total + rounding`` is the cash that
    entered the shift (``transaction``).
    """

    session = models.OneToOneField("callshop.BoothSession", on_delete=models.PROTECT,
                                   related_name="checkout")
    currency = models.CharField(max_length=3)
    calls = models.PositiveIntegerField(_("calls"), default=0)
    calls_total = models.BigIntegerField(_("calls total"))
    extras_total = models.BigIntegerField(_("extras total"))
    rounding = models.BigIntegerField(_("cash rounding"))
    total = models.BigIntegerField(_("total"))
    tendered = models.BigIntegerField(_("tendered"))
    change = models.BigIntegerField(_("change"))
    shift = models.ForeignKey("ledger.Shift", null=True, blank=True, on_delete=models.PROTECT,
                              related_name="+")
    transaction = models.ForeignKey("ledger.Transaction", null=True, blank=True,
                                    on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField(default=clock.now)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                           on_delete=models.PROTECT, related_name="+")

    class Meta:
        verbose_name = _("booth checkout")
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"checkout {self.session_id} {self.total}"
