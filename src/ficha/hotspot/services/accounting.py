"""Accounting: what a record debits (exactly once), stale sessions, and what the console shows."""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass

from django.db import IntegrityError, connection, transaction

from ficha.accounts import services as accounts
from ficha.accounts.models import Customer
from ficha.core import audit, clock, codes, rows
from ficha.ledger import services as ledger
from ficha.ledger.models import Account
from ficha.tariffs import pricing

from ..models import (
    AccountingRecord,
    HotspotAccount,
    HotspotSession,
    Nas,
    Plan,
    UnknownSource,
)
from .authorize import (
    _looks_like_code,
    normalize_mac,
    parse_class,
)
from .plans import (
    plan_for,
)

# --- accounting ----------------------------------------------------------------------------
START, INTERIM, STOP, ACCOUNTING_ON, ACCOUNTING_OFF = "start", "interim", "stop", "on", "off"


@dataclass(frozen=True)
class AcctRequest:
    status: str  # start / interim / stop / on / off
    session_id: str = ""
    unique_id: str = ""
    username: str = ""
    mac: str = ""
    called: str = ""
    framed_ip: str | None = None
    session_time: int = 0
    input_octets: int = 0
    input_gigawords: int = 0
    output_octets: int = 0
    output_gigawords: int = 0
    terminate_cause: str = ""
    klass: bytes | str | None = None  # the Class we gave in the Access-Accept


@dataclass
class AcctResult:
    session: HotspotSession | None
    record: AccountingRecord | None
    debit: int = 0
    duplicate: bool = False
    closed: int = 0  # sessions closed by Accounting-On/Off


class AccountingError(ValueError):
    pass


def _counter(octets: int, gigawords: int) -> int:
    return (max(0, int(gigawords)) << 32) + max(0, int(octets))


def account(nas: Nas, req: AcctRequest) -> AcctResult:
    """Record one Accounting-Request and debit the usage it adds, exactly once.

    Counters are cumulative, so the session keeps the highest seen; a retransmitted or
    duplicated record (same session, kind and counters) is recognised by a unique
    constraint and changes nothing; an older record arriving late adds nothing.
    """
    if req.status in (ACCOUNTING_ON, ACCOUNTING_OFF):
        return AcctResult(None, None, closed=_close_nas_sessions(nas, req.status))
    if req.status not in (START, INTERIM, STOP):
        raise AccountingError(f"unknown Acct-Status-Type {req.status!r}")
    if not req.session_id:
        raise AccountingError("no Acct-Session-Id")
    key = (req.unique_id or f"{req.session_id}/{req.username}")[:200]
    inp = _counter(req.input_octets, req.input_gigawords)
    out = _counter(req.output_octets, req.output_gigawords)
    if nas.vendor == Nas.Vendor.COOVACHILLI:  # chilli counts from its own side
        inp, out = out, inp
    seconds = max(0, int(req.session_time))
    now = clock.now()
    with transaction.atomic():
        session = _session_for_update(nas, key, req, now)
        # The session row is locked, and every record of it takes that lock first: so this
        # look-up finds a retransmitted or duplicated record without a race (the unique
        # constraint stays as the last guard), and the record is written once, whole.
        if _seen(session, req.status, seconds, inp, out):
            return AcctResult(session, None, 0, duplicate=True)
        session.session_time = max(session.session_time, seconds)
        session.input_octets = max(session.input_octets, inp)
        session.output_octets = max(session.output_octets, out)
        session.updated_at = now
        fields = ["session_time", "input_octets", "output_octets", "updated_at"]
        if req.status == STOP and session.status == HotspotSession.Status.OPEN:
            session.status = HotspotSession.Status.CLOSED
            session.stopped_at = now
            session.terminate_cause = str(req.terminate_cause)[:40]
            fields += ["status", "stopped_at", "terminate_cause"]
        if req.framed_ip and not session.framed_ip:
            session.framed_ip = req.framed_ip
            fields.append("framed_ip")
        debit, tx = 0, None
        if session.customer_id is not None and session.plan_id is not None:
            if not HotspotSession.plan.is_cached(session):
                session.plan = rows.by_pk(Plan, session.plan_id)
            tariff = session.plan.tariff
            session.charged = max(session.charged, pricing.charge(
                tariff, session.session_time, session.input_octets + session.output_octets))
            fields.append("charged")
            debit, tx = _debit(session)
            if debit:
                fields.append("debited")
        record = rows.insert(AccountingRecord(
            session=session, kind=req.status, received_at=now, session_time=seconds,
            input_octets=inp, output_octets=out,
            terminate_cause=str(req.terminate_cause)[:40], debit=debit, transaction=tx))
        _save(session, fields)
    return AcctResult(session, record, debit)


