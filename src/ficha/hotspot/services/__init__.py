"""Every hotspot decision as a plain function: who is accepted, for how long and how much
data, with which attributes per gateway, and what an accounting record debits.

Nothing here knows about UDP: ``ficha radiusd`` (and later FreeRADIUS' rlm_rest endpoints)
decode a packet into an :class:`AuthRequest` or :class:`AcctRequest`, call
:func:`authorize` or :func:`account` (:func:`account_many` for a batch), and encode
what they return.

Money: the price of time and data comes from ``ficha.tariffs``; usage is charged
cumulatively per session (``charge(total usage)``, rounded once) and the difference to
what the ledger already took is debited — never more than the customer's balance, so a
balance never goes below zero through hotspot use; what could not be taken stays visible
as the session's unpaid amount and is taken as soon as credit is there again.
"""

from .accounting import (  # noqa: F401
    ACCOUNTING_OFF,
    ACCOUNTING_ON,
    INTERIM,
    START,
    STOP,
    AccountingError,
    AcctRequest,
    AcctResult,
    _counter,
    _ip_or_none,
    _owner,
    account,
    account_many,
)
from .authorize import (  # noqa: F401
    AuthRequest,
    Decision,
    _authorize,
    _check_customer,
    _grant,
    _language,
    _looks_like_code,
    _reject,
    _use_ticket,
    authorize,
    authorize_many,
    normalize_mac,
    reason_text,
    vendor_attributes,
)
from .base import (  # noqa: F401
    CLASS_PREFIX,
    MIKROTIK_MAX_TIMEOUT,
    MIN_INTERIM,
    THROTTLE_SCOPE,
    TICKET_SECONDS,
    HotspotError,
    _class_signer,
)
from .closing import _close_nas_sessions, close_stale_sessions  # noqa: F401
from .coa import (  # noqa: F401
    COA_VENDORS,
    Limits,
    credit_accounts_changed,
    kick,
    limits,
    queue_credit_changed,
    review_sessions,
)
from .coa_jobs import credit_changed  # noqa: F401  (queues and sends)
from .plans import (  # noqa: F401
    _PLAN_INTS,
    _PLAN_OPTIONAL,
    _clean_plan,
    create_plan,
    issue_ticket,
    known_group,
    known_price_groups,
    pass_period,
    plan_for,
    purge_tickets,
    same_group,
    set_customer_plan,
    update_plan,
)
from .portal import (  # noqa: F401
    Status,
    notify_credit_changed,
    portal_nas,
    redeem_connected,
    status,
)
from .portal_meter import (  # noqa: F401
    AUTH_CLIENT,
    ENDED_CAUSES,
    METERED_VENDORS,
    binauth_custom,
    end_portal_session,
    ended_signature,
    gateway_authorised,
    gateway_ended,
    log_out,
    meter_portal_sessions,
    open_portal_session,
    portal_login,
)
from .radius_class import (  # noqa: F401
    _class_value,
    class_parts,
    parse_class,
)
from .registry import (  # noqa: F401
    _DROP_FIELDS,
    DROP_BAD_AUTHENTICATOR,
    DROP_MALFORMED,
    DROP_MISSING_MA,
    DROP_UNKNOWN,
    NasEntry,
    _clean_nas,
    create_nas,
    find_nas,
    nas_table,
    record_drops,
    update_nas,
)
from .sessions import (  # noqa: F401
    LiveSession,
    Overview,
    SessionDetail,
    charge_rows,
    charge_so_far,
    coa_requests,
    describe,
    find_sessions,
    history,
    live_sessions,
    open_sessions,
    overview,
    owed,
    session_detail,
)
