from __future__ import annotations

from django.contrib import messages
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from ficha.core import roles
from ficha.core.money import Money
from ficha.core.services import over_limit
from ficha.ledger import services as ledger
from ficha.ledger.models import Shift
from ficha.reports import services as reports

from ..access import actor, capability_required, forbidden
from ..forms import CloseShiftForm, OpenShiftForm
from .common import done, paginate


def _list_context(request, open_form=None, close_form=None, close_open=False):
    user = request.user
    see_all = roles.can(user, "view_all_shifts")
    shift = ledger.current_shift(user)
    mine_only = not see_all or request.GET.get("mine") == "1"
    return {
        "shift": shift,
        "summary": reports.shift_summary(shift) if shift else None,
        "open_form": open_form or OpenShiftForm(),
        "close_form": close_form or CloseShiftForm(),
        "close_open": close_open,
        "see_all": see_all,
        "mine_only": mine_only,
        "page_obj": paginate(request, reports.shifts(staff=user if mine_only else None), 20),
    }


@capability_required("use_shift")
def shift_list(request):
    return render(request, "console/shifts/list.html", _list_context(request))


@require_POST
@capability_required("use_shift")
def shift_open(request):
    form = OpenShiftForm(request.POST)
    if form.is_valid():
        try:
            shift = ledger.open_shift(actor(request), form.cleaned_data["opening_float"] or 0)
        except ledger.LedgerError as exc:
            form.add_service_error(exc)
        else:
            messages.success(request, _("Shift opened with a float of %(amount)s.")
                             % {"amount": Money(shift.opening_float,
                                                shift.currency).understood()})
            return done(request, reverse("console:shifts"))
    return render(request, "console/shifts/list.html", _list_context(request, open_form=form))


@require_POST
@capability_required("use_shift")
def shift_close(request, pk: int | None = None):
    """Close the user's own shift, or (manager/owner) someone else's abandoned one."""
    if pk is None:
        shift = ledger.current_shift(request.user)
    else:
        shift = get_object_or_404(Shift, pk=pk)
        if shift.opened_by_id != request.user.pk and not roles.can(request.user,
                                                                   "view_all_shifts"):
            return forbidden(request)
    form = CloseShiftForm(request.POST)
    if shift is None:
        form.is_valid()
        form.add_error(None, _("You have no open shift to close."))
    elif form.is_valid() and _variance_confirmed(form, shift):
        try:
            closed = ledger.close_shift(actor(request), shift, form.cleaned_data["counted"],
                                        form.cleaned_data["note"])
        except ledger.LedgerError as exc:
            form.add_service_error(exc)
        else:
            cur = closed.currency
            messages.success(request, _(
                "Shift closed: %(counted)s counted, %(expected)s expected, variance "
                "%(variance)s.") % {"counted": Money(closed.counted, cur).understood(),
                                     "expected": Money(closed.expected, cur).understood(),
                                     "variance": Money(closed.variance, cur).understood()})
            return done(request, reverse("console:shift", args=[closed.pk]))
    if pk is not None:
        return _detail(request, shift, close_form=form)
    return render(request, "console/shifts/list.html",
                  _list_context(request, close_form=form, close_open=True))


def _variance_confirmed(form: CloseShiftForm, shift: Shift) -> bool:
    """A variance beyond the venue's limit is closed only once confirmed (the form asks)."""
    counted = form.cleaned_data["counted"]
    variance = counted - ledger.shift_cash(shift)
    limit = over_limit("max_shift_variance", variance)
    if not limit:
        return True
    cur = shift.currency
    if variance < 0:
        why = _("That is %(variance)s short of the cash expected, more than %(limit)s, the "
                "largest shift variance accepted without confirmation.")
    else:
        why = _("That is %(variance)s over the cash expected, more than %(limit)s, the "
                "largest shift variance accepted without confirmation.")
    why = why % {"variance": Money(abs(variance), cur).understood(),
                 "limit": Money(limit, cur).understood()}
    return form.confirm_amount("counted", counted, why)


def _detail(request, shift, close_form=None):
    return render(request, "console/shifts/detail.html", {
        "s": shift,
        "summary": reports.shift_summary(shift),
        "page_obj": paginate(request, reports.shift_transactions(shift), 50),
        "close_form": close_form or CloseShiftForm(),
        "can_close": shift.is_open,
    })


@capability_required("use_shift")
def shift_detail(request, pk: int):
    shift = get_object_or_404(Shift.objects.select_related("opened_by", "closed_by"), pk=pk)
    if shift.opened_by_id != request.user.pk and not roles.can(request.user, "view_all_shifts"):
        return forbidden(request)
    return _detail(request, shift)
