"""The recharges window's forms: filters, generate, sell, void, redeem."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from ficha.recharges import services as rs

from ...forms import ConsoleForm, DayField, MoneyField
from .common import DEFAULT_SORT, PER_PAGE, PER_PAGE_CHOICES, SORTS, STATUSES, S, payment_choices


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, attrs=None):
        super().__init__(attrs, format="%Y-%m-%d")


class FilterForm(ConsoleForm):
    required_css_class = ""

    code = forms.CharField(label=gettext_lazy("Code"), required=False, max_length=64,
                           widget=forms.TextInput(attrs={
                               "inputmode": "numeric", "autocomplete": "off",
                               "placeholder": "1234 5678",
                               "type": "search"}))
    status = forms.ChoiceField(label=gettext_lazy("Status"), required=False)
    batch = forms.CharField(label=gettext_lazy("Batch"), required=False, max_length=80,
                            widget=forms.TextInput(attrs={"list": "batch-list",
                                                          "autocomplete": "off"}))
    amount = MoneyField(label=gettext_lazy("Amount"), required=False)
    sold_from = DayField(label=gettext_lazy("Sold from"), required=False,
                                widget=DateInput())
    sold_to = DayField(label=gettext_lazy("Sold until"), required=False,
                              widget=DateInput())
    used_from = DayField(label=gettext_lazy("Used from"), required=False,
                                widget=DateInput())
    used_to = DayField(label=gettext_lazy("Used until"), required=False,
                              widget=DateInput())
    created_from = DayField(label=gettext_lazy("Created from"), required=False,
                                   widget=DateInput())
    created_to = DayField(label=gettext_lazy("Created until"), required=False,
                                 widget=DateInput())
    per_page = forms.TypedChoiceField(
        label=gettext_lazy("Per page"), required=False, coerce=int, empty_value=PER_PAGE,
        initial=PER_PAGE,
        choices=[(n, str(n)) for n in PER_PAGE_CHOICES])
    sort = forms.CharField(required=False, widget=forms.HiddenInput)

    DATE_FIELDS = ("sold_from", "sold_to", "used_from", "used_to", "created_from",
                   "created_to")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["status"].choices = [("", _("Every status"))] + [
            (s.value, s.label) for s in STATUSES] + [(S.DELETED.value, S.DELETED.label)]
        self.fields["amount"].widget.attrs["class"] = "money money-small"

    def clean_sort(self):
        value = self.cleaned_data.get("sort") or DEFAULT_SORT
        return value if value in SORTS else DEFAULT_SORT


class GenerateForm(ConsoleForm):
    VALIDITY = [
        ("", gettext_lazy("No expiry")),
        ("7", gettext_lazy("7 days")),
        ("30", gettext_lazy("30 days")),
        ("90", gettext_lazy("90 days")),
        ("date", gettext_lazy("On a date")),
    ]
    count = forms.IntegerField(label=gettext_lazy("Number of codes"), min_value=1,
                               max_value=rs.MAX_BATCH, initial=100,
                               widget=forms.NumberInput(attrs={"inputmode": "numeric"}))
    amount = MoneyField(label=gettext_lazy("Amount of each code"), limit="max_face_value")
    validity = forms.ChoiceField(label=gettext_lazy("Valid for"), choices=VALIDITY,
                                 required=False, initial="", widget=forms.RadioSelect)
    expires_on = DayField(label=gettext_lazy("Expiry date"), required=False,
                                 widget=DateInput(),
                                 help_text=gettext_lazy("The code works until the end of "
                                                        "that day."))
    label = forms.CharField(label=gettext_lazy("Batch name"), required=False, max_length=80,
                            help_text=gettext_lazy("Optional. By default: the date and a "
                                                   "number."))

    def clean(self):
        data = super().clean()
        validity = data.get("validity") or ""
        day = data.get("expires_on")
        if validity == "date" and not day:
            self.add_error("expires_on", _("Choose the expiry date."))
        elif validity not in ("", "date") and day:
            self.add_error("expires_on", _("Choose a number of days or a date, not both."))
        return data

    def expiry(self) -> dict:
        data = self.cleaned_data
        if data.get("expires_on"):
            return {"expires_at": data["expires_on"]}
        if data.get("validity") and data["validity"].isdigit():
            return {"valid_days": int(data["validity"])}
        return {}


class SellForm(ConsoleForm):
    payment_method = forms.ChoiceField(label=gettext_lazy("Payment"), initial="cash")
    price = MoneyField(label=gettext_lazy("Price per code"), required=False,
                       help_text=gettext_lazy("Empty: the amount printed on the code."))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["payment_method"].choices = payment_choices()


class RangeForm(SellForm):
    first = forms.CharField(label=gettext_lazy("From code"), max_length=64,
                            widget=forms.TextInput(attrs={"inputmode": "numeric",
                                                          "autocomplete": "off"}))
    last = forms.CharField(label=gettext_lazy("To code"), max_length=64,
                           widget=forms.TextInput(attrs={"inputmode": "numeric",
                                                         "autocomplete": "off"}))

    field_order = ["first", "last", "payment_method", "price"]


class VoidForm(ConsoleForm):
    reason = forms.CharField(label=gettext_lazy("Reason"), max_length=500,
                             widget=forms.Textarea(attrs={"rows": 2}),
                             help_text=gettext_lazy("Kept in the audit log."))
    confirm = forms.BooleanField(label=gettext_lazy("Yes, void this code and refund the "
                                                    "buyer"))


class RedeemForm(ConsoleForm):
    code = forms.CharField(label=gettext_lazy("Recharge code"), max_length=64,
                           widget=forms.TextInput(attrs={
                               "inputmode": "numeric", "autocomplete": "off",
                               "placeholder": "1234 5678", "class": "code-input"}))

