"""What the console and the API show about sessions: who is online with what left, past
sessions with filters, and the CoA/Disconnect requests with their answers (read only)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import F, Q, QuerySet, Sum

from ficha.core import clock
from ficha.core.services import currency as venue_currency
from ficha.ledger import models as ledger_models
from ficha.ledger import services as ledger
from ficha.tariffs import engine, pricing

from ..models import AccountingRecord, CoaJob, HotspotSession, Nas, Plan, UnknownSource
from .authorize import normalize_mac
from .coa import _elapsed, limits


@dataclass
class LiveSession:
    session: HotspotSession
    elapsed: int  # seconds online now (last report + time since)
    remaining: int | None  # seconds left at the current credit; None: no time limit
    remaining_octets: int | None  # bytes left; None: no data limit
    job: CoaJob | None  # the latest CoA/Disconnect request for it
    # How its charge so far was computed (None: not charged — no customer or plan).
    breakdown: pricing.Breakdown | None = None

    @property
    def being_disconnected(self) -> bool:
        """A Disconnect is on its way to a session still open (one that ended meanwhile
        is not being disconnected, whatever its last request waits for)."""
        return (self.session.status == HotspotSession.Status.OPEN and self.job is not None
                and self.job.kind == CoaJob.Kind.DISCONNECT and self.job.is_active)


def live_sessions(limit: int = 200, now: dt.datetime | None = None) -> list[LiveSession]:
    """Open sessions, newest first, with what their customer's credit still buys."""
    sessions = list(HotspotSession.objects.filter(status=HotspotSession.Status.OPEN)
                    .select_related("nas", "customer__credit_account", "plan")
                    .order_by("-started_at", "-pk")[:limit])
    return describe(sessions, now)


def describe(sessions: list[HotspotSession], now: dt.datetime | None = None
             ) -> list[LiveSession]:
    """``sessions`` (customer, credit account, plan and NAS selected) with their time
    online, what is left (open ones; None for ended ones) and their latest CoA job."""
    now = now or clock.now()
    accounts = {s.customer.credit_account_id: s.customer.credit_account
                for s in sessions if s.customer_id
                and s.status == HotspotSession.Status.OPEN}
    balances = ledger.balances(accounts.values()) if accounts else {}
    jobs: dict[int, CoaJob] = {}
    for job in (CoaJob.objects.filter(session__in=[s.pk for s in sessions])
                .order_by("session_id", "-pk")):
        jobs.setdefault(job.session_id, job)
    out = []
    for s in sessions:
        if s.status != HotspotSession.Status.OPEN:
            out.append(LiveSession(s, s.session_time, None, None, jobs.get(s.pk),
                                   charge_so_far(s)))
            continue
        elapsed = _elapsed(s, now)
        remaining = remaining_octets = None
        if s.customer_id:
            lim = limits(s, now, balances.get(s.customer.credit_account_id, 0))
            if lim.timeout is not None:
                remaining = max(0, lim.timeout - elapsed)
            if lim.quota is not None:
                remaining_octets = max(0, lim.quota - s.octets)
            if lim.ended:
                remaining = 0
        if s.granted_until is not None:  # a gateway without CoA ends it there (openNDS)
            left = max(0, int((s.granted_until - now).total_seconds()))
            remaining = left if remaining is None else min(remaining, left)
        out.append(LiveSession(s, elapsed, remaining, remaining_octets, jobs.get(s.pk),
                               charge_so_far(s)))
    return out


def owed(customer_id: int) -> int:
    """What the customer's Wi-Fi sessions charged beyond what their credit could pay (an
    open session takes it from the next top-up, with its next record; an ended one never
    does: the rule of "What is debited", docs/hotspot.md)."""
    return HotspotSession.objects.filter(
        customer_id=customer_id, charged__gt=F("debited")).aggregate(
        owed=Sum(F("charged") - F("debited")))["owed"] or 0


def charge_so_far(session: HotspotSession, currency: str = "") -> pricing.Breakdown | None:
    """How ``session``'s charge so far was computed, line by line (the café's words):
    its last reported time and data at the plan it is charged at, by
    :func:`ficha.tariffs.pricing.explain` — the one engine accounting charges with, so the
    total is what the session was charged. ``currency`` defaults to the
    venue's. None when the session is not charged (no customer or no plan)."""
    if session.customer_id is None or session.plan is None:
        return None
    currency = currency or venue_currency()
    return pricing.explain(session.session_tariff(), session.session_time,
                           session.octets, currency)


