"""Generating a batch of codes."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect, render
from django.utils.translation import ngettext

from ficha.recharges import services as rs

from ...access import actor, capability_required
from .common import _money, _ngroup, _window_url
from .forms import GenerateForm


@capability_required("view_recharges", "generate_recharges")
def generate(request):
    form = GenerateForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            batch = rs.generate(actor(request), count=data["count"], amount=data["amount"],
                                label=data["label"], **form.expiry())
        except rs.RechargeError as exc:
            form.add_service_error(exc)
        else:
            text = ngettext(
                "%(count)s code of %(amount)s generated (batch %(label)s).",
                "%(count)s codes of %(amount)s generated (batch %(label)s).", batch.count,
            ) % {"count": _ngroup(batch.count), "amount": _money(batch.amount),
                 "label": batch.label}
            messages.success(request, text)
            return redirect(_window_url(batch=batch.label))
    return render(request, "console/recharges/generate.html", {"form": form})

