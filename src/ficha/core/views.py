from __future__ import annotations

import time

from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache

from ficha import __version__


@never_cache
def healthz(request):
    """Liveness and database status, for monitors and `ficha serve` itself."""
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
    return JsonResponse(
        {"status": "ok" if status == 200 else "error", "version": __version__, "database": db},
        status=status,
    )


def csrf_failure(request, reason: str = ""):
    """A plain, translated page instead of Django's technical 403 (stale forms happen on
    captive portals and shared PCs). Nothing was done; the person goes back and retries."""
    from django.shortcuts import render
    from django.utils.http import url_has_allowed_host_and_scheme

    back = request.META.get("HTTP_REFERER") or request.path
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
        back = request.path
    return render(request, "core/csrf_failure.html", {"back": back}, status=403)