def charge_rows(breakdown: pricing.Breakdown | None, currency: str
                ) -> list[tuple[engine.Line, str]]:
    """``breakdown``'s lines with each amount written in major units ("" for the billing
    line, which has none), for a table."""
    if breakdown is None:
        return []
    return [(line, "" if line.kind == engine.BILLING
             else engine.format_exact(line.exact, currency, line.unit))
            for line in breakdown.lines]


def history(*, customer: str = "", nas: int | None = None,
            since: dt.datetime | None = None, until: dt.datetime | None = None
            ) -> QuerySet[HotspotSession]:
    """Ended sessions, newest first; ``customer`` matches the account or User-Name."""
    qs = (HotspotSession.objects.exclude(status=HotspotSession.Status.OPEN)
          .select_related("nas", "customer__credit_account", "plan")
          .order_by("-started_at", "-pk"))
    customer = (customer or "").strip()
    if customer:
        qs = qs.filter(username__iexact=customer) | qs.filter(
            customer__username__iexact=customer)
    if nas:
        qs = qs.filter(nas_id=nas)
    if since is not None:
        qs = qs.filter(started_at__gte=since)
    if until is not None:
        qs = qs.filter(started_at__lt=until)
    return qs


def find_sessions(*, status: str = "", customer_id: int | None = None, username: str = "",
                  nas_id: int | None = None, mac: str = "",
                  since: dt.datetime | None = None, until: dt.datetime | None = None
                  ) -> QuerySet[HotspotSession]:
    """Sessions, newest first: ``status`` "open" or "closed" (ended: with a Stop, or
    closed as stale), the customer (id, or ``username`` matching the account or the
    User-Name), the NAS, the device MAC (any spelling) and the start in [since, until)."""
    qs = (HotspotSession.objects.select_related("nas", "customer__credit_account", "plan")
          .order_by("-started_at", "-pk"))
    if status == "open":
        qs = qs.filter(status=HotspotSession.Status.OPEN)
    elif status == "closed":
        qs = qs.exclude(status=HotspotSession.Status.OPEN)
    if customer_id is not None:
        qs = qs.filter(customer_id=customer_id)
    username = (username or "").strip()
    if username:
        qs = qs.filter(Q(username__iexact=username) | Q(customer__username__iexact=username))
    if nas_id is not None:
        qs = qs.filter(nas_id=nas_id)
    if mac:
        qs = qs.filter(mac=normalize_mac(mac))
    if since is not None:
        qs = qs.filter(started_at__gte=since)
    if until is not None:
        qs = qs.filter(started_at__lt=until)
    return qs


@dataclass
class SessionDetail:
    live: LiveSession
    records: list[AccountingRecord]
    debits: list[ledger_models.Transaction]  # the ledger transactions of its usage
    jobs: list[CoaJob]


def session_detail(session_id: int, now: dt.datetime | None = None) -> SessionDetail | None:
    """One session with its accounting records, the ledger debits of its usage and its
    CoA/Disconnect requests; None if there is no such session."""
    session = (HotspotSession.objects.select_related("nas", "customer__credit_account",
                                                     "plan")
               .filter(pk=session_id).first())
    if session is None:
        return None
    records = list(session.records.order_by("received_at", "pk"))
    tx_ids = [r.transaction_id for r in records if r.transaction_id]
    debits = list(ledger_models.Transaction.objects.filter(pk__in=tx_ids)
                  .order_by("created_at", "pk"))
    jobs = list(session.coa_jobs.select_related("nas").order_by("-created_at", "-pk"))
    return SessionDetail(describe([session], now)[0], records, debits, jobs)


def coa_requests(limit: int = 100) -> list[CoaJob]:
    """The latest CoA/Disconnect requests with their state and the gateway's answer."""
    return list(CoaJob.objects.select_related("session", "session__customer", "nas")
                .order_by("-created_at", "-pk")[:limit])


# --- what the console shows ---------------------------------------------------------------
@dataclass
class Overview:
    nas: list[Nas]
    unknown: list[UnknownSource]
    plans: list[Plan]
    sessions: list[HotspotSession]


def overview(session_limit: int = 200) -> Overview:
    """Gateways (with their drop counters), unknown senders, plans and open sessions."""
    return Overview(
        nas=list(Nas.objects.all()),
        unknown=list(UnknownSource.objects.all()[:20]),
        plans=list(Plan.objects.all()),
        sessions=open_sessions(session_limit),
    )


def open_sessions(limit: int = 200) -> list[HotspotSession]:
    return list(HotspotSession.objects.filter(status=HotspotSession.Status.OPEN)
                .select_related("nas", "customer", "plan").order_by("-started_at")[:limit])
