"""Call-shop counter: the live booth screen, booth sessions (extras, checkout), receipts
(browser ticket page, PDF, ESC/POS file, network printer) and booth setup.

The live screen polls its board fragment every second with htmx (no reload, no inline
script); without JavaScript the page still works, it just needs a reload to update.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from ficha.callshop import booths, receipts
from ficha.callshop import calls as callshop_calls
from ficha.callshop.counter_models import BoothExtra
from ficha.callshop.models import Booth, BoothSession
from ficha.core.money import Money
from ficha.core.services import TICKET_WIDTHS, currency, venue_settings
from ficha.ledger import services as ledger
from ficha.printing import network
from ficha.printing.network import PrinterError

from ..access import actor, capability_required
from ..forms import language
from ..forms_booths import BoothForm, CheckoutForm, CounterSettingsForm, ExtraForm
from .common import done

POLL_SECONDS = 1  # the live screen refreshes at least this often (the issue asks ≤ 2 s)


# --- the live screen --------------------------------------------------------------------
def _screen_context() -> dict:
    return {"states": booths.board(), "unpaid": booths.unpaid_sessions(),
            "recent": booths.recent_checkouts(), "poll": POLL_SECONDS,
            "lost": callshop_calls.lost_calls()}


@require_GET
@capability_required("use_booths")
def screen(request):
    return render(request, "console/booths/screen.html", _screen_context())


@require_GET
@capability_required("use_booths")
def board(request):
    """The part of the screen that htmx swaps in every second."""
    return render(request, "console/booths/_board.html", _screen_context())


@require_POST
@capability_required("use_booths")
def booth_open(request, pk: int):
    booth = get_object_or_404(Booth, pk=pk)
    try:
        session = booths.open_session(actor(request), booth)
    except booths.BoothError as exc:
        messages.error(request, str(exc))
        return done(request, reverse("console:booths"))
    messages.success(request, _("Booth %(name)s is open: its calls go on this customer's "
                                "bill.") % {"name": booth.name})
    return done(request, reverse("console:booth_session", args=[session.pk]))


# --- one session ------------------------------------------------------------------------
def _session(pk: int) -> BoothSession:
    return get_object_or_404(BoothSession.objects.select_related("booth", "opened_by"), pk=pk)


def _session_page(request, session, *, extra_form=None, checkout_form=None, status=200):
    current = booths.bill(session)
    return render(request, "console/booths/session.html", {
        "session": session, "bill": current, "poll": POLL_SECONDS,
        "extra_form": extra_form or ExtraForm(prefix="extra"),
        "checkout_form": checkout_form or CheckoutForm(prefix="pay"),
        "has_shift": ledger.current_shift(request.user) is not None,
        "widths": TICKET_WIDTHS, "printer": venue_settings().printer_host,
    }, status=status)


@require_GET
@capability_required("use_booths")
def session_detail(request, pk: int):
    return _session_page(request, _session(pk))


@require_GET
@capability_required("use_booths")
def session_bill(request, pk: int):
    """The session's calls and totals (polled while the session is not paid)."""
    session = _session(pk)
    return render(request, "console/booths/_bill.html",
                  {"session": session, "bill": booths.bill(session), "poll": POLL_SECONDS})


@require_POST
@capability_required("use_booths")
def session_close(request, pk: int):
    session = _session(pk)
    try:
        booths.close_session(actor(request), session)
    except booths.BoothError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _("Booth %(name)s is closed to new calls; the bill waits "
                                    "for payment.") % {"name": session.booth.name})
    return done(request, reverse("console:booth_session", args=[session.pk]))


@require_POST
@capability_required("use_booths")
def extra_add(request, pk: int):
    session = _session(pk)
    form = ExtraForm(request.POST, prefix="extra")
    if form.is_valid():
        try:
            extra = booths.add_extra(actor(request), session,
                                     description=form.cleaned_data["description"],
                                     amount=form.cleaned_data["amount"],
                                     kind=form.cleaned_data["kind"], locale=language())
        except booths.BoothError as exc:
            form.add_service_error(exc, "amount")
        else:
            messages.success(request, _("%(what)s added: %(amount)s.") % {
                "what": extra.description,
                "amount": Money(extra.amount, extra.currency).understood(language())})
            return done(request, reverse("console:booth_session", args=[session.pk]))
    return _session_page(request, session, extra_form=form, status=400)


@require_POST
@capability_required("use_booths")
def extra_remove(request, pk: int, extra: int):
    session = _session(pk)
    row = get_object_or_404(BoothExtra, pk=extra, session=session)
    try:
        booths.remove_extra(actor(request), row)
    except booths.BoothError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _("%(what)s removed.") % {"what": row.description})
    return done(request, reverse("console:booth_session", args=[session.pk]))


