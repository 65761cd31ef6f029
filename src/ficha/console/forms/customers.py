"""Customers: their details, credentials, and money in and out of their accounts."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from ficha.accounts.models import Customer

from .base import ConsoleForm, MoneyField


class CustomerForm(ConsoleForm):
    username = forms.CharField(label=_("Username"), max_length=150)
    full_name = forms.CharField(label=_("Full name"), max_length=150, required=False)
    phone = forms.CharField(label=_("Phone"), max_length=40, required=False,
                            widget=forms.TextInput(attrs={"inputmode": "tel"}))
    email = forms.EmailField(label=_("E-mail"), required=False)
    price_group = forms.ChoiceField(label=_("Price group"), choices=Customer.PriceGroup.choices,
                                    initial=Customer.PriceGroup.GUEST)
    custom_group = forms.CharField(label=_("Custom price group"), max_length=60, required=False,
                                   help_text=_("Only for the custom price group."))
    card_uid = forms.CharField(label=_("Smart-card UID"), max_length=60, required=False,
                               help_text=_("Hexadecimal, as the card reader shows it."))
    id_doc_type = forms.CharField(label=_("ID document type"), max_length=40, required=False)
    id_doc_number = forms.CharField(label=_("ID document number"), max_length=60,
                                    required=False)
    notes = forms.CharField(label=_("Notes"), required=False,
                            widget=forms.Textarea(attrs={"rows": 2}))

    FIELDS = ["username", "full_name", "phone", "email", "price_group", "custom_group",
              "card_uid", "id_doc_type", "id_doc_number", "notes"]


def _customer_password(label, help_text) -> forms.CharField:
    return forms.CharField(
        label=label, required=False, strip=False, help_text=help_text,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )


def _customer_pin(label, help_text) -> forms.CharField:
    return forms.CharField(
        label=label, required=False, max_length=8, help_text=help_text,
        widget=forms.PasswordInput(attrs={"inputmode": "numeric", "autocomplete": "off"}),
    )


class NewCustomerForm(CustomerForm):
    password = _customer_password(
        _("Password"), _("For the customer's login at a PC or on Wi-Fi. At least 4 characters."))
    pin = _customer_pin(_("PIN"), _("Optional: 4 to 8 digits."))


class CredentialsForm(ConsoleForm):
    password = _customer_password(_("New password"),
                                  _("Leave empty to keep the current password."))
    pin = _customer_pin(_("New PIN"), _("Leave empty to keep the current PIN."))
    clear_pin = forms.BooleanField(label=_("Remove the PIN"), required=False)

    def clean(self):
        data = super().clean()
        if not data.get("password") and not data.get("pin") and not data.get("clear_pin"):
            raise ValidationError(_("Enter a new password or PIN."))
        return data


class DepositForm(ConsoleForm):
    amount = MoneyField(label=_("Amount received"), limit="max_deposit")
    memo = forms.CharField(label=_("Note"), max_length=200, required=False)


class RefundForm(ConsoleForm):
    amount = MoneyField(label=_("Amount paid back"))
    memo = forms.CharField(label=_("Note"), max_length=200, required=False)


class AdjustForm(ConsoleForm):
    amount = MoneyField(label=_("Adjustment"), allow_negative=True,
                        help_text=_("Positive adds credit, negative removes it."))
    reason = forms.CharField(label=_("Reason"), max_length=200)
