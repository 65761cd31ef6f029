"""Café sessions: start (prepaid or postpaid), meter, pause, move, end, check out.

Money (ledger accounts, signed minor units, debit positive):

* prepaid usage   customer credit +d, revenue:cafe −d — metered cumulatively: the whole
  used time is priced (``tariffs.cafe``) and only the difference to what was already
  debited is posted, never more than the balance; so Σ debits = price(used time)
* a session that ended earlier than metered (an agent's offline event) gets the excess
  back: revenue:cafe +x, customer credit −x
* postpaid checkout  cash +p, revenue:cafe −p, in the cashier's open shift

Time is wall-clock time from ``started_at`` minus pauses, so a server restart loses no
session and no money: the next metering prices the time that passed.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from ficha.accounts import logins
from ficha.accounts.models import Customer
from ficha.core import audit, clock
from ficha.ledger import services as ledger
from ficha.ledger.models import Account
from ficha.tariffs import cafe
from ficha.tariffs import services as tariffs

from ..models import CafeSession, Station, StationEvent
from .base import (
    OPEN,
    StationError,
    limit_seconds,
    price_group_of,
    price_of,
    priced_window,
    refresh,
    session_spec,
    spec_for,
    station_actor,
)

log = logging.getLogger("ficha.stations")
S = CafeSession.Status
K = CafeSession.Kind


def _summary(session: CafeSession) -> dict:
    return {"session": session.pk, "station": session.station_id, "kind": session.kind,
            "customer": session.customer_id, "seconds": session.seconds,
            "charged": session.charged, "debited": session.debited}


def _start(station: Station, kind: str, *, customer: Customer | None, label: str,
           actor: audit.Actor) -> CafeSession:
    if station.locked:
        raise StationError(_("This station is locked; unlock it first."), code="locked")
    spec = spec_for(station)
    try:
        with transaction.atomic():
            session = CafeSession.objects.create(
                station=station, kind=kind, customer=customer, label=(label or "")[:60],
                price_group=price_group_of(customer), tariff=cafe.spec_to_json(spec),
                started_at=clock.now(), started_by=actor.name[:150])
            if kind == K.PREPAID:
                limit = limit_seconds(session)
                if limit is not None and limit <= 0:
                    raise StationError(_("Not enough credit for the first minutes; top up "
                                         "or redeem a code."), code="no_credit")
            audit.record(actor, "station.session_start", session, after=_summary(session),
                         summary=_("Session started on %(station)s") % {"station": station.name})
            refresh(station, actor.name)
    except IntegrityError:
        raise StationError(_("This station already has a session."), code="busy")
    return session


def start_postpaid(actor: audit.Actor, station: Station, label: str = "") -> CafeSession:
    """The cashier starts a guest session; the customer pays at the counter afterwards.
    Also how unmanaged devices (consoles, pool tables) are timed."""
    return _start(station, K.POSTPAID, customer=None, label=label, actor=actor)


def start_prepaid(actor: audit.Actor, station: Station, customer: Customer) -> CafeSession:
    """A session paid from ``customer``'s credit (agent login, or started by staff)."""
    if not customer.is_active:
        raise StationError(_("This account is disabled; please ask at the counter."),
                           code="disabled")
    return _start(station, K.PREPAID, customer=customer, label="", actor=actor)


def _locked_session(session: CafeSession | int) -> CafeSession:
    pk = session.pk if isinstance(session, CafeSession) else session
    return (CafeSession.objects.select_for_update(of=("self",))
            .select_related("customer", "station").get(pk=pk))


def _used(session: CafeSession, at: dt.datetime) -> int:
    return session.used_until(at)


