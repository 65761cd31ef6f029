"""The form of the console's CDR upload page."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from .forms import ConsoleForm


class CdrUploadForm(ConsoleForm):
    file = forms.FileField(
        label=_("Call record file"),
        help_text=_("Asterisk Master.csv (cdr_csv) or FreeSWITCH mod_cdr_csv. Importing a "
                    "file again charges nothing twice."))
