"""Tariff use cases: café tariffs, station groups, time packages (the only door that
changes them). Pricing itself is pure: :mod:`ficha.tariffs.cafe`."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.db import IntegrityError, transaction
from django.db.models import F, Q, Sum
from django.utils.translation import gettext as _

from ficha.accounts.models import Customer
from ficha.core import audit, clock
from ficha.core.services import venue_settings
from ficha.ledger import services as ledger
from ficha.ledger.models import Account

from . import cafe
from .cafe import TariffError
from .models import CafeTariff, Package, PackageHolding, StationGroup

__all__ = [
    "TariffError", "price_group_of", "spec_for", "spec_of", "default_tariff", "quote",
    "create_tariff", "update_tariff", "delete_tariff",
    "create_station_group", "update_station_group", "delete_station_group",
    "create_package", "update_package", "buy_package", "consume_package_seconds",
    "package_seconds_left", "Consumed",
]

TARIFF_FIELDS = ("name", "is_default", "first_block", "increment", "start_fee", "minimum",
                 "fallback", "rates", "bands")


# --- reading --------------------------------------------------------------------------------
def price_group_of(customer: Customer | None) -> str:
    """The price group a customer pays: "guest" for a walk-in, the custom group's name for
    a custom-priced account (an empty one pays as a guest)."""
    if customer is None:
        return cafe.GUEST
    if customer.price_group == Customer.PriceGroup.CUSTOM:
        return (customer.custom_group or "").strip().lower() or cafe.GUEST
    return str(customer.price_group)


def default_tariff() -> CafeTariff | None:
    return CafeTariff.objects.filter(is_default=True).first() or \
        CafeTariff.objects.order_by("pk").first()


def spec_of(tariff: CafeTariff) -> cafe.TariffSpec:
    venue = venue_settings()
    return tariff.spec(currency=venue.currency, time_zone=venue.time_zone)


def spec_for(station_group: StationGroup | None) -> cafe.TariffSpec:
    """The spec that prices a station of ``station_group`` (None: the default tariff)."""
    tariff = None
    if station_group is not None and station_group.tariff_id:
        tariff = station_group.tariff
    if tariff is None:
        tariff = default_tariff()
    if tariff is None:
        raise TariffError(_("No café tariff is set up yet."))
    return spec_of(tariff)


def quote(tariff: CafeTariff, start: dt.datetime, seconds: int,
          price_group: str = cafe.GUEST) -> cafe.Charge:
    """What ``seconds`` from ``start`` would cost: the console's "what would it cost"."""
    return cafe.price(spec_of(tariff), start, seconds, price_group)


# --- tariffs --------------------------------------------------------------------------------
def _clean_tariff(values: dict) -> dict:
    values = dict(values)
    values["name"] = str(values.get("name", "")).strip()[:64]
    if not values["name"]:
        raise TariffError(_("Give the tariff a name."))
    probe = CafeTariff(**{k: v for k, v in values.items() if k in TARIFF_FIELDS})
    probe.spec()  # the engine's own validation: TariffError with a message for people
    return values


def _snapshot(tariff: CafeTariff) -> dict:
    return {f: getattr(tariff, f) for f in TARIFF_FIELDS}


def create_tariff(actor: audit.Actor, **fields) -> CafeTariff:
    unknown = set(fields) - set(TARIFF_FIELDS)
    if unknown:
        raise TypeError(f"unknown tariff fields {sorted(unknown)}")
    fields = _clean_tariff(fields)
    with transaction.atomic():
        if CafeTariff.objects.filter(name=fields["name"]).exists():
            raise TariffError(_("A tariff with this name exists already."))
        if fields.get("is_default") or not CafeTariff.objects.exists():
            CafeTariff.objects.filter(is_default=True).update(is_default=False)
            fields["is_default"] = True
        tariff = CafeTariff.objects.create(**fields)
        audit.record(actor, "tariffs.tariff.create", tariff, after=_snapshot(tariff),
                     summary=_("Café tariff %(name)s added") % {"name": tariff.name})
    return tariff


