"""The CSV export (an audited service call)."""

from __future__ import annotations

from django.http import StreamingHttpResponse
from ninja import Query, Router

from ficha.recharges import services as recharges

from ..auth import actor, require
from ..schemas import ERRORS
from .common import _binary, _query, _stamp
from .payloads import RechargeFilter

router = Router()


@router.get("/recharges/export.csv", response=ERRORS, auth=require("export_recharges"),
            summary="Export recharges as CSV", openapi_extra=_binary("text/csv", "CSV"))
def export_csv(request, filters: Query[RechargeFilter]):
    """The same filters as the list; every matching code, one row each: code, amount,
    currency, status, batch, expires_at, sold_at, sold_by, sale_price, payment_method,
    used_at, used_by. Times are ISO 8601 (UTC). Exports are recorded in the audit log."""
    done = recharges.export(actor(request), _query(filters))
    response = StreamingHttpResponse(done.lines, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="recharges-{_stamp()}.csv"'
    return response