# Every Interim-Update runs these: written out once per database vendor (building ORM
# queries cost more CPU than the database needs to answer them).
_SQL: dict[tuple[str, str], str] = {}


def _sql(name: str) -> str:
    key = (connection.vendor, name)
    sql = _SQL.get(key)
    if sql is None:
        q = connection.ops.quote_name
        s, r, c = (q(m._meta.db_table) for m in (HotspotSession, AccountingRecord, Customer))
        lock = connection.vendor == "postgresql"
        sql = _SQL[key] = {
            "session": (
                f"SELECT {rows.columns(HotspotSession)}, {c}.{q('username')}, "
                f"{c}.{q('credit_account_id')} FROM {s} LEFT OUTER JOIN {c} "
                f"ON {c}.{q('id')} = {s}.{q('customer_id')} "
                f"WHERE {s}.{q('nas_id')} = %s AND {s}.{q('session_key')} = %s"
                + (f" FOR UPDATE OF {s}" if lock else "")),
            "seen": (
                f"SELECT 1 FROM {r} WHERE {q('session_id')} = %s AND {q('kind')} = %s "
                f"AND {q('session_time')} = %s AND {q('input_octets')} = %s "
                f"AND {q('output_octets')} = %s LIMIT 1"),
            "credit": (
                f"SELECT {q('kind')} FROM {q(Account._meta.db_table)} WHERE {q('id')} = %s"
                + (" FOR UPDATE" if lock else "")),
        }[name]
    return sql


def _locked_session(nas: Nas, key: str) -> HotspotSession | None:
    """The session, its row locked (PostgreSQL; SQLite's write transaction excludes every
    other writer), with its customer's name and credit account (``session.owner``)."""
    found = rows.read(HotspotSession, _sql("session"), [nas.pk, key], extra=2)
    if not found:
        return None
    session, username, credit_account_id = found[0]
    session.owner = (username, credit_account_id)  # for _debit (never a partial Customer)
    return session


def _seen(session: HotspotSession, kind: str, seconds: int, inp: int, out: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(_sql("seen"), [session.pk, kind, seconds, inp, out])
        return cursor.fetchone() is not None


_UPDATE: dict[tuple[str, tuple[str, ...]], tuple[str, list]] = {}


def _save(session: HotspotSession, fields: list[str]) -> None:
    """``session.save(update_fields=fields)`` as one written-out UPDATE."""
    key = (connection.vendor, tuple(fields))
    found = _UPDATE.get(key)
    if found is None:
        q = connection.ops.quote_name
        model_fields = [HotspotSession._meta.get_field(f) for f in fields]
        found = _UPDATE[key] = (
            f"UPDATE {q(HotspotSession._meta.db_table)} SET "
            + ", ".join(f"{q(f.column)} = %s" for f in model_fields)
            + f" WHERE {q('id')} = %s", model_fields)
    sql, model_fields = found
    params = [f.get_db_prep_save(getattr(session, f.attname), connection)
              for f in model_fields]
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, session.pk])


def _session_for_update(nas: Nas, key: str, req: AcctRequest, now) -> HotspotSession:
    session = _locked_session(nas, key)
    if session is not None:
        return session
    customer, plan = _owner(req)
    try:
        with transaction.atomic():
            return HotspotSession.objects.create(
                nas=nas, session_key=key, acct_session_id=req.session_id[:100],
                username=req.username[:150], customer=customer, plan=plan,
                mac=normalize_mac(req.mac) if req.mac else "", called_station=req.called[:100],
                framed_ip=_ip_or_none(req.framed_ip), started_at=now, updated_at=now)
    except IntegrityError:  # a parallel record created it
        return _locked_session(nas, key)


