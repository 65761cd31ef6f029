"""Rate decks in the console: the decks, a deck's rates (search, pages, settings, CSV
export), importing a deck file with a preview first, and the rate tool.

Thin: ``callshop.services`` creates, changes, imports (all or nothing, audited), exports,
searches and quotes; these views render what it returns.

An import is two requests: the upload is read and checked (``import_deck(preview=True)``,
nothing written) and kept in a staging file named by a random token held in the staff
member's session; "Import" then hands the same bytes to ``import_deck``.
"""

from __future__ import annotations

import secrets
import time
from pathlib import Path

from django.conf import settings
from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.text import slugify
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from ficha.callshop import rating
from ficha.callshop import services as callshop
from ficha.callshop.models import Deck

from ..access import actor, capability_required
from ..forms_rates import MAX_DECK_BYTES, DeckForm, DeckImportForm, RateQuoteForm
from .common import paginate, posted

IMPORT_PATH = "/console/rates/import/"
MAX_UPLOAD_BYTES = MAX_DECK_BYTES + 64 * 1024  # the file and the form around it
ERRORS_SHOWN = 200
PREVIEW_ROWS = 20
STAGED_FOR = 24 * 3600  # staged uploads older than this are removed
SESSION_KEY = "rate_import"
SEPARATOR_NAMES = {
    ";": gettext_lazy("semicolon (;)"),
    ",": gettext_lazy("comma (,)"),
    "\t": gettext_lazy("tab"),
    "|": gettext_lazy("vertical bar (|)"),
}


# --- decks ------------------------------------------------------------------------------
@capability_required("manage_rates")
def deck_list(request):
    form = DeckForm(posted(request))
    if request.method == "POST" and form.is_valid():
        options = form.options()
        try:
            deck = callshop.create_deck(actor(request), options.pop("name"), **options)
        except callshop.CallshopError as exc:
            form.add_service_error(exc)
        else:
            messages.success(request, _("Rate deck %(name)s created.") % {"name": deck.name})
            return redirect("console:rate_deck", pk=deck.pk)
    return render(
        request,
        "console/rates/list.html",
        {
            "decks": Deck.objects.all(),
            "form": form,
        },
        status=400 if form.is_bound else 200,
    )


@capability_required("manage_rates")
def deck_detail(request, pk: int):
    deck = get_object_or_404(Deck, pk=pk)
    form = DeckForm.for_deck(deck, posted(request))
    if request.method == "POST" and form.is_valid():
        try:
            deck = callshop.update_deck(actor(request), deck, **form.options())
        except callshop.CallshopError as exc:
            form.add_service_error(exc)
        else:
            messages.success(request, _("Rate deck %(name)s saved.") % {"name": deck.name})
            return redirect("console:rate_deck", pk=deck.pk)
    q = request.GET.get("q", "")[:60]
    page_obj = paginate(request, callshop.search_rates(deck, q), 50)
    context = {
        "deck": deck,
        "form": form,
        "q": q,
        "page_obj": page_obj,
        "rows": [_row(r) for r in page_obj.object_list],
        "pager_target": "#rates",
    }
    if getattr(request, "htmx", False) and request.htmx.target == "rates":
        return render(request, "console/rates/_rates.html", context)
    return render(request, "console/rates/deck.html", context, status=400 if form.is_bound else 200)


@capability_required("manage_rates")
def deck_export(request, pk: int):
    deck = get_object_or_404(Deck, pk=pk)
    response = HttpResponse(callshop.export_deck(deck), content_type="text/csv; charset=utf-8")
    name = slugify(deck.name) or f"deck-{deck.pk}"
    response["Content-Disposition"] = f'attachment; filename="rates-{name}.csv"'
    return response


def _row(rate) -> dict:
    """One stored rate as the pages show it (amounts in major units)."""
    fmt = rating.format_micro
    return {
        "prefix": rate.prefix,
        "description": rate.description,
        "price": fmt(rate.price),
        "connect_fee": fmt(rate.connect_fee),
        "billing": f"{rate.min_block}/{rate.increment}",
        "grace": rate.grace,
        "free_seconds": rate.free_seconds,
        "min_cost": fmt(rate.min_cost),
        "tiers": rate.tiers,
        "windows": rate.windows,
        "valid_from": rate.valid_from,
        "valid_to": rate.valid_to,
    }


def _sample_row(row: tuple) -> dict:
    (prefix, desc, price, fee, m, i, g, f, k, tiers, windows, vfrom, vto) = row
    fmt = rating.format_micro
    return {
        "prefix": prefix,
        "description": desc,
        "price": fmt(price),
        "connect_fee": fmt(fee),
        "billing": f"{m}/{i}",
        "grace": g,
        "free_seconds": f,
        "min_cost": fmt(k),
        "tiers": tiers,
        "windows": windows,
        "valid_from": vfrom,
        "valid_to": vto,
    }


