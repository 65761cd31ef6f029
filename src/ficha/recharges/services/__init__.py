"""Recharges: generate, sell, unsell, delete, void, redeem exactly once, expire.

The only place that changes recharge codes. Doors (console, portal, API, CLI, station
agent, hotspot) check roles and call these functions; every staff action is audited.

Money (ledger accounts, signed minor units, debit positive):

* sale       payment account +price, recharge liability −face, adjustments +(face − price)
             (a discount; a negative one when sold above face), in the seller's open shift
* unsell     the mirror image of the sale lines of the codes given back, in the same shift
             (a full ``ledger.reverse`` when the whole sale is undone at once)
* redeem     recharge liability +face, customer credit −face
* void       the mirror image of the code's sale lines: the buyer gets back what they paid,
             in cash from the voiding owner's open shift (or the original non-cash method)
* breakage   recharge liability +face, breakage −face, for sold codes that expired unused
             (when ``venue_settings().breakage_enabled``)

So the liability always equals the face value of sold codes nobody has used yet (minus
those moved to breakage), whatever the sale price was.

A package by use case: ``errors``, ``queries`` (search, pages, totals), ``tally``,
``issue`` (generate), ``sales`` (sell, unsell, delete, void, printout record), ``redeem``
and ``sweeps`` (expiry, breakage, failure rate). Every public name is re-exported here,
so callers write ``from ficha.recharges import services as recharges; recharges.sell``.
"""

# the models, for callers that reach them through the services (``recharges.Recharge``)
from ..models import Batch, Recharge, RedeemAttempt, Tally  # noqa: F401
from .base import (  # noqa: F401
    ATTEMPT_RETENTION_DAYS,
    CHUNK,
    FAILURE_ALARM_COUNT,
    FAILURE_ALARM_WINDOW,
    GUESS_OUTCOMES,
    LIVE_SQL,
    MAX_BATCH,
    MAX_SPACE_SHARE,
    MAX_VALID_DAYS,
    PAYMENT_METHODS,
    TALLY_SLACK,
    THROTTLE_SCOPE,
    UNBROKEN_SQL,
    VALID_DAY_PRESETS,
    WORKER_CHUNK,
    end_of_day,
    format_time,
    local_time,
    payment_method_label,
)
from .errors import (  # noqa: F401
    RechargeError,
)
from .exports import (  # noqa: F401
    Export,
    export,
)
from .issue import (  # noqa: F401
    clear_cache,
    generate,
)
from .queries import (  # noqa: F401
    RechargeQuery,
    get_batch,
    get_by_code,
    page,
    search,
    totals,
)
from .redeem import (  # noqa: F401
    Redemption,
    Source,
    redeem,
    redeem_for_login,
)
from .sales import (  # noqa: F401
    Sale,
    Unsale,
    delete,
    mine_by_batch,
    record_print,
    sell,
    sell_batch,
    sell_range,
    unsell,
    void,
)
from .sweeps import (  # noqa: F401
    WORKER,
    check_failure_rate,
    expire_due,
    failure_rate,
)
from .tally import (  # noqa: F401
    compact_tally,
)
