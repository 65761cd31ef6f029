"""A plan's price group: spelled as customers have it, so the plan reaches them."""

from __future__ import annotations

import pytest
from django.urls import reverse

from ficha.hotspot import services as hs
from ficha.hotspot.models import Plan

from .hotspot_support import OWNER, make_plan


def test_a_group_typed_in_another_case_reaches_its_customers(db, make_customer):
    vip = make_customer("vip1", price_group="custom", custom_group="VIP lounge")
    member = make_customer("m1", price_group="member")
    guest = make_customer("g1")
    make_plan(name="Default", price_per_hour=600)
    lounge = make_plan(name="Lounge", price_per_hour=0, price_group="  vip   LOUNGE ",
                       is_default=False)
    members = make_plan(name="Members", price_per_hour=300, price_group="Member",
                        is_default=False)
    assert (lounge.price_group, members.price_group) == ("VIP lounge", "member")
    assert hs.plan_for(vip) == lounge and hs.plan_for(member) == members
    assert hs.plan_for(guest).name == "Default"


def test_a_plan_made_before_its_customers_reaches_them_whatever_the_case(db, make_customer):
    make_plan(name="Default", price_per_hour=600)
    students = make_plan(name="Students", price_per_hour=300, price_group="students",
                         is_default=False)
    ama = make_customer("ama", price_group="custom", custom_group="Students")
    assert hs.plan_for(ama) == students
    assert hs.plan_for(ama, cached=True) == students  # the RADIUS door's plan cache too


def test_one_plan_per_price_group(db, make_customer):
    make_plan(name="Students", price_group="students", is_default=False)
    with pytest.raises(hs.HotspotError, match="“Students” is already for the price group"):
        make_plan(name="Students 2", price_group="STUDENTS", is_default=False)
    other = make_plan(name="Staff", price_group="staff", is_default=False)
    with pytest.raises(hs.HotspotError, match="already for the price group"):
        hs.update_plan(OWNER, other, price_group="Students")
    hs.update_plan(OWNER, other, price_group="Staff")  # its own group, spelled anew
    assert not Plan.objects.filter(name="Students 2").exists()


def test_custom_is_not_a_group_name(db):
    with pytest.raises(hs.HotspotError, match="custom group's name"):
        make_plan(name="Oops", price_group="Custom")
    with pytest.raises(hs.HotspotError, match="at most 60"):
        make_plan(name="Long", price_group="x" * 61)
    assert not Plan.objects.filter(name__in=["Oops", "Long"]).exists()


def test_known_groups_are_the_built_in_ones_then_the_customers_custom_ones(db, make_customer):
    make_customer("a", price_group="custom", custom_group="Students")
    make_customer("b", price_group="custom", custom_group="Staff")
    make_customer("c", price_group="custom", custom_group="Students")
    make_customer("d", price_group="member", custom_group="Ignored")  # not custom
    assert hs.known_price_groups() == ["member", "guest", "Staff", "Students"]


@pytest.fixture
def as_manager(client, manager):
    client.force_login(manager)
    return client


def test_the_console_suggests_groups_and_warns_about_one_nobody_is_in(as_manager,
                                                                     make_customer):
    make_customer("s1", price_group="custom", custom_group="Students")
    url = reverse("console:hotspot")
    page = as_manager.get(url).content.decode()
    assert 'list="id_plan-price_group-suggestions"' in page
    assert '<option value="Students">' in page and '<option value="member">' in page
    fields = {"add": "plan", "plan-increment_seconds": "60", "plan-interim_interval": "300",
              "plan-devices": "1", "plan-price_per_hour": "100"}
    r = as_manager.post(url, {**fields, "plan-name": "Study", "plan-price_group": "students"},
                        follow=True)
    assert Plan.objects.get(name="Study").price_group == "Students"
    assert "No customer is in the price group" not in r.content.decode()
    r = as_manager.post(url, {**fields, "plan-name": "Typo", "plan-price_group": "Studnets"},
                        follow=True)
    text = r.content.decode()
    assert "No customer is in the price group “Studnets” yet" in text
    r = as_manager.post(url, {**fields, "plan-name": "Bad", "plan-price_group": "custom"})
    assert r.status_code == 400 and "custom group&#x27;s name" in r.content.decode()
    plan = Plan.objects.get(name="Typo")
    edit = reverse("console:hotspot_plan", args=[plan.pk])
    assert '<option value="Students">' in as_manager.get(edit).content.decode()


def test_the_api_spells_the_group_as_customers_have_it(as_manager, make_customer):
    api = as_manager
    make_customer("s1", price_group="custom", custom_group="Students")
    r = api.post("/api/v1/hotspot/plans", {"name": "Study", "price_group": "STUDENTS"},
                 content_type="application/json")
    assert r.status_code == 201, r.content
    assert r.json()["price_group"] == "Students"
    r = api.post("/api/v1/hotspot/plans", {"name": "Bad", "price_group": "custom"},
                 content_type="application/json")
    assert r.status_code == 400 and "custom group" in r.json()["detail"]
