"""Console forms. They only parse and check types; the rules live in the services."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django.utils import translation
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from ficha.accounts.models import Customer
from ficha.core import codes, dates, public_url, roles
from ficha.core.money import Money, MoneyError, check_currency
from ficha.core.services import (
    SettingsError,
    check_time_zone,
    clean_printer_host,
    currency,
    over_limit,
)

# What each venue limit (core.services.LIMITS) is, in the confirmation question.
LIMIT_LABELS = {
    "max_deposit": _("the largest deposit"),
    "max_face_value": _("the largest face value"),
    "max_shift_variance": _("the largest shift variance"),
}


def language() -> str:
    """The language amounts are typed in: the page's."""
    return translation.get_language() or settings.LANGUAGE_CODE


class ConfirmInput(forms.CheckboxInput):
    """The "yes, this amount" checkbox: its value is the amount (minor units) it confirms,
    so a different amount typed afterwards needs its own confirmation."""

    def __init__(self, minor: int):
        super().__init__(check_test=lambda value: False)
        self.minor = minor

    def format_value(self, value):
        return str(self.minor)


class ConsoleForm(forms.Form):
    template_name = "console/forms/div.html"
    required_css_class = "required"
    error_css_class = "has-error"

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        money_fields = [(n, f) for n, f in self.fields.items() if isinstance(f, MoneyField)]
        if money_fields:
            placeholder = Money(0, currency()).figures(language())
            for name, field in money_fields:
                field.widget.attrs.setdefault("placeholder", placeholder)
                if field.limit:
                    self._add_confirm(name)

    def add_service_error(self, exc: Exception, field: str | None = None) -> None:
        """Show a service's refusal (a ValueError with a message for people) on the form.

        A refusal naming several fields (``exc.errors``: {field: message}) shows them all.
        """
        errors = getattr(exc, "errors", None)
        if isinstance(errors, dict) and errors:
            for name, message in errors.items():
                self.add_error(name if name in self.fields else field, str(message))
            return
        self.add_error(field, str(exc))

    def show_problems(self, problems: dict[str, str]) -> None:
        """Add what the service would refuse ({field: message}, e.g. from
        ``accounts.customer_problems``) to an invalid form, on fields that have no error
        yet: every error at once, not one per try."""
        for name, message in problems.items():
            if name in self.fields and name not in self.errors:
                self.add_error(name, str(message))

    def valid_data(self, names) -> dict:
        """The cleaned values among ``names`` (those that passed the form's own checks)."""
        data = getattr(self, "cleaned_data", {})
        return {name: data[name] for name in names if name in data}

    # --- amounts above the venue's limits are confirmed ----------------------------------
    def _add_confirm(self, name: str) -> None:
        """A hidden ``<name>_confirm`` field right after ``name``; it becomes a checkbox
        when the amount needs a confirmation."""
        key = f"{name}_confirm"
        if key in self.fields:
            return
        items = list(self.fields.items())
        at = [n for n, _f in items].index(name) + 1
        items.insert(at, (key, forms.CharField(required=False, widget=forms.HiddenInput)))
        self.fields = dict(items)

    def full_clean(self):
        super().full_clean()
        if not self.is_bound or not hasattr(self, "cleaned_data"):
            return
        for name, field in list(self.fields.items()):
            if not isinstance(field, MoneyField) or not field.limit:
                continue
            minor = self.cleaned_data.get(name)
            limit = over_limit(field.limit, minor) if minor is not None else 0
            if limit:
                self.confirm_amount(name, minor, gettext(
                    "That is more than %(limit)s, %(what)s accepted without confirmation."
                ) % {"limit": Money(limit, currency()).understood(language()),
                     "what": LIMIT_LABELS[field.limit]})

    def confirm_amount(self, name: str, minor: int, why: str) -> bool:
        """True when the person confirmed ``minor`` in field ``name``; else ask: the field
        gets an error repeating the amount as typed and as understood (``why`` says what
        makes it unusual) and a checkbox to confirm it."""
        self._add_confirm(name)
        key = f"{name}_confirm"
        if self.data.get(self.add_prefix(key)) == str(minor):
            return True
        lang = language()
        amount = Money(minor, currency())
        field = self.fields[key]
        field.widget = ConfirmInput(minor)
        field.label = gettext("Yes, %(amount)s is right") % {
            "amount": amount.understood(lang)}
        self._bound_fields_cache.pop(key, None)  # a bound field keeps the label it had
        typed = str(self.data.get(self.add_prefix(name), "")).strip()
        self.add_error(name, gettext(
            "You typed “%(typed)s” → %(amount)s (%(words)s). %(why)s Tick the box below to "
            "confirm."
        ) % {"typed": typed, "amount": amount.understood(lang),
             "words": amount.in_words(lang), "why": why})
        return False


class MoneyField(forms.CharField):
    """An amount typed in major units of the venue currency, as people write it in the
    page's language ("1,000" in English, "1 000" in French); cleans to int minor units.

    ``limit`` names a venue setting (core.services.LIMITS): above it the form asks for a
    confirmation showing the amount as understood.
    """

    def __init__(self, *, allow_negative: bool = False, limit: str | None = None, **kwargs):
        self.allow_negative = allow_negative
        self.limit = limit
        super().__init__(**kwargs)

    def prepare_value(self, value):
        """An int (minor units, e.g. an initial value) is shown the way it is typed."""
        if isinstance(value, int) and not isinstance(value, bool):
            return Money(value, currency()).figures(language())
        return value

    def widget_attrs(self, widget):
        attrs = super().widget_attrs(widget)
        attrs["autocomplete"] = "off"
        attrs["class"] = "money"
        attrs["maxlength"] = "24"
        if not self.allow_negative:
            attrs["inputmode"] = "decimal"
        return attrs

    def to_python(self, value):
        text = super().to_python(value)
        if text in self.empty_values:
            return None
        try:
            return Money.parse(text, currency(), allow_negative=self.allow_negative,
                               locale=language()).minor
        except MoneyError as exc:
            raise ValidationError(str(exc), code="money")


