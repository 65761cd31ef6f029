"""``Idempotency-Key`` on every POST of the API.

Installed once on the whole NinjaAPI (``api.add_decorator(idempotent, mode="view")``),
so every POST operation of every router gets it without doing anything.

* The first request with a key runs; its answer (status + JSON body) is stored per
  (principal, key) in the same database transaction as the handler's own changes.
* A replay — same key, same method, path, query and JSON body — answers the stored
  response with ``Idempotent-Replayed: true`` and does not run the handler again.
* The same key with a different request: 422 ``idempotency_key_reused``.
* While the first request still runs: 409 ``idempotency_in_progress``.
* Answers meaning "this request never ran" are not stored, so the key can be retried:
  401, 403, 422 (invalid input), 429 and every 5xx (whose changes are rolled back).
  Every other answer — success or an error from the operation itself such as 409
  "no open shift" — is final for that key.
* Keys expire after 24 hours (``ficha.api.services.TTL``); the worker purges them.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re

from django.db import transaction
from django.http import HttpResponse
from django.utils.translation import gettext as _

from . import services
from .auth import identify
from .errors import error_response

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
METHODS = frozenset({"POST"})
KEY_RE = re.compile(r"^[\x21-\x7e]{1,255}$")
NOT_STORED = frozenset({401, 403, 422, 429})


class _TakenOver(Exception):
    pass


def fingerprint(request) -> str:
    """A hash of what makes two requests "the same": method, path, query, JSON body."""
    body = request.body
    try:
        canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":"),
                               ensure_ascii=True).encode("ascii")
    except (ValueError, UnicodeDecodeError, RecursionError):
        canonical = body
    query = sorted(request.GET.lists())
    digest = hashlib.sha256()
    for part in (request.method, request.path, json.dumps(query)):
        digest.update(part.encode("utf-8", "surrogatepass"))
        digest.update(b"\0")
    digest.update(canonical)
    return digest.hexdigest()


def _storable(response) -> bool:
    if getattr(response, "streaming", False):
        return False
    return response.status_code < 500 and response.status_code not in NOT_STORED


def _replay(record) -> HttpResponse:
    response = HttpResponse(record.body, status=record.status,
                            content_type=record.content_type or "application/json")
    response[REPLAYED_HEADER] = "true"
    response[HEADER] = record.key
    return response


def idempotent(run):
    """Wrap an operation's ``run`` (a view-mode decorator for ``api.add_decorator``)."""

    @functools.wraps(run)
    def wrapper(request, *args, **kwargs):
        if request.method not in METHODS:
            return run(request, *args, **kwargs)
        key = request.headers.get(HEADER)
        if key is None:
            return run(request, *args, **kwargs)
        if not KEY_RE.match(key):
            return error_response(
                400, _("The Idempotency-Key header must be 1 to 255 visible ASCII characters."),
                "invalid_idempotency_key",
            )
        user = identify(request)
        if user is None:  # the operation answers 401 or 403 itself
            return run(request, *args, **kwargs)
        claim = services.claim(user, key, request.method, request.path, fingerprint(request))
        if claim.outcome == services.REPLAY:
            return _replay(claim.record)
        if claim.outcome == services.MISMATCH:
            return error_response(
                422, _("This Idempotency-Key was already used for a different request. "
                       "Use a new key for a new request."),
                "idempotency_key_reused",
            )
        if claim.outcome == services.BUSY:
            response = error_response(
                409, _("A request with this Idempotency-Key is in progress; retry later."),
                "idempotency_in_progress",
            )
            response["Retry-After"] = "1"
            return response
        record = claim.record
        stored = False
        try:
            with transaction.atomic():
                response = run(request, *args, **kwargs)
                if _storable(response):
                    body = response.content.decode("utf-8")
                    if not services.complete(record, response.status_code,
                                             response.get("Content-Type", ""), body):
                        raise _TakenOver
                    stored = True
                elif response.status_code >= 500:
                    transaction.set_rollback(True)
        except _TakenOver:
            return error_response(
                409, _("A request with this Idempotency-Key is in progress; retry later."),
                "idempotency_in_progress",
            )
        except BaseException:
            services.release(record)
            raise
        if not stored:
            services.release(record)
        else:
            response[HEADER] = key
        return response

    return wrapper
