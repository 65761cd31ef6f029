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
