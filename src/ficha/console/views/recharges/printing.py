"""Printing codes: PDF card sheets and ESC/POS tickets, in parts for big batches."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from ficha.core import clock
from ficha.recharges import printouts
from ficha.recharges import services as rs
from ficha.recharges.models import Recharge

from ...access import actor, capability_required
from .common import _back, _ids


def _print_rows(request) -> tuple[list[Recharge], str]:
    """The codes to print (``Recharge.objects.printable()``) and a name for the file."""
    batch_ref = request.POST.get("batch") or request.GET.get("batch") or ""
    if batch_ref:
        try:
            batch = rs.get_batch(batch_ref)
        except rs.RechargeError:
            raise Http404
        rows = list(rs.search(batch=batch, order="id").printable())
        return rows, batch.label
    ids = _ids(request)
    rows = list(Recharge.objects.filter(pk__in=ids).printable()
                .select_related("batch").order_by("id"))
    labels = {r.batch.label for r in rows}
    name = labels.pop() if len(labels) == 1 else f"{clock.now():%Y%m%d-%H%M}"
    return rows, name


def _file_name(text: str) -> str:
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "-" for ch in text)
    return safe.strip("-.")[:60] or "recharges"


# One printout holds at most this many cards; a bigger batch is offered as parts.
PRINT_PART = printouts.MAX_CARDS
FORMATS = ("pdf", "58", "80")


@require_http_methods(["GET", "POST"])
@capability_required("view_recharges", "print_recharges")
def print_codes(request):
    fmt = request.POST.get("format") or request.GET.get("format") or "pdf"
    if fmt not in FORMATS:
        return HttpResponseBadRequest(
            _("Unknown print format “%(format)s”: choose pdf, 58 or 80 (mm tickets).")
            % {"format": fmt[:20]}, content_type="text/plain; charset=utf-8")
    rows, name = _print_rows(request)
    if not rows:
        messages.error(request, _("Nothing to print: only unsold and sold codes are printed."))
        return redirect(_back(request))
    if len(rows) > PRINT_PART:
        parts = [(n + 1, start + 1, min(start + PRINT_PART, len(rows)))
                 for n, start in enumerate(range(0, len(rows), PRINT_PART))]
        try:
            part = int(request.POST.get("part") or request.GET.get("part") or 0)
        except ValueError:
            part = 0
        if not 1 <= part <= len(parts):
            return render(request, "console/recharges/print_parts.html", {
                "parts": parts, "fmt": fmt, "count": len(rows), "name": name,
                "batch": request.POST.get("batch") or request.GET.get("batch") or "",
                "ids": _ids(request), "next": _back(request),
            })
        rows = rows[(part - 1) * PRINT_PART:part * PRINT_PART]
        name = f"{name}-part{part}"
    url = printouts.base_url(request)
    name = _file_name(f"recharges-{name}")
    if fmt == "pdf":
        data = printouts.pdf(actor(request), rows, url, title=name.removeprefix("recharges-"))
        response = HttpResponse(data, content_type="application/pdf")
        filename = f"{name}.pdf"
    else:
        data = printouts.escpos(actor(request), rows, url, width_mm=int(fmt))
        response = HttpResponse(data, content_type="application/octet-stream")
        filename = f"{name}-{fmt}mm.prn"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response