@require_POST
@capability_required("use_booths")
def session_checkout(request, pk: int):
    session = _session(pk)
    form = CheckoutForm(request.POST, prefix="pay")
    if form.is_valid():
        try:
            result = booths.checkout(actor(request), session, form.cleaned_data["tendered"],
                                     locale=language())
        except (booths.BoothError, ledger.LedgerError) as exc:
            form.add_service_error(exc, "tendered")
        else:
            co = result.checkout
            cur = co.currency
            messages.success(request, _(
                "Paid: %(total)s. Tendered %(tendered)s — give back %(change)s.") % {
                "total": Money(co.total, cur).format(),
                "tendered": Money(co.tendered, cur).understood(language()),
                "change": Money(co.change, cur).format()})
            return done(request, reverse("console:booth_session", args=[session.pk]))
    return _session_page(request, session, checkout_form=form, status=400)


# --- receipts ---------------------------------------------------------------------------
def _width(request) -> int:
    try:
        width = int(request.POST.get("width") or request.GET.get("width") or 0)
    except ValueError:
        width = 0
    return width if width in TICKET_WIDTHS else venue_settings().ticket_width


@require_GET
@capability_required("use_booths")
def receipt_page(request, pk: int):
    """The receipt on a page as wide as the roll, for the browser's print dialog."""
    session = _session(pk)
    receipt = booths.receipt(session)
    return render(request, "console/booths/receipt.html", {
        "session": session, "receipt": receipt, "rows": receipts.rows(receipt),
        "width": _width(request), "widths": TICKET_WIDTHS,
        "printer": venue_settings().printer_host,
    })


@require_GET
@capability_required("use_booths")
def receipt_pdf(request, pk: int):
    session = _session(pk)
    data = receipts.pdf_receipt(booths.receipt(session))
    booths.record_printout(actor(request), session, "pdf")
    response = HttpResponse(data, content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="booth-receipt-{session.pk}.pdf"'
    return response


@require_GET
@capability_required("use_booths")
def receipt_escpos(request, pk: int):
    session = _session(pk)
    data = receipts.escpos_receipt(booths.receipt(session), width_mm=_width(request))
    booths.record_printout(actor(request), session, "escpos")
    response = HttpResponse(data, content_type="application/octet-stream")
    response["Content-Disposition"] = f'attachment; filename="booth-receipt-{session.pk}.bin"'
    return response


@require_POST
@capability_required("use_booths")
def receipt_send(request, pk: int):
    session = _session(pk)
    venue = venue_settings()
    data = receipts.escpos_receipt(booths.receipt(session), width_mm=_width(request))
    try:
        network.send(venue.printer_host, venue.printer_port, data)
    except PrinterError as exc:
        messages.error(request, str(exc))
    else:
        booths.record_printout(actor(request), session, "printer")
        messages.success(request, _("Receipt sent to the ticket printer (%(printer)s).")
                         % {"printer": f"{venue.printer_host}:{venue.printer_port}"})
    return redirect("console:booth_session", pk=session.pk)


# --- setup ------------------------------------------------------------------------------
def _manage_page(request, *, booth_form=None, settings_form=None, status=200):
    return render(request, "console/booths/manage.html", {
        "booths": Booth.objects.all(),
        "booth_form": booth_form or BoothForm(prefix="booth"),
        "settings_form": settings_form
        or CounterSettingsForm.for_settings(booths.counter_settings()),
        "currency": currency(),
    }, status=status)


@require_http_methods(["GET", "POST"])
@capability_required("manage_booths")
def manage(request):
    if request.method != "POST":
        return _manage_page(request)
    if request.POST.get("form") == "settings":
        form = CounterSettingsForm(request.POST)
        if form.is_valid():
            try:
                row = booths.update_counter_settings(actor(request), locale=language(),
                                                     **form.cleaned_data)
            except booths.BoothError as exc:
                form.add_service_error(exc, "cash_rounding_step")
            else:
                messages.success(request, _("Counter settings saved: cash rounded to %(step)s.")
                                 % {"step": Money(row.cash_rounding_step, currency())
                                    .understood(language())})
                return redirect("console:booth_manage")
        return _manage_page(request, settings_form=form, status=400)
    form = BoothForm(request.POST, prefix="booth")
    if form.is_valid():
        try:
            booth = booths.create_booth(actor(request), **form.values())
        except booths.BoothError as exc:
            form.add_service_error(exc)
        else:
            messages.success(request, _("Booth %(name)s added.") % {"name": booth.name})
            return redirect("console:booth_manage")
    return _manage_page(request, booth_form=form, status=400)


@require_http_methods(["GET", "POST"])
@capability_required("manage_booths")
def booth_edit(request, pk: int):
    booth = get_object_or_404(Booth, pk=pk)
    if request.method == "POST":
        form = BoothForm(request.POST)
        if form.is_valid():
            try:
                booths.update_booth(actor(request), booth, **form.values())
            except booths.BoothError as exc:
                form.add_service_error(exc)
            else:
                messages.success(request, _("Booth %(name)s saved.") % {"name": booth.name})
                return redirect("console:booth_manage")
        status = 400
    else:
        form = BoothForm(initial={k: getattr(booth, k) for k in BoothForm.FIELDS})
        status = 200
    return render(request, "console/booths/edit.html", {"form": form, "booth": booth},
                  status=status)
