"""URLs of the JSON API, included at /api/v1/ by ficha.urls.

Every answer under /api/v1/ is JSON, including 404 for an unknown path and 405 for a
method a path does not take.
"""

from __future__ import annotations

import functools

from django.urls import re_path
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt

from .api import api
from .errors import error_response


def _json_405(view):
    @functools.wraps(view)
    def wrapped(request, *args, **kwargs):
        response = view(request, *args, **kwargs)
        if response.status_code == 405 and "json" not in response.get("Content-Type", ""):
            allowed = response.get("Allow", "")
            json_response = error_response(
                405, _("Method %(method)s is not allowed here; use %(allowed)s.")
                % {"method": request.method, "allowed": allowed},
                "method_not_allowed",
            )
            json_response["Allow"] = allowed
            return json_response
        return response

    return wrapped


@csrf_exempt
def not_found(request, *args, **kwargs):
    return error_response(404, _("There is no API endpoint at this address."), "not_found")


_patterns, _app, _namespace = api.urls
for _pattern in _patterns:
    _pattern.callback = _json_405(_pattern.callback)

app_name = "api"
urlpatterns = [*_patterns, re_path(r"^.*$", not_found, name="not-found")]
