"""Unknown query parameters are refused on every operation of the API (422, naming them).

Installed once on the whole NinjaAPI (``api.add_decorator(refuse_unknown_query,
mode="view")``): each operation's accepted names are read from its own declared query
parameters (django-ninja's parameter models, flattened schemas included), so a new
operation gets the check without doing anything, and a typo (``?per_page=`` for
``page_size``) is an error instead of being silently ignored.
"""

from __future__ import annotations

import functools
import inspect

from django.utils.translation import gettext as _

from .errors import error_response


def declared_query_names(operation) -> frozenset[str]:
    """The query parameter names ``operation`` declares (aliases as sent on the wire)."""
    names: set[str] = set()
    for model in getattr(operation, "models", ()):
        if getattr(model, "__ninja_param_source__", None) != "query":
            continue
        flat = getattr(model, "__ninja_flatten_map__", None)
        if flat:
            names.update(flat)
        else:
            names.update(field.alias or name for name, field in model.model_fields.items())
    return frozenset(names)


def refuse_unknown_query(run):
    """Wrap an operation's ``run`` (bound to the operation): 422 ``unknown_parameter`` when
    the query string has a name the operation does not declare."""
    operation = getattr(inspect.unwrap(run), "__self__", None)  # run is a bound method
    allowed = declared_query_names(operation) if operation is not None else None

    @functools.wraps(run)
    def wrapper(request, *args, **kwargs):
        if allowed is not None and request.GET:
            unknown = sorted(name for name in request.GET if name not in allowed)
            if unknown:
                return unknown_parameters(unknown, allowed)
        return run(request, *args, **kwargs)

    return wrapper


def unknown_parameters(unknown: list[str], allowed: frozenset[str]):
    if allowed:
        detail = _("Unknown query parameter(s): %(names)s. This operation accepts: "
                   "%(allowed)s.") % {"names": ", ".join(unknown),
                                      "allowed": ", ".join(sorted(allowed))}
    else:
        detail = _("Unknown query parameter(s): %(names)s. This operation takes no query "
                   "parameters.") % {"names": ", ".join(unknown)}
    errors = [{"loc": ["query", name], "field": name, "msg": _("unknown parameter"),
               "type": "unknown_parameter"} for name in unknown]
    return error_response(422, detail, "unknown_parameter", errors=errors)
