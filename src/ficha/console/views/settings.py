from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _

from ficha.core import services as core
from ficha.core.money import Money
from ficha.ledger import services as ledger

from ..access import actor, capability_required
from ..forms import SettingsForm
from . import printing
from .common import posted


def _limits_said(changes: dict) -> list[str]:
    """The limits as understood, so the owner sees what "100.000" became."""
    labels = {
        "max_deposit": _("Largest deposit without confirmation: %(amount)s."),
        "max_face_value": _("Largest face value without confirmation: %(amount)s."),
        "max_shift_variance": _("Largest shift variance without confirmation: %(amount)s."),
    }
    cur = core.currency()
    return [labels[name] % {"amount": Money(changes[name], cur).understood()}
            for name in core.LIMITS if changes.get(name)]


@capability_required("manage_settings")
def settings_view(request):
    venue = core.venue_settings()
    locked = ledger.has_entries()
    initial = {name: getattr(venue, name) for name in core.EDITABLE}
    for name in core.LIMITS:  # 0 is "no limit": an empty field
        initial[name] = initial[name] or None
    form = SettingsForm(posted(request), initial=initial, currency_locked=locked)
    if request.method == "POST" and request.POST.get("action") == "test_printer":
        if form.is_valid():
            printing.test_printer(request, form.cleaned_data)  # typed values, not saved
    elif request.method == "POST" and form.is_valid():
        changes = dict(form.cleaned_data)
        if locked:
            changes.pop("currency", None)
        try:
            core.update_settings(actor(request), currency_locked=locked, **changes)
        except core.SettingsError as exc:
            form.add_service_error(exc)
        else:
            messages.success(request, " ".join([_("Settings saved."), *_limits_said(changes)]))
            return redirect("console:settings")
    return render(request, "console/settings.html", {
        "form": form, "currency_locked": locked, "now": timezone.localtime(),
    })