def _meter_locked(session: CafeSession, at: dt.datetime, cap: int | None = None) -> int:
    """Price the used time up to ``at`` and debit what is owed (prepaid, up to the
    balance). ``session`` is locked by the caller. Returns the debit."""
    used = _used(session, at)
    if cap is not None:
        used = min(used, cap)
    used = max(0, used)
    fields = ["seconds", "charged", "debited"]
    if used > session.seconds and session.kind == K.PREPAID and session.customer_id:
        # package time first: what it covers of the new seconds is not priced
        station = session.station
        took = tariffs.consume_package_seconds(
            session.customer, used - session.seconds,
            station_group=station.group if station.group_id else None, at=at,
            actor=station_actor(station))
        if took.seconds:
            session.package_seconds += took.seconds
            session.package_parts = [*session.package_parts, *map(list, took.parts)]
            fields += ["package_seconds", "package_parts"]
    elif used < session.package_seconds:
        # ended earlier than metered: the package time after the real end goes back
        _return_package_time(session, session.package_seconds - used)
        fields += ["package_seconds", "package_parts"]
    session.seconds = used
    session.charged = price_of(session, session.seconds)
    debit = 0
    if session.kind == K.PREPAID and session.customer_id is not None:
        owed = session.charged - session.debited
        if owed > 0:
            customer = session.customer
            # the lock every balance change takes (accounts.adjust does the same)
            Account.objects.select_for_update().filter(pk=customer.credit_account_id).first()
            available = ledger.spendable(customer.credit_account_id)  # less holds
            debit = min(owed, max(0, available))
            if debit:
                ledger.post("cafe.usage",
                            [(customer.credit_account_id, debit),
                             (ledger.REVENUE_CAFE, -debit)],
                            actor=station_actor(session.station),
                            reference=f"cafe:{session.pk}",
                            memo=f"café {session.station.name}"[:255])
                session.debited += debit
    session.save(update_fields=fields)
    return debit


def _return_package_time(session: CafeSession, seconds: int) -> int:
    """Give the last ``seconds`` of package time the session took back to the holdings
    they came from (the latest taken first). Returns the seconds given back."""
    parts = [[int(h), int(n)] for h, n in session.package_parts]
    back: list[tuple[int, int]] = []
    want = seconds
    while want > 0 and parts:
        holding, n = parts[-1]
        take = min(n, want)
        back.append((holding, take))
        want -= take
        if take == n:
            parts.pop()
        else:
            parts[-1][1] = n - take
    given = tariffs.return_package_seconds(
        session.customer, back, actor=station_actor(session.station)).seconds
    session.package_seconds -= seconds
    session.package_parts = parts
    return given


def _refund_excess(session: CafeSession) -> int:
    """Prepaid metered past its real end (the agent locked or logged out while offline):
    what was debited beyond the price goes back to the customer's credit."""
    excess = session.debited - session.charged
    if excess > 0:
        ledger.post("cafe.usage.refund",
                    [(ledger.REVENUE_CAFE, excess),
                     (session.customer.credit_account_id, -excess)],
                    actor=station_actor(session.station), reference=f"cafe:{session.pk}",
                    memo=f"café {session.station.name}: ended earlier"[:255])
        session.debited -= excess
        return excess
    return 0


def meter(session: CafeSession | int, at: dt.datetime | None = None) -> CafeSession:
    with transaction.atomic():
        session = _locked_session(session)
        if session.status != S.ENDED:
            _meter_locked(session, at or clock.now())
    return session


def _deadline(session: CafeSession, limit: int) -> dt.datetime:
    return session.started_at + dt.timedelta(seconds=session.paused_seconds + limit)


def end(session: CafeSession | int, *, actor: audit.Actor, reason: str = "stop",
        at: dt.datetime | None = None) -> CafeSession:
    """End a session at ``at`` (default now; earlier for an offline event): final
    metering, and the excess back if it was metered beyond its end. Idempotent."""
    now = clock.now()
    with transaction.atomic():
        session = _locked_session(session)
        if session.status == S.ENDED:
            return session
        at = min(at or now, now)
        at = max(at, session.started_at)
        cap = None
        limit = limit_seconds(session) if session.kind == K.PREPAID else None
        if limit is not None:
            cap = limit
        _meter_locked(session, at, cap=cap)
        _refund_excess(session)
        session.status = S.ENDED
        session.ended_at = at
        session.paused_at = None
        session.end_reason = reason[:20]
        session.save(update_fields=["status", "ended_at", "paused_at", "end_reason",
                                    "debited"])
        audit.record(actor, "station.session_end", session,
                     after={**_summary(session), "reason": reason},
                     summary=_("Session on %(station)s ended") % {
                         "station": session.station.name})
        refresh(session.station_id, actor.name)
    return session