def update_tariff(actor: audit.Actor, tariff: CafeTariff, **fields) -> CafeTariff:
    unknown = set(fields) - set(TARIFF_FIELDS)
    if unknown:
        raise TypeError(f"unknown tariff fields {sorted(unknown)}")
    before = _snapshot(tariff)
    merged = _clean_tariff({**before, **fields})
    changed = {k: merged[k] for k in fields if merged[k] != before[k]}
    if not changed:
        return tariff
    with transaction.atomic():
        if "name" in changed and CafeTariff.objects.filter(name=changed["name"]).exclude(
                pk=tariff.pk).exists():
            raise TariffError(_("A tariff with this name exists already."))
        if changed.get("is_default") is False and before["is_default"]:
            raise TariffError(_("Make another tariff the default instead."))
        if changed.get("is_default"):
            CafeTariff.objects.filter(is_default=True).exclude(pk=tariff.pk).update(
                is_default=False)
        for key, value in changed.items():
            setattr(tariff, key, value)
        tariff.updated_at = clock.now()
        tariff.save(update_fields=[*changed, "updated_at"])
        audit.record(actor, "tariffs.tariff.update", tariff,
                     before={k: before[k] for k in changed}, after=changed,
                     summary=_("Café tariff %(name)s changed") % {"name": tariff.name})
    return tariff


def delete_tariff(actor: audit.Actor, tariff: CafeTariff) -> None:
    if tariff.station_groups.exists():
        raise TariffError(_("Station groups use this tariff; give them another first."))
    if tariff.is_default and CafeTariff.objects.exclude(pk=tariff.pk).exists():
        raise TariffError(_("Make another tariff the default before deleting this one."))
    with transaction.atomic():
        audit.record(actor, "tariffs.tariff.delete", tariff, before=_snapshot(tariff),
                     summary=_("Café tariff %(name)s deleted") % {"name": tariff.name})
        tariff.delete()


# --- station groups -------------------------------------------------------------------------
def _clean_group(name: str, description: str) -> tuple[str, str]:
    name = str(name or "").strip()[:64]
    if not name:
        raise TariffError(_("Give the station group a name."))
    return name, str(description or "").strip()[:200]


def create_station_group(actor: audit.Actor, name: str, tariff: CafeTariff | None = None,
                         description: str = "") -> StationGroup:
    name, description = _clean_group(name, description)
    try:
        with transaction.atomic():
            group = StationGroup.objects.create(name=name, tariff=tariff,
                                                description=description)
            audit.record(actor, "tariffs.group.create", group,
                         after={"name": name, "tariff": tariff.pk if tariff else None},
                         summary=_("Station group %(name)s added") % {"name": name})
    except IntegrityError:
        raise TariffError(_("A station group with this name exists already.")) from None
    return group


def update_station_group(actor: audit.Actor, group: StationGroup, *, name: str | None = None,
                         tariff: CafeTariff | None | bool = False,
                         description: str | None = None) -> StationGroup:
    """Change a group; ``tariff=None`` sets it back to the default tariff, ``False`` (the
    default) leaves it as it is."""
    before = {"name": group.name, "tariff": group.tariff_id, "description": group.description}
    new_name, new_desc = _clean_group(name if name is not None else group.name,
                                      description if description is not None
                                      else group.description)
    group.name, group.description = new_name, new_desc
    if tariff is not False:
        group.tariff = tariff
    after = {"name": group.name, "tariff": group.tariff_id, "description": group.description}
    try:
        with transaction.atomic():
            group.save(update_fields=["name", "tariff", "description"])
            audit.record(actor, "tariffs.group.update", group, before=before, after=after,
                         summary=_("Station group %(name)s changed") % {"name": group.name})
    except IntegrityError:
        raise TariffError(_("A station group with this name exists already.")) from None
    return group


def delete_station_group(actor: audit.Actor, group: StationGroup) -> None:
    from django.db.models import ProtectedError

    try:
        with transaction.atomic():
            audit.record(actor, "tariffs.group.delete", group, before={"name": group.name},
                         summary=_("Station group %(name)s deleted") % {"name": group.name})
            group.delete()
    except ProtectedError:
        raise TariffError(_("Stations are in this group; move them first.")) from None


# --- packages -------------------------------------------------------------------------------
MAX_PACKAGE_SECONDS = 366 * 86400


