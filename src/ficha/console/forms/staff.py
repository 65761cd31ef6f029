"""Staff logins, their roles and passwords, and API tokens."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from ficha.core import roles

from .base import ConsoleForm


def role_choices():
    return [(r, roles.ROLE_LABELS[r]) for r in roles.ROLES]


def token_role_choices():
    return [(r, roles.ROLE_LABELS[r]) for r in roles.TOKEN_ROLES]


class _NewPasswordMixin:
    def clean(self):
        data = super().clean()
        if data.get("password") and data.get("password") != data.get("password2"):
            self.add_error("password2", _("The two passwords differ."))
        return data


def _password_fields(label):
    return (
        forms.CharField(label=label, strip=False, widget=forms.PasswordInput(
            attrs={"autocomplete": "new-password"})),
        forms.CharField(label=_("Repeat the password"), strip=False, widget=forms.PasswordInput(
            attrs={"autocomplete": "new-password"})),
    )


class StaffForm(_NewPasswordMixin, ConsoleForm):
    username = forms.CharField(label=_("Username"), max_length=150)
    full_name = forms.CharField(label=_("Full name"), max_length=150, required=False)
    role = forms.ChoiceField(label=_("Role"), choices=role_choices)
    password, password2 = _password_fields(_("Password"))


class StaffRoleForm(ConsoleForm):
    role = forms.ChoiceField(label=_("Role"), choices=role_choices)


class StaffPasswordForm(_NewPasswordMixin, ConsoleForm):
    password, password2 = _password_fields(_("New password"))


class OwnPasswordForm(_NewPasswordMixin, ConsoleForm):
    current = forms.CharField(label=_("Current password"), strip=False,
                              widget=forms.PasswordInput(
                                  attrs={"autocomplete": "current-password"}))
    password, password2 = _password_fields(_("New password"))

    def __init__(self, user, *args, **kwargs):
        self.user = user
        super().__init__(*args, **kwargs)

    def clean_current(self):
        value = self.cleaned_data["current"]
        if not self.user.check_password(value):
            raise ValidationError(_("This is not your current password."))
        return value


class TokenForm(ConsoleForm):
    name = forms.CharField(label=_("Name"), max_length=40,
                           help_text=_("What the token is for, e.g. “website” or “kiosk-2”."))
    role = forms.ChoiceField(label=_("Role"), choices=token_role_choices,
                             initial=roles.CASHIER)
