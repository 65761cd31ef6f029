"""Console forms for café tariffs, station groups and packages (parse and check types only;
the rules live in ``ficha.tariffs``)."""

from __future__ import annotations

import datetime as dt
import zoneinfo

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from ficha.core.services import currency, venue_settings
from ficha.tariffs import cafe, text
from ficha.tariffs.models import CafeTariff, Package, StationGroup

from .forms import ConsoleForm, MoneyField, language

RATES_HELP = _("One line per price: NAME [from MINUTES] guest=PRICE member=PRICE … "
               "(an hour). E.g. “day guest=6.00 member=5.00”, “day from 30 guest=4.00”.")
BANDS_HELP = _("One line per band: DAYS [HH:MM-HH:MM] PRICE-LIST. E.g. “mon-fri 08:00-18:00 "
               "day”, “sat+sun night”, “fri 22:00-02:00 night” (past midnight).")


class TariffForm(ConsoleForm):
    name = forms.CharField(label=_("Name"), max_length=64)
    first_minutes = forms.IntegerField(
        label=_("First block (minutes)"), min_value=0, max_value=1440, initial=0,
        help_text=_("Any session is billed at least this long (0: none)."))
    every_minutes = forms.IntegerField(
        label=_("Then bill every (minutes)"), min_value=1, max_value=1440, initial=1)
    start_fee = MoneyField(label=_("Start fee"), required=False)
    minimum = MoneyField(label=_("Minimum charge"), required=False,
                         help_text=_("The least a session costs, start fee included."))
    rates = forms.CharField(label=_("Price lists (an hour)"), help_text=RATES_HELP,
                            widget=forms.Textarea(attrs={"rows": 5, "class": "mono"}))
    bands = forms.CharField(label=_("Bands (weekday × time of day)"), help_text=BANDS_HELP,
                            required=False,
                            widget=forms.Textarea(attrs={"rows": 4, "class": "mono"}))
    fallback = forms.CharField(label=_("Price list outside the bands"), max_length=40,
                               help_text=_("Empty: the first price list."), required=False)
    is_default = forms.BooleanField(label=_("Default tariff"), required=False)

    def clean_rates(self):
        try:
            return text.parse_rates(self.cleaned_data["rates"], currency(), locale=language())
        except cafe.TariffError as exc:
            raise ValidationError(str(exc)) from None

    def clean_bands(self):
        try:
            return text.parse_bands(self.cleaned_data.get("bands") or "")
        except cafe.TariffError as exc:
            raise ValidationError(str(exc)) from None

    def tariff_fields(self) -> dict:
        d = self.cleaned_data
        spec = cafe.spec_to_json(cafe.TariffSpec(
            rates=d["rates"], fallback=d["rates"][0].name, bands=()))
        bands = [{"days": sorted(b.days), "start": b.start, "end": b.end, "rate": b.rate}
                 for b in d["bands"]]
        return {
            "name": d["name"], "is_default": d["is_default"],
            "first_block": d["first_minutes"] * 60, "increment": d["every_minutes"] * 60,
            "start_fee": d["start_fee"] or 0, "minimum": d["minimum"] or 0,
            "rates": spec["rates"], "bands": bands,
            "fallback": (d["fallback"] or "").strip() or d["rates"][0].name,
        }

    @classmethod
    def initial_for(cls, tariff: CafeTariff) -> dict:
        spec = tariff.spec()
        return {
            "name": tariff.name, "is_default": tariff.is_default,
            "first_minutes": tariff.first_block // 60,
            "every_minutes": max(1, tariff.increment // 60),
            "start_fee": tariff.start_fee, "minimum": tariff.minimum,
            "rates": text.format_rates(spec.rates, currency(), language()),
            "bands": text.format_bands(spec.bands), "fallback": tariff.fallback,
        }


class StationGroupForm(ConsoleForm):
    name = forms.CharField(label=_("Name"), max_length=64)
    tariff = forms.ModelChoiceField(label=_("Tariff"), queryset=CafeTariff.objects.all(),
                                    required=False, empty_label=_("The default tariff"))
    description = forms.CharField(label=_("Description"), max_length=200, required=False)


class PackageForm(ConsoleForm):
    name = forms.CharField(label=_("Name"), max_length=64)
    hours = forms.IntegerField(label=_("Hours"), min_value=0, max_value=8784, initial=1)
    minutes = forms.IntegerField(label=_("and minutes"), min_value=0, max_value=59,
                                 initial=0, required=False)
    price = MoneyField(label=_("Price"))
    valid_days = forms.IntegerField(label=_("Valid for (days)"), min_value=0, max_value=3660,
                                    initial=30, help_text=_("0: never expires."))
    station_groups = forms.ModelMultipleChoiceField(
        label=_("Station groups"), queryset=StationGroup.objects.all(), required=False,
        help_text=_("None: every station."), widget=forms.CheckboxSelectMultiple)
    active = forms.BooleanField(label=_("On sale"), required=False, initial=True)

    def package_fields(self) -> dict:
        d = self.cleaned_data
        return {"name": d["name"], "seconds": d["hours"] * 3600 + (d["minutes"] or 0) * 60,
                "price": d["price"], "valid_days": d["valid_days"], "active": d["active"]}

    @classmethod
    def initial_for(cls, package: Package) -> dict:
        return {"name": package.name, "hours": package.seconds // 3600,
                "minutes": package.seconds % 3600 // 60, "price": package.price,
                "valid_days": package.valid_days, "active": package.active,
                "station_groups": list(package.station_groups.all())}


class SellPackageForm(ConsoleForm):
    customer = forms.CharField(label=_("Customer (user name)"), max_length=150)
    package = forms.ModelChoiceField(label=_("Package"),
                                     queryset=Package.objects.filter(active=True))


class QuoteForm(ConsoleForm):
    """“What would N minutes starting at T cost?”"""

    tariff = forms.ModelChoiceField(label=_("Tariff"), queryset=CafeTariff.objects.all(),
                                    empty_label=None)
    start = forms.DateTimeField(
        label=_("Starting at"), input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"},
                                   format="%Y-%m-%dT%H:%M"),
        help_text=_("The venue's local time."))
    minutes = forms.IntegerField(label=_("Minutes"), min_value=0, max_value=60 * 24 * 31,
                                 initial=60)
    price_group = forms.CharField(label=_("Price group"), max_length=60, initial="guest",
                                  help_text=_("guest, member, or a custom group's name."))
    credit = MoneyField(label=_("And how long would this credit last?"), required=False)

    def clean_start(self):
        start = self.cleaned_data["start"]
        if not 1970 <= start.year <= 9000:  # the engine's clock must not run off the calendar
            raise forms.ValidationError(_("Choose a date between 1970 and 9000."))
        return start

    def start_aware(self) -> dt.datetime:
        """The typed wall-clock time, in the venue's time zone."""
        naive = self.cleaned_data["start"].replace(tzinfo=None)
        return naive.replace(tzinfo=zoneinfo.ZoneInfo(venue_settings().time_zone))