def correct_end(session: CafeSession | int, at: dt.datetime, *, actor: audit.Actor,
                reason: str = "offline") -> bool:
    """A prepaid session the server already ended (credit used up, stopped while the PC
    was offline) really ended earlier, at ``at`` (an agent's offline event): settle it to
    that end — the package time and money after it go back. Returns whether anything
    changed; a later or equal ``at`` changes nothing, so a resend cannot take twice."""
    with transaction.atomic():
        session = _locked_session(session)
        if session.status != S.ENDED or session.kind != K.PREPAID \
                or session.customer_id is None or session.ended_at is None:
            return False
        at = max(min(at, session.ended_at), session.started_at)
        if at >= session.ended_at or session.used_until(at) >= session.seconds:
            return False
        before = _summary(session)
        ended_before = session.ended_at
        _meter_locked(session, at)
        refund = _refund_excess(session)
        session.ended_at = at
        session.save(update_fields=["ended_at", "debited"])
        audit.record(actor, "station.session_end_corrected", session,
                     before={**before, "ended_at": ended_before.isoformat()},
                     after={**_summary(session), "ended_at": at.isoformat(),
                            "refund": refund, "reason": reason},
                     summary=_("Session on %(station)s really ended earlier; settled to "
                               "that end") % {"station": session.station.name})
    return True


def pause(actor: audit.Actor, session: CafeSession | int, *, by_lock: bool = False
          ) -> CafeSession:
    with transaction.atomic():
        session = _locked_session(session)
        if session.status != S.RUNNING:
            raise StationError(_("Only a running session can be paused."))
        now = clock.now()
        _meter_locked(session, now)
        session.status, session.paused_at, session.paused_by_lock = S.PAUSED, now, by_lock
        session.save(update_fields=["status", "paused_at", "paused_by_lock"])
        audit.record(actor, "station.session_pause", session, after=_summary(session),
                     summary=_("Session on %(station)s paused") % {
                         "station": session.station.name})
        refresh(session.station_id, actor.name)
    return session


def resume(actor: audit.Actor, session: CafeSession | int) -> CafeSession:
    with transaction.atomic():
        session = _locked_session(session)
        if session.status != S.PAUSED:
            raise StationError(_("This session is not paused."))
        if session.station.locked:
            raise StationError(_("This station is locked; unlock it first."), code="locked")
        now = clock.now()
        length = max(0, int((now - session.paused_at).total_seconds()))
        if length:
            session.pauses = [*session.gaps(), (session.used_until(session.paused_at), length)]
        session.paused_seconds += length
        session.status, session.paused_at, session.paused_by_lock = S.RUNNING, None, False
        session.save(update_fields=["status", "paused_at", "paused_by_lock",
                                    "paused_seconds", "pauses"])
        audit.record(actor, "station.session_resume", session, after=_summary(session),
                     summary=_("Session on %(station)s resumed") % {
                         "station": session.station.name})
        refresh(session.station_id, actor.name)
    return session


def move(actor: audit.Actor, session: CafeSession | int, target: Station) -> CafeSession:
    """Move a session to another (free, unlocked) station. The tariff it started with
    stays (documented in docs/stations.md)."""
    try:
        with transaction.atomic():
            session = _locked_session(session)
            if session.status == S.ENDED:
                raise StationError(_("This session has ended."))
            if target.locked:
                raise StationError(_("This station is locked; unlock it first."),
                                   code="locked")
            source = session.station
            if source.pk == target.pk:
                raise StationError(_("The session is already on this station."))
            session.station = target
            session.save(update_fields=["station"])
            audit.record(actor, "station.session_move", session,
                         before={"station": source.pk}, after={"station": target.pk},
                         summary=_("Session moved from %(a)s to %(b)s")
                         % {"a": source.name, "b": target.name})
            refresh(source, actor.name)
            refresh(target, actor.name)
    except IntegrityError:
        raise StationError(_("This station already has a session."), code="busy")
    return session


