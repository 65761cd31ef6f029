"""Console: café tariffs (owner and manager edit; cashiers see, quote and sell packages)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from ficha.accounts import services as accounts
from ficha.core.models import AuditLog
from ficha.core.services import update_settings
from ficha.tariffs import services as tariffs
from ficha.tariffs.models import CafeTariff, Package, PackageHolding, StationGroup

from .conftest import actor_for


@pytest.fixture
def as_manager(client, manager):
    client.force_login(manager)
    return client


TARIFF_POST = {
    "name": "Standard", "first_minutes": "30", "every_minutes": "10", "start_fee": "",
    "minimum": "1.00",
    "rates": "day guest=6.00 member=5.00\nday from 60 guest=4.00\nnight guest=3.00",
    "bands": "mon-sun 22:00-06:00 night", "fallback": "day",
}


def _eur(owner):
    from ficha.core import audit

    update_settings(audit.Actor(user=owner, source="test"), currency_locked=False,
                    currency="EUR",
                    time_zone="Africa/Abidjan")


def test_cashiers_see_but_do_not_edit(client, cashier, seller):
    client.force_login(cashier)
    assert client.get(reverse("console:tariffs")).status_code == 200
    assert client.get(reverse("console:tariff_new")).status_code == 403
    r = client.post(reverse("console:tariff_new"), TARIFF_POST)
    assert r.status_code == 403 and not CafeTariff.objects.exists()
    r = client.post(reverse("console:station_group_new"), {"group-name": "x"})
    assert r.status_code == 403 and not StationGroup.objects.exists()
    client.force_login(seller)
    assert client.get(reverse("console:tariffs")).status_code == 403
    assert client.get(reverse("console:tariff_quote")).status_code == 403


def test_manager_creates_a_tariff_sees_the_week_grid_and_edits_it(as_manager, owner):
    _eur(owner)
    r = as_manager.post(reverse("console:tariff_new"), TARIFF_POST)
    assert r.status_code == 302
    t = CafeTariff.objects.get()
    assert (t.first_block, t.increment, t.minimum, t.is_default) == (1800, 600, 100, True)
    assert t.rates[0]["steps"][1] == {"start": 3600, "prices": {"guest": 400}}
    assert AuditLog.objects.filter(action="tariffs.tariff.create").exists()
    page = as_manager.get(reverse("console:tariff", args=[t.pk])).content.decode()
    assert "Week at a glance" in page and 'class="rate-1"' in page  # night cells
    assert "day guest=6.00 member=5.00" in page  # the typed form, shown back
    # a bad band is refused on the form, nothing changes
    bad = dict(TARIFF_POST, bands="mon-sun 22:00-06:00 night\nmon 23:00-23:30 day")
    r = as_manager.post(reverse("console:tariff", args=[t.pk]), bad)
    assert r.status_code == 400 and "overlap on Monday at 23:00" in r.content.decode()
    r = as_manager.post(reverse("console:tariff_new"), dict(TARIFF_POST, rates="day x=1"))
    assert r.status_code == 400 and "Line 1" in r.content.decode()
    r = as_manager.post(reverse("console:tariff", args=[t.pk]), dict(TARIFF_POST, minimum="2",
                                                                     is_default="on"))
    assert r.status_code == 302
    t.refresh_from_db()
    assert t.minimum == 200


def test_quote_shows_the_lines(client, cashier, owner):
    _eur(owner)
    t = tariffs.create_tariff(actor_for(owner), name="Standard", fallback="day", rates=[
        {"name": "day", "steps": [{"start": 0, "prices": {"guest": 600}}]},
        {"name": "night", "steps": [{"start": 0, "prices": {"guest": 300}}]}],
        bands=[{"days": list(range(7)), "start": 1320, "end": 360, "rate": "night"}],
        first_block=1800, increment=600)
    client.force_login(cashier)
    assert client.get(reverse("console:tariff_quote")).status_code == 200
    r = client.get(reverse("console:tariff_quote"), {
        "tariff": t.pk, "start": "2026-12-02T21:30", "minutes": "47", "price_group": "guest"})
    page = r.content.decode()
    assert r.status_code == 200
    # 21:30–22:00 day 3.00, 22:00–22:20 night 1.00 (47 min billed as 50)
    assert "billed 50 min" in page
    assert "Wednesday 21:30:00–22:00:00, day: 30 min × €6.00 an hour = €3.00" in page
    assert "Wednesday 22:00:00–22:20:00, night: 20 min × €3.00 an hour = €1.00" in page
    assert "€4.00" in page or "4.00" in page.split('id="charge-total"')[1][:40]
    r = client.get(reverse("console:tariff_quote"), {
        "tariff": t.pk, "start": "2026-12-02T21:00", "minutes": "10", "price_group": "guest",
        "credit": "9.00"})
    assert "the credit lasts 2 h." in r.content.decode()  # 6.00 day hour + 1 h night
    bad = client.get(reverse("console:tariff_quote"), {"tariff": t.pk, "start": "yesterday",
                                                        "minutes": "5", "price_group": "guest"})
    assert bad.status_code == 400


def test_groups_and_packages_from_the_console(as_manager, client, cashier, owner, open_shift):
    _eur(owner)
    t = tariffs.create_tariff(actor_for(owner), name="Gaming", fallback="std", rates=[
        {"name": "std", "steps": [{"start": 0, "prices": {"guest": 900}}]}])
    r = as_manager.post(reverse("console:station_group_new"),
                        {"group-name": "Gaming PCs", "group-tariff": t.pk})
    assert r.status_code == 302
    group = StationGroup.objects.get()
    assert group.tariff == t
    r = as_manager.post(reverse("console:package_new"), {
        "package-name": "3 hours", "package-hours": "3", "package-minutes": "0",
        "package-price": "12.50", "package-valid_days": "7", "package-active": "on",
        "package-station_groups": [group.pk]})
    assert r.status_code == 302
    pkg = Package.objects.get()
    assert (pkg.seconds, pkg.price, list(pkg.station_groups.all())) == (3 * 3600, 1250, [group])
    # the cashier sells it from a customer's credit
    alice = accounts.create_customer(actor_for(cashier), "alice", password="pw-alice-1")
    accounts.deposit(actor_for(cashier), alice, 2000)
    client.force_login(cashier)
    r = client.post(reverse("console:package_sell"),
                    {"sell-customer": "nobody", "sell-package": pkg.pk})
    assert r.status_code == 400 and "No customer has this user name" in r.content.decode()
    r = client.post(reverse("console:package_sell"),
                    {"sell-customer": "alice", "sell-package": pkg.pk})
    assert r.status_code == 302
    assert accounts.balance(alice) == 750
    assert PackageHolding.objects.get().seconds_left == 3 * 3600
    r = client.post(reverse("console:package_sell"),
                    {"sell-customer": "alice", "sell-package": pkg.pk})
    assert r.status_code == 400 and "does not cover" in r.content.decode()
    assert "alice" in client.get(reverse("console:tariffs")).content.decode()


def test_editing_a_group_and_a_package_shows_saves_and_refuses_on_one_page(as_manager,
                                                                           manager):
    """Both edit pages (one view shape): the current values, a save (audited), and a
    refusal by the service shown on the form with 400."""
    me = actor_for(manager)
    vip = tariffs.create_station_group(me, "VIP", description="back room")
    tariffs.create_station_group(me, "Gaming")
    pkg = tariffs.create_package(me, name="3 hours", seconds=3 * 3600, price=1000)
    tariffs.create_package(me, name="1 hour", seconds=3600, price=400)
    page = as_manager.get(reverse("console:station_group", args=[vip.pk]))
    assert page.status_code == 200 and "back room" in page.content.decode()
    page = as_manager.get(reverse("console:package", args=[pkg.pk]))
    assert page.status_code == 200 and 'value="3 hours"' in page.content.decode()

    r = as_manager.post(reverse("console:station_group", args=[vip.pk]),
                        {"name": "Gaming", "description": ""})
    assert r.status_code == 400 and "exists already" in r.content.decode()
    r = as_manager.post(reverse("console:station_group", args=[vip.pk]),
                        {"name": "VIP room", "description": "upstairs"}, follow=True)
    assert r.redirect_chain[-1][0] == reverse("console:tariffs")
    assert "Station group VIP room saved." in r.content.decode()
    vip.refresh_from_db()
    assert (vip.name, vip.description) == ("VIP room", "upstairs")

    post = {"name": "1 hour", "hours": "4", "minutes": "0", "price": "1500",
            "valid_days": "30", "active": "on"}
    r = as_manager.post(reverse("console:package", args=[pkg.pk]), post)
    assert r.status_code == 400 and "exists already" in r.content.decode()
    r = as_manager.post(reverse("console:package", args=[pkg.pk]),
                        {**post, "name": "4 hours"}, follow=True)
    assert "Package 4 hours saved." in r.content.decode()
    pkg.refresh_from_db()
    assert (pkg.name, pkg.seconds, pkg.price) == ("4 hours", 4 * 3600, 1500)
    assert AuditLog.objects.filter(action__in=["tariffs.group.update",
                                               "tariffs.package.update"]).count() == 2
    assert as_manager.get(reverse("console:station_group_new")).status_code == 405


@pytest.mark.parametrize("start", ["9999-12-31T23:59", "0001-01-01T00:00"])
def test_a_quote_at_the_edge_of_the_calendar_is_refused_with_a_message(
    client, cashier, owner, start
):
    """Found trying the café: a quote starting 31 Dec 9999 for a month answered 500 (the
    engine's clock ran past the last date Python knows)."""
    _eur(owner)
    t = tariffs.create_tariff(actor_for(owner), name="Standard", fallback="day", rates=[
        {"name": "day", "steps": [{"start": 0, "prices": {"guest": 600}}]}])
    client.force_login(cashier)
    r = client.get(reverse("console:tariff_quote"), {
        "tariff": t.pk, "start": start, "minutes": "44640", "price_group": "guest",
        "credit": "100.00"})
    assert r.status_code == 400
    assert "Choose a date between 1970 and 9000." in r.content.decode()
