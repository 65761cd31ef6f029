from __future__ import annotations

from django.contrib.auth.hashers import check_password
from django.db import models
from django.db.models.functions import Lower
from django.utils.translation import gettext_lazy as _

from ficha.core import clock
from ficha.ledger.models import Account


class Customer(models.Model):
    class PriceGroup(models.TextChoices):
        MEMBER = "member", _("Member")
        GUEST = "guest", _("Guest")
        CUSTOM = "custom", _("Custom")

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        DISABLED = "disabled", _("Disabled")

    class Origin(models.TextChoices):
        STAFF = "staff", _("Created by staff")
        CODE = "code", _("Opened with a recharge code")
        SELF = "self", _("Signed up")

    username = models.CharField(_("username"), max_length=150)
    password = models.CharField(max_length=128, blank=True)
    pin = models.CharField(max_length=128, blank=True)
    full_name = models.CharField(_("full name"), max_length=150, blank=True)
    phone = models.CharField(_("phone"), max_length=40, blank=True)
    email = models.EmailField(_("e-mail"), blank=True)
    id_doc_type = models.CharField(_("ID document type"), max_length=40, blank=True)
    id_doc_number = models.CharField(_("ID document number"), max_length=60, blank=True)
    notes = models.TextField(_("notes"), blank=True)
    price_group = models.CharField(
        _("price group"), max_length=12, choices=PriceGroup.choices, default=PriceGroup.GUEST
    )
    custom_group = models.CharField(_("custom price group"), max_length=60, blank=True)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.ACTIVE
    )
    card_uid = models.CharField(_("smart-card UID"), max_length=40, null=True, blank=True,
                                unique=True)
    origin = models.CharField(max_length=8, choices=Origin.choices, default=Origin.STAFF)
    credit_account = models.OneToOneField(Account, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=clock.now)
    last_seen_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["username"]
        constraints = [
            models.UniqueConstraint(Lower("username"), name="customer_username_ci_unique"),
        ]

    def __str__(self) -> str:
        return self.username

    @property
    def is_active(self) -> bool:
        return self.status == self.Status.ACTIVE

    @property
    def has_password(self) -> bool:
        return bool(self.password)

    def check_password(self, raw: str) -> bool:
        return bool(self.password) and check_password(raw, self.password)

    def check_pin(self, raw: str) -> bool:
        return bool(self.pin) and check_password(raw, self.pin)
