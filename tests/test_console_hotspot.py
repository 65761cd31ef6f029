"""Console: the hotspot page (gateways, plans, who is online), for managers only."""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from django.urls import reverse

from ficha.core.models import AuditLog
from ficha.hotspot import services as hs
from ficha.hotspot.models import CoaJob, HotspotSession, Nas, Plan

from .hotspot_support import OWNER, acct, give_credit, make_nas, make_plan


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


def test_a_gateway_at_an_other_gateways_address_is_refused_on_the_address_field(
        as_manager):
    hall = make_nas(name="hall", address="127.0.0.1")
    url = reverse("console:hotspot")
    r = as_manager.post(url, {"add": "nas", "nas-name": "n3", "nas-address": "127.0.0.1/32",
                              "nas-secret": "sssssssssss", "nas-vendor": "generic",
                              "nas-coa_port": "3799", "nas-active": "on"})
    assert r.status_code == 400
    form = r.context["nas_form"]
    assert list(form.errors) == ["address"] and "“hall”" in form.errors["address"][0]
    page = r.content.decode()
    assert "already has the address 127.0.0.1" in page
    assert 'value="n3"' in page and 'value="127.0.0.1/32"' in page  # as typed
    assert list(Nas.objects.values_list("name", flat=True)) == ["hall"]
    n3 = make_nas(name="n3", address="127.0.0.2")
    edit = reverse("console:hotspot_nas", args=[n3.pk])
    r = as_manager.post(edit, {"name": "n3", "address": "127.0.0.1", "secret": "sssssssssss",
                               "vendor": "generic", "coa_port": "3799", "active": "on"})
    assert r.status_code == 400 and list(r.context["form"].errors) == ["address"]
    n3.refresh_from_db()
    assert n3.address == "127.0.0.2"
    r = as_manager.post(reverse("console:hotspot_nas", args=[hall.pk]),
                        {"name": "hall", "address": "127.0.0.1/32", "secret": "sssssssssss",
                         "vendor": "generic", "coa_port": "3799", "active": "on"})
    assert r.status_code == 302


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


# --- live sessions, kick, history, CoA requests ---------------------------------------------
@pytest.fixture
def alice_online(make_customer, settings):
    settings.HOTSPOT_COA_SEND_NOW = False
    nas = make_nas(name="hall", vendor="mikrotik")
    make_plan(price_per_hour=3600)
    alice = make_customer("alice")
    give_credit(alice, 1000)
    hs.account(nas, acct("interim", sid="s9", t=120, mac="AA-BB-CC-DD-EE-FF"))
    return nas, alice, HotspotSession.objects.get()


def test_a_manager_kicks_a_session_and_it_is_audited(as_manager, manager, alice_online):
    nas, alice, session = alice_online
    manager_name = manager.get_username()
    page = as_manager.get(reverse("console:hotspot")).content.decode()
    kick_url = reverse("console:hotspot_kick", args=[session.pk])
    assert kick_url in page and "Remaining" in page
    r = as_manager.post(kick_url, follow=True)
    assert r.status_code == 200 and "Disconnect requested for alice" in r.content.decode()
    job = CoaJob.objects.get()
    assert (job.kind, job.reason, job.state, job.requested_by) == (
        "disconnect", "kick", "pending", manager_name)
    assert AuditLog.objects.filter(action="hotspot.kick", actor_label=manager_name).exists()
    # kicked once: the row now says so, and a second kick changes nothing
    assert "Disconnecting" in as_manager.get(reverse("console:hotspot_live")).content.decode()
    r = as_manager.post(kick_url, follow=True)
    assert "already being disconnected" in r.content.decode()
    assert CoaJob.objects.count() == 1
    coa_page = as_manager.get(reverse("console:hotspot_coa")).content.decode()
    assert "Kicked by staff" in coa_page and "Waiting" in coa_page


def test_kick_by_htmx_answers_the_live_table(as_manager, alice_online):
    nas, alice, session = alice_online
    r = as_manager.post(reverse("console:hotspot_kick", args=[session.pk]),
                        HTTP_HX_REQUEST="true")
    assert r.status_code == 200
    body = r.content.decode()
    assert 'id="live-sessions"' in body and "Disconnecting" in body


