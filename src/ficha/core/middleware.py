from __future__ import annotations

import ipaddress

from django.conf import settings


def client_ip(request) -> str | None:
    """The client's address; X-Forwarded-For is believed only behind trusted proxies."""
    remote = request.META.get("REMOTE_ADDR") or None
    hops = settings.TRUSTED_PROXIES
    if hops > 0:
        forwarded = [p.strip() for p in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        forwarded = [p for p in forwarded if p]
        if len(forwarded) >= hops:
            remote = forwarded[-hops]
    if remote:
        try:
            ipaddress.ip_address(remote)
        except ValueError:
            return None
    return remote


class ClientIPMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.client_ip = client_ip(request)
        return self.get_response(request)


# --- Request limits -----------------------------------------------------------------------
# path prefix -> largest body (bytes) accepted there, for the few paths that take uploads.
_BODY_ALLOWANCES: dict[str, int] = {}

API_PREFIX = "/api/"


def allow_body(path_prefix: str, max_bytes: int) -> None:
    """Accept request bodies up to ``max_bytes`` under ``path_prefix`` (an upload form, e.g.
    a rate deck), instead of ``FICHA_MAX_BODY_MB``. Call it from the app's ``ready()``."""
    if not path_prefix.startswith("/"):
        raise ValueError("path_prefix starts with /")
    _BODY_ALLOWANCES[path_prefix] = int(max_bytes)


def max_body_for(path: str) -> int:
    """The largest request body accepted at ``path``: the longest matching allowance, else
    the site-wide limit."""
    best, longest = settings.MAX_BODY_BYTES, -1
    for prefix, limit in _BODY_ALLOWANCES.items():
        if path.startswith(prefix) and len(prefix) > longest:
            best, longest = limit, len(prefix)
    return best


def request_language(request) -> str:
    """The language of a request, also before LocaleMiddleware has run."""
    from django.utils import translation

    return getattr(request, "LANGUAGE_CODE", None) or \
        translation.get_language_from_request(request)


def refuse(request, status: int, title: str, message: str, code: str):
    """A refusal in the door's own format: the API's JSON error (``{"detail", "code"}``,
    see ficha.api.errors) under /api/, a plain translated page elsewhere."""
    from django.http import HttpResponse, JsonResponse
    from django.template.loader import render_to_string
    from django.utils import translation

    if request.path_info.startswith(API_PREFIX):
        response = JsonResponse({"detail": str(message), "code": code}, status=status)
    else:
        language = request_language(request)
        with translation.override(language):
            html = render_to_string("core/refused.html", {
                "title": str(title), "message": str(message), "LANGUAGE_CODE": language,
            })
        response = HttpResponse(html, status=status, content_type="text/html; charset=utf-8")
    # No "Connection: close" here (a hop-by-hop header WSGI forbids): the server closes a
    # connection whose body was left unread.
    return response


def body_too_large(request, limit: int):
    from django.utils.translation import gettext as _

    return refuse(
        request, 413, _("Too much data"),
        _("The request is larger than %(mb)s MB, the most this address accepts.")
        # rounded down, so "32" where an upload form allows 32 MB plus its fields
        % {"mb": f"{int(limit * 10 / (1024 * 1024)) / 10:g}"},
        "request_too_large",
    )


def too_many_fields(request):
    from django.utils.translation import gettext as _

    return refuse(
        request, 400, _("Too many fields"),
        _("The request has more than %(n)d fields (query parameters or form fields); "
          "send fewer at a time.") % {"n": settings.DATA_UPLOAD_MAX_NUMBER_FIELDS},
        "too_many_fields",
    )


class RequestLimitsMiddleware:
    """First in the chain: refuses a body larger than the path accepts (413) from its
    Content-Length, before anything reads it — the server (Granian) hands the request over
    unread — and a query string with more than DATA_UPLOAD_MAX_NUMBER_FIELDS fields (400),
    on every door. A form with too many fields is refused by ``ficha.core.views.bad_request``
    (Django raises it when the form is read)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        refusal = self._refusal(request)
        if refusal is None:
            return self.get_response(request)
        from django.utils import translation

        # LocaleMiddleware has not run yet: the refusal is worded in the request's language
        with translation.override(request_language(request)):
            return refusal()

    @staticmethod
    def _refusal(request):
        """None, or what builds the refusal (called under the request's language)."""
        from django.core.exceptions import TooManyFieldsSent
        from django.utils.translation import gettext as _

        raw = request.META.get("CONTENT_LENGTH") or "0"
        try:
            length = int(raw)
        except ValueError:
            length = -1
        if length < 0:
            return lambda: refuse(request, 400, _("Bad request"),
                                  _("The Content-Length header is not a valid size."),
                                  "invalid_request")
        if not length and "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower():
            # Django reads no body without a length: say so rather than act on an empty one
            return lambda: refuse(request, 411, _("Length required"),
                                  _("Send the request body with a Content-Length header, "
                                    "not in chunks."), "length_required")
        limit = max_body_for(request.path_info)
        if length > limit:
            return lambda: body_too_large(request, limit)
        try:
            request.GET  # noqa: B018 — parsed (and counted) once, here
        except TooManyFieldsSent:
            return lambda: too_many_fields(request)
        return None


# --- The lean path of token requests to the API --------------------------------------------
TOKEN_API_SKIPS = frozenset({
    # serve static files: nothing under /api/ is one
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # the console's cookie session, its user, CSRF, flash messages, idle logout, htmx:
    # a request with an Authorization header is authenticated by its token only
    # (ficha.api.auth), which involves no cookie, so none of these has anything to do
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "ficha.accounts.middleware.StaffSessionMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
})


def is_token_api_request(request) -> bool:
    """An API request carrying credentials in its Authorization header (a bearer token:
    the API then ignores the session cookie, see ficha.api.auth)."""
    return (request.path_info.startswith(API_PREFIX)
            and "HTTP_AUTHORIZATION" in request.META)


class TokenApiMiddleware:
    """Sends API requests that carry an ``Authorization`` header through a shorter chain.

    Rule: every middleware listed after this one in ``MIDDLEWARE`` runs for every request,
    except those in ``TOKEN_API_SKIPS`` for a token request to the API
    (:func:`is_token_api_request`). What stays — security headers, CSP, the language
    (``Accept-Language``, for translated error messages), the common middleware, framing,
    the client's address — behaves as for any request; the token itself, the role and
    every throttle are checked by the API as always. Such a request gets an anonymous
    ``request.user`` until its token is accepted. Nothing else changes: a request without
    the header, or outside /api/, takes the whole chain.

    The shorter chain is a second Django request handler built from the same settings
    (URL resolution, view middleware, exception handling), once per process.
    """

    def __init__(self, get_response):
        self.get_response = get_response
        self.lean = _lean_handler(f"{type(self).__module__}.{type(self).__qualname__}")

    def __call__(self, request):
        if not is_token_api_request(request):
            return self.get_response(request)
        from django.contrib.auth.models import AnonymousUser

        request.user = AnonymousUser()
        return self.lean._middleware_chain(request)


def _lean_handler(own_path: str):
    from django.core.exceptions import MiddlewareNotUsed
    from django.core.handlers.base import BaseHandler
    from django.core.handlers.exception import convert_exception_to_response
    from django.utils.module_loading import import_string

    middleware = list(settings.MIDDLEWARE)
    after = middleware[middleware.index(own_path) + 1:]
    kept = [path for path in after if path not in TOKEN_API_SKIPS]

    class LeanHandler(BaseHandler):
        def load_middleware(self, is_async=False):
            """Django's BaseHandler.load_middleware for the kept middleware (sync)."""
            self._view_middleware = []
            self._template_response_middleware = []
            self._exception_middleware = []
            handler = convert_exception_to_response(self._get_response)
            for path in reversed(kept):
                try:
                    mw = import_string(path)(handler)
                except MiddlewareNotUsed:
                    continue
                if hasattr(mw, "process_view"):
                    self._view_middleware.insert(0, mw.process_view)
                if hasattr(mw, "process_template_response"):
                    self._template_response_middleware.append(mw.process_template_response)
                if hasattr(mw, "process_exception"):
                    self._exception_middleware.append(mw.process_exception)
                handler = convert_exception_to_response(mw)
            self._middleware_chain = handler

    lean = LeanHandler()
    lean.load_middleware()
    return lean
