"""Hotspot plans, a customer's plan, and one-time login tickets (CHAP without stored passwords)."""

from __future__ import annotations

import datetime as dt
import secrets
import time
from dataclasses import dataclass

from django.db import connection, transaction
from django.db.models import Q
from django.db.models.signals import post_delete, post_save
from django.utils.text import capfirst
from django.utils.translation import gettext as _

from ficha.accounts.models import Customer
from ficha.core import audit, clock, rows
from ficha.ledger import services as ledger
from ficha.tariffs import pricing

from ..models import (
    HotspotAccount,
    HotspotSession,
    LoginTicket,
    Plan,
)
from .base import (
    MIN_INTERIM,
    TICKET_SECONDS,
    HotspotError,
)

# --- plans --------------------------------------------------------------------------------
_PLAN_INTS = ("price_per_hour", "price_per_mb", "minimum_charge", "increment_seconds",
              "interim_interval", "devices")
_PLAN_OPTIONAL = ("rate_up_kbps", "rate_down_kbps", "quota_bytes", "idle_timeout",
                  "validity_seconds")
_INT_MAX = 2**31 - 1  # the columns' range (PostgreSQL integer)
_PLAN_MAX = {"quota_bytes": 2**62, "increment_seconds": 86400}


def _clean_plan(fields: dict) -> dict:
    out = dict(fields)
    if "name" in out:
        out["name"] = str(out["name"]).strip()[:64]
        if not out["name"]:
            raise HotspotError(_("Give the plan a name."))
    for key in _PLAN_INTS + _PLAN_OPTIONAL:
        if key in out:
            value = out[key]
            if value is None and key in _PLAN_OPTIONAL:
                continue
            field = capfirst(Plan._meta.get_field(key).verbose_name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise HotspotError(_("%(field)s must be a whole number, zero or more.")
                                   % {"field": field})
            # a limit of 0 would read as "none" to some gateways and as "nothing" to
            # others: a limit is 1 or more, or none at all
            if value == 0 and key in _PLAN_OPTIONAL:
                raise HotspotError(_("%(field)s must be at least 1; leave it empty for no "
                                     "limit.") % {"field": field})
            most = _PLAN_MAX.get(key, _INT_MAX)
            if value > most:
                raise HotspotError(_("%(field)s must be at most %(max)s.")
                                   % {"field": field, "max": most})
    if out.get("interim_interval") is not None and out["interim_interval"] < MIN_INTERIM:
        raise HotspotError(_("The interim interval must be at least %(n)d seconds.")
                           % {"n": MIN_INTERIM})
    if "mac_login" in out:
        out["mac_login"] = bool(out["mac_login"])
    if "price_group" in out:
        out["price_group"] = _clean_group(out["price_group"])
    if "devices" in out and out["devices"] < 1:
        raise HotspotError(_("Allow at least one device."))
    try:
        pricing.Tariff(price_per_hour=out.get("price_per_hour", 0),
                       price_per_mb=out.get("price_per_mb", 0),
                       minimum=out.get("minimum_charge", 0),
                       increment=out.get("increment_seconds", 60))
    except pricing.TariffError as exc:
        raise HotspotError(str(exc)) from None
    return out


def _clean_group(value) -> str:
    """A plan's price group as customers have it: "member", "guest", a custom group's
    name (spelled as the customers' when it differs only in case: a plan applies to the
    exact name), or "" (none)."""
    group = " ".join(str(value or "").split())
    if not group:
        return ""
    if len(group) > Plan._meta.get_field("price_group").max_length:
        raise HotspotError(_("A price group's name is at most %(n)d characters.")
                           % {"n": Plan._meta.get_field("price_group").max_length})
    if same_group(group, Customer.PriceGroup.CUSTOM):
        raise HotspotError(_("Write the custom group's name, as customers have it in "
                             "their custom price group, not “custom”."))
    return known_group(group) or group


def known_group(group: str) -> str | None:
    """``group`` as customers spell it (member, guest, a custom group someone is in),
    or None: no customer is in that group."""
    return next((known for known in known_price_groups() if same_group(known, group)), None)


def _refuse_second_plan_for(group: str, plan: Plan | None = None) -> None:
    """One plan per price group: with two, which one a customer gets would depend on
    which was made first."""
    if not group:
        return
    for other in Plan.objects.exclude(price_group="").exclude(pk=plan.pk if plan else None):
        if same_group(other.price_group, group):
            raise HotspotError(errors={"price_group": _(
                "The plan “%(plan)s” is already for the price group “%(group)s”.")
                % {"plan": other.name, "group": other.price_group}})


def known_price_groups() -> list[str]:
    """The groups a plan can be for: member, guest, then the custom groups customers
    are in (sorted)."""
    custom = (Customer.objects.filter(price_group=Customer.PriceGroup.CUSTOM)
              .exclude(custom_group="").values_list("custom_group", flat=True)
              .distinct().order_by("custom_group"))
    return [Customer.PriceGroup.MEMBER.value, Customer.PriceGroup.GUEST.value,
            *(str(g) for g in custom)]


def create_plan(actor: audit.Actor, **fields) -> Plan:
    fields = _clean_plan(fields)
    if Plan.objects.filter(name=fields.get("name", "")).exists():
        raise HotspotError(_("A plan with this name exists already."))
    _refuse_second_plan_for(fields.get("price_group", ""))
    with transaction.atomic():
        if fields.get("is_default"):
            Plan.objects.filter(is_default=True).update(is_default=False)
        plan = Plan.objects.create(**fields)
        audit.record(actor, "hotspot.plan.create", plan, after=fields,
                     summary=_("Hotspot plan %(name)s added") % {"name": plan.name})
    return plan


def update_plan(actor: audit.Actor, plan: Plan, **fields) -> Plan:
    merged = {f: getattr(plan, f) for f in _PLAN_INTS}
    merged.update(fields)
    cleaned = _clean_plan(merged)
    fields = {k: cleaned[k] for k in fields}
    if "name" in fields and Plan.objects.filter(name=fields["name"]).exclude(
            pk=plan.pk).exists():
        raise HotspotError(_("A plan with this name exists already."))
    if "price_group" in fields:
        _refuse_second_plan_for(fields["price_group"], plan)
    with transaction.atomic():
        if fields.get("is_default"):
            Plan.objects.filter(is_default=True).exclude(pk=plan.pk).update(is_default=False)
        plan.refresh_from_db(from_queryset=Plan.objects.select_for_update())
        before, after = audit.changes(plan, fields)
        for key, value in fields.items():
            setattr(plan, key, value)
        plan.save(update_fields=list(fields))
        audit.record(actor, "hotspot.plan.update", plan, before=before, after=after,
                     summary=_("Hotspot plan %(name)s changed") % {"name": plan.name})
    return plan


def set_customer_plan(actor: audit.Actor, customer: Customer, plan: Plan | None
                      ) -> HotspotAccount:
    """Give one account its own plan (None: back to its price group's). Returns the
    account's hotspot state."""
    with transaction.atomic():
        hotspot, _created = HotspotAccount.objects.select_for_update().get_or_create(
            customer=customer)
        before = {"plan": hotspot.plan_id}
        hotspot.plan = plan
        hotspot.save(update_fields=["plan"])
        audit.record(actor, "hotspot.customer_plan", customer, before=before,
                     after={"plan": plan.pk if plan else None},
                     summary=_("Hotspot plan of %(name)s set to %(plan)s")
                     % {"name": customer.username, "plan": plan.name if plan else "—"})
    return hotspot


_GROUP_SQL: dict[str, str] = {}


def _group_sql() -> str:
    """Every plan (a venue has a few), default first: written out once per database vendor
    (it runs on every login); :func:`plan_for` picks the group's."""
    sql = _GROUP_SQL.get(connection.vendor)
    if sql is None:
        q = connection.ops.quote_name
        t = q(Plan._meta.db_table)
        sql = _GROUP_SQL[connection.vendor] = (
            f"SELECT {rows.columns(Plan)} FROM {t} "
            f"ORDER BY {t}.{q('is_default')} DESC, {t}.{q('id')} ASC")
    return sql


def same_group(a: str, b: str) -> bool:
    """Whether two price groups' names are one group: case does not tell groups apart
    ("Students" and "students"), so a plan reaches its customers however either was typed."""
    return a.casefold() == b.casefold()


@dataclass(frozen=True)
class PassPeriod:
    """Where an account stands in its plan's validity (:func:`pass_period`)."""

    valid_until: dt.datetime | None  # end of the period a login now is in (None: no validity)
    expired: bool = False  # the period ended and the credit does not start another
    renew: bool = False  # the period ended; a login now starts a new one
    paid: bool = False  # an earlier session of the period paid the minimum charge


def pass_period(plan: Plan, hotspot: HotspotAccount | None, customer_id: int,
                balance: int, now: dt.datetime) -> PassPeriod:
    """A plan with a validity is a pass: access for ``validity_seconds`` from the first
    login, its minimum charge (the pass's price: a "24 h pass" is price 0 an hour and a
    minimum of 500) paid once per period by its first session, the later sessions of the
    period charged their usage only. When the period is over, the next login starts a new
    one if the credit (``balance``, less holds) pays its minimum; a plan without a
    minimum (time priced within a window) starts a new one once credit came in after the
    period ended (a recharge, a top-up). Else the pass has expired until a recharge."""
    if not plan.validity_seconds:
        return PassPeriod(None)
    first = hotspot.first_login_at if hotspot is not None else None
    end = plan.valid_until(first)
    if end is None:  # the first login starts the first period
        return PassPeriod(plan.valid_until(now))
    if end <= now:
        if balance > 0 and (balance >= plan.minimum_charge if plan.minimum_charge > 0
                            else _credited_since(customer_id, end)):
            return PassPeriod(plan.valid_until(now), renew=True)
        return PassPeriod(end, expired=True)
    return PassPeriod(end, paid=minimum_paid(plan, customer_id, first))


def _credited_since(customer_id: int, when: dt.datetime) -> bool:
    credit = Customer.objects.filter(pk=customer_id).values_list(
        "credit_account_id", flat=True).first()
    return credit is not None and ledger.credited_since(credit, when)


def minimum_paid(plan: Plan, customer_id: int | None, first_login_at: dt.datetime | None
                 ) -> bool:
    """Whether a session of the customer's current validity period (from
    ``first_login_at``) was charged the plan's minimum already."""
    if (not plan.validity_seconds or plan.minimum_charge <= 0 or first_login_at is None
            or customer_id is None):
        return False
    # a session of the period: it reported after the period began (its start may be
    # earlier: taken from its first record's Acct-Session-Time when the Start was lost)
    return HotspotSession.objects.filter(
        customer_id=customer_id, updated_at__gte=first_login_at,
        charged__gte=plan.minimum_charge).exists()


def plan_for(customer: Customer, hotspot: HotspotAccount | None = None, *,
             cached: bool = False) -> Plan | None:
    """The account's own plan, else its price group's, else the default plan.

    ``cached``: choose among the plans this process read at most
    :data:`PLAN_CACHE_SECONDS` ago (the RADIUS door's logins; see :func:`cached_plans`)."""
    if hotspot is not None and hotspot.plan_id:
        if cached:
            plan = cached_plans()[0].get(hotspot.plan_id)
            if plan is not None:
                return plan
        return hotspot.plan
    group = customer.custom_group if customer.price_group == "custom" else customer.price_group
    if cached:
        plans = cached_plans()[1]
    else:
        plans = [row[0] for row in rows.read(Plan, _group_sql(), [])]
    for plan in plans:
        if plan.price_group and same_group(plan.price_group, group):
            return plan
    for plan in plans:
        if plan.is_default and (not plan.price_group or same_group(plan.price_group, group)):
            return plan
    if cached:
        defaults = [plan for plan in plans if plan.is_default]
        return min(defaults, key=lambda plan: plan.name) if defaults else None
    return Plan.objects.filter(is_default=True).first()


# The plans, kept per process for the logins (a few rows, read on every Access-Request
# otherwise). Forgotten when a plan is saved or deleted in this process (signals), and
# read again at most PLAN_CACHE_SECONDS later in any other process (``ficha radiusd``
# when the console edits a plan) — as the RADIUS door's NAS table.
PLAN_CACHE_SECONDS = 5.0
_plan_cache: tuple[float, dict[int, Plan], list[Plan]] | None = None


def cached_plans() -> tuple[dict[int, Plan], list[Plan]]:
    """({id: plan}, every plan default first then by id), at most PLAN_CACHE_SECONDS old.
    The instances are shared between threads: read them, never change them."""
    global _plan_cache
    found = _plan_cache
    if found is None or time.monotonic() - found[0] > PLAN_CACHE_SECONDS:
        plans = sorted(Plan.objects.all(), key=lambda plan: (not plan.is_default, plan.pk))
        found = _plan_cache = (time.monotonic(), {plan.pk: plan for plan in plans}, plans)
    return found[1], found[2]


def forget_plans(**_kwargs) -> None:
    global _plan_cache
    _plan_cache = None


post_save.connect(forget_plans, sender=Plan, dispatch_uid="hotspot-forget-plans-save")
post_delete.connect(forget_plans, sender=Plan, dispatch_uid="hotspot-forget-plans-delete")


# --- login tickets (CHAP without stored passwords) -----------------------------------------
def issue_ticket(customer: Customer) -> LoginTicket:
    """A one-time secret the captive portal gives the gateway (as the password) after it
    authenticated the customer itself; valid for :data:`TICKET_SECONDS`, once."""
    now = clock.now()
    return LoginTicket.objects.create(
        customer=customer, secret=secrets.token_hex(8), created_at=now,
        expires_at=now + dt.timedelta(seconds=TICKET_SECONDS))


TICKET_KEEP = dt.timedelta(hours=1)


def purge_tickets() -> int:
    """Worker job: delete login tickets used or expired more than an hour ago (a login
    looks through a customer's unused tickets, and used ones would pile up forever).
    Returns how many were deleted."""
    cutoff = clock.now() - TICKET_KEEP
    deleted, _per_model = LoginTicket.objects.filter(
        Q(used_at__lt=cutoff) | Q(expires_at__lt=cutoff)).delete()
    return deleted

