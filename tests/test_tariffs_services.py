"""Café tariffs in the database: validation, station groups, packages through the ledger."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.db.models import Sum

from ficha.accounts import services as accounts
from ficha.core import audit, clock
from ficha.core.models import AuditLog
from ficha.ledger import services as ledger
from ficha.ledger.models import Entry
from ficha.tariffs import cafe, text
from ficha.tariffs import services as tariffs
from ficha.tariffs.models import CafeTariff, PackageHolding

pytestmark = pytest.mark.django_db
H = 3600
RATES = [{"name": "day", "steps": [{"start": 0, "prices": {"guest": 600, "member": 500}}]},
         {"name": "night", "steps": [{"start": 0, "prices": {"guest": 300}}]}]
BANDS = [{"days": list(range(7)), "start": 22 * 60, "end": 6 * 60, "rate": "night"}]


def make_tariff(actor, name="Standard", **kw):
    fields = {"rates": RATES, "bands": BANDS, "fallback": "day"} | kw
    return tariffs.create_tariff(actor, name=name, **fields)


def test_create_tariff_validates_with_the_engine_and_audits(office):
    t = make_tariff(office, first_block=1800, increment=600)
    assert t.is_default  # the first tariff is the default
    assert AuditLog.objects.filter(action="tariffs.tariff.create").count() == 1
    with pytest.raises(cafe.TariffError, match="overlap"):
        make_tariff(office, name="Bad", bands=BANDS + [
            {"days": [0], "start": 23 * 60, "end": 24 * 60, "rate": "day"}])
    with pytest.raises(cafe.TariffError, match="exists already"):
        make_tariff(office)
    with pytest.raises(cafe.TariffError, match="name"):
        make_tariff(office, name="  ")
    with pytest.raises(cafe.TariffError, match="malformed"):
        make_tariff(office, name="Broken", rates=[{"nom": "x"}])
    bad = CafeTariff(name="x", fallback="nope", rates=RATES)
    with pytest.raises(ValidationError):
        bad.clean()
    assert CafeTariff.objects.count() == 1


def test_update_tariff_and_default_moves(office):
    a = make_tariff(office)
    b = make_tariff(office, name="Gaming", is_default=True)
    a.refresh_from_db()
    assert b.is_default and not a.is_default
    tariffs.update_tariff(office, a, minimum=150)
    a.refresh_from_db()
    assert a.minimum == 150
    log = AuditLog.objects.filter(action="tariffs.tariff.update").latest("pk")
    assert log.before == {"minimum": 0} and log.after == {"minimum": 150}
    with pytest.raises(cafe.TariffError):
        tariffs.update_tariff(office, a, increment=0)
    a.refresh_from_db()
    assert a.increment == 60  # nothing lost
    with pytest.raises(cafe.TariffError, match="another tariff the default"):
        tariffs.update_tariff(office, b, is_default=False)


def test_spec_for_a_station_group(office):
    std = make_tariff(office)
    gaming = make_tariff(office, name="Gaming", rates=[
        {"name": "day", "steps": [{"start": 0, "prices": {"guest": 900}}]}], bands=[])
    group = tariffs.create_station_group(office, "Gaming PCs", gaming)
    office_pcs = tariffs.create_station_group(office, "Office PCs")
    start = dt.datetime(2026, 12, 2, 10, tzinfo=dt.UTC)
    assert cafe.total(tariffs.spec_for(group), start, H) == 900
    assert cafe.total(tariffs.spec_for(office_pcs), start, H) == 600  # default tariff
    assert cafe.total(tariffs.spec_for(None), start, H) == 600
    spec = tariffs.spec_for(None)
    assert spec.currency == ledger.currency() and spec.name == std.name
    with pytest.raises(cafe.TariffError, match="Station groups use"):
        tariffs.delete_tariff(office, gaming)
    tariffs.update_station_group(office, group, tariff=None)
    assert cafe.total(tariffs.spec_for(group), start, H) == 600
    tariffs.delete_tariff(office, gaming)
    with pytest.raises(cafe.TariffError, match="exists already"):
        tariffs.create_station_group(office, "Office PCs")


def test_no_tariff_yet_is_a_clear_error(db):
    with pytest.raises(cafe.TariffError, match="No café tariff"):
        tariffs.spec_for(None)


def test_price_group_of_customers(make_customer):
    assert tariffs.price_group_of(None) == "guest"
    assert tariffs.price_group_of(make_customer(price_group="member")) == "member"
    assert tariffs.price_group_of(make_customer(price_group="custom",
                                                custom_group="Students")) == "students"


def _ledger_sums_to_zero():
    assert (Entry.objects.aggregate(s=Sum("amount"))["s"] or 0) == 0


def test_buy_package_debits_credit_for_cafe_revenue(office, desk, make_customer):
    alice = make_customer("alice")
    accounts.deposit(desk, alice, 2000)
    three = tariffs.create_package(office, name="3 hours", seconds=3 * H, price=1500,
                                   valid_days=7)
    now = clock.now()
    holding = tariffs.buy_package(desk, alice, three, at=now)
    assert accounts.balance(alice) == 500
    assert ledger.balance(ledger.account(ledger.REVENUE_CAFE)) == 1500
    _ledger_sums_to_zero()
    assert holding.seconds_left == 3 * H
    assert holding.expires_at == now + dt.timedelta(days=7)
    log = AuditLog.objects.get(action="tariffs.package.buy")
    assert log.after["price"] == 1500 and log.before == {"balance": 2000}
    # not enough credit: refused, nothing posted
    with pytest.raises(cafe.TariffError, match="does not cover"):
        tariffs.buy_package(desk, alice, three)
    assert accounts.balance(alice) == 500
    assert PackageHolding.objects.count() == 1
    _ledger_sums_to_zero()


def test_consume_package_seconds_soonest_expiry_first(office, desk, make_customer):
    bob = make_customer("bob")
    accounts.deposit(desk, bob, 5000)
    week = tariffs.create_package(office, name="Week", seconds=H, price=500, valid_days=7)
    day = tariffs.create_package(office, name="Day", seconds=H, price=400, valid_days=1)
    now = clock.now()
    h_week = tariffs.buy_package(desk, bob, week, at=now)
    h_day = tariffs.buy_package(desk, bob, day, at=now)
    assert tariffs.package_seconds_left(bob, at=now) == 2 * H
    used = tariffs.consume_package_seconds(bob, 90 * 60, at=now)
    assert used.seconds == 90 * 60
    assert used.parts == ((h_day.pk, H), (h_week.pk, 30 * 60))
    assert tariffs.package_seconds_left(bob, at=now) == 30 * 60
    # more than is left: takes what there is
    assert tariffs.consume_package_seconds(bob, 2 * H, at=now).seconds == 30 * 60
    assert tariffs.consume_package_seconds(bob, 60, at=now) == tariffs.Consumed(0)
    assert AuditLog.objects.filter(action="tariffs.package.consume").count() == 2


def test_expired_and_other_groups_packages_are_not_used(office, desk, make_customer):
    carol = make_customer("carol")
    accounts.deposit(desk, carol, 5000)
    gaming = tariffs.create_station_group(office, "Gaming")
    office_pcs = tariffs.create_station_group(office, "Office")
    pkg = tariffs.create_package(office, name="Gaming 1h", seconds=H, price=300, valid_days=1,
                                 station_groups=[gaming])
    now = clock.now()
    tariffs.buy_package(desk, carol, pkg, at=now)
    assert tariffs.package_seconds_left(carol, station_group=office_pcs, at=now) == 0
    assert tariffs.package_seconds_left(carol, station_group=None, at=now) == 0
    assert tariffs.package_seconds_left(carol, station_group=gaming, at=now) == H
    later = now + dt.timedelta(days=1, seconds=1)
    assert tariffs.consume_package_seconds(carol, 60, station_group=gaming,
                                           at=later).seconds == 0


def test_package_rules(office, desk, make_customer):
    with pytest.raises(cafe.TariffError, match="1 minute"):
        tariffs.create_package(office, name="x", seconds=0, price=1)
    pkg = tariffs.create_package(office, name="Free hour", seconds=H, price=0, valid_days=0)
    dan = make_customer("dan")
    holding = tariffs.buy_package(desk, dan, pkg)
    assert holding.expires_at is None and holding.transaction is None
    tariffs.update_package(office, pkg, active=False)
    with pytest.raises(cafe.TariffError, match="not on sale"):
        tariffs.buy_package(desk, dan, pkg)


# --- the typed form -----------------------------------------------------------------------
def test_price_lists_and_bands_typed_by_people():
    rates = text.parse_rates("day guest=6,00 member=5,00\nday from 30 guest=4\n"
                             "night guest=3,00  # cheaper\n", "EUR", locale="fr")
    assert [(r.name, [(s.start, s.prices) for s in r.steps]) for r in rates] == [
        ("day", [(0, {"guest": 600, "member": 500}), (1800, {"guest": 400})]),
        ("night", [(0, {"guest": 300})])]
    assert text.parse_rates(text.format_rates(rates, "EUR"), "EUR") == rates
    assert text.format_rates(rates, "EUR", "fr").splitlines()[0] == "day guest=6,00 member=5,00"
    assert text.parse_rates(text.format_rates(rates, "EUR", "fr"), "EUR", locale="fr") == rates
    bands = text.parse_bands("mon-fri 08:00-18:00 day\nsat+sun night\nfri 22:00-02:00 night")
    assert bands[0].days == frozenset(range(5)) and (bands[0].start, bands[0].end) == (480, 1080)
    assert bands[1].days == frozenset({5, 6}) and (bands[1].start, bands[1].end) == (0, 1440)
    assert text.parse_bands(text.format_bands(bands)) == bands


@pytest.mark.parametrize("typed, message", [
    ("day member=5", "Line 1: give a guest price"),
    ("day guest=abc", "Line 1:"),
    ("day guest=6\nday guest=7", "Line 2: price list day already has a step from 0"),
    ("day from x guest=1", "followed by minutes"),
    ("day from 30 guest=1", "needs a line without"),
    ("day guest=1.234", "Line 1:"),
])
def test_typed_price_lists_errors_name_the_line(typed, message):
    with pytest.raises(cafe.TariffError, match=message):
        text.parse_rates(typed, "EUR")


@pytest.mark.parametrize("typed, message", [
    ("funday day", "not a day"),
    ("mon 25:00-26:00 day", "not a time"),
    ("mon 08:00-08:00 day", "empty"),
    ("mon", "write DAYS"),
])
def test_typed_bands_errors(typed, message):
    with pytest.raises(cafe.TariffError, match=message):
        text.parse_bands(typed)


def test_changes_by_the_system_are_audited_too(db):
    t = make_tariff(audit.SYSTEM)
    assert AuditLog.objects.filter(object_id=str(t.pk)).exists()
