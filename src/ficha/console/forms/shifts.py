"""Cash shifts: opening and closing the drawer."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from .base import ConsoleForm, MoneyField


class OpenShiftForm(ConsoleForm):
    opening_float = MoneyField(label=_("Opening float"), required=False,
                               help_text=_("Cash in the drawer as you start."))


class CloseShiftForm(ConsoleForm):
    counted = MoneyField(label=_("Cash counted"),
                         help_text=_("Count every note and coin in the drawer."))
    note = forms.CharField(label=_("Note"), max_length=500, required=False,
                           widget=forms.Textarea(attrs={"rows": 2}))
