"""Hotspot: gateways (NAS), plans, sessions (online and past). Thin: changes are service calls."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from django.conf import settings
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _
from ninja import Field, Path, Query, Router, Schema, Status
from pydantic import StrictBool, StrictInt

from ficha.core.money import MoneyError
from ficha.core.services import currency as venue_currency
from ficha.hotspot import gateways
from ficha.hotspot import services as hotspot
from ficha.hotspot.models import HotspotAccount, HotspotSession, Nas, Plan, UnknownSource
from ficha.hotspot.services import coa_jobs

from .auth import actor, require
from .customers import get_customer
from .schemas import (
    ERRORS,
    BodyId,
    Id,
    In,
    Major,
    Minor,
    MoneyOut,
    PageMeta,
    PageQuery,
    Text40,
    Text60,
    Text64,
    Text128,
    Text150,
    Text255,
    money,
    paginate,
    parse_major,
)

router = Router(tags=["hotspot"])

Vendor = Literal["mikrotik", "coovachilli", "opennds", "pfsense", "generic"]
# A gateway's reply language: one of the console's (settings.LANGUAGES, what its form
# offers), or "" for the venue's.
Language = Literal[tuple(["", *(code for code, _name in settings.LANGUAGES)])]
Port = Field(None, ge=1, le=65535)


class DroppedOut(Schema):
    bad_authenticator: int = Field(..., description="Wrong shared secret")
    missing_authenticator: int = Field(..., description="No Message-Authenticator")
    malformed: int


class NasOut(Schema):
    id: int
    name: str
    address: str = Field(..., description="IP address or network (CIDR)")
    vendor: str
    coa_port: int
    coa_address: str | None = Field(None, description="Where CoA/Disconnect go; null: "
                                                      "the address")
    require_message_authenticator: bool
    language: str
    active: bool
    portal_hosts: str = Field(..., description="Captive portal: login page addresses")
    dropped: DroppedOut
    last_packet_at: dt.datetime | None


class NasPatch(In):
    name: Text64 | None = None
    address: Text60 | None = Field(None, description="IP address or network (CIDR)")
    secret: Text128 | None = Field(None, description="Shared secret, 8 to 128 characters "
                                                   "(never shown again)")
    vendor: Vendor | None = None
    coa_port: StrictInt | None = Port
    coa_address: Text60 | None = Field(None, description="One IP address; \"\": none")
    require_message_authenticator: StrictBool | None = None
    language: Language | None = Field(
        None, description="Customers' language for reject messages; \"\": the venue's")
    active: StrictBool | None = None
    portal_hosts: Text255 | None = Field(
        None, description="Captive portal: addresses or names of the gateway's login "
                          "page, comma-separated (empty: the NAS address)")
    uam_secret: Text128 | None = Field(None, description="CoovaChilli uamsecret, 12 to 128 "
                                       "characters; \"\": none (never shown)")
    fas_key: Text128 | None = Field(None, description="openNDS faskey, 12 to 128 characters; "
                                    "\"\": none (never shown)")


class NasIn(NasPatch):
    name: Text64
    address: Text60
    secret: Text128


def nas_out(nas: Nas) -> dict:
    return {
        "id": nas.pk, "name": nas.name, "address": nas.address, "vendor": nas.vendor,
        "coa_port": nas.coa_port, "coa_address": nas.coa_address,
        "require_message_authenticator": nas.require_message_authenticator,
        "language": nas.language, "active": nas.active, "portal_hosts": nas.portal_hosts,
        "dropped": {"bad_authenticator": nas.dropped_bad_authenticator,
                    "missing_authenticator": nas.dropped_missing_authenticator,
                    "malformed": nas.dropped_malformed},
        "last_packet_at": nas.last_packet_at,
    }


def _get_nas(nas_id: int) -> Nas:
    nas = Nas.objects.filter(pk=nas_id).first()
    if nas is None:
        raise Http404(_("No gateway with id %(id)s.") % {"id": nas_id})
    return nas


def _get_plan(plan_id: int) -> Plan:
    plan = Plan.objects.filter(pk=plan_id).first()
    if plan is None:
        raise Http404(_("No plan with id %(id)s.") % {"id": plan_id})
    return plan


def _given(payload: In) -> dict:
    return {k: v for k, v in payload.dict(exclude_unset=True).items() if v is not None}


@router.get("/hotspot/nas", response={200: list[NasOut], **ERRORS},
            auth=require("manage_hotspot"), summary="List gateways")
def list_nas(request):
    """Every gateway with its dropped-packet counters (the shared secret is never shown)."""
    return [nas_out(n) for n in Nas.objects.all()]


@router.post("/hotspot/nas", response={201: NasOut, **ERRORS},
             auth=require("manage_hotspot"), summary="Add a gateway")
def create_nas(request, payload: NasIn):
    return Status(201, nas_out(hotspot.create_nas(actor(request), **_given(payload))))


@router.post("/hotspot/nas/{nas_id}", response={200: NasOut, **ERRORS},
             auth=require("manage_hotspot"), summary="Change a gateway")
def update_nas(request, nas_id: Path[Id], payload: NasPatch):
    nas = _get_nas(nas_id)
    return nas_out(hotspot.update_nas(actor(request), nas, **_given(payload)))


PLAN_MONEY = ("price_per_hour", "price_per_mb", "minimum_charge")
Count = Field(None, ge=0, le=2**31 - 1)
# a plan's optional limits: 1 or more; null removes the limit
Limit = Field(None, ge=1, le=2**31 - 1, description="1 or more; null: no limit")
PLAN_LIMITS = ("rate_up_kbps", "rate_down_kbps", "quota_bytes", "idle_timeout",
               "validity_seconds")


class PlanPatch(In):
    name: Text64 | None = None
    price_per_hour: Major | None = Field(None, description="Major units, e.g. \"300\"")
    price_per_hour_minor: Minor | None = None
    price_per_mb: Major | None = None
    price_per_mb_minor: Minor | None = None
    minimum_charge: Major | None = None
    minimum_charge_minor: Minor | None = None
    increment_seconds: StrictInt | None = Count
    rate_up_kbps: StrictInt | None = Limit
    rate_down_kbps: StrictInt | None = Limit
    quota_bytes: StrictInt | None = Field(None, ge=1, le=2**62,
                                          description="1 or more; null: no limit")
    idle_timeout: StrictInt | None = Limit
    interim_interval: StrictInt | None = Count
    devices: StrictInt | None = Count
    validity_seconds: StrictInt | None = Limit
    price_group: Text60 | None = None
    is_default: StrictBool | None = None
    mac_login: StrictBool | None = Field(None, description="Returning devices log in by MAC")

    def fields(self) -> dict:
        out = _given(self)
        # null given for a limit removes it (other fields: null is as if not given)
        out.update({k: None for k, v in self.dict(exclude_unset=True).items()
                    if v is None and k in PLAN_LIMITS})
        for name in PLAN_MONEY:
            major, minor = out.pop(name, None), out.pop(f"{name}_minor", None)
            if major is not None and minor is not None:
                raise MoneyError(_("Give either %(name)s or %(name)s_minor, not both.")
                                 % {"name": name})
            if minor is not None:
                out[name] = minor
            elif major is not None:
                out[name] = parse_major(major, venue_currency(), field=name).minor
        return out


class PlanIn(PlanPatch):
    name: Text64


class PlanOut(Schema):
    id: int
    name: str
    price_per_hour: MoneyOut
    price_per_mb: MoneyOut
    minimum_charge: MoneyOut
    increment_seconds: int
    rate_up_kbps: int | None
    rate_down_kbps: int | None
    quota_bytes: int | None
    idle_timeout: int | None
    interim_interval: int
    devices: int
    validity_seconds: int | None
    price_group: str
    is_default: bool
    mac_login: bool


def plan_out(plan: Plan) -> dict:
    out = {f: getattr(plan, f) for f in (
        "name", "increment_seconds", "rate_up_kbps", "rate_down_kbps", "quota_bytes",
        "idle_timeout", "interim_interval", "devices", "validity_seconds", "price_group",
        "is_default", "mac_login")}
    out.update({name: money(getattr(plan, name)) for name in PLAN_MONEY})
    out["id"] = plan.pk
    return out


@router.get("/hotspot/plans", response={200: list[PlanOut], **ERRORS},
            auth=require("manage_hotspot"), summary="List hotspot plans")
def list_plans(request):
    return [plan_out(p) for p in Plan.objects.all()]


@router.post("/hotspot/plans", response={201: PlanOut, **ERRORS},
             auth=require("manage_hotspot"), summary="Add a hotspot plan")
def create_plan(request, payload: PlanIn):
    return Status(201, plan_out(hotspot.create_plan(actor(request), **payload.fields())))


@router.post("/hotspot/plans/{plan_id}", response={200: PlanOut, **ERRORS},
             auth=require("manage_hotspot"), summary="Change a hotspot plan")
def update_plan(request, plan_id: Path[Id], payload: PlanPatch):
    plan = _get_plan(plan_id)
    return plan_out(hotspot.update_plan(actor(request), plan, **payload.fields()))


class SessionOut(Schema):
    id: int
    nas: str
    nas_id: int
    username: str
    customer_id: int | None
    mac: str
    status: Literal["open", "closed", "stale"] = Field(
        ..., description="stale: closed without a Stop (NAS silent or restarted)")
    acct_session_id: str
    framed_ip: str | None
    started_at: dt.datetime
    updated_at: dt.datetime
    stopped_at: dt.datetime | None
    terminate_cause: str
    session_time: int = Field(..., description="Seconds (last report)")
    elapsed: int = Field(..., description="Seconds online now (last report + since)")
    remaining_seconds: int | None = Field(..., description="At the current credit; "
                                                           "null: no time limit")
    remaining_octets: int | None = Field(..., description="null: no data limit")
    input_octets: int = Field(..., description="From the client (upload)")
    output_octets: int = Field(..., description="To the client (download)")
    charged: MoneyOut
    debited: MoneyOut
    unpaid: MoneyOut = Field(..., description="Charged but not yet taken (no credit)")
    disconnecting: bool = Field(..., description="A Disconnect-Request is on its way")


class CoaJobOut(Schema):
    id: int
    session_id: int
    nas: str
    kind: Literal["coa", "disconnect"]
    reason: str
    state: str = Field(..., description="pending, sending, acked, naked, failed, skipped, "
                                        "superseded")
    session_timeout: int | None
    attempts: int
    next_try_at: dt.datetime
    created_at: dt.datetime
    finished_at: dt.datetime | None
    last_answer: str
    error_cause: int | None = Field(..., description="RFC 5176 Error-Cause of a NAK")
    requested_by: str


def job_out(job) -> dict:
    return {"id": job.pk, "session_id": job.session_id, "nas": job.nas.name,
            "kind": job.kind, "reason": job.reason, "state": job.state,
            "session_timeout": job.session_timeout, "attempts": job.attempts,
            "next_try_at": job.next_try_at, "created_at": job.created_at,
            "finished_at": job.finished_at, "last_answer": job.last_answer,
            "error_cause": job.error_cause, "requested_by": job.requested_by}


class SessionPage(PageMeta):
    items: list[SessionOut]


class SessionFilter(PageQuery):
    status: Literal["open", "closed"] | None = Field(
        None, description="open; closed: ended (with a Stop, or closed as stale)")
    customer_id: Id | None = None
    username: Text150 = Field("", description="The account's name or the User-Name")
    nas_id: Id | None = None
    mac: Text40 = Field("", description="Device MAC, any spelling")
    since: dt.datetime | None = Field(None, description="Started at or after (ISO 8601; "
                                                        "without a zone: the venue's)")
    until: dt.datetime | None = Field(None, description="Started before")


def session_out(row: hotspot.LiveSession) -> dict:
    s = row.session
    return {
        "id": s.pk, "nas": s.nas.name, "nas_id": s.nas_id, "username": s.username,
        "customer_id": s.customer_id, "mac": s.mac, "status": s.status,
        "acct_session_id": s.acct_session_id, "framed_ip": s.framed_ip,
        "started_at": s.started_at, "updated_at": s.updated_at,
        "stopped_at": s.stopped_at, "terminate_cause": s.terminate_cause,
        "session_time": s.session_time, "elapsed": row.elapsed,
        "remaining_seconds": row.remaining, "remaining_octets": row.remaining_octets,
        "input_octets": s.input_octets, "output_octets": s.output_octets,
        "charged": money(s.charged), "debited": money(s.debited),
        "unpaid": money(s.unpaid), "disconnecting": row.being_disconnected,
    }


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    if value is not None and timezone.is_naive(value):
        return timezone.make_aware(value)
    return value


@router.get("/hotspot/sessions", response={200: SessionPage, **ERRORS},
            auth=require("manage_hotspot"), summary="List sessions (online and past)")
def list_sessions(request, filters: Query[SessionFilter]):
    """Sessions newest first, paginated, with filters; open ones with what the credit
    still buys. A malformed MAC or ``since`` after ``until`` is a 422 with a message."""
    mac = filters.mac.strip()
    if mac and not gateways.clean_mac(mac):
        return Status(422, {"detail": _("“%(mac)s” is not a MAC address such as "
                                        "AA:BB:CC:00:00:01.") % {"mac": mac},
                            "code": "validation_error"})
    since, until = _aware(filters.since), _aware(filters.until)
    if since is not None and until is not None and since > until:
        return Status(422, {"detail": _("“since” must not be after “until”."),
                            "code": "validation_error"})
    qs = hotspot.find_sessions(status=filters.status or "", customer_id=filters.customer_id,
                               username=filters.username, nas_id=filters.nas_id, mac=mac,
                               since=since, until=until)
    items, meta = paginate(qs, filters.page, filters.page_size)
    return {**meta, "items": [session_out(row) for row in hotspot.describe(items)]}


class RecordOut(Schema):
    id: int
    kind: Literal["start", "interim", "stop"]
    received_at: dt.datetime
    session_time: int
    input_octets: int = Field(..., description="Gigawords folded in")
    output_octets: int
    terminate_cause: str
    debit: MoneyOut
    transaction_id: int | None


class DebitOut(Schema):
    transaction_id: int
    created_at: dt.datetime
    amount: MoneyOut
    memo: str


class ChargeLineOut(Schema):
    kind: str = Field(..., description="billing (no amount), time, data, minimum, rounding")
    text: str = Field(..., description="How this line was computed, in the request's language")
    amount: str = Field(..., description="For display, e.g. \"8.64 XOF\" (\"≈\" when not "
                                         "exact; \"\" for the billing line)")
    seconds: int = Field(..., description="Billed seconds (billing and time lines)")


class SessionDetailOut(SessionOut):
    charge_total: MoneyOut | None = Field(
        ..., description="The charge so far as computed line by line (null: not charged)")
    charge_lines: list[ChargeLineOut] = Field(
        ..., description="How the charge so far was computed, as the portal shows it")
    records: list[RecordOut]
    debits: list[DebitOut] = Field(..., description="Ledger transactions of its usage")
    requests: list[CoaJobOut] = Field(..., description="CoA/Disconnect requests, newest "
                                                      "first")


@router.get("/hotspot/sessions/{session_id}", response={200: SessionDetailOut, **ERRORS},
            auth=require("manage_hotspot"), summary="One session with its records")
def get_session(request, session_id: Path[Id]):
    """A session with its accounting records, the ledger debits of its usage and its
    CoA/Disconnect requests."""
    detail = hotspot.session_detail(session_id)
    if detail is None:
        return Status(404, {"detail": _("No such session."), "code": "not_found"})
    by_tx = {r.transaction_id: r.debit for r in detail.records if r.transaction_id}
    breakdown = detail.live.breakdown
    currency = venue_currency()
    return {
        **session_out(detail.live),
        "charge_total": money(breakdown.total, currency) if breakdown else None,
        "charge_lines": [{"kind": line.kind, "text": line.text, "amount": amount,
                          "seconds": line.seconds}
                         for line, amount in hotspot.charge_rows(breakdown, currency)],
        "records": [{"id": r.pk, "kind": r.kind, "received_at": r.received_at,
                     "session_time": r.session_time, "input_octets": r.input_octets,
                     "output_octets": r.output_octets, "terminate_cause": r.terminate_cause,
                     "debit": money(r.debit), "transaction_id": r.transaction_id}
                    for r in detail.records],
        "debits": [{"transaction_id": t.pk, "created_at": t.created_at,
                    "amount": money(by_tx.get(t.pk, 0)), "memo": t.memo}
                   for t in detail.debits],
        "requests": [job_out(j) for j in detail.jobs],
    }


class UnknownSenderOut(Schema):
    address: str
    dropped: int
    first_seen_at: dt.datetime
    last_seen_at: dt.datetime


@router.get("/hotspot/unknown-senders", response={200: list[UnknownSenderOut], **ERRORS},
            auth=require("manage_hotspot"), summary="Packets from addresses that are no NAS")
def list_unknown_senders(request):
    """The latest 100 addresses that sent RADIUS packets without being a NAS (dropped and
    counted), most recent first. Drops per NAS are in ``GET /hotspot/nas``."""
    return [{"address": u.address, "dropped": u.dropped, "first_seen_at": u.first_seen_at,
             "last_seen_at": u.last_seen_at} for u in UnknownSource.objects.all()[:100]]


@router.post("/hotspot/sessions/{session_id}/kick", response={202: CoaJobOut, **ERRORS},
             auth=require("manage_hotspot"), summary="Disconnect a session")
def kick_session(request, session_id: Path[Id]):
    """Queue a Disconnect-Request to the session's gateway (audited). 202: queued (or
    ``skipped`` when the gateway takes no CoA); 409 when the session has ended or is
    already being disconnected."""
    if not HotspotSession.objects.filter(pk=session_id).exists():
        return Status(404, {"detail": _("No such session."), "code": "not_found"})
    try:
        job = hotspot.kick(session_id, actor(request))
    except hotspot.HotspotError as exc:
        return Status(409, {"detail": str(exc), "code": "session_error"})
    coa_jobs.send_soon([job])
    return Status(202, job_out(job))


@router.get("/hotspot/coa", response={200: list[CoaJobOut], **ERRORS},
            auth=require("manage_hotspot"), summary="CoA/Disconnect requests")
def list_coa(request):
    """The latest 200 CoA/Disconnect requests with their state and the gateway's answer."""
    return [job_out(j) for j in hotspot.coa_requests(200)]


