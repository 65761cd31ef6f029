"""The console's form for the venue's dialing plan (international and national trunk
prefixes, country code): what ``callshop.services.update_dialing_plan`` takes.

The form checks digits and lengths (as the model); the other rules (a country code does
not start with 0, the two prefixes differ) are the service's, shown as its refusal."""

from __future__ import annotations

from django import forms
from django.core.validators import RegexValidator
from django.utils.translation import gettext_lazy as _

from ficha.callshop.models import DialingPlan

from .forms import ConsoleForm

DIGITS = RegexValidator(r"^[0-9]*$", _("Digits only (0–9), no spaces or +."))


def _length(name: str) -> int:
    return DialingPlan._meta.get_field(name).max_length


class DialingPlanForm(ConsoleForm):
    international_prefix = forms.CharField(
        label=_("International prefix"),
        max_length=_length("international_prefix"),
        required=False,
        validators=[DIGITS],
        help_text=_("Dialled before a country code, e.g. 00 (most countries) or 011."),
    )
    national_prefix = forms.CharField(
        label=_("National trunk prefix"),
        max_length=_length("national_prefix"),
        required=False,
        validators=[DIGITS],
        help_text=_("Dialled before a national number, e.g. 0; empty where there is none."),
    )
    country_code = forms.CharField(
        label=_("Country code"),
        max_length=_length("country_code"),
        required=False,
        validators=[DIGITS],
        help_text=_(
            "The venue's country, e.g. 33 for France, 225 for Côte d'Ivoire. Without it "
            "national numbers are refused."
        ),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            field.widget.attrs.update(
                {"inputmode": "numeric", "pattern": "[0-9]*", "autocomplete": "off"}
            )

    @classmethod
    def for_plan(cls, plan: DialingPlan, data=None) -> DialingPlanForm:
        return cls(data, initial={name: getattr(plan, name) for name in cls.base_fields})
