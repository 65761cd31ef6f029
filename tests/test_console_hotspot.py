"""Console: the hotspot page (gateways, plans, who is online), for managers only."""

from __future__ import annotations

import pytest
from django.urls import reverse

from ficha.hotspot import services as hs
from ficha.hotspot.models import Nas, Plan

from .hotspot_support import acct, give_credit, make_nas, make_plan


@pytest.fixture
def as_manager(client, manager):
    client.force_login(manager)
    return client


def test_cashiers_do_not_manage_the_hotspot(client, cashier):
    client.force_login(cashier)
    assert client.get(reverse("console:hotspot")).status_code == 403
    r = client.post(reverse("console:hotspot"), {"add": "nas", "nas-name": "x"})
    assert r.status_code == 403 and not Nas.objects.exists()


def test_manager_adds_a_gateway_and_sees_refusals_on_the_form(as_manager):
    url = reverse("console:hotspot")
    bad = as_manager.post(url, {"add": "nas", "nas-name": "hall", "nas-address": "10.0.0.300",
                                "nas-secret": "a-long-secret", "nas-vendor": "mikrotik",
                                "nas-coa_port": "3799"})
    assert bad.status_code == 400
    assert "is not an IP address" in bad.content.decode()
    ok = as_manager.post(url, {"add": "nas", "nas-name": "hall", "nas-address": "10.0.0.0/24",
                               "nas-secret": "a-long-secret", "nas-vendor": "mikrotik",
                               "nas-coa_port": "3799",
                               "nas-require_message_authenticator": "on",
                               "nas-active": "on"}, follow=True)
    assert ok.status_code == 200
    nas = Nas.objects.get()
    assert (nas.address, nas.vendor, nas.require_message_authenticator) == (
        "10.0.0.0/24", "mikrotik", True)
    assert "hall" in ok.content.decode()
    edit = reverse("console:hotspot_nas", args=[nas.pk])
    assert as_manager.get(edit).status_code == 200
    r = as_manager.post(edit, {"name": "hall", "address": "10.0.0.5", "secret": "another-secret",
                               "vendor": "coovachilli", "coa_port": "1700", "active": "on"})
    assert r.status_code == 302
    nas.refresh_from_db()
    assert (nas.address, nas.vendor, nas.coa_port, nas.secret,
            nas.require_message_authenticator) == ("10.0.0.5", "coovachilli", 1700,
                                                   "another-secret", False)


def test_manager_adds_and_edits_a_plan_with_money_as_typed(as_manager):
    url = reverse("console:hotspot")
    r = as_manager.post(url, {"add": "plan", "plan-name": "Wi-Fi", "plan-price_per_hour": "300",
                              "plan-minimum_charge": "50", "plan-increment_seconds": "300",
                              "plan-interim_interval": "300", "plan-devices": "1",
                              "plan-quota_mb": "500", "plan-validity_hours": "24",
                              "plan-is_default": "on"})
    assert r.status_code == 302
    plan = Plan.objects.get()
    assert (plan.price_per_hour, plan.minimum_charge, plan.quota_bytes,
            plan.validity_seconds, plan.is_default) == (300, 50, 500_000_000, 86400, True)
    bad = as_manager.post(url, {"add": "plan", "plan-name": "Wi-Fi", "plan-increment_seconds":
                                "60", "plan-interim_interval": "300", "plan-devices": "1"})
    assert bad.status_code == 400 and "exists already" in bad.content.decode()
    edit = reverse("console:hotspot_plan", args=[plan.pk])
    page = as_manager.get(edit)
    assert page.status_code == 200 and 'value="300"' in page.content.decode()
    r = as_manager.post(edit, {"name": "Wi-Fi", "price_per_hour": "600",
                               "increment_seconds": "60", "interim_interval": "120",
                               "devices": "2"})
    assert r.status_code == 302
    plan.refresh_from_db()
    assert (plan.price_per_hour, plan.devices, plan.quota_bytes, plan.is_default) == (
        600, 2, None, False)


def test_the_page_shows_who_is_online_and_dropped_packets(as_manager, make_customer):
    nas = make_nas(name="hall")
    make_plan(price_per_hour=3600)
    alice = make_customer("alice")
    give_credit(alice, 1000)
    hs.account(nas, acct("interim", t=120, o=5_000_000, mac="AA-BB-CC-DD-EE-FF"))
    hs.record_drops({nas.pk: {hs.DROP_BAD_AUTHENTICATOR: 3}}, {"10.9.9.9": 2})
    page = as_manager.get(reverse("console:hotspot")).content.decode()
    assert "alice" in page and "aa:bb:cc:dd:ee:ff" in page
    assert "2 min" in page
    assert "10.9.9.9" in page and ">3<" in page