def _clean_package(fields: dict) -> dict:
    out = dict(fields)
    if "name" in out:
        out["name"] = str(out["name"]).strip()[:64]
        if not out["name"]:
            raise TariffError(_("Give the package a name."))
    if "seconds" in out:
        s = out["seconds"]
        if isinstance(s, bool) or not isinstance(s, int) or not 60 <= s <= MAX_PACKAGE_SECONDS:
            raise TariffError(_("A package holds from 1 minute to 366 days of time."))
    if "price" in out:
        p = out["price"]
        if isinstance(p, bool) or not isinstance(p, int) or not 0 <= p <= cafe.MAX_PRICE:
            raise TariffError(_("A price must be between 0 and %(max)s.")
                              % {"max": cafe.MAX_PRICE})
    if "valid_days" in out:
        d = out["valid_days"]
        if isinstance(d, bool) or not isinstance(d, int) or not 0 <= d <= 3660:
            raise TariffError(_("A package is valid for 0 (forever) to 3660 days."))
    return out


def create_package(actor: audit.Actor, *, name: str, seconds: int, price: int,
                   valid_days: int = 30, station_groups=(), active: bool = True) -> Package:
    fields = _clean_package({"name": name, "seconds": seconds, "price": price,
                             "valid_days": valid_days, "active": bool(active)})
    groups = list(station_groups)
    try:
        with transaction.atomic():
            package = Package.objects.create(**fields)
            package.station_groups.set(groups)
            audit.record(actor, "tariffs.package.create", package,
                         after={**fields, "station_groups": [g.pk for g in groups]},
                         summary=_("Time package %(name)s added") % {"name": package.name})
    except IntegrityError:
        raise TariffError(_("A package with this name exists already.")) from None
    return package


def update_package(actor: audit.Actor, package: Package, *, station_groups=None,
                   **fields) -> Package:
    unknown = set(fields) - {"name", "seconds", "price", "valid_days", "active"}
    if unknown:
        raise TypeError(f"unknown package fields {sorted(unknown)}")
    fields = _clean_package(fields)
    before = {k: getattr(package, k) for k in fields}
    try:
        with transaction.atomic():
            for key, value in fields.items():
                setattr(package, key, value)
            if fields:
                package.save(update_fields=list(fields))
            after = dict(fields)
            if station_groups is not None:
                groups = list(station_groups)
                before["station_groups"] = sorted(package.station_groups.values_list(
                    "pk", flat=True))
                package.station_groups.set(groups)
                after["station_groups"] = sorted(g.pk for g in groups)
            audit.record(actor, "tariffs.package.update", package, before=before, after=after,
                         summary=_("Time package %(name)s changed") % {"name": package.name})
    except IntegrityError:
        raise TariffError(_("A package with this name exists already.")) from None
    return package


def buy_package(actor: audit.Actor, customer: Customer, package: Package, *,
                at: dt.datetime | None = None) -> PackageHolding:
    """Sell ``package`` to ``customer``: its price leaves the customer's credit for café
    revenue (one ledger transaction) and the customer holds its time until it expires."""
    if not package.active:
        raise TariffError(_("This package is not on sale."))
    if not customer.is_active:
        raise TariffError(_("This customer is disabled."))
    now = at or clock.now()
    expires = now + dt.timedelta(days=package.valid_days) if package.valid_days else None
    with transaction.atomic():
        # the lock every balance change takes (accounts.adjust does the same)
        Account.objects.select_for_update().filter(pk=customer.credit_account_id).first()
        before = ledger.balance(customer.credit_account)
        free = ledger.spendable(customer.credit_account_id)  # less what live calls hold
        if package.price > free:
            raise TariffError(_("The customer's credit (%(balance)s) does not cover the "
                                "package (%(price)s).") % {
                "balance": cafe.format_minor(max(free, 0), venue_settings().currency),
                "price": cafe.format_minor(package.price, venue_settings().currency)})
        tx = None
        if package.price:
            tx = ledger.post(
                "package", [(customer.credit_account, package.price),
                            (ledger.REVENUE_CAFE, -package.price)],
                actor=actor, shift=ledger.current_shift(actor.staff),
                memo=_("Time package %(name)s") % {"name": package.name},
                reference=f"customer:{customer.pk}")
        holding = PackageHolding.objects.create(
            customer=customer, package=package, seconds_total=package.seconds,
            seconds_left=package.seconds, bought_at=now, expires_at=expires, transaction=tx)
        audit.record(actor, "tariffs.package.buy", customer, before={"balance": before},
                     after={"package": package.pk, "holding": holding.pk,
                            "price": package.price, "seconds": package.seconds,
                            "expires_at": expires.isoformat() if expires else None,
                            "transaction": tx.pk if tx else None},
                     summary=_("%(name)s bought the time package %(package)s") % {
                         "name": customer.username, "package": package.name})
    return holding


