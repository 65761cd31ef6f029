from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _

from ficha.core import services as core
from ficha.ledger import services as ledger

from ..access import actor, capability_required
from ..forms import SettingsForm
from . import printing
from .common import posted


@capability_required("manage_settings")
def settings_view(request):
    venue = core.venue_settings()
    locked = ledger.has_entries()
    initial = {name: getattr(venue, name) for name in core.EDITABLE}
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
            messages.success(request, _("Settings saved."))
            return redirect("console:settings")
    return render(request, "console/settings.html", {
        "form": form, "currency_locked": locked, "now": timezone.localtime(),
    })
