from __future__ import annotations

import unicodedata

from django.conf import settings
from django.contrib.auth.hashers import check_password
from django.db import models
from django.db.models.functions import Lower
from django.utils.translation import gettext_lazy as _

from ficha.core import clock
from ficha.ledger.models import Account

# NFKC-casefolded names can be longer than what was typed ("ß" → "ss", "ﬃ" → "ffi").
USERNAME_KEY_LENGTH = 600


def username_key(name: str) -> str:
    """The form under which a username is unique and looked up, whatever its case.

    Unicode case folding plus compatibility normalisation (NFKC), done in Python so that
    SQLite (whose LOWER() folds ASCII only) and PostgreSQL agree: "É-Ω" and "é-ω" are one
    name, and so are "ｆｏｏ" and "foo".
    """
    folded = unicodedata.normalize("NFKC", str(name).strip()).casefold()
    return unicodedata.normalize("NFKC", folded)[:USERNAME_KEY_LENGTH]


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
    # username_key(username), kept by save(): the unique, case-insensitive form.
    username_key = models.CharField(max_length=USERNAME_KEY_LENGTH, unique=True)
    password = models.CharField(max_length=128, blank=True)
    pin = models.CharField(max_length=128, blank=True)
    # Set when strangers' wrong guesses passed the PIN cap: the PIN no longer works from
    # unknown browsers until staff unlock it at the counter (ficha.accounts.logins).
    pin_locked_at = models.DateTimeField(null=True, blank=True)
    # Part of every "this browser knows me" cookie; changing it forgets all browsers.
    device_key = models.CharField(max_length=32, blank=True, default="")
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
    # The language the customer last used the portal in (accounts.services.remember_language);
    # the hotspot's Access-Reject messages speak it. Empty: never seen at the portal.
    language = models.CharField(_("language"), max_length=8, blank=True, default="")

    class Meta:
        ordering = ["username"]

    def __str__(self) -> str:
        return self.username

    def save(self, *args, **kwargs):
        self.username_key = username_key(self.username)
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and "username" in update_fields:
            kwargs["update_fields"] = {*update_fields, "username_key"}
        super().save(*args, **kwargs)

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

    @property
    def pin_locked(self) -> bool:
        return self.pin_locked_at is not None


class StaffProfile(models.Model):
    """What Ficha keeps about a staff login beside Django's user row.

    ``username_key`` makes staff usernames unique and found whatever their case (see
    :func:`username_key`); ``session_key`` is part of every console session and every
    "this browser knows me" cookie of the user: changing it (password change, "log out
    everywhere") ends all their sessions and forgets their browsers.
    """

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                                related_name="ficha_profile")
    username_key = models.CharField(max_length=USERNAME_KEY_LENGTH, unique=True)
    session_key = models.CharField(max_length=32, blank=True, default="")

    def __str__(self) -> str:
        return self.username_key


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
