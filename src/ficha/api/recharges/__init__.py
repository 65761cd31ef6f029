"""Prepaid recharge codes: batches, the list with totals, sale, unsale, delete, void,
redemption for a customer, printouts and the CSV export.

Thin doors over ``ficha.recharges.services`` (and ``printouts``). One module per
resource, each with its own router, mounted here in an explicit order: fixed paths
(``/recharges/batches``, ``/recharges/export.csv``, ``/recharges/cards.pdf``, ...) come
before ``/recharges/{code}``. A refused request (a ``RechargeError``) answers with a
status chosen by its ``reason`` (``common.REASON_STATUS``); a locked-out source gets 429
with ``Retry-After``.
"""

from ninja import Router

from . import batches, codes, exports, printing
from .common import answer_recharge_errors, recharge_error_response

router = Router(tags=["recharges"])
router.add_decorator(answer_recharge_errors, mode="operation")
router.add_router("", batches.router)
router.add_router("", exports.router)
router.add_router("", printing.router)
router.add_router("", codes.router)  # last: /recharges/{code} would shadow fixed paths

__all__ = ["recharge_error_response", "router"]
