"""The JSON API at /api/v1/ (django-ninja).

Adding endpoints (see docs/api.md, "Adding endpoints")::

    # src/ficha/api/recharges.py
    from ninja import Router, Status
    from ficha.api.auth import actor, require
    from ficha.api.schemas import ERRORS, In

    router = Router(tags=["recharges"])

    @router.post("/recharges/sell", response={201: SaleOut, **ERRORS},
                 auth=require("sell_recharges"))
    def sell(request, payload: SaleIn):
        sale = recharges.sell(actor(request), ...)
        return Status(201, ...)

A module ``ficha/api/<name>.py`` named in ``OPTIONAL_ROUTERS`` (recharges, alerts,
reports) is mounted automatically; any other router is mounted at the bottom of this
module with ``api.add_router("", router)``. Every POST gets ``Idempotency-Key`` handling
and every error becomes JSON with no extra work.
"""

import importlib

from django.utils import translation
from ninja import NinjaAPI, Schema, Swagger
from ninja.openapi.schema import OpenAPISchema

from ficha.accounts.models import ApiToken
from ficha.core import roles
from ficha.ledger import services as ledger

from . import errors
from .auth import capability_of, require
from .customers import router as customers_router
from .idempotency import idempotent
from .schemas import ERRORS
from .shifts import router as shifts_router
from .strict import refuse_unknown_query

DESCRIPTION = """
JSON API of Ficha. Authenticate with `Authorization: Bearer <token>` (create one with
`ficha token create NAME --role ROLE` or in the console) or, from the console, with the
login session plus the `X-CSRFToken` header.

Every operation needs one capability of the caller's role (listed as the security
scope and in `x-capability`). Errors are JSON: `{"detail": "...", "code": "..."}`.
Every POST honours an `Idempotency-Key` header. Money goes out as
`{"amount_minor", "amount", "currency", "formatted"}` and comes in as `X_minor`
(integer of minor units) or `X` (string in major units). See docs/api.md.
"""


class _Schema(OpenAPISchema):
    """Lists each operation's capability as its security scope and ``x-capability``."""

    def operation_security(self, operation):
        result = super().operation_security(operation)
        cap = capability_of(operation)
        if result and cap:
            result = [{name: [cap] for name in requirement} for requirement in result]
        return result

    def operation_details(self, operation):
        result = super().operation_details(operation)
        cap = capability_of(operation)
        if cap:
            result["x-capability"] = cap
        if "POST" in operation.methods:
            params = result.setdefault("parameters", [])
            params.append({
                "in": "header", "name": "Idempotency-Key", "required": False,
                "schema": {"type": "string", "maxLength": 255},
                "description": "Replaying the same request with the same key returns the "
                               "stored response instead of running it again.",
            })
        return result


class FichaAPI(NinjaAPI):
    def get_openapi_schema(self, *, path_prefix=None, path_params=None):
        """Built once per mount point and language, then served from memory: building it
        walks every operation (tenths of a second), which anonymous callers could repeat."""
        if path_prefix is None:
            path_prefix = self.get_root_path(path_params or {})
        key = (path_prefix, translation.get_language())
        cache = self.__dict__.setdefault("_ficha_schemas", {})
        schema = cache.get(key)
        if schema is None:
            schema = cache[key] = _Schema(api=self, path_prefix=path_prefix)
        return schema


api = FichaAPI(
    title="Ficha API",
    version="1",
    description=DESCRIPTION,
    urls_namespace="api",
    docs=Swagger(),  # no persistAuthorization: shop PCs are shared
)
errors.install(api)
api.add_decorator(idempotent, mode="view")
api.add_decorator(refuse_unknown_query, mode="view")  # runs first: added last, wraps outermost


class MeOut(Schema):
    username: str
    role: str | None
    capabilities: list[str]
    via: str
    token_name: str | None
    open_shift_id: int | None


@api.get("/me", response={200: MeOut, **ERRORS}, auth=require("view_dashboard"),
         tags=["session"], summary="Who am I")
def me(request):
    """Your role, your capabilities and your open shift, if any."""
    user = request.auth
    token = ApiToken.objects.filter(user=user).first()
    shift = ledger.current_shift(user)
    return {
        "username": user.get_username(),
        "role": roles.role_of(user),
        "capabilities": sorted(c for c in roles.CAPABILITIES if roles.can(user, c)),
        "via": "token" if token is not None else "session",
        "token_name": token.name if token is not None else None,
        "open_shift_id": shift.pk if shift else None,
    }


api.add_router("", customers_router)
api.add_router("", shifts_router)

# Routers of later features: a module ``ficha.api.<name>`` that defines ``router`` is
# mounted when it exists, so adding one needs no edit here.
OPTIONAL_ROUTERS = ("recharges", "alerts", "reports", "hotspot", "calls")
for _name in OPTIONAL_ROUTERS:
    _module_name = f"{__package__}.{_name}"
    try:
        _module = importlib.import_module(_module_name)
    except ModuleNotFoundError as exc:
        if exc.name != _module_name:
            raise
        continue
    api.add_router("", _module.router)

__all__ = ["api"]

from .stations import router as stations_router  # noqa: E402 — café stations (issue 9)

api.add_router("", stations_router)