def _ip_or_none(text) -> str | None:
    try:
        return str(ipaddress.ip_address(str(text))) if text else None
    except ValueError:
        return None


def _owner(req: AcctRequest) -> tuple[Customer | None, Plan | None]:
    """Whose usage this is: from the Class of our Access-Accept, else the User-Name."""
    ids = parse_class(req.klass) if req.klass else None
    if ids is not None:
        customer = Customer.objects.filter(pk=ids[0]).first()
        plan = Plan.objects.filter(pk=ids[1]).first()
        if customer is not None:
            if plan is None:
                plan = plan_for(customer, HotspotAccount.objects.filter(
                    customer=customer).first())
            return customer, plan
    customer = accounts.find_customer(req.username) if req.username else None
    if customer is None and req.username and _looks_like_code(req.username):
        customer = accounts.find_customer(codes.normalize(req.username))
    if customer is None:
        return None, None
    return customer, plan_for(customer, HotspotAccount.objects.filter(
        customer=customer).first())


def _debit(session: HotspotSession):
    """Take what the session owes, as far as the balance goes (customer's credit account
    locked, as every balance change does). Returns (amount, ledger transaction or None)."""
    owed = session.charged - session.debited
    if owed <= 0:
        return 0, None
    owner = getattr(session, "owner", None)  # read with the session by _locked_session
    if owner is None:
        owner = (session.customer.username, session.customer.credit_account_id)
    username, credit_account_id = owner
    # the lock every balance change takes (accounts.adjust does the same), then the balance
    with connection.cursor() as cursor:
        cursor.execute(_sql("credit"), [credit_account_id])
        cursor.fetchone()
    # balance − the holds of live calls: the one rule for what a debit may take
    available = ledger.spendable(credit_account_id)
    debit = min(owed, max(0, available))
    if debit <= 0:
        return 0, None
    tx = ledger.post(
        "hotspot.usage",
        [(credit_account_id, debit), (ledger.REVENUE_HOTSPOT, -debit)],
        actor=audit.Actor(source="hotspot", label=f"customer {username}"),
        reference=f"hotspot:{session.pk}", memo=f"Wi-Fi {session.acct_session_id}"[:255])
    session.debited += debit
    return debit, tx


def _close_nas_sessions(nas: Nas, why: str) -> int:
    """Accounting-On/Off: the NAS (re)started, none of its sessions survive."""
    return HotspotSession.objects.filter(nas=nas, status=HotspotSession.Status.OPEN).update(
        status=HotspotSession.Status.STALE, stopped_at=clock.now(),
        terminate_cause=f"NAS-Accounting-{why.title()}")


def close_stale_sessions() -> int:
    """Worker job: close open sessions that sent nothing for three interim intervals (at
    least 10 minutes): their NAS forgot them or the Stop was lost. The usage up to their
    last record is already debited."""
    now = clock.now()
    done = 0
    candidates = (HotspotSession.objects.filter(
        status=HotspotSession.Status.OPEN, updated_at__lt=now - dt.timedelta(minutes=10),
        granted_until__isnull=True)  # the portal's metered sessions end by their grant
        .select_related("plan").only("pk", "updated_at", "plan__interim_interval"))
    for session in candidates[:1000]:
        interval = session.plan.interim_interval if session.plan else 300
        if session.updated_at > now - dt.timedelta(seconds=max(600, 3 * interval)):
            continue
        done += HotspotSession.objects.filter(
            pk=session.pk, status=HotspotSession.Status.OPEN,
            updated_at=session.updated_at,
        ).update(status=HotspotSession.Status.STALE, stopped_at=now,
                 terminate_cause="Stale")
    return done


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


def account_many(items: list[tuple[Nas, AcctRequest]]) -> list[AcctResult | Exception]:
    """:func:`account` for a batch the RADIUS door collected, in arrival order (several
    items may be for the same session): one result per item, or the exception that item
    raised — one bad item never fails the others."""
    out: list[AcctResult | Exception] = []
    for nas, req in items:
        try:
            out.append(account(nas, req))
        except Exception as exc:  # noqa: BLE001 - handed back to the door, per item
            out.append(exc)
    return out
