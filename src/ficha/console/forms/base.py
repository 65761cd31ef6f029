"""What every console form shares: the layout, service errors shown on fields, amounts
typed as people write them (MoneyField) and confirmed above the venue's limits."""

from __future__ import annotations

import datetime as dt

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import translation
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from ficha.core.money import Money, MoneyError
from ficha.core.services import (
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


class DayField(forms.DateField):
    """A calendar day for a filter or an expiry: between 1900 and 9998, so the day after
    it (the end of a "to" day) still exists (9999-12-31 + 1 day does not)."""

    FIRST, LAST = dt.date(1900, 1, 1), dt.date(9998, 12, 31)

    def to_python(self, value):
        day = super().to_python(value)
        if day is not None and not self.FIRST <= day <= self.LAST:
            raise ValidationError(_("Give a day between %(first)s and %(last)s.")
                                  % {"first": self.FIRST.year, "last": self.LAST.year},
                                  code="out_of_range")
        return day