def _usable(customer: Customer, station_group: StationGroup | None, at: dt.datetime):
    qs = PackageHolding.objects.filter(customer=customer, seconds_left__gt=0).filter(
        Q(expires_at__isnull=True) | Q(expires_at__gt=at))
    # a package without groups is good on every station; one with groups only on theirs
    if station_group is None:
        qs = qs.filter(package__station_groups__isnull=True)
    else:
        qs = qs.filter(Q(package__station_groups__isnull=True)
                       | Q(package__station_groups=station_group))
    return qs.distinct()


def package_seconds_left(customer: Customer, *, station_group: StationGroup | None = None,
                         at: dt.datetime | None = None) -> int:
    ids = _usable(customer, station_group, at or clock.now()).values("pk")
    return PackageHolding.objects.filter(pk__in=ids).aggregate(
        s=Sum("seconds_left"))["s"] or 0


@dataclass(frozen=True)
class Consumed:
    """What :func:`consume_package_seconds` took: ``seconds`` in all, per holding."""

    seconds: int
    parts: tuple[tuple[int, int], ...] = field(default=())  # (holding id, seconds)


def consume_package_seconds(customer: Customer, seconds: int, *,
                            station_group: StationGroup | None = None,
                            at: dt.datetime | None = None,
                            actor: audit.Actor = audit.SYSTEM) -> Consumed:
    """Use up to ``seconds`` of the customer's package time, the soonest to expire first.
    Returns what was taken (0 when there is none); the rest is for the tariff to price."""
    if isinstance(seconds, bool) or not isinstance(seconds, int) or seconds < 0:
        raise TariffError(_("A duration is a whole, non-negative number of seconds."))
    if not seconds:
        return Consumed(0)
    now = at or clock.now()
    parts: list[tuple[int, int]] = []
    with transaction.atomic():
        ids = list(_usable(customer, station_group, now).values_list("pk", flat=True))
        holdings = list(PackageHolding.objects.select_for_update().filter(pk__in=ids)
                        .order_by(F("expires_at").asc(nulls_last=True), "pk"))
        want = seconds
        for h in holdings:
            if not want:
                break
            take = min(want, h.seconds_left)
            if take <= 0:
                continue
            updated = PackageHolding.objects.filter(pk=h.pk, seconds_left__gte=take).update(
                seconds_left=F("seconds_left") - take)
            if updated:
                parts.append((h.pk, take))
                want -= take
        took = seconds - want
        if took:
            audit.record(actor, "tariffs.package.consume", customer,
                         after={"seconds": took, "parts": parts},
                         summary=_("%(n)d s of package time used by %(name)s") % {
                             "n": took, "name": customer.username})
    return Consumed(took, tuple(parts))


def return_package_seconds(customer: Customer, parts, *,
                           actor: audit.Actor = audit.SYSTEM) -> Consumed:
    """Give back package time taken by :func:`consume_package_seconds` but not used after
    all (a café session that really ended earlier than it was metered: the agent was
    offline). ``parts`` are (holding id, seconds) pairs; each holding gets its seconds
    back, never beyond what it held when bought. Returns what was given back."""
    wanted: dict[int, int] = {}
    for holding_id, seconds in parts:
        if isinstance(seconds, bool) or not isinstance(seconds, int) or seconds < 0 \
                or isinstance(holding_id, bool) or not isinstance(holding_id, int):
            raise TariffError(_("A duration is a whole, non-negative number of seconds."))
        if seconds:
            wanted[holding_id] = wanted.get(holding_id, 0) + seconds
    if not wanted:
        return Consumed(0)
    back: list[tuple[int, int]] = []
    with transaction.atomic():
        for h in PackageHolding.objects.select_for_update().filter(
                pk__in=list(wanted), customer=customer).order_by("pk"):
            give = min(wanted[h.pk], h.seconds_total - h.seconds_left)
            if give > 0:
                PackageHolding.objects.filter(pk=h.pk).update(
                    seconds_left=F("seconds_left") + give)
                back.append((h.pk, give))
        given = sum(s for _h, s in back)
        if given:
            audit.record(actor, "tariffs.package.return", customer,
                         after={"seconds": given, "parts": back},
                         summary=_("%(n)d s of package time given back to %(name)s") % {
                             "n": given, "name": customer.username})
    return Consumed(given, tuple(back))
