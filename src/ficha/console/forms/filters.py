"""The filters above lists: the audit log, hotspot sessions."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from .base import ConsoleForm, DayField


class AuditFilterForm(ConsoleForm):
    required_css_class = ""

    q = forms.CharField(label=_("Text"), required=False)
    actor = forms.TypedChoiceField(label=_("Who"), required=False, coerce=int, empty_value=None)
    action = forms.ChoiceField(label=_("Action"), required=False)
    object_type = forms.ChoiceField(label=_("Object"), required=False)
    since = DayField(label=_("From"), required=False,
                            widget=forms.DateInput(attrs={"type": "date"}))
    until = DayField(label=_("To"), required=False,
                            widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args, actors=(), actions=(), object_types=(), **kwargs):
        super().__init__(*args, **kwargs)
        anyone = [("", _("Anyone"))]
        self.fields["actor"].choices = anyone + [(u.pk, u.get_username()) for u in actors]
        self.fields["action"].choices = [("", _("Any action"))] + [(a, a) for a in actions]
        self.fields["object_type"].choices = [("", _("Any object"))] + [
            (t, t) for t in object_types
        ]


class SessionFilterForm(ConsoleForm):
    required_css_class = ""

    customer = forms.CharField(label=_("Customer"), required=False, max_length=150)
    nas = forms.TypedChoiceField(label=_("Gateway"), required=False, coerce=int,
                                 empty_value=None)
    since = DayField(label=_("From"), required=False,
                            widget=forms.DateInput(attrs={"type": "date"}))
    until = DayField(label=_("To"), required=False,
                            widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args, nas=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["nas"].choices = [("", _("Any gateway"))] + [(n.pk, n.name) for n in nas]
