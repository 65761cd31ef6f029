from __future__ import annotations

import logging
import time

from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache

from ficha import __version__
from ficha.core import roles

log = logging.getLogger("ficha.health")


@never_cache
def healthz(request):
    """Status for monitors and `ficha serve` itself: ``ok`` (200) or ``degraded`` (503) for
    anyone; the version, database vendor, latency and error text only for logged-in staff
    (they tell a stranger what to attack)."""
    started = time.perf_counter()
    try:
        with connection.cursor() as cur:
            cur.execute("SELECT 1")
            cur.fetchone()
        db = {"status": "ok", "vendor": connection.vendor,
              "latency_ms": round((time.perf_counter() - started) * 1000, 2)}
        status = 200
    except Exception as exc:  # the point of /healthz is to report this, not crash
        db = {"status": "error", "vendor": connection.vendor, "error": str(exc)[:200]}
        status = 503
    body = {"status": "ok" if status == 200 else "degraded"}
    if status != 200:
        log.error("healthz: database check failed: %s", db.get("error"))
    if _is_staff(request):
        body.update(version=__version__, database=db)
    return JsonResponse(body, status=status)


def _is_staff(request) -> bool:
    """A logged-in staff member; False when that cannot be checked (the session and the
    users live in the database that may be the thing failing)."""
    try:
        return roles.can(getattr(request, "user", None), "view_dashboard")
    except Exception:
        return False


def bad_request(request, exception=None):
    """Django's 400 handler (``handler400``): what Django refuses while reading a request —
    a form with more fields than DATA_UPLOAD_MAX_NUMBER_FIELDS, a body over the limit — is
    answered in the door's format (JSON under /api/, a translated page elsewhere)."""
    from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent
    from django.utils.translation import gettext as _

    from .middleware import body_too_large, max_body_for, refuse, too_many_fields

    if isinstance(exception, TooManyFieldsSent):
        return too_many_fields(request)
    if isinstance(exception, RequestDataTooBig):
        return body_too_large(request, max_body_for(request.path_info))
    return refuse(request, 400, _("Bad request"),
                  _("The request could not be understood."), "bad_request")


def csrf_failure(request, reason: str = ""):
    """A plain, translated page instead of Django's technical 403 (stale forms happen on
    captive portals and shared PCs). Nothing was done; the person goes back and retries."""
    from django.shortcuts import render
    from django.utils.http import url_has_allowed_host_and_scheme

    back = request.META.get("HTTP_REFERER") or request.path
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
        back = request.path
    return render(request, "core/csrf_failure.html", {"back": back}, status=403)