# --- the worker ---------------------------------------------------------------------------
def meter_running() -> int:
    """Worker job: meter every open session; end prepaid ones whose credit ran out (at the
    moment it ran out, so nothing is charged past the credit)."""
    done = 0
    for pk in list(CafeSession.objects.filter(OPEN).values_list("pk", flat=True)[:5000]):
        try:
            expire_or_meter(pk)
            done += 1
        except CafeSession.DoesNotExist:
            continue
    return done


def expire_or_meter(pk: int) -> CafeSession:
    session = CafeSession.objects.select_related("customer", "station").get(pk=pk)
    if session.status == S.ENDED:
        return session
    if session.kind == K.PREPAID:
        limit = limit_seconds(session)
        if limit is not None and session.used_seconds() >= limit:
            return end(session, actor=station_actor(session.station), reason="credit",
                       at=_deadline(session, limit) if session.paused_at is None else None)
    return meter(session)


# --- bills and checkout ---------------------------------------------------------------------
def bill(session: CafeSession) -> cafe.Charge:
    """The itemised price of a session's used time (the lines say how it was computed)."""
    seconds = session.seconds if session.status == S.ENDED else session.used_seconds()
    start, priced, gaps = priced_window(session, seconds)
    return cafe.price(session_spec(session), start, priced, session.price_group, gaps)


FINAL_BILL_SECONDS = 300  # an ended session's bill stays readable at its PC this long
MAX_BILL_LINES = 100  # an agent's frame is small; a week of hourly bands is not


def agent_bill(station: Station, session_id: int | None = None) -> dict:
    """The bill the station's agent shows its customer: the running session's, or
    (``session_id``) one that ended on this station less than :data:`FINAL_BILL_SECONDS`
    ago — the final bill on the lock screen. Another station's session is refused like
    a missing one. The lines are :func:`bill`'s texts (in the active language), after a
    line for the package time the session used; ``total`` in minor units."""
    if session_id is not None and (isinstance(session_id, bool)
                                   or not isinstance(session_id, int)):
        raise StationError(_("No bill to show on this computer."), code="invalid")
    sessions = CafeSession.objects.filter(station=station)
    if session_id is None:
        session = sessions.filter(OPEN).first()
    else:
        session = sessions.filter(pk=session_id).first()
        if session is not None and session.status == S.ENDED and (
                session.ended_at is None
                or clock.now() - session.ended_at > dt.timedelta(seconds=FINAL_BILL_SECONDS)):
            session = None
    if session is None:
        raise StationError(_("No bill to show on this computer."), code="no_session")
    charge = bill(session)
    lines = []
    if session.package_seconds:
        lines.append(_("Package time used: %(time)s (not charged)")
                     % {"time": cafe.duration_text(session.package_seconds)})
    lines += [line.text for line in charge.lines]
    if len(lines) > MAX_BILL_LINES:
        more = len(lines) - MAX_BILL_LINES + 1
        lines = [*lines[:MAX_BILL_LINES - 1],
                 _("… and %(n)d more lines: ask at the counter.") % {"n": more}]
    return {"session": session.pk, "final": session.status == S.ENDED, "lines": lines,
            "total": charge.total, "currency": charge.currency}


def unpaid():
    return (CafeSession.objects.filter(kind=K.POSTPAID, status=S.ENDED, settled_at__isnull=True)
            .select_related("station").order_by("ended_at"))


def checkout(actor: audit.Actor, session: CafeSession | int) -> CafeSession:
    """Postpaid: end the session if needed, then take its price in cash into the
    cashier's open shift (audited)."""
    shift = ledger.require_shift(actor.staff)
    pk = session.pk if isinstance(session, CafeSession) else session
    if CafeSession.objects.filter(pk=pk).exclude(kind=K.POSTPAID).exists():
        # refused before anything changes: a prepaid session must keep running
        raise StationError(_("Prepaid sessions are paid from the account."))
    if CafeSession.objects.filter(pk=pk, status__in=[S.RUNNING, S.PAUSED]).exists():
        end(pk, actor=actor, reason="checkout")
    with transaction.atomic():
        session = _locked_session(pk)
        if session.kind != K.POSTPAID:
            raise StationError(_("Prepaid sessions are paid from the account."))
        if session.settled_at is not None:
            raise StationError(_("This session is already paid."), code="paid")
        amount = session.charged
        tx = None
        if amount:
            tx = ledger.post("cafe.checkout", [(ledger.CASH, amount),
                                               (ledger.REVENUE_CAFE, -amount)],
                             actor=actor, shift=shift, reference=f"cafe:{session.pk}",
                             memo=f"café {session.station.name}"[:255])
        session.paid, session.settled_at, session.settled_by = amount, clock.now(), actor.staff
        session.shift, session.transaction = shift, tx
        session.save(update_fields=["paid", "settled_at", "settled_by", "shift",
                                    "transaction"])
        audit.record(actor, "station.checkout", session,
                     after={**_summary(session), "paid": amount},
                     summary=_("Café session on %(station)s paid") % {
                         "station": session.station.name})
    return session


