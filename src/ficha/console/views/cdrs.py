"""Call records (CDR) from the PBX: upload a file, see what was imported and every
problem with its line. Thin: ``callshop.services.import_file`` does the work (audited)."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache

from ficha.callshop import services as callshop
from ficha.core.money import Money

from ..access import actor, capability_required
from ..forms_cdrs import CdrUploadForm

UPLOAD_PATH = "/console/calls/records/"
MAX_UPLOAD_BYTES = 64 * 1024 * 1024  # a PBX's Master.csv of several months
PROBLEMS_SHOWN = 200


@never_cache
@capability_required("import_cdrs")
def cdr_import(request):
    result = None
    status = 200
    form = CdrUploadForm()
    if request.method == "POST":
        form = CdrUploadForm(request.POST, request.FILES)
        if form.is_valid():
            upload = form.cleaned_data["file"]
            result = callshop.import_file(actor(request), upload.read(), name=upload.name)
            if result.problem_count:
                messages.warning(request, _("%(n)d records could not be imported; see the "
                                            "list below.") % {"n": result.problem_count})
            else:
                messages.success(request, _("Call records imported."))
            form = CdrUploadForm()
        else:
            status = 400
    return render(request, "console/cdrs/import.html", {
        "form": form, "result": result,
        "charged": Money(result.charged_amount, _currency()) if result else None,
        "problems": result.problems[:PROBLEMS_SHOWN] if result else [],
        "more_problems": max(0, result.problem_count - PROBLEMS_SHOWN) if result else 0,
    }, status=status)


def _currency() -> str:
    from ficha.core.services import currency

    return currency()
