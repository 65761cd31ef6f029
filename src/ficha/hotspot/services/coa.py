"""Change of Authorization and Disconnect (RFC 5176): the decisions, as plain functions.

* :func:`queue_credit_changed` (``credit_changed`` in ``coa_jobs`` also sends) — a
  customer's credit changed (any door): every live session of
  theirs gets a CoA-Request with the Session-Timeout the new credit buys, or a
  Disconnect-Request when nothing is left. Doors may call it for immediacy; a ledger
  hook calls it after every committed posting on a customer's credit account, and the
  worker's :func:`review_sessions` compares each live session's credit with what its
  last decision assumed, so no door can forget.
* :func:`review_sessions` (worker) — disconnects sessions whose credit or validity ran
  out, and queues a CoA for sessions whose credit grew since the last decision.
* :func:`kick` — a staff member ends a session (audited).

Nothing here sends a packet: jobs (:class:`~ficha.hotspot.models.CoaJob`) are queued and
``ficha.hotspot.services.coa_jobs`` sends them from the worker.

The Session-Timeout sent in a CoA counts from the session's start (as in the
Access-Accept; MikroTik and CoovaChilli compare it with the session's uptime): it is the
most seconds the session's credit (the balance plus what this session already took)
buys with the data it already used, capped by the pass's validity.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Q
from django.utils.translation import gettext as _

from ficha.accounts import services as accounts
from ficha.accounts.models import Customer
from ficha.core import audit, clock
from ficha.ledger import services as ledger
from ficha.ledger.models import Account
from ficha.tariffs import pricing

from ..models import CoaJob, HotspotAccount, HotspotSession, Nas
from .base import MIKROTIK_MAX_TIMEOUT, HotspotError, least

log = logging.getLogger("ficha.hotspot.coa")

# Gateways that listen for RFC 5176 requests. openNDS has no RADIUS at all (the portal
# changes its clients through FAS/BinAuth) and pfSense/OPNsense's captive portal has no
# CoA listener (it re-asks every minute with "Reauthenticate users" instead): jobs for
# them are recorded as skipped, so the console shows why nothing was sent.
COA_VENDORS = frozenset({Nas.Vendor.MIKROTIK, Nas.Vendor.COOVACHILLI, Nas.Vendor.GENERIC})
RUN_OUT_GRACE = 30  # seconds past the credit's end before the worker disconnects


@dataclass(frozen=True)
class Limits:
    """What a live session may still use, from the session's start."""

    credit: int  # balance + what this session already took
    timeout: int | None  # Session-Timeout, seconds from the start; None: no limit
    quota: int | None  # octets in total; None: no limit
    ended: str = ""  # "", or why it must end now: credit / validity / disabled


def _elapsed(session: HotspotSession, now: dt.datetime) -> int:
    """Seconds online now: the last reported time plus the time since that report."""
    since = max(0, int((now - session.updated_at).total_seconds()))
    return session.session_time + since


def limits(session: HotspotSession, now: dt.datetime | None = None,
           balance: int | None = None) -> Limits:
    """What ``session`` may still use with its customer's current credit."""
    now = now or clock.now()
    customer = session.customer
    if balance is None:
        balance = accounts.available(customer)  # less what live calls hold
    credit = max(0, balance) + session.debited
    plan = session.plan
    if not customer.is_active:
        return Limits(credit, 0, 0, "disabled")
    if plan is None:
        return Limits(credit, None, None)
    tariff = session.session_tariff()
    elapsed = _elapsed(session, now)
    timeout = pricing.seconds_for(tariff, credit, octets=session.octets)
    quota = pricing.octets_for(tariff, credit, seconds=session.session_time)
    quota = least(plan.quota_bytes, quota if tariff.charges_data else None)
    ended = ""
    # the gateway ends a session at its Session-Timeout itself: a Disconnect only when it
    # did not (or the credit shrank), not racing it
    late = max(0, elapsed - RUN_OUT_GRACE)
    if not tariff.is_free and (
            (timeout is not None and late >= timeout)
            or (quota is not None and session.octets >= quota)
            or (session.unpaid > 0 and balance <= 0)
            or pricing.charge(tariff, late, session.octets) > credit):
        ended = "credit"
    if plan.validity_seconds:
        valid_until = plan.valid_until(
            HotspotAccount.objects.filter(customer=customer)
            .values_list("first_login_at", flat=True).first())
        if valid_until is not None:
            if valid_until <= now:
                ended = ended or "validity"
            timeout = least(timeout, max(0, int((valid_until - session.started_at)
                                                 .total_seconds())))
    if session.nas.vendor == Nas.Vendor.MIKROTIK:
        timeout = least(timeout, MIKROTIK_MAX_TIMEOUT)
    return Limits(credit, timeout, quota, ended)


