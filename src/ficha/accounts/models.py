from __future__ import annotations

from django.conf import settings
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


class ApiToken(models.Model):
    """An API token for an integration. Only a hash of the secret is kept.

    Each token acts through its own staff user (``api-<name>``, no usable password, in
    the token's role group), so role checks, the audit log and shifts treat it exactly
    like a person. Revoking the token disables that user.
    """

    name = models.CharField(_("name"), max_length=40)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="api_token"
    )
    role = models.CharField(_("role"), max_length=20)
    prefix = models.CharField(_("prefix"), max_length=16)
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=clock.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )
    last_used_at = models.DateTimeField(null=True, blank=True)
    last_used_ip = models.GenericIPAddressField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        ordering = ["name", "-created_at"]
        constraints = [
            models.UniqueConstraint(
                Lower("name"), condition=models.Q(revoked_at__isnull=True),
                name="api_token_active_name_ci_unique",
            ),
        ]
        verbose_name = _("API token")

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None
