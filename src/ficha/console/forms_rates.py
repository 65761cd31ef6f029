"""The forms of the console's rate-deck pages: a deck's settings, a deck file to import,
and the rate tool (which rate a number matches, what a call costs)."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from ficha.accounts.models import Customer
from ficha.callshop.models import Deck

from .forms import ConsoleForm

MAX_DECK_BYTES = 32 * 1024 * 1024  # a 100,000-row deck in the full form is about 8 MB
MAX_QUOTE_SECONDS = 7 * 86400


class DeckForm(ConsoleForm):
    """A deck's name and settings (creating a deck, or changing one)."""

    name = forms.CharField(label=_("Name"), max_length=60)
    description = forms.CharField(label=_("Description"), max_length=200, required=False)
    price_group = forms.ChoiceField(
        label=_("Price group"),
        required=False,
        choices=[
            ("", _("None (booths and customers without a group)")),
            *Customer.PriceGroup.choices,
        ],
        help_text=_("Customers and booths of this group are rated with this deck."),
    )
    rounding = forms.ChoiceField(
        label=_("Rounding"), choices=Deck.Rounding.choices, initial=Deck.Rounding.HALF_UP
    )
    whole_duration = forms.BooleanField(
        label=_("Round the whole duration to the increment (A2Billing/MagnusBilling)"),
        required=False,
    )
    default_min_block = forms.IntegerField(
        label=_("Default minimum block (s)"),
        min_value=0,
        max_value=86400,
        initial=60,
        help_text=_("For rows of a file that give no billing."),
    )
    default_increment = forms.IntegerField(
        label=_("Default increment (s)"), min_value=1, max_value=86400, initial=60
    )

    @classmethod
    def for_deck(cls, deck: Deck, data=None) -> DeckForm:
        return cls(data, initial={name: getattr(deck, name) for name in cls.base_fields})

    def options(self) -> dict:
        """The cleaned values as ``callshop.services`` deck options."""
        return dict(self.cleaned_data)


class DeckImportForm(ConsoleForm):
    deck = forms.CharField(
        label=_("Deck"),
        max_length=60,
        widget=forms.TextInput(attrs={"list": "deck-names", "autocomplete": "off"}),
        help_text=_("An existing deck's name (its rates are replaced) or a new one (created)."),
    )
    file = forms.FileField(
        label=_("Rate file (CSV)"),
        help_text=_(
            "prefix;description;price, or the full form with a header line. At most "
            "32 MB. You see a preview before anything is written."
        ),
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > MAX_DECK_BYTES:
            raise forms.ValidationError(_("The file is larger than 32 MB."))
        return upload


class RateQuoteForm(ConsoleForm):
    deck = forms.ModelChoiceField(label=_("Deck"), queryset=Deck.objects.all(), empty_label=None)
    number = forms.CharField(
        label=_("Number as dialled"),
        max_length=40,
        widget=forms.TextInput(attrs={"inputmode": "tel", "autocomplete": "off"}),
    )
    seconds = forms.IntegerField(
        label=_("Talk time (s)"), min_value=0, max_value=MAX_QUOTE_SECONDS, initial=60
    )
