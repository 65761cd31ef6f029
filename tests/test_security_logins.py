"""Logins a stranger cannot lock out, PINs that stop before they fall, staff sessions on
shared counter PCs, Unicode usernames (docs/security.md)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.urls import reverse

from ficha.accounts import logins
from ficha.accounts import services as accounts
from ficha.accounts.models import Customer
from ficha.core import alerts, audit, clock, throttle
from ficha.core.models import Alert, AuditLog
from ficha.portal.auth import CUSTOMER_KEY

from .conftest import actor_for

T0 = dt.datetime(2026, 11, 25, 9, 0, tzinfo=dt.UTC)
PASSWORD = "correct-horse-9"  # the conftest staff password
CONSOLE_LOGIN = "/console/login/"


def staff_login(client, username, password, ip):
    return client.post(reverse("console:login"), {"username": username, "password": password},
                       REMOTE_ADDR=ip)


def portal_login(client, username, password, ip):
    return client.post("/login", {"action": "password", "username": username,
                                  "password": password}, REMOTE_ADDR=ip)


def account_wait(scope, name):
    return throttle.retry_after(scope, [logins.login_key(name)])


# --- 1. lock-outs a stranger controls ------------------------------------------------------
def test_the_owner_logs_in_from_a_known_browser_after_50_failures_elsewhere(db, owner):
    mine = Client()
    with clock.frozen(T0):
        assert staff_login(mine, "olga", PASSWORD, "192.168.1.10").status_code == 302
        mine.post(reverse("console:logout"))
    attacker = Client()
    t = T0
    for i in range(50):
        with clock.frozen(t):
            staff_login(attacker, "OLGA", f"guess-{i}", f"127.0.{i // 250}.{i % 250 + 1}")
            wait = account_wait("staff_login", "olga")
        t += dt.timedelta(seconds=max(wait, 1) if i % 3 else 1)  # some guesses refused
    with clock.frozen(t):
        staff_login(attacker, "olga", "one-more", "127.0.9.9")
        # an unknown browser is still throttled on the account, even with the password
        stranger = staff_login(Client(), "olga", PASSWORD, "127.1.0.1")
        assert stranger.status_code == 429
        assert "Too many attempts" in stranger.content.decode()
        # the owner's own browser, from a fresh address, is not
        response = staff_login(mine, "olga", PASSWORD, "127.2.0.1")
        assert response.status_code == 302
        assert mine.get(reverse("console:dashboard")).status_code == 200


def test_the_daily_cap_refuses_strangers_all_day_and_raises_an_alert(db, owner):
    mine = Client()
    with clock.frozen(T0):
        assert staff_login(mine, "olga", PASSWORD, "10.0.0.2").status_code == 302
    attacker = Client()
    t = T0
    evaluated = 0
    for i in range(200):
        with clock.frozen(t):
            ip = f"127.0.{i // 250}.{i % 250 + 1}"
            response = staff_login(attacker, "olga", f"guess-{i}", ip)
            if response.status_code != 429:
                evaluated += 1
            wait = account_wait("staff_login", "olga")
        t += dt.timedelta(seconds=max(1, min(wait, 300)))  # one guess every ≤ 300 s
    assert evaluated == throttle.login_daily_cap()  # not 200
    alert = alerts.open_alerts().get(kind=alerts.ACCOUNT)
    assert "olga" in alert.message and alert.count > 1
    with clock.frozen(t):
        assert staff_login(Client(), "olga", PASSWORD, "127.9.9.9").status_code == 429
        assert staff_login(mine, "olga", PASSWORD, "127.9.9.9").status_code == 302
        page = mine.get(reverse("console:alerts")).content.decode()
    assert "Account under attack" in page and "Staff member olga" in page


def test_a_customer_logs_in_from_a_known_browser_after_50_failures_elsewhere(
        db, make_customer):
    make_customer("ada", password="ada-secret")
    phone = Client()
    with clock.frozen(T0):
        assert portal_login(phone, "ada", "ada-secret", "10.1.1.1").status_code == 302
        phone.post("/logout")
    attacker = Client()
    t = T0
    for i in range(50):
        with clock.frozen(t):
            portal_login(attacker, "Ada", f"guess-{i}", f"127.0.0.{i + 1}")
        t += dt.timedelta(seconds=1)
    with clock.frozen(t):
        html = portal_login(Client(), "ada", "ada-secret", "127.3.0.1").content.decode()
        assert "Too many attempts" in html
        response = portal_login(phone, "ada", "ada-secret", "127.4.0.1")
        assert response.status_code == 302
        assert phone.session[CUSTOMER_KEY]


def test_a_forged_or_foreign_device_cookie_is_a_stranger(db, make_customer):
    make_customer("ada", password="ada-secret")
    make_customer("bob", password="bob-secret")
    bobs_phone = Client()
    with clock.frozen(T0):
        assert portal_login(bobs_phone, "bob", "bob-secret", "10.1.1.2").status_code == 302
        for i in range(6):
            portal_login(Client(), "ada", f"guess-{i}", f"127.0.0.{i + 1}")
        # bob's browser knows bob, not ada: it is throttled like any stranger
        assert "Too many attempts" in portal_login(
            bobs_phone, "ada", "ada-secret", "10.1.1.2").content.decode()
        bobs_phone.cookies["ficha_device"] = "c:1:forged"
        assert "Too many attempts" in portal_login(
            bobs_phone, "ada", "ada-secret", "10.1.1.2").content.decode()


def test_a_pin_stops_after_the_cap_until_staff_unlock_it(db, make_customer, owner):
    ada = make_customer("ada", password="ada-long-secret", pin="4821")
    phone = Client()
    with clock.frozen(T0):
        assert portal_login(phone, "ada", "4821", "10.1.1.1").status_code == 302
        phone.post("/logout")
    t = T0
    for i in range(logins.pin_cap()):  # wrong PINs from rotating addresses, patiently
        with clock.frozen(t):
            html = portal_login(Client(), "ada", f"{1000 + i}", f"127.0.0.{i + 1}"
                                ).content.decode()
            assert "Wrong username or password" in html
            wait = account_wait("portal_login", "ada")
        t += dt.timedelta(seconds=max(wait, 1))
    ada.refresh_from_db()
    assert ada.pin_locked
    alert = alerts.open_alerts().get(kind=alerts.ACCOUNT, dedupe_key=f"pin:{ada.pk}")
    assert "ada" in alert.message
    with clock.frozen(t):
        # the right PIN from a new browser no longer works ...
        html = portal_login(Client(), "ada", "4821", "127.5.0.1").content.decode()
        assert "PINs stop working on new devices" in html
    t += dt.timedelta(seconds=301)
    with clock.frozen(t):
        # ... the password does (its own budget), and so does the PIN where ada logged in
        assert portal_login(Client(), "ada", "ada-long-secret", "127.6.0.1").status_code == 302
        assert portal_login(phone, "ada", "4821", "127.7.0.1").status_code == 302

        staff = Client()
        staff.force_login(owner)
        page = staff.get(reverse("console:customer", args=[ada.pk])).content.decode()
        assert "The PIN is locked" in page
        staff.post(reverse("console:customer_unlock", args=[ada.pk]))
        ada.refresh_from_db()
        assert not ada.pin_locked
        assert AuditLog.objects.filter(action="customer.pin_unlock").exists()
        assert portal_login(Client(), "ada", "4821", "127.8.0.1").status_code == 302


def test_password_shaped_guesses_do_not_spend_the_pin_budget(db, make_customer):
    ada = make_customer("ada", password="ada-long-secret", pin="4821")
    t = T0
    for i in range(20):
        with clock.frozen(t):
            portal_login(Client(), "ada", f"not-a-pin-{i}", f"127.0.0.{i + 1}")
            wait = account_wait("portal_login", "ada")
        t += dt.timedelta(seconds=max(wait, 1))
    ada.refresh_from_db()
    assert not ada.pin_locked


def test_a_disabled_account_still_says_so_only_to_who_knows_the_password(db, make_customer,
                                                                         owner):
    ada = make_customer("ada", password="ada-secret")
    accounts.set_customer_status(actor_for(owner), ada, False)
    with clock.frozen(T0):
        html = portal_login(Client(), "ada", "ada-secret", "10.0.0.1").content.decode()
        assert "This account is disabled" in html
        html = portal_login(Client(), "ada", "nope", "10.0.0.1").content.decode()
        assert "Wrong username or password." in html


def test_console_lockout_shows_one_message(db, cashier):
    client = Client()
    with clock.frozen(T0):
        for i in range(6):
            response = staff_login(client, "cass", f"wrong-{i}", "10.0.0.9")
        page = response.content.decode()
        assert "Too many attempts" in page
        assert "Wrong username or password" not in page


# --- staff sessions ----------------------------------------------------------------------
def test_a_staff_session_ends_after_the_idle_timeout(db, cashier):
    client = Client()
    with clock.frozen(T0):
        assert staff_login(client, "cass", PASSWORD, "10.0.0.5").status_code == 302
    with clock.frozen(T0 + dt.timedelta(minutes=29)):
        assert client.get(reverse("console:dashboard")).status_code == 200
    with clock.frozen(T0 + dt.timedelta(minutes=58)):  # 29 min after the last click
        assert client.get(reverse("console:dashboard")).status_code == 200
    with clock.frozen(T0 + dt.timedelta(minutes=58 + 31)):
        response = client.get(reverse("console:dashboard"))
        assert response.status_code == 302 and response["Location"].startswith(CONSOLE_LOGIN)
        page = client.get(response["Location"]).content.decode()
        assert "logged out after a while without activity" in page


def test_the_idle_timeout_is_a_setting_and_sessions_have_a_lifetime(db, owner, cashier):
    admin = Client()
    admin.force_login(owner)
    page = admin.get(reverse("console:settings")).content.decode()
    assert 'name="staff_idle_minutes"' in page and 'name="staff_session_hours"' in page
    data = {"venue_name": "Cyber", "currency": "XOF", "time_zone": "Africa/Dakar",
            "language": "en", "code_length": 12, "code_check_digit": "on",
            "staff_idle_minutes": 5, "staff_session_hours": 2}
    from ficha.core.services import venue_settings
    venue = venue_settings()
    data.update(venue_name=venue.venue_name, currency=venue.currency,
                time_zone=venue.time_zone, language=venue.language,
                code_length=venue.code_length)
    assert admin.post(reverse("console:settings"), data).status_code == 302
    assert venue_settings().staff_idle_minutes == 5

    client = Client()
    with clock.frozen(T0):
        assert staff_login(client, "cass", PASSWORD, "10.0.0.5").status_code == 302
    with clock.frozen(T0 + dt.timedelta(minutes=6)):
        assert client.get(reverse("console:dashboard")).status_code == 302  # idle 6 > 5
    with clock.frozen(T0):
        assert staff_login(client, "cass", PASSWORD, "10.0.0.5").status_code == 302
    for minutes in range(4, 121, 4):  # busy all along, but 2 hours is the lifetime
        with clock.frozen(T0 + dt.timedelta(minutes=minutes)):
            assert client.get(reverse("console:dashboard")).status_code == 200
    with clock.frozen(T0 + dt.timedelta(minutes=124)):
        assert client.get(reverse("console:dashboard")).status_code == 302


def test_a_busy_staff_member_is_not_logged_out_by_a_short_idle_timeout(db, cashier):
    """With the shortest idle timeout (1 minute), a click every 25 seconds keeps the
    session: the last-seen stamp follows the clicks closely enough."""
    from ficha.core.services import clear_cache, venue_settings

    venue = venue_settings()
    venue.staff_idle_minutes = 1
    venue.save()
    clear_cache()
    client = Client()
    with clock.frozen(T0):
        assert staff_login(client, "cass", PASSWORD, "10.0.0.5").status_code == 302
    for seconds in range(25, 301, 25):
        with clock.frozen(T0 + dt.timedelta(seconds=seconds)):
            assert client.get(reverse("console:dashboard")).status_code == 200, seconds
    with clock.frozen(T0 + dt.timedelta(seconds=300 + 61)):
        assert client.get(reverse("console:dashboard")).status_code == 302


def test_a_password_change_logs_the_staff_member_out_everywhere(db, owner, cashier):
    counter_pc = Client()
    assert staff_login(counter_pc, "cass", PASSWORD, "10.0.0.5").status_code == 302
    accounts.set_staff_password(actor_for(owner), cashier, "another-horse-42")
    assert counter_pc.get(reverse("console:dashboard")).status_code == 302


def test_own_password_change_keeps_this_session_and_ends_the_others(db, cashier):
    here, there = Client(), Client()
    assert staff_login(here, "cass", PASSWORD, "10.0.0.5").status_code == 302
    assert staff_login(there, "cass", PASSWORD, "10.0.0.6").status_code == 302
    response = here.post(reverse("console:password"), {
        "current": PASSWORD, "password": "new-horse-77", "password2": "new-horse-77"})
    assert response.status_code == 302
    assert here.get(reverse("console:dashboard")).status_code == 200
    assert there.get(reverse("console:dashboard")).status_code == 302


def test_log_out_everywhere(db, cashier):
    here, there = Client(), Client()
    assert staff_login(here, "cass", PASSWORD, "10.0.0.5").status_code == 302
    assert staff_login(there, "cass", PASSWORD, "10.0.0.6").status_code == 302
    assert "Log out everywhere" in here.get(reverse("console:password")).content.decode()
    response = here.post(reverse("console:logout_everywhere"))
    assert response.status_code == 302
    assert here.get(reverse("console:dashboard")).status_code == 302
    assert there.get(reverse("console:dashboard")).status_code == 302
    assert AuditLog.objects.filter(action="staff.logout_everywhere").count() == 1


# --- Unicode usernames -------------------------------------------------------------------
def test_usernames_fold_unicode_case_on_every_database(db, make_customer):
    first = make_customer("É-Ω", password="secret-1")
    with pytest.raises(accounts.AccountError):
        make_customer("é-ω")
    with pytest.raises(accounts.AccountError):
        make_customer("ｅ́-Ω")  # full-width e + combining accent: the same name after NFKC
    assert accounts.find_customer("é-ω") == first
    assert Customer.objects.count() == 1
    with clock.frozen(T0):
        assert portal_login(Client(), "é-ω", "secret-1", "10.0.0.1").status_code == 302


def test_a_decomposed_accent_is_the_same_letter(db, make_customer, owner):
    """"e" + combining acute (as some keyboards send "é") is accepted, stored composed,
    and is the same name as "É"."""
    decomposed = "e\u0301loi"
    first = make_customer(decomposed, password="secret-1")
    assert first.username == "\u00e9loi"
    with pytest.raises(accounts.AccountError, match="taken"):
        make_customer("\u00c9LOI")
    user = accounts.create_staff(audit.SYSTEM, "Ren\u0065\u0301", PASSWORD, "cashier")
    assert user.username == "Ren\u00e9"


def test_staff_usernames_fold_unicode_case(db, owner):
    accounts.create_staff(audit.SYSTEM, "Ñandú", PASSWORD, "cashier")
    with pytest.raises(accounts.AccountError):
        accounts.create_staff(audit.SYSTEM, "ñANDÚ", PASSWORD, "cashier")
    with clock.frozen(T0):
        assert staff_login(Client(), "ñandú", PASSWORD, "10.0.0.1").status_code == 302


def test_no_stray_alerts_for_a_few_typos(db, make_customer):
    make_customer("ada", password="ada-secret")
    with clock.frozen(T0):
        for i in range(3):
            portal_login(Client(), "ada", f"typo-{i}", "10.0.0.1")
    assert not Alert.objects.exists()


def test_the_api_unlocks_a_locked_pin(db, make_customer, api_client, manager, seller):
    ada = make_customer("ada", password="ada-long-secret", pin="4821")
    Customer.objects.filter(pk=ada.pk).update(pin_locked_at=T0)
    url = f"/api/v1/customers/{ada.pk}"
    assert api_client(user=manager).get(url).json()["pin_locked"] is True
    assert api_client(user=seller).post(f"{url}/unlock", key="u0").status_code == 403
    response = api_client(user=manager).post(f"{url}/unlock", key="u1")
    assert response.status_code == 200 and response.json()["pin_locked"] is False
    assert AuditLog.objects.filter(action="customer.pin_unlock").exists()


def test_the_migration_renames_names_that_clash_beyond_ascii(db, make_customer):
    import importlib

    from django.apps import apps

    migration = importlib.import_module(
        "ficha.accounts.migrations.0003_unicode_usernames_devices_pin_lock")
    first, second = make_customer("É-Ω"), make_customer("other")
    # as an older install on SQLite could hold them: two names, one under Unicode folding
    Customer.objects.filter(pk=second.pk).update(username="é-ω", username_key="tmp")
    migration.fill_customer_keys(apps, None)
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.username, first.username_key) == ("É-Ω", "é-ω")
    assert second.username == f"é-ω-{second.pk}" and second.username_key == second.username


def test_refused_guesses_at_an_account_still_raise_the_alert_naming_it(db, owner):
    # 50 quick guesses from rotating addresses: the throttle evaluates only a few, yet the
    # owner hears that someone is guessing the owner's password (issue 7 §1)
    attacker = Client()
    with clock.frozen(T0):
        for i in range(50):
            staff_login(attacker, "olga", f"guess-{i}", f"127.0.{i // 250}.{i % 250 + 1}")
    evaluated = throttle.failures("staff_login", logins.login_key("olga"))
    assert evaluated < logins.ALERT_AT  # most were refused unevaluated
    alert = Alert.objects.get(kind=alerts.ACCOUNT)
    assert "olga" in alert.message and "refused" in alert.message
    assert alert.count == 1  # one open alert, not a write per refused guess