# --- customers --------------------------------------------------------------------------
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


# --- shifts -----------------------------------------------------------------------------
class OpenShiftForm(ConsoleForm):
    opening_float = MoneyField(label=_("Opening float"), required=False,
                               help_text=_("Cash in the drawer as you start."))


class CloseShiftForm(ConsoleForm):
    counted = MoneyField(label=_("Cash counted"),
                         help_text=_("Count every note and coin in the drawer."))
    note = forms.CharField(label=_("Note"), max_length=500, required=False,
                           widget=forms.Textarea(attrs={"rows": 2}))


# --- staff ------------------------------------------------------------------------------
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


# --- settings ---------------------------------------------------------------------------
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


# --- audit ------------------------------------------------------------------------------
class AuditFilterForm(ConsoleForm):
    required_css_class = ""

    q = forms.CharField(label=_("Text"), required=False)
    actor = forms.TypedChoiceField(label=_("Who"), required=False, coerce=int, empty_value=None)
    action = forms.ChoiceField(label=_("Action"), required=False)
    object_type = forms.ChoiceField(label=_("Object"), required=False)
    since = forms.DateField(label=_("From"), required=False,
                            widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(label=_("To"), required=False,
                            widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args, actors=(), actions=(), object_types=(), **kwargs):
        super().__init__(*args, **kwargs)
        anyone = [("", _("Anyone"))]
        self.fields["actor"].choices = anyone + [(u.pk, u.get_username()) for u in actors]
        self.fields["action"].choices = [("", _("Any action"))] + [(a, a) for a in actions]
        self.fields["object_type"].choices = [("", _("Any object"))] + [
            (t, t) for t in object_types
        ]


# --- login ------------------------------------------------------------------------------
class LoginForm(AuthenticationForm):
    template_name = "console/forms/div.html"
    required_css_class = "required"
    error_css_class = "has-error"
    # Django's own message says both fields may be case-sensitive; usernames are not.
    error_messages = {**AuthenticationForm.error_messages,
                      "invalid_login": _("Wrong username or password.")}

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        self.fields["username"].widget.attrs.update(autocapitalize="none", autocorrect="off")


# --- hotspot ----------------------------------------------------------------------------
class NasForm(ConsoleForm):
    name = forms.CharField(label=_("Name"), max_length=64)
    address = forms.CharField(
        label=_("Address or network"), max_length=64,
        help_text=_("The gateway's IP address as Ficha sees it, or a network such as "
                    "10.0.0.0/24."))
    secret = forms.CharField(label=_("Shared secret"), min_length=8, max_length=128,
                             help_text=_("The same on the gateway; 8 characters or more."))
    vendor = forms.ChoiceField(label=_("Gateway"), choices=())
    coa_port = forms.IntegerField(label=_("CoA/Disconnect port"), min_value=1,
                                  max_value=65535, initial=3799)
    require_message_authenticator = forms.BooleanField(
        label=_("Require Message-Authenticator"), required=False, initial=True,
        help_text=_("Drop requests without it (BlastRADIUS). Untick only for old "
                    "gateways that cannot send it."))
    language = forms.ChoiceField(label=_("Customers' language"), required=False,
                                 choices=())
    active = forms.BooleanField(label=_("Active"), required=False, initial=True)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        from ficha.hotspot.models import Nas

        self.fields["vendor"].choices = Nas.Vendor.choices
        self.fields["language"].choices = [("", _("The venue's"))] + list(settings.LANGUAGES)


class PlanForm(ConsoleForm):
    name = forms.CharField(label=_("Name"), max_length=64)
    price_per_hour = MoneyField(label=_("Price per hour"), required=False)
    price_per_mb = MoneyField(label=_("Price per MB"), required=False)
    minimum_charge = MoneyField(label=_("Minimum charge"), required=False)
    increment_seconds = forms.IntegerField(
        label=_("Billing increment (seconds)"), min_value=1, max_value=86400, initial=60)
    rate_up_kbps = forms.IntegerField(label=_("Upload (kbit/s)"), min_value=1,
                                      required=False)
    rate_down_kbps = forms.IntegerField(label=_("Download (kbit/s)"), min_value=1,
                                        required=False)
    quota_mb = forms.IntegerField(label=_("Data quota (MB)"), min_value=1, required=False)
    idle_timeout = forms.IntegerField(label=_("Idle timeout (seconds)"), min_value=1,
                                      required=False)
    interim_interval = forms.IntegerField(label=_("Interim updates (seconds)"),
                                          min_value=60, initial=300)
    devices = forms.IntegerField(label=_("Devices at once"), min_value=1, initial=1)
    validity_hours = forms.IntegerField(
        label=_("Valid for (hours from first login)"), min_value=1, required=False)
    price_group = forms.CharField(
        label=_("For the price group"), max_length=60, required=False,
        help_text=_("member, guest, or a custom group's name; empty: no group."))
    is_default = forms.BooleanField(label=_("Default plan"), required=False)

    def plan_fields(self) -> dict:
        d = self.cleaned_data
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
        }