# --- a customer's plan: their own (override), else their price group's ---------------------
class CustomerPlanOut(Schema):
    customer_id: int
    override: PlanOut | None = Field(..., description="The account's own plan; null: "
                                                      "none (its price group's applies)")
    plan: PlanOut | None = Field(..., description="The plan that applies now")
    first_login_at: dt.datetime | None = Field(..., description="Validity counts from it")


class CustomerPlanIn(In):
    plan_id: BodyId | None = Field(..., description="A plan's id; null: back to the price "
                                                "group's plan")


def customer_plan_out(customer) -> dict:
    state = HotspotAccount.objects.filter(customer=customer).select_related("plan").first()
    plan = hotspot.plan_for(customer, state)
    override = state.plan if state is not None and state.plan_id else None
    return {"customer_id": customer.pk,
            "override": plan_out(override) if override else None,
            "plan": plan_out(plan) if plan else None,
            "first_login_at": state.first_login_at if state else None}


@router.get("/hotspot/customers/{customer_id}/plan", response={200: CustomerPlanOut, **ERRORS},
            auth=require("manage_hotspot"), summary="A customer's hotspot plan")
def get_customer_plan(request, customer_id: Path[Id]):
    return customer_plan_out(get_customer(customer_id))


@router.post("/hotspot/customers/{customer_id}/plan",
             response={200: CustomerPlanOut, **ERRORS}, auth=require("manage_hotspot"),
             summary="Give a customer their own hotspot plan")
def set_customer_plan(request, customer_id: Path[Id], payload: CustomerPlanIn):
    """The account's own plan, whatever its price group (audited); ``plan_id`` null goes
    back to the price group's. Sessions already open keep the plan they started with."""
    customer = get_customer(customer_id)
    plan = None
    if payload.plan_id is not None:
        plan = Plan.objects.filter(pk=payload.plan_id).first()
        if plan is None:
            return Status(400, {"detail": _("No such plan."), "code": "invalid"})
    hotspot.set_customer_plan(actor(request), customer, plan)
    return customer_plan_out(customer)