def test_cashiers_cannot_kick_and_get_is_refused(client, cashier, manager, alice_online):
    nas, alice, session = alice_online
    url = reverse("console:hotspot_kick", args=[session.pk])
    client.force_login(cashier)
    assert client.post(url).status_code == 403
    for name in ("console:hotspot_history", "console:hotspot_coa", "console:hotspot_live"):
        assert client.get(reverse(name)).status_code == 403
    client.force_login(manager)
    assert client.get(url).status_code == 405
    assert not CoaJob.objects.exists()


def test_history_lists_ended_sessions_filtered(as_manager, alice_online, make_customer):
    nas, alice, session = alice_online
    other = make_nas(name="terrace", address="192.0.2.7")
    hs.account(nas, acct("stop", sid="s9", t=180, mac="AA-BB-CC-DD-EE-FF",
                         terminate_cause="User-Request"))
    bob = make_customer("bob")
    give_credit(bob, 1000)
    hs.account(other, acct("stop", sid="b1", t=60, user="bob"))
    url = reverse("console:hotspot_history")
    page = as_manager.get(url).content.decode()
    # why a session ended, in words (RFC 2866's name stays in the API)
    assert "logged out" in page and "User-Request" not in page and "bob" in page
    page = as_manager.get(url, {"customer": "alice"}).content.decode()
    assert "logged out" in page and f"/customers/{bob.pk}/" not in page
    page = as_manager.get(url, {"nas": other.pk}).content.decode()
    assert "logged out" not in page and "terrace" in page
    as_manager.cookies[settings.LANGUAGE_COOKIE_NAME] = "fr"
    assert "déconnecté par le client" in as_manager.get(url).content.decode()
    as_manager.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    page = as_manager.get(url, {"since": "2000-01-01", "until": "2000-01-02"}).content.decode()
    assert "No session matches" in page
    rows = as_manager.get(url, {"customer": "bob"}, HTTP_HX_REQUEST="true",
                          HTTP_HX_TARGET="session-rows").content.decode()
    assert "<html" not in rows and "terrace" in rows


def test_the_dashboard_shows_hotspot_revenue_from_the_ledger(client, owner, alice_online):
    nas, alice, session = alice_online  # 120 s at 3600/h: 120 debited
    client.force_login(owner)
    page = client.get(reverse("console:dashboard")).content.decode()
    row = page[page.index('<th scope="row">Hotspot</th>'):][:120]
    assert "120</td>" in row  # 120 minor units, from the ledger's hotspot revenue


def test_huge_plan_numbers_are_form_errors_not_a_server_error(as_manager):
    url = reverse("console:hotspot")
    base = {"add": "plan", "plan-name": "Big", "plan-increment_seconds": "60",
            "plan-interim_interval": "300", "plan-devices": "1"}
    for field in ("quota_mb", "validity_hours", "rate_up_kbps", "rate_down_kbps",
                  "idle_timeout", "interim_interval", "devices"):
        r = as_manager.post(url, {**base, f"plan-{field}": "99999999999999999999"})
        assert r.status_code == 400, field
        assert "less than or equal to" in r.content.decode(), field
    assert not Plan.objects.exists()


def test_saving_a_plan_unchanged_keeps_limits_the_form_cannot_show_exactly(as_manager):
    """The API may set 5 GiB (not whole MB) and 90 minutes (not whole hours): the form
    shows them rounded, and a save that does not touch them keeps them exact."""
    plan = make_plan(quota_bytes=5_368_709_120, validity_seconds=5400)
    edit = reverse("console:hotspot_plan", args=[plan.pk])
    page = as_manager.get(edit).content.decode()
    assert 'value="5368"' in page and 'name="validity_hours" value="1"' in page
    r = as_manager.post(edit, {"name": plan.name, "price_per_hour": "600",
                               "increment_seconds": "60", "interim_interval": "300",
                               "devices": "1", "quota_mb": "5368", "validity_hours": "1"})
    assert r.status_code == 302
    plan.refresh_from_db()
    assert (plan.price_per_hour, plan.quota_bytes, plan.validity_seconds) == (
        600, 5_368_709_120, 5400)
    r = as_manager.post(edit, {"name": plan.name, "price_per_hour": "600",
                               "increment_seconds": "60", "interim_interval": "300",
                               "devices": "1", "quota_mb": "100", "validity_hours": "2"})
    plan.refresh_from_db()
    assert (plan.quota_bytes, plan.validity_seconds) == (100_000_000, 7200)


