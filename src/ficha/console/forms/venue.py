"""The venue's settings page."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import translation
from django.utils.translation import gettext_lazy as _

from ficha.core import codes, dates, public_url
from ficha.core.money import MoneyError, check_currency
from ficha.core.services import (
    SettingsError,
    check_time_zone,
    clean_printer_host,
)

from .base import ConsoleForm, MoneyField


class OutputSettingsFields(forms.Form):
    """Settings: what customers and printers see (the public address, dates, the ticket
    printer). Kept together; the settings page shows them as one group."""

    OUTPUT_FIELDS = ("public_url", "date_format", "printer_host", "printer_port",
                     "ticket_width")

    public_url = forms.CharField(
        label=_("Public address"), max_length=200, required=False,
        help_text=_("The address customers' phones open the portal at, printed in the QR "
                    "codes of recharge cards, e.g. http://192.168.1.10:8000 or "
                    "https://wifi.example.com. Not 127.0.0.1 or localhost: only this "
                    "computer can open those."),
        # a text field: Ficha's message says what is wrong, not the browser's "enter a URL"
        widget=forms.TextInput(attrs={"placeholder": "http://192.168.1.10:8000",
                                      "inputmode": "url", "autocapitalize": "none",
                                      "spellcheck": "false"}),
    )
    date_format = forms.ChoiceField(label=_("Date format"), choices=(), required=False)
    printer_host = forms.CharField(
        label=_("Ticket printer address"), max_length=255, required=False,
        help_text=_("IP address or name of the receipt printer on the network (raw ESC/POS), "
                    "e.g. 192.168.1.50. Empty: no network printer."),
        widget=forms.TextInput(attrs={"autocapitalize": "none", "spellcheck": "false"}),
    )
    printer_port = forms.IntegerField(label=_("Ticket printer port"), min_value=1,
                                      max_value=65535, initial=9100, required=False,
                                      help_text=_("Almost always 9100."))
    ticket_width = forms.TypedChoiceField(
        label=_("Ticket paper width"), coerce=int, required=False, empty_value=None,
        choices=[(58, _("58 mm")), (80, _("80 mm"))], initial=80,
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        lang = translation.get_language() or settings.LANGUAGE_CODE
        self.fields["date_format"].choices = [
            (name, f"{dates.example(name, lang)} — {label}")
            for name, label in dates.FORMATS.items()
        ]

    def clean_public_url(self):
        try:
            return public_url.clean(self.cleaned_data["public_url"])
        except public_url.PublicURLError as exc:
            raise ValidationError(str(exc), code="public_url")

    def clean_printer_host(self):
        try:
            return clean_printer_host(self.cleaned_data["printer_host"])
        except SettingsError as exc:
            raise ValidationError(str(exc), code="printer_host")

    def clean(self):
        data = super().clean()
        # A field left out of the post (or a choice left empty) keeps its saved value;
        # only the public address and the printer address may be cleared.
        for name in self.OUTPUT_FIELDS:
            if name not in self.data or (
                    name not in ("public_url", "printer_host") and data.get(name) in ("", None)):
                data.pop(name, None)
        return data

    def output_fields(self):
        return [self[name] for name in self.OUTPUT_FIELDS]

    def other_fields(self):
        return [bf for bf in self if bf.name not in self.OUTPUT_FIELDS and not bf.is_hidden]


class SettingsForm(OutputSettingsFields, ConsoleForm):
    venue_name = forms.CharField(label=_("Venue name"), max_length=120)
    currency = forms.CharField(
        label=_("Currency"), max_length=3, min_length=3,
        help_text=_("ISO 4217 code, e.g. XOF, EUR, GHS. It cannot change once money has "
                    "been recorded."),
        widget=forms.TextInput(attrs={"autocapitalize": "characters", "size": 4}),
    )
    time_zone = forms.CharField(label=_("Time zone"), max_length=64,
                                help_text=_("e.g. Africa/Dakar, Europe/Paris, America/Lima."))
    language = forms.ChoiceField(label=_("Default language"), choices=settings.LANGUAGES)
    code_length = forms.IntegerField(
        label=_("Recharge code length"), min_value=codes.MIN_LENGTH, max_value=codes.MAX_LENGTH,
        help_text=_("Digits per code, check digit included. Longer codes are harder to guess."),
    )
    code_check_digit = forms.BooleanField(
        label=_("Add a check digit (Damm) to new codes"), required=False,
        help_text=_("Typing mistakes are caught before they count as a failed attempt."),
    )
    breakage_enabled = forms.BooleanField(
        label=_("Move expired, unused recharges to breakage revenue"), required=False,
    )
    max_deposit = MoneyField(
        label=_("Largest deposit without confirmation"), required=False,
        help_text=_("A larger deposit is shown again to be confirmed. Empty: no limit."),
    )
    max_face_value = MoneyField(
        label=_("Largest recharge face value without confirmation"), required=False,
        help_text=_("Generating codes of a larger amount asks for a confirmation. Empty: no "
                    "limit."),
    )
    max_shift_variance = MoneyField(
        label=_("Largest shift variance without confirmation"), required=False,
        help_text=_("Closing a shift with more cash over or short than this asks for a "
                    "confirmation. Empty: no limit."),
    )
    staff_idle_minutes = forms.IntegerField(
        label=_("Staff idle timeout (minutes)"), min_value=1, max_value=24 * 60, required=False,
        help_text=_("A console session ends after this long without a click (shared "
                    "counter PCs)."),
    )
    staff_session_hours = forms.IntegerField(
        label=_("Staff session lifetime (hours)"), min_value=1, max_value=24 * 31,
        required=False,
        help_text=_("Staff log in again after this long, however busy."),
    )

    def __init__(self, *args, currency_locked: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        if currency_locked:
            self.fields["currency"].disabled = True

    # The service's own checks, here too, so that every error shows at once.
    def clean_currency(self):
        try:
            return check_currency(self.cleaned_data["currency"].strip().upper())
        except MoneyError as exc:
            raise ValidationError(str(exc))

    def clean_time_zone(self):
        try:
            return check_time_zone(self.cleaned_data["time_zone"].strip())
        except SettingsError as exc:
            raise ValidationError(str(exc))