# --- import with a preview --------------------------------------------------------------
def _staging_dir() -> Path:
    folder = Path(settings.MEDIA_ROOT) / "rate-imports"
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    return folder


def _stage(data: bytes) -> str:
    folder = _staging_dir()
    cutoff = time.time() - STAGED_FOR
    for old in folder.glob("*.csv"):
        if old.stat().st_mtime < cutoff:
            old.unlink(missing_ok=True)
    token = secrets.token_hex(16)
    path = folder / f"{token}.csv"
    path.write_bytes(data)
    path.chmod(0o600)
    return token


def _staged(request, token: str) -> tuple[dict, Path] | None:
    pending = request.session.get(SESSION_KEY) or {}
    if not token or pending.get("token") != token or not token.isalnum():
        return None
    path = _staging_dir() / f"{token}.csv"
    return (pending, path) if path.exists() else None


def _drop_staged(request, path: Path) -> None:
    path.unlink(missing_ok=True)
    request.session.pop(SESSION_KEY, None)


@capability_required("manage_rates")
def deck_import(request):
    result = None
    status = 200
    token = ""
    if request.method == "POST" and "token" in request.POST:  # confirm the previewed file
        staged = _staged(request, request.POST["token"])
        if staged is None:
            messages.error(request, _("That preview has expired; upload the file again."))
            return redirect("console:rate_import")
        pending, path = staged
        form = DeckImportForm(initial={"deck": pending["deck"]})
        try:
            result = callshop.import_deck(actor(request), path.read_bytes(), pending["deck"])
        except callshop.CallshopError as exc:
            messages.error(request, str(exc))
            return redirect("console:rate_import")
        if result.ok:
            _drop_staged(request, path)
            messages.success(
                request,
                _("%(n)d rates imported into %(deck)s.")
                % {"n": result.written, "deck": result.deck.name},
            )
            return redirect("console:rate_deck", pk=result.deck.pk)
        status = 400  # the file changed meaning (e.g. a deck's defaults): show why
        token = request.POST["token"]
    elif request.method == "POST":  # upload: read and check, write nothing
        form = DeckImportForm(request.POST, request.FILES)
        if form.is_valid():
            data = form.cleaned_data["file"].read()
            try:
                result = callshop.import_deck(
                    actor(request), data, form.cleaned_data["deck"], preview=True
                )
            except callshop.CallshopError as exc:
                form.add_service_error(exc, "deck")
                status = 400
            else:
                if result.ok:
                    token = _stage(data)
                    request.session[SESSION_KEY] = {
                        "token": token,
                        "deck": result.deck_name,
                        "file": form.cleaned_data["file"].name[:200],
                    }
                else:
                    status = 400
        else:
            status = 400
    else:
        form = DeckImportForm(initial={"deck": request.GET.get("deck", "")[:60]})
    return render(
        request,
        "console/rates/import.html",
        {
            "form": form,
            "result": result,
            "token": token,
            "decks": Deck.objects.all(),
            "separator": SEPARATOR_NAMES.get(result.separator, result.separator) if result else "",
            "sample": [_sample_row(r) for r in result.sample[:PREVIEW_ROWS]] if result else [],
            "errors": result.errors[:ERRORS_SHOWN] if result else [],
            "more_errors": max(0, len(result.errors) - ERRORS_SHOWN) if result else 0,
            "file_name": (request.session.get(SESSION_KEY) or {}).get("file", "") if token else "",
        },
        status=status,
    )


# --- the rate tool ----------------------------------------------------------------------
@capability_required("manage_rates")
def rate_quote(request):
    """GET form (works without JavaScript): the number read, the prefixes tried, the cost
    step by step — all from ``callshop.services.quote``."""
    result = None
    if "number" in request.GET:
        form = RateQuoteForm(request.GET)
        if form.is_valid():
            d = form.cleaned_data
            try:
                result = callshop.quote(d["deck"], d["number"], d["seconds"])
            except callshop.CallshopError as exc:
                form.add_service_error(exc, "number")
    else:
        chosen = request.GET.get("deck", "")
        deck = Deck.objects.filter(pk=chosen).first() if chosen.isdigit() else None
        form = RateQuoteForm(
            initial={"deck": deck or Deck.objects.order_by("pk").first(), "seconds": 60}
        )
    rules = {
        "plus": _("written with +: the digits as they are"),
        "international": _("starts with the international prefix: removed"),
        "national": _("starts with the national trunk prefix: replaced by the country code"),
        "local": _("no prefix: the country code is put in front"),
    }
    return render(
        request,
        "console/rates/quote.html",
        {
            "form": form,
            "quote": result,
            "rule": rules.get(result.rule, "") if result else "",
            "plan": callshop.dialing_plan(),
        },
        status=400 if form.is_bound and not form.is_valid() else 200,
    )