# --- at the agent -------------------------------------------------------------------------
def agent_login(station: Station, username: str, secret: str, *, ip: str | None = None
                ) -> CafeSession:
    """Username + password or PIN at the station (throttled as portal logins)."""
    result = logins.customer_login(username, secret, ip=ip)
    if result.wait:
        raise StationError(_("Too many attempts. Wait %(n)d seconds and try again.")
                           % {"n": result.wait}, code="throttled")
    if result.disabled:
        raise StationError(_("This account is disabled; please ask at the counter."),
                           code="disabled")
    if result.customer is None:
        raise StationError(_("Wrong username or password."), code="wrong")
    return start_prepaid(station_actor(station, ip), station, result.customer)


def agent_code(station: Station, code: str, *, ip: str | None = None
               ) -> tuple[CafeSession, int]:
    """A recharge code at the station: extends the running prepaid session, or logs in
    (a code alone opens an account). Returns (session, amount credited)."""
    from ficha.recharges import services as recharges

    source = recharges.Source(ip=ip, station=station.name, door="station")
    session = CafeSession.objects.filter(OPEN, station=station).select_related(
        "customer").first()
    try:
        if session is not None:
            if session.kind != K.PREPAID or session.customer is None:
                raise StationError(_("This session is paid at the counter."))
            done = recharges.redeem(code, customer=session.customer, source=source)
            refresh(station, "station")
            return session, done.amount
        done = recharges.redeem_for_login(code, source=source)
    except recharges.RechargeError as exc:
        raise StationError(str(exc), code=getattr(exc, "code", "invalid"))
    return start_prepaid(station_actor(station, ip), station, done.customer), done.amount


def agent_logout(station: Station) -> CafeSession | None:
    session = CafeSession.objects.filter(OPEN, station=station).first()
    if session is None:
        return None
    return end(session, actor=station_actor(station), reason="logout")


def apply_events(station: Station, events: list[dict]) -> list[str]:
    """Offline events from the agent (``ago`` seconds before now). Each id is applied
    once; ending a session is idempotent and settles the money to the real end, so a
    resend or an event about an already ended session never debits twice."""
    now = clock.now()
    done = []
    for event in events[:200]:
        if not isinstance(event, dict):
            continue
        eid = str(event.get("id", ""))[:64]
        kind = str(event.get("kind", ""))
        ago = event.get("ago", 0)
        if not eid or kind not in ("session_end", "logout") or isinstance(ago, bool) \
                or not isinstance(ago, int):
            continue
        happened = now - dt.timedelta(seconds=max(0, min(ago, 7 * 86400)))
        session_id = event.get("session")
        session = CafeSession.objects.filter(
            pk=session_id if isinstance(session_id, int) else -1, station=station).first()
        try:
            with transaction.atomic():
                record = StationEvent.objects.create(
                    station=station, event_id=eid, kind=kind, session=session,
                    happened_at=happened, received_at=now)
        except IntegrityError:
            done.append(eid)  # already applied: acknowledge again
            continue
        outcome = "no_session"
        if session is not None and session.status != S.ENDED:
            end(session, actor=station_actor(station), reason=f"offline_{kind}"[:20],
                at=happened)
            outcome = "ended"
        elif session is not None:
            corrected = correct_end(session, happened, actor=station_actor(station),
                                    reason=f"offline_{kind}"[:20])
            outcome = "corrected" if corrected else "already_ended"
        StationEvent.objects.filter(pk=record.pk).update(outcome=outcome)
        done.append(eid)
    return done
