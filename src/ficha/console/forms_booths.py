"""Console forms of the call-shop counter (booths, extras, checkout, counter settings).

They only check types; amounts stay text and are read by the services with
``core.money.parse_amount`` in the page's language, so the service's message (and what it
understood) reaches the cashier unchanged.
"""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from ficha.accounts.models import Customer
from ficha.callshop import counter
from ficha.callshop.counter_models import BoothExtra
from ficha.core.money import Money
from ficha.core.services import currency

from .forms import ConsoleForm, language


class AmountInput(forms.TextInput):
    def __init__(self):
        super().__init__(attrs={"inputmode": "decimal", "autocomplete": "off",
                                "class": "money", "maxlength": "24"})


class BoothForm(ConsoleForm):
    name = forms.CharField(label=_("Name"), max_length=60)
    accountcode = forms.CharField(
        label=_("PBX account code"), max_length=80, required=False,
        help_text=_("The accountcode the PBX writes on this phone's calls."))
    endpoint = forms.CharField(
        label=_("PBX endpoint"), max_length=80, required=False,
        help_text=_("As in the channel name: PJSIP/booth3-… → booth3."))
    price_group = forms.ChoiceField(
        label=_("Price group"), required=False,
        choices=[("", _("The deck without a price group"))]
        + list(Customer.PriceGroup.choices))
    active = forms.BooleanField(label=_("Active"), required=False, initial=True)

    FIELDS = ("name", "accountcode", "endpoint", "price_group", "active")

    def values(self) -> dict:
        return {k: self.cleaned_data[k] for k in self.FIELDS}


class CounterSettingsForm(ConsoleForm):
    cash_rounding_step = forms.CharField(
        label=_("Cash rounding step"), max_length=24, widget=AmountInput(),
        help_text=_("The smallest coin you give back, e.g. 0.05 or 25; 0 rounds nothing."))
    cash_rounding_mode = forms.ChoiceField(
        label=_("Round"), choices=[(k, v) for k, v in counter.ROUNDING_LABELS.items()])
    mask_digits = forms.IntegerField(
        label=_("Digits hidden in dialled numbers"), min_value=0, max_value=counter.MAX_HIDE,
        help_text=_("On receipts and the booth screen."))

    @classmethod
    def for_settings(cls, row) -> CounterSettingsForm:
        return cls(initial={
            "cash_rounding_step": Money(row.cash_rounding_step, currency()).figures(language()),
            "cash_rounding_mode": row.cash_rounding_mode, "mask_digits": row.mask_digits})


class ExtraForm(ConsoleForm):
    kind = forms.ChoiceField(label=_("Kind"), choices=BoothExtra.Kind.choices,
                             initial=BoothExtra.Kind.PRODUCT)
    description = forms.CharField(label=_("Description"), max_length=100, required=False)
    amount = forms.CharField(label=_("Amount"), max_length=24, widget=AmountInput())


class CheckoutForm(ConsoleForm):
    tendered = forms.CharField(label=_("Cash tendered"), max_length=24, widget=AmountInput(),
                               help_text=_("What the customer hands over."))
