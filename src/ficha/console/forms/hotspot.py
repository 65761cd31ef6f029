"""Hotspot gateways (NAS) and plans."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from .base import ConsoleForm, MoneyField

_INT_MAX = 2**31 - 1  # the columns' range (PostgreSQL integer)


class SuggestInput(forms.TextInput):
    """A text input with suggestions (an HTML datalist: no JavaScript needed)."""

    template_name = "console/forms/suggest_input.html"

    def __init__(self, attrs=None, suggestions=()):
        super().__init__(attrs)
        self.suggestions = list(suggestions)

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        widget = context["widget"]
        widget["list_id"] = f"{widget['attrs'].get('id') or name}-suggestions"
        widget["attrs"]["list"] = widget["list_id"]
        widget["suggestions"] = self.suggestions
        return context


class NasForm(ConsoleForm):
    name = forms.CharField(label=_("Name"), max_length=64)
    address = forms.CharField(
        label=_("Address or network"), max_length=64,
        help_text=_("The gateway's IP address as Ficha sees it, or a network such as "
                    "10.0.0.0/24."))
    secret = forms.CharField(label=_("Shared secret"), min_length=8, max_length=128,
                             widget=forms.PasswordInput(render_value=False),
                             help_text=_("The same on the gateway; 8 characters or more."))
    vendor = forms.ChoiceField(label=_("Gateway"), choices=())
    coa_port = forms.IntegerField(label=_("CoA/Disconnect port"), min_value=1,
                                  max_value=65535, initial=3799)
    require_message_authenticator = forms.BooleanField(
        label=_("Require Message-Authenticator"), required=False, initial=True,
        help_text=_("Drop requests without it (BlastRADIUS). Untick only for old "
                    "gateways that cannot send it."))
    coa_address = forms.GenericIPAddressField(
        label=_("CoA/Disconnect address"), required=False,
        help_text=_("Where to send disconnects and new time limits; empty: the address "
                    "above (needed when that is a network)."))
    language = forms.ChoiceField(label=_("Customers' language"), required=False,
                                 choices=())
    active = forms.BooleanField(label=_("Active"), required=False, initial=True)
    portal_hosts = forms.CharField(
        label=_("Login page addresses"), max_length=255, required=False,
        help_text=_("Captive portal: the hotspot's LAN address or name its login links "
                    "use (e.g. 10.5.50.1), separated by commas; empty: the address above."))
    uam_secret = forms.CharField(label=_("UAM secret (CoovaChilli)"), min_length=12,
                                 max_length=128, required=False,
                                 widget=forms.PasswordInput(render_value=False),
                                 help_text=_("The same as on the gateway; 12 characters or "
                                             "more."))
    fas_key = forms.CharField(label=_("FAS key (openNDS)"), min_length=12, max_length=128,
                              required=False, widget=forms.PasswordInput(render_value=False),
                              help_text=_("The same as on the gateway; 12 characters or "
                                          "more."))

    SECRETS = ("secret", "uam_secret", "fas_key")

    def __init__(self, *args, nas=None, **kwargs):
        """``nas``: the gateway being changed. Its secrets are never sent back to the
        browser; a secret field left empty keeps the one it has."""
        super().__init__(*args, **kwargs)
        from ficha.hotspot.models import Nas

        self.fields["vendor"].choices = Nas.Vendor.choices
        self.fields["language"].choices = [("", _("The venue's"))] + list(settings.LANGUAGES)
        self.nas = nas
        if nas is not None:
            for name in self.SECRETS:
                field = self.fields[name]
                field.required = False
                state = (_("Set: leave empty to keep it.") if getattr(nas, name)
                         else _("Not set."))
                field.help_text = f"{field.help_text} {state}".strip()

    def nas_fields(self, names) -> dict:
        """The values to save: every field of ``names``, except a secret left empty on a
        gateway being changed (it keeps the one it has)."""
        data = self.cleaned_data
        return {k: data[k] for k in names
                if not (self.nas is not None and k in self.SECRETS and not data[k])}


class PlanForm(ConsoleForm):
    name = forms.CharField(label=_("Name"), max_length=64)
    price_per_hour = MoneyField(label=_("Price per hour"), required=False)
    price_per_mb = MoneyField(label=_("Price per MB"), required=False)
    minimum_charge = MoneyField(label=_("Minimum charge"), required=False)
    increment_seconds = forms.IntegerField(
        label=_("Billing increment (seconds)"), min_value=1, max_value=86400, initial=60)
    rate_up_kbps = forms.IntegerField(label=_("Upload (kbit/s)"), min_value=1,
                                      max_value=_INT_MAX, required=False)
    rate_down_kbps = forms.IntegerField(label=_("Download (kbit/s)"), min_value=1,
                                        max_value=_INT_MAX, required=False)
    quota_mb = forms.IntegerField(label=_("Data quota (MB)"), min_value=1,
                                  max_value=2**62 // 1_000_000, required=False)
    idle_timeout = forms.IntegerField(label=_("Idle timeout (seconds)"), min_value=1,
                                      max_value=_INT_MAX, required=False)
    interim_interval = forms.IntegerField(label=_("Interim updates (seconds)"),
                                          min_value=60, max_value=_INT_MAX, initial=300)
    devices = forms.IntegerField(label=_("Devices at once"), min_value=1,
                                 max_value=_INT_MAX, initial=1)
    validity_hours = forms.IntegerField(
        label=_("Valid for (hours from first login)"), min_value=1,
        max_value=_INT_MAX // 3600, required=False,
        help_text=_("Makes the plan a pass: its minimum charge is the pass's price, paid "
                    "once per period (a 24 h pass: price 0 an hour, minimum 500)."))
    price_group = forms.CharField(
        label=_("For the price group"), max_length=60, required=False, widget=SuggestInput,
        help_text=_("member, guest, or a custom group's name as customers have it; "
                    "empty: no group."))
    is_default = forms.BooleanField(label=_("Default plan"), required=False)
    mac_login = forms.BooleanField(
        label=_("Returning devices log in by MAC"), required=False,
        help_text=_("A device this account used before gets on without a password. "
                    "A MAC can be copied: only for venues that accept that."))

    def __init__(self, *args, price_groups=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["price_group"].widget.suggestions = list(price_groups)

    def plan_fields(self, plan=None) -> dict:
        """The plan's fields as the form gives them; editing ``plan``, a quota or a
        validity left as shown keeps its exact value (the form shows whole MB and hours;
        the API may have set 5,368,709,120 bytes or 90 minutes)."""
        d = self.cleaned_data
        fields = self._fields(d)
        if plan is not None:
            for name, key in (("quota_mb", "quota_bytes"),
                              ("validity_hours", "validity_seconds")):
                if name not in self.changed_data:
                    fields[key] = getattr(plan, key)
        return fields

    @staticmethod
    def _fields(d) -> dict:
        return {
            "name": d["name"], "price_per_hour": d["price_per_hour"] or 0,
            "price_per_mb": d["price_per_mb"] or 0, "minimum_charge": d["minimum_charge"] or 0,
            "increment_seconds": d["increment_seconds"], "rate_up_kbps": d["rate_up_kbps"],
            "rate_down_kbps": d["rate_down_kbps"],
            "quota_bytes": d["quota_mb"] * 1_000_000 if d["quota_mb"] else None,
            "idle_timeout": d["idle_timeout"], "interim_interval": d["interim_interval"],
            "devices": d["devices"],
            "validity_seconds": d["validity_hours"] * 3600 if d["validity_hours"] else None,
            "price_group": d["price_group"].strip(), "is_default": d["is_default"],
            "mac_login": d["mac_login"],
        }

    @classmethod
    def initial_for(cls, plan) -> dict:
        return {
            "name": plan.name, "price_per_hour": plan.price_per_hour,
            "price_per_mb": plan.price_per_mb, "minimum_charge": plan.minimum_charge,
            "increment_seconds": plan.increment_seconds, "rate_up_kbps": plan.rate_up_kbps,
            "rate_down_kbps": plan.rate_down_kbps,
            "quota_mb": plan.quota_bytes // 1_000_000 if plan.quota_bytes else None,
            "idle_timeout": plan.idle_timeout, "interim_interval": plan.interim_interval,
            "devices": plan.devices,
            "validity_hours": plan.validity_seconds // 3600 if plan.validity_seconds else None,
            "price_group": plan.price_group, "is_default": plan.is_default,
            "mac_login": plan.mac_login,
        }
