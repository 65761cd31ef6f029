"""Every API error is JSON: ``{"detail": "<message for people>", "code": "<machine code>"}``.

Service errors are ``ValueError`` subclasses with a translated message. They answer
400 unless registered here with another status::

    from ficha.api import errors
    errors.register(RechargeError, 409, "recharge_error")

Registration is by class; the most specific registered class of an exception wins.
"""

from __future__ import annotations

import logging
import re

from django.core.exceptions import (
    ObjectDoesNotExist,
    PermissionDenied,
    RequestDataTooBig,
    SuspiciousOperation,
    TooManyFieldsSent,
)
from django.db import DataError, IntegrityError
from django.http import Http404, JsonResponse
from django.utils.translation import gettext as _
from ninja.errors import AuthenticationError, HttpError, ValidationError
from pydantic import ValidationError as PydanticValidationError

from ficha.accounts.services import AccountError
from ficha.core.money import MoneyError
from ficha.ledger.services import LedgerError, NoOpenShift

log = logging.getLogger("ficha.api")

# exception class -> (HTTP status, machine code)
_REGISTRY: dict[type[BaseException], tuple[int, str]] = {}


def register(exc_class: type[ValueError], status: int, code: str | None = None) -> None:
    """Answer ``exc_class`` (a ValueError subclass) with ``status`` and ``code``."""
    if not 400 <= status < 500:
        raise ValueError("service errors answer with a 4xx status")
    _REGISTRY[exc_class] = (status, code or _snake(exc_class.__name__))


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


register(MoneyError, 400, "invalid_amount")
register(AccountError, 400, "account_error")
register(LedgerError, 409, "ledger_error")
register(NoOpenShift, 409, "no_open_shift")


class ApiError(HttpError):
    """Raise from a handler to answer with a status, a message and a machine code."""

    def __init__(self, status: int, message: str, code: str = "error", **extra) -> None:
        super().__init__(status, message)
        self.code = code
        self.extra = extra


def error_response(status: int, detail: str, code: str, **extra) -> JsonResponse:
    return JsonResponse({"detail": str(detail), "code": code, **extra}, status=status)


def status_for(exc: BaseException) -> tuple[int, str]:
    for cls in type(exc).__mro__:
        if cls in _REGISTRY:
            return _REGISTRY[cls]
    return 400, "invalid"


# --- handlers (installed on the NinjaAPI by ficha.api.api) -------------------------------
def on_value_error(request, exc: ValueError):
    status, code = status_for(exc)
    message = str(exc) or _("The request cannot be done.")
    return error_response(status, message, code)


def _loc(loc) -> str:
    """"amount" for ("body", "payload", "amount"), "page" for ("query", "page")."""
    loc = [str(p) for p in loc]
    if loc and loc[0] == "body":
        loc = loc[2:]  # ninja puts the body parameter's name second
    elif loc and loc[0] in ("query", "path", "header", "cookie", "form"):
        loc = loc[1:]
    return ".".join(loc)


def _message(err: dict) -> str:
    msg = str(err.get("msg", ""))
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    return msg


def on_validation_error(request, exc: ValidationError):
    errors = []
    for err in exc.errors:
        loc = list(err.get("loc") or [])
        errors.append({"loc": [str(p) for p in loc], "field": _loc(loc), "msg": _message(err),
                       "type": str(err.get("type", ""))})
    if errors:
        first = errors[0]
        detail = f"{first['field']}: {first['msg']}" if first["field"] else first["msg"]
        if len(errors) > 1:
            detail += " " + _("(and %(n)d more problems)") % {"n": len(errors) - 1}
    else:
        detail = _("The request is not valid.")
    return error_response(422, detail, "validation_error", errors=errors)


def on_authentication_error(request, exc: AuthenticationError):
    response = error_response(
        401,
        _("Authentication required: send “Authorization: Bearer <token>” or log in to the "
          "console."),
        "not_authenticated",
    )
    response["WWW-Authenticate"] = 'Bearer realm="ficha"'
    return response


def on_http_error(request, exc: HttpError):
    if isinstance(exc, ApiError):
        return error_response(exc.status_code, exc.message, exc.code, **exc.extra)
    if exc.status_code == 400 and str(exc).startswith("Cannot parse request body"):
        return error_response(400, _("The request body is not valid JSON."), "invalid_json")
    code = {401: "not_authenticated", 403: "permission_denied", 404: "not_found",
            405: "method_not_allowed", 429: "throttled"}.get(exc.status_code, "error")
    return error_response(exc.status_code, str(exc), code)


def on_not_found(request, exc: Exception):
    message = str(exc) if isinstance(exc, Http404) and str(exc) else _("Not found.")
    return error_response(404, message, "not_found")


def on_permission_denied(request, exc: PermissionDenied):
    return error_response(403, str(exc) or _("You may not do this."), "permission_denied")


def on_data_error(request, exc: DataError):
    log.warning("database refused a value: %s", exc)
    return error_response(400, _("A value is too long or out of range."), "invalid")


def on_integrity_error(request, exc: IntegrityError):
    log.warning("integrity error: %s", exc)
    return error_response(409, _("This conflicts with existing data; reload and try again."),
                          "conflict")


def on_unexpected(request, exc: Exception):
    log.exception("unexpected error in %s %s", request.method, request.path)
    return error_response(500, _("Internal error; it has been logged."), "internal_error")


def on_suspicious(request, exc: SuspiciousOperation):
    """What Django refuses while reading the request (too many fields, a body over the
    limit): the same answer as the middleware gives before the API is reached."""
    from ficha.core.middleware import body_too_large, max_body_for, too_many_fields

    if isinstance(exc, TooManyFieldsSent):
        return too_many_fields(request)
    if isinstance(exc, RequestDataTooBig):
        return body_too_large(request, max_body_for(request.path_info))
    log.warning("suspicious request refused: %s", exc)
    return error_response(400, _("The request could not be understood."), "bad_request")


def install(api) -> None:
    api.add_exception_handler(Exception, on_unexpected)
    api.add_exception_handler(ValueError, on_value_error)
    # a handler's answer that does not fit its schema is our bug, not the client's
    api.add_exception_handler(PydanticValidationError, on_unexpected)
    api.add_exception_handler(ValidationError, on_validation_error)
    api.add_exception_handler(AuthenticationError, on_authentication_error)
    api.add_exception_handler(HttpError, on_http_error)
    api.add_exception_handler(Http404, on_not_found)
    api.add_exception_handler(ObjectDoesNotExist, on_not_found)
    api.add_exception_handler(PermissionDenied, on_permission_denied)
    api.add_exception_handler(DataError, on_data_error)
    api.add_exception_handler(IntegrityError, on_integrity_error)
    api.add_exception_handler(SuspiciousOperation, on_suspicious)