def _open_sessions(customer_ids) -> list[HotspotSession]:
    return list(HotspotSession.objects.filter(
        customer_id__in=customer_ids, status=HotspotSession.Status.OPEN)
        .select_related("customer", "plan", "nas"))


# An automatic Disconnect the gateway refused or never answered is asked again after
# this long (the session is still reported: it did not end), and the owner is told.
DISCONNECT_AGAIN_AFTER = dt.timedelta(minutes=5)


def _disconnect_blocked(session: HotspotSession, now: dt.datetime) -> bool:
    """Whether an automatic Disconnect must wait: one is waiting or being sent, the
    gateway cannot take one (skipped), or the last one was refused or went unanswered
    less than DISCONNECT_AGAIN_AFTER ago (an acknowledged one ended the session)."""
    return CoaJob.objects.filter(session=session, kind=CoaJob.Kind.DISCONNECT).filter(
        Q(state__in=(*CoaJob.ACTIVE, CoaJob.State.SKIPPED))
        | Q(state__in=(CoaJob.State.NAKED, CoaJob.State.FAILED),
            finished_at__gt=now - DISCONNECT_AGAIN_AFTER)).exists()


def _queue(session: HotspotSession, kind: str, reason: str, *, timeout=None, quota=None,
           requested_by: str = "") -> CoaJob | None:
    """Queue one request for ``session``; a newer CoA replaces an earlier one (waiting,
    or being sent: its retry would undo the newer one), a CoA for credit that came back
    replaces a run-out Disconnect still waiting, and a session being disconnected
    otherwise gets nothing more. An automatic Disconnect is asked again only
    DISCONNECT_AGAIN_AFTER after one was refused or unanswered; staff may kick again
    once the earlier one is finished. Runs inside a transaction."""
    now = clock.now()
    active = CoaJob.objects.filter(session=session, state__in=CoaJob.ACTIVE)
    if kind == CoaJob.Kind.COA:
        # the credit is back (a top-up): the run-out Disconnect not sent yet is void
        active.filter(kind=CoaJob.Kind.DISCONNECT, state=CoaJob.State.PENDING,
                      reason=CoaJob.Reason.CREDIT).update(
            state=CoaJob.State.SUPERSEDED, finished_at=now, last_answer="credit added")
    if active.filter(kind=CoaJob.Kind.DISCONNECT).exists():
        return None
    if (kind == CoaJob.Kind.DISCONNECT and reason != CoaJob.Reason.KICK
            and _disconnect_blocked(session, now)):
        return None
    active.filter(kind=CoaJob.Kind.COA).update(
        state=CoaJob.State.SUPERSEDED, finished_at=now)
    supported = session.nas.vendor in COA_VENDORS
    return CoaJob.objects.create(
        session=session, nas_id=session.nas_id, kind=kind, reason=reason,
        state=CoaJob.State.PENDING if supported else CoaJob.State.SKIPPED,
        finished_at=None if supported else now,
        last_answer="" if supported else "unsupported",
        session_timeout=timeout, quota=quota, next_try_at=now,
        requested_by=requested_by[:150], created_at=now)


