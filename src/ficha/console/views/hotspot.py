"""Hotspot: gateways (NAS) with their dropped-packet counters, plans, live sessions."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache

from ficha.accounts.models import Customer
from ficha.hotspot import services as hotspot
from ficha.hotspot.models import HotspotAccount, Nas, Plan

from ..access import actor, capability_required
from ..forms import NasForm, PlanForm

NAS_FIELDS = ("name", "address", "secret", "vendor", "coa_port", "coa_address",
              "require_message_authenticator", "language", "active",
              "portal_hosts", "uam_secret", "fas_key")


def _page(request, nas_form=None, plan_form=None, status=200):
    return render(request, "console/hotspot/page.html", {
        "overview": hotspot.overview(),
        "live": hotspot.live_sessions(),
        "nas_form": nas_form or NasForm(prefix="nas"),
        "plan_form": plan_form or _plan_form(prefix="plan"),
    }, status=status)


def _plan_form(*args, **kwargs) -> PlanForm:
    return PlanForm(*args, price_groups=hotspot.known_price_groups(), **kwargs)


def _warn_empty_group(request, plan: Plan) -> None:
    """A plan for a group no customer is in yet applies to nobody (a typo, or customers
    still to be put in it): say so."""
    if plan.price_group and hotspot.known_group(plan.price_group) is None:
        messages.warning(request, _(
            "No customer is in the price group “%(group)s” yet: the plan applies to "
            "customers once their custom price group is “%(group)s”.")
            % {"group": plan.price_group})


@never_cache
@capability_required("manage_hotspot")
def hotspot_page(request):
    if request.method != "POST":
        return _page(request)
    if request.POST.get("add") == "plan":
        form = _plan_form(request.POST, prefix="plan")
        if form.is_valid():
            try:
                plan = hotspot.create_plan(actor(request), **form.plan_fields())
            except hotspot.HotspotError as exc:
                form.add_service_error(exc)
            else:
                messages.success(request, _("Plan %(name)s added.") % {"name": plan.name})
                _warn_empty_group(request, plan)
                return redirect("console:hotspot")
        return _page(request, plan_form=form, status=400)
    form = NasForm(request.POST, prefix="nas")
    if form.is_valid():
        try:
            nas = hotspot.create_nas(actor(request), **form.nas_fields(NAS_FIELDS))
        except hotspot.HotspotError as exc:
            form.add_service_error(exc)
        else:
            messages.success(request, _("Gateway %(name)s added: point it at this server "
                                        "with the same shared secret.") % {"name": nas.name})
            return redirect("console:hotspot")
    return _page(request, nas_form=form, status=400)


@never_cache
@capability_required("manage_hotspot")
def nas_edit(request, pk: int):
    nas = get_object_or_404(Nas, pk=pk)
    if request.method == "POST":
        form = NasForm(request.POST, nas=nas)
        if form.is_valid():
            try:
                hotspot.update_nas(actor(request), nas, **form.nas_fields(NAS_FIELDS))
            except hotspot.HotspotError as exc:
                form.add_service_error(exc)
            else:
                messages.success(request, _("Gateway %(name)s saved.") % {"name": nas.name})
                return redirect("console:hotspot")
        status = 400
    else:
        form = NasForm(initial={k: getattr(nas, k) for k in NAS_FIELDS
                                if k not in NasForm.SECRETS}, nas=nas)
        status = 200
    return render(request, "console/hotspot/edit.html",
                  {"form": form, "title": nas.name, "nas": nas}, status=status)


@never_cache
@capability_required("manage_hotspot")
def plan_edit(request, pk: int):
    plan = get_object_or_404(Plan, pk=pk)
    if request.method == "POST":
        form = _plan_form(request.POST, initial=PlanForm.initial_for(plan))
        if form.is_valid():
            try:
                hotspot.update_plan(actor(request), plan, **form.plan_fields(plan))
            except hotspot.HotspotError as exc:
                form.add_service_error(exc)
            else:
                messages.success(request, _("Plan %(name)s saved.") % {"name": plan.name})
                _warn_empty_group(request, plan)
                return redirect("console:hotspot")
        status = 400
    else:
        form = _plan_form(initial=PlanForm.initial_for(plan))
        status = 200
    return render(request, "console/hotspot/edit.html",
                  {"form": form, "title": plan.name, "plan": plan}, status=status)


class CustomerPlanForm(forms.Form):
    plan = forms.ModelChoiceField(
        queryset=Plan.objects.all(), required=False, label=_("Wi-Fi plan"),
        empty_label=_("The price group's plan"),
        help_text=_("Their own plan, whatever their price group. Sessions already open "
                    "keep the plan they started with."))


@never_cache
@capability_required("manage_hotspot")
def customer_plan(request, pk: int):
    """One customer's own hotspot plan (the per-account override), or their group's."""
    customer = get_object_or_404(Customer, pk=pk)
    state = HotspotAccount.objects.filter(customer=customer).select_related("plan").first()
    status = 200
    if request.method == "POST":
        form = CustomerPlanForm(request.POST)
        if form.is_valid():
            plan = form.cleaned_data["plan"]
            hotspot.set_customer_plan(actor(request), customer, plan)
            messages.success(request, _("Wi-Fi plan of %(name)s: %(plan)s.") % {
                "name": customer.username,
                "plan": plan.name if plan else _("the price group's plan")})
            return redirect("console:customer", pk=customer.pk)
        status = 400
    else:
        form = CustomerPlanForm(initial={"plan": state.plan_id if state else None})
    return render(request, "console/hotspot/customer_plan.html", {
        "form": form, "customer": customer, "title": customer.username,
        "current": hotspot.plan_for(customer, state)}, status=status)