def test_the_plans_table_tells_passes_and_limits_apart(as_manager):
    make_plan(name="Hour", increment_seconds=300)
    make_plan(name="Day", price_per_hour=0, minimum_charge=500, validity_seconds=86400,
              quota_bytes=5_000_000_000, devices=2, mac_login=True, is_default=False)
    text = as_manager.get(reverse("console:hotspot")).content.decode()
    rows = {name: row for name, row in re.findall(
        r"<tr>\s*<td>([^<]+)</td>(.*?)</tr>", text, re.S)}
    assert "billed per 5 min · 1 device" in rows["Hour"] and "pass" not in rows["Hour"]
    assert ("billed per 1 min · pass of 24 h · 5 GB of data · 2 devices · MAC login"
            in rows["Day"])


def test_the_requests_page_says_what_the_gateway_answered_in_words(as_manager, alice_online):
    from django.utils import translation

    from ficha.console.templatetags.console_hotspot import coa_answer
    from ficha.hotspot import coa_sender
    from ficha.hotspot.services import coa_jobs

    nas, alice, session = alice_online
    job = hs.kick(session.pk, OWNER)
    coa_jobs.record(coa_jobs.claim_due()[0], coa_sender.Answer("nak", 404))
    page = as_manager.get(reverse("console:hotspot_coa")).content.decode()
    assert "Refused · Error-Cause 404 Invalid-Request" in page
    assert "Session-Timeout" not in page  # a Disconnect carries none
    job.refresh_from_db()
    with translation.override("fr"):
        french = coa_answer(job)
    assert "nak" not in french and french.endswith("Error-Cause 404 Invalid-Request")
    assert french.split(" · ")[0] != "Refused"


def test_the_session_page_says_why_it_ended_and_records_to_the_second(as_manager, alice_online):
    nas, alice, session = alice_online
    hs.account(nas, acct("stop", sid="s9", t=1000, mac="AA-BB-CC-DD-EE-FF",
                         terminate_cause="Idle-Timeout"))
    page = as_manager.get(reverse("console:hotspot_session", args=[session.pk])).content.decode()
    assert 'title="Idle-Timeout">idle too long<' in page
    assert ">16 min 40 s<" in page  # the Stop's time, as the charge lines write time


def test_the_customer_page_shows_what_wifi_still_owes(as_manager, make_customer):
    nas = make_nas(name="hall")
    make_plan(price_per_hour=3600, increment_seconds=60)
    bob = make_customer("bob")
    give_credit(bob, 100)
    hs.account(nas, acct("stop", sid="b2", user="bob", t=130))  # 180 owed, 100 there
    page = as_manager.get(reverse("console:customer", args=[bob.pk])).content.decode()
    assert ('id="wifi-owed">Wi-Fi use not paid: F\u202fCFA\xa080 (more than the credit at '
            'the time; an open session takes it from the next top-up)<') in page
    # who wrote each movement, in words: the gateway's records, not "hotspot"
    assert "<td class=\"hide-sm\">Wi-Fi gateway</td>" in page


def test_time_and_data_left_are_whole_units_rounded_down_in_the_staffs_language():
    from django.utils import translation

    from ficha.console.templatetags.console_hotspot import (
        megabytes_left,
        minutes_left,
        plan_limits,
    )

    assert (minutes_left(119), megabytes_left(1_999_999)) == ("1 min", "1.9 MB")  # not 2
    assert minutes_left(5_999) == "1 h 39 min"  # as the portal says it, not "99 min"
    assert (minutes_left(3_600 + 9 * 60 + 59), minutes_left(59)) == ("1 h 9 min", "0 min")
    assert megabytes_left(5_369_000_000) == "5.3 GB"  # not "5.4", not "5,369 MB"
    assert (megabytes_left(999_999), megabytes_left(99_999)) == ("0.9 MB", "99,999 bytes")
    with translation.override("fr"):
        assert megabytes_left(487_990_000) == "487,9 Mo"  # as the portal says it
        plan = Plan(increment_seconds=300, quota_bytes=1_500_000_000, devices=1)
        assert "1,5 Go de données" in plan_limits(plan)
        assert str(HotspotSession.Status.CLOSED.label) == "Fermée"