def _decide(session: HotspotSession, now: dt.datetime, *, force: bool,
            balance: int | None = None) -> CoaJob | None:
    """The one rule for a live session: Disconnect when it must end; CoA when its credit
    grew since the last decision (or ``force``, a door said the credit changed) and the
    Session-Timeout or quota it buys differ from what was sent."""
    lim = limits(session, now, balance)
    before = session.decided_credit
    kind = reason = None
    # First look: the Access-Accept was decided on this credit — the credit its Class
    # named (recorded when the session began), or, from an older Class, assumed.
    first_look = not lim.ended and (
        (before is None and not force)
        or (before is not None and session.decided_timeout is None and lim.credit == before))
    if lim.ended:
        kind, reason = CoaJob.Kind.DISCONNECT, lim.ended
    elif first_look:
        pass
    elif (force or lim.credit > before) and (
            before is None or (lim.credit, lim.timeout)
            != (before, session.decided_timeout)):
        kind = CoaJob.Kind.COA
        reduced = before is not None and lim.credit < before
        reason = CoaJob.Reason.REDUCED if reduced else CoaJob.Reason.TOPUP
    # The decision remembers what the gateway was told (or, first time, what the
    # Access-Accept counted on); less credit is left to the run-out check.
    if kind is None and not first_look:
        return None  # nothing to write: no transaction (the worker looks every run)
    if kind == CoaJob.Kind.DISCONNECT and _disconnect_blocked(session, now):
        return None  # being disconnected, or refused lately (read outside a transaction)
    with transaction.atomic():
        job = None
        if kind is not None:
            job = _queue(session, kind, reason, timeout=lim.timeout, quota=lim.quota)
        if (job is not None and job.kind == CoaJob.Kind.COA) or first_look:
            fields = {"decided_credit": lim.credit, "decided_timeout": lim.timeout,
                      "decided_at": now}
            HotspotSession.objects.filter(pk=session.pk).update(**fields)
            for key, value in fields.items():
                setattr(session, key, value)
    return job


def _customer_ids(account) -> list[int]:
    if isinstance(account, Customer):
        return [account.pk]
    if isinstance(account, Account):
        return list(Customer.objects.filter(credit_account=account).values_list(
            "pk", flat=True))
    if isinstance(account, int) and not isinstance(account, bool):
        return [account]
    raise TypeError(f"not a customer: {account!r}")


def queue_credit_changed(account) -> list[CoaJob]:
    """A customer's credit changed: queue a CoA (new Session-Timeout) or a Disconnect
    (nothing left) for each of their live sessions. ``account`` is a Customer, a
    customer id, or the customer's ledger credit Account. Returns the jobs queued
    (skipped ones included: their gateway cannot be told). Sends nothing: see
    ``coa_jobs.credit_changed``."""
    ids = _customer_ids(account)
    if not ids:
        return []
    jobs: list[CoaJob] = []
    now = clock.now()
    for session in _open_sessions(ids):
        job = _decide(session, now, force=True)
        if job is not None:
            jobs.append(job)
    return jobs


def credit_accounts_changed(account_ids) -> list[CoaJob]:
    """Ledger hook: postings touched these accounts (after commit)."""
    ids = list(HotspotSession.objects.filter(
        status=HotspotSession.Status.OPEN,
        customer__credit_account_id__in=list(account_ids),
    ).values_list("customer_id", flat=True).distinct())
    jobs: list[CoaJob] = []
    for customer_id in ids:
        jobs += queue_credit_changed(customer_id)
    return jobs


def review_sessions(limit: int = 2000) -> int:
    """Worker job: Disconnect live sessions whose credit or validity ran out; CoA those
    whose credit grew since their last decision (a door that did not say so). Returns
    how many jobs it queued."""
    now = clock.now()
    done = 0
    sessions = (HotspotSession.objects.filter(status=HotspotSession.Status.OPEN,
                                              customer__isnull=False)
                .select_related("customer__credit_account", "plan", "nas")
                .order_by("pk")[:limit])
    sessions = list(sessions)
    balances = ledger.balances({s.customer.credit_account_id: s.customer.credit_account
                                for s in sessions}.values())
    for session in sessions:
        balance = balances.get(session.customer.credit_account_id, 0)
        if _decide(session, now, force=False, balance=balance) is not None:
            done += 1
    return done


def kick(session_id: int, actor: audit.Actor) -> CoaJob:
    """A staff member ends a live session: queue a Disconnect-Request (audited)."""
    with transaction.atomic():
        session = (HotspotSession.objects.select_for_update(of=("self",))
                   .select_related("nas", "customer").filter(pk=session_id).first())
        if session is None:
            raise HotspotError(_("No such session."))
        if session.status != HotspotSession.Status.OPEN:
            raise HotspotError(_("This session has already ended."))
        job = _queue(session, CoaJob.Kind.DISCONNECT, CoaJob.Reason.KICK,
                     requested_by=actor.name)
        if job is None:
            raise HotspotError(_("This session is already being disconnected."))
        audit.record(actor, "hotspot.kick", session,
                     summary=f"{session.username} on {session.nas.name} "
                             f"({session.mac or '-'}): {job.get_state_display()}")
    return job
