"""The venue's dialing plan in the console: the same change as ``ficha rates plan``, through
``callshop.services.update_dialing_plan`` (checked and audited there), for the same
capability (``manage_settings``)."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from ficha.callshop import services as callshop

from ..access import actor, capability_required
from ..forms_rates_plan import DialingPlanForm
from .common import posted


@capability_required("manage_settings")
def dialing_plan(request):
    form = DialingPlanForm.for_plan(callshop.dialing_plan(), posted(request))
    if request.method == "POST" and form.is_valid():
        try:
            callshop.update_dialing_plan(actor(request), **form.cleaned_data)
        except callshop.CallshopError as exc:
            form.add_service_error(exc)
        else:
            messages.success(request, _("Dialing plan saved."))
            return redirect("console:rate_plan")
    return render(
        request,
        "console/rates/plan.html",
        {"form": form, "plan": callshop.dialing_plan()},
        status=400 if form.is_bound else 200,
    )
