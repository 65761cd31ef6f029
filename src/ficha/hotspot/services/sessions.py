"""What the console and the API show about sessions: who is online with what left, past
sessions with filters, and the CoA/Disconnect requests with their answers (read only)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import QuerySet

from ficha.core import clock
from ficha.ledger import services as ledger

from ..models import CoaJob, HotspotSession
from .coa import _elapsed, limits


@dataclass
class LiveSession:
    session: HotspotSession
    elapsed: int  # seconds online now (last report + time since)
    remaining: int | None  # seconds left at the current credit; None: no time limit
    remaining_octets: int | None  # bytes left; None: no data limit
    job: CoaJob | None  # the latest CoA/Disconnect request for it

    @property
    def being_disconnected(self) -> bool:
        return (self.job is not None and self.job.kind == CoaJob.Kind.DISCONNECT
                and self.job.is_active)


def live_sessions(limit: int = 200, now: dt.datetime | None = None) -> list[LiveSession]:
    """Open sessions, newest first, with what their customer's credit still buys."""
    now = now or clock.now()
    sessions = list(HotspotSession.objects.filter(status=HotspotSession.Status.OPEN)
                    .select_related("nas", "customer__credit_account", "plan")
                    .order_by("-started_at", "-pk")[:limit])
    accounts = {s.customer.credit_account_id: s.customer.credit_account
                for s in sessions if s.customer_id}
    balances = ledger.balances(accounts.values()) if accounts else {}
    jobs: dict[int, CoaJob] = {}
    for job in (CoaJob.objects.filter(session__in=[s.pk for s in sessions])
                .order_by("session_id", "-pk")):
        jobs.setdefault(job.session_id, job)
    out = []
    for s in sessions:
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
        out.append(LiveSession(s, elapsed, remaining, remaining_octets, jobs.get(s.pk)))
    return out


def history(*, customer: str = "", nas: int | None = None,
            since: dt.datetime | None = None, until: dt.datetime | None = None
            ) -> QuerySet[HotspotSession]:
    """Ended sessions, newest first; ``customer`` matches the account or User-Name."""
    qs = (HotspotSession.objects.exclude(status=HotspotSession.Status.OPEN)
          .select_related("nas", "customer", "plan").order_by("-started_at", "-pk"))
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


def coa_requests(limit: int = 100) -> list[CoaJob]:
    """The latest CoA/Disconnect requests with their state and the gateway's answer."""
    return list(CoaJob.objects.select_related("session", "session__customer", "nas")
                .order_by("-created_at", "-pk")[:limit])
