"""A gateway's secrets: never shown back, kept when left empty, long enough, and every
change to a gateway, a plan or a customer's plan audited with what it was before."""

from __future__ import annotations

import pytest
from django.urls import reverse

from ficha.core.models import AuditLog
from ficha.hotspot import services as hs
from ficha.hotspot.models import HotspotAccount, Nas

from .hotspot_support import OWNER, make_nas, make_plan, post_json

V1 = "/api/v1"


@pytest.fixture
def as_manager(client, manager):
    client.force_login(manager)
    return client


def test_the_edit_page_never_shows_a_secret_and_empty_keeps_it(as_manager):
    nas = make_nas(name="kiosk", vendor="coovachilli", secret="radius-secret-1",
                   uam_secret="uam-secret-long-1", fas_key="")
    edit = reverse("console:hotspot_nas", args=[nas.pk])
    page = as_manager.get(edit).content.decode()
    assert "radius-secret-1" not in page and "uam-secret-long-1" not in page
    assert 'type="password" name="secret"' in page
    assert "Set: leave empty to keep it." in page and "Not set." in page
    fields = {"name": "kiosk", "address": nas.address, "vendor": "coovachilli",
              "coa_port": "3799", "active": "on"}
    r = as_manager.post(edit, {**fields, "secret": "", "uam_secret": ""})
    assert r.status_code == 302
    nas.refresh_from_db()
    assert (nas.secret, nas.uam_secret) == ("radius-secret-1", "uam-secret-long-1")
    r = as_manager.post(edit, {**fields, "secret": "radius-secret-2", "uam_secret": ""})
    assert r.status_code == 302
    nas.refresh_from_db()
    assert (nas.secret, nas.uam_secret) == ("radius-secret-2", "uam-secret-long-1")
    # a new gateway still needs its shared secret
    r = as_manager.post(reverse("console:hotspot"), {
        "add": "nas", "nas-name": "hall", "nas-address": "10.9.0.1", "nas-vendor": "mikrotik",
        "nas-coa_port": "3799", "nas-active": "on", "nas-secret": ""})
    assert r.status_code == 400 and not Nas.objects.filter(name="hall").exists()


def test_a_changed_secret_is_audited_as_changed_never_by_value(db):
    nas = make_nas(name="hall", secret="radius-secret-1")
    hs.update_nas(OWNER, nas, secret="radius-secret-2", coa_port=1700, name="hall")
    row = AuditLog.objects.filter(action="hotspot.nas.update").get()
    assert row.before == {"coa_port": 3799}  # the unchanged name is left out
    assert row.after == {"coa_port": 1700, "secret": "(changed)"}
    assert "radius-secret" not in str(row.before) + str(row.after) + row.summary


def test_plan_changes_and_a_customers_plan_are_audited_with_the_value_before(
        db, make_customer):
    plan = make_plan(name="Wi-Fi", price_per_hour=300)
    hs.update_plan(OWNER, plan, price_per_hour=400, increment_seconds=60)
    row = AuditLog.objects.filter(action="hotspot.plan.update").get()
    assert (row.before, row.after) == ({"price_per_hour": 300}, {"price_per_hour": 400})
    vip = make_plan(name="VIP", is_default=False)
    ada = make_customer("ada")
    hs.set_customer_plan(OWNER, ada, vip)
    hs.set_customer_plan(OWNER, ada, None)
    rows = list(AuditLog.objects.filter(action="hotspot.customer_plan").order_by("pk"))
    assert [(r.before, r.after) for r in rows] == [
        ({"plan": None}, {"plan": vip.pk}), ({"plan": vip.pk}, {"plan": None})]
    assert HotspotAccount.objects.get(customer=ada).plan is None


def test_portal_keys_are_long_enough_and_secrets_may_be_as_long_as_the_service_says(
        as_manager):
    body = {"name": "nds", "address": "10.9.99.9", "secret": "abcdefghij",
            "vendor": "opennds", "fas_key": "short"}
    r = post_json(as_manager, f"{V1}/hotspot/nas", body)
    assert r.status_code == 400 and "12 characters or more" in r.json()["detail"]
    r = post_json(as_manager, f"{V1}/hotspot/nas", {**body, "fas_key": "", "uam_secret": "b"})
    assert r.status_code == 400 and not Nas.objects.exists()
    long = "s" * 128
    r = post_json(as_manager, f"{V1}/hotspot/nas",
                  {**body, "secret": long, "fas_key": "f" * 128})
    assert r.status_code == 201, r.content
    assert Nas.objects.get().secret == long
    r = post_json(as_manager, f"{V1}/hotspot/nas/{r.json()['id']}", {"secret": "s" * 129})
    assert r.status_code == 422


@pytest.mark.parametrize("bad", [True, "1", 1.0, 1.5])
def test_a_plan_id_in_a_body_is_a_json_integer(as_manager, make_customer, bad):
    make_plan(name="VIP", is_default=False)
    ada = make_customer("ada")
    r = post_json(as_manager, f"{V1}/hotspot/customers/{ada.pk}/plan", {"plan_id": bad})
    assert r.status_code == 422, r.content
    assert not HotspotAccount.objects.filter(customer=ada, plan__isnull=False).exists()


@pytest.mark.parametrize("url", [
    "/console/hotspot/history/?until=9999-12-31", "/console/hotspot/history/?since=9999-12-31",
    "/console/audit/?until=9999-12-31", "/console/recharges/?sold_to=9999-12-31",
    "/console/recharges/?used_to=9999-12-31&created_to=0001-01-01"])
def test_a_day_at_the_end_of_the_calendar_is_a_form_error_not_a_500(client, owner, url):
    client.force_login(owner)
    r = client.get(url)
    assert r.status_code in (200, 400)
    assert "Give a day between 1900 and 9998." in r.content.decode()


def test_an_opennds_gateway_address_with_its_port_is_taken_without_it(db):
    nas = make_nas(name="kiosk", vendor="opennds", portal_hosts="192.168.8.1:2050, hall.lan",
                   fas_key="a-long-fas-key")
    assert nas.portal_hosts == "192.168.8.1, hall.lan"
    hs.update_nas(OWNER, nas, portal_hosts="[fe80::1]:2050")
    assert Nas.objects.get(pk=nas.pk).portal_hosts == "fe80::1"


def test_the_console_says_how_long_portal_keys_must_be_before_saving(as_manager):
    r = as_manager.post(reverse("console:hotspot"), {
        "add": "nas", "nas-name": "kiosk", "nas-address": "10.9.0.1", "nas-vendor": "opennds",
        "nas-coa_port": "3799", "nas-active": "on", "nas-secret": "radius-secret-1",
        "nas-fas_key": "short"})
    assert r.status_code == 400 and not Nas.objects.exists()
    page = r.content.decode()
    assert "12 characters or more" in page and 'minlength="12"' in page
