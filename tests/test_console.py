"""The operator console: pages, role checks, forms and the money actions behind them."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.conf import settings as django_settings
from django.urls import URLPattern, reverse

from ficha.accounts import services as accounts
from ficha.accounts.models import Customer
from ficha.core import audit, clock, roles, throttle
from ficha.core import services as core_services
from ficha.core.models import AuditLog
from ficha.core.money import Money
from ficha.ledger import services as ledger
from ficha.ledger.models import Shift, Transaction

from .conftest import actor_for

PASSWORD = "correct-horse-9"  # the conftest staff password


def money(minor: int) -> str:
    return Money(minor, core_services.currency()).format("en")


def text(response) -> str:
    return response.content.decode()


@pytest.fixture
def as_user(client):
    def login(user):
        client.force_login(user)
        return client

    return login


# --- every view checks a role ---------------------------------------------------------
def _console_patterns():
    from ficha.console import urls

    return [p for p in urls.urlpatterns if isinstance(p, URLPattern)]


def test_every_console_view_is_guarded():
    """No console view without the capability decorator (or the explicit public marker)."""
    unguarded = [p.name for p in _console_patterns() if not hasattr(p.callback, "capabilities")]
    assert not unguarded
    public = {p.name for p in _console_patterns() if getattr(p.callback, "public", False)}
    assert public == {"login"}
    login_only = {p.name for p in _console_patterns() if p.callback.capabilities == ()}
    assert login_only == {"login", "logout"}


def _url(pattern: URLPattern) -> str:
    kwargs = {name: 1 for name in pattern.pattern.converters}
    return reverse(f"console:{pattern.name}", kwargs=kwargs)


def test_anonymous_visitors_are_sent_to_the_login(client, db):
    for pattern in _console_patterns():
        if pattern.name == "login":
            continue
        url = _url(pattern)
        response = client.get(url)
        assert response.status_code in (302, 405), url
        if response.status_code == 302:
            assert response["Location"].startswith(reverse("console:login")), url


def test_htmx_request_after_logout_redirects_the_whole_page(client, db):
    response = client.get(reverse("console:customers"), HTTP_HX_REQUEST="true",
                          HTTP_HX_TARGET="results")
    assert response.status_code == 204
    assert response["HX-Redirect"] == reverse("console:login")


# (url name, needs a customer/shift/staff object, roles that may open it)
PAGES = [
    ("dashboard", None, {"owner", "manager", "cashier", "voucher_seller"}),
    ("password", None, {"owner", "manager", "cashier", "voucher_seller"}),
    ("shifts", None, {"owner", "manager", "cashier", "voucher_seller"}),
    ("customers", None, {"owner", "manager", "cashier"}),
    ("customer_new", None, {"owner", "manager", "cashier"}),
    ("customer", "customer", {"owner", "manager", "cashier"}),
    ("customer_edit", "customer", {"owner", "manager", "cashier"}),
    ("customer_credentials", "customer", {"owner", "manager", "cashier"}),
    ("audit", None, {"owner", "manager"}),
    ("staff", None, {"owner"}),
    ("staff_new", None, {"owner"}),
    ("staff_member", "staff", {"owner"}),
    ("tokens", None, {"owner"}),
    ("settings", None, {"owner"}),
]


@pytest.mark.parametrize("role", roles.ROLES)
def test_role_matrix_for_pages(role, as_user, owner, manager, cashier, seller, make_customer):
    user = {"owner": owner, "manager": manager, "cashier": cashier,
            "voucher_seller": seller}[role]
    customer = make_customer("matrix")
    client = as_user(user)
    for name, obj, allowed in PAGES:
        kwargs = {}
        if obj == "customer":
            kwargs = {"pk": customer.pk}
        elif obj == "staff":
            kwargs = {"pk": cashier.pk}
        response = client.get(reverse(f"console:{name}", kwargs=kwargs))
        expected = 200 if role in allowed else 403
        assert response.status_code == expected, (role, name, response.status_code)
        if expected == 403:
            assert "Not allowed" in text(response)


# (url name, roles allowed) for state-changing POSTs; a refused POST changes nothing.
ACTIONS = [
    ("customer_deposit", {"owner", "manager", "cashier"}),
    ("customer_refund", {"owner", "manager", "cashier"}),
    ("customer_adjust", {"owner", "manager"}),
    ("customer_status", {"owner", "manager", "cashier"}),
    ("staff_role", {"owner"}),
    ("staff_status", {"owner"}),
    ("staff_password", {"owner"}),
    ("token_revoke", {"owner"}),
    ("alert_ack", {"owner", "manager"}),
]


@pytest.mark.parametrize("role", roles.ROLES)
def test_role_matrix_for_actions(role, as_user, owner, manager, cashier, seller):
    user = {"owner": owner, "manager": manager, "cashier": cashier,
            "voucher_seller": seller}[role]
    client = as_user(user)
    before = AuditLog.objects.count()
    for name, allowed in ACTIONS:
        response = client.post(reverse(f"console:{name}", kwargs={"pk": 999_999}), {})
        # allowed roles get past the role check and find no such object
        expected = 404 if role in allowed else 403
        assert response.status_code == expected, (role, name, response.status_code)
    assert AuditLog.objects.count() == before


def test_nav_shows_only_what_the_role_may_use(as_user, cashier, owner):
    page = text(as_user(cashier).get(reverse("console:dashboard")))
    assert reverse("console:customers") in page
    assert reverse("console:audit") not in page
    assert reverse("console:settings") not in page
    assert reverse("console:staff") not in page
    page = text(as_user(owner).get(reverse("console:dashboard")))
    for name in ("customers", "shifts", "audit", "staff", "tokens", "settings"):
        assert reverse(f"console:{name}") in page


# --- login ----------------------------------------------------------------------------
def test_login_and_logout(client, cashier):
    page = client.get(reverse("console:login"))
    assert page.status_code == 200 and 'name="csrfmiddlewaretoken"' in text(page)
    response = client.post(reverse("console:login"),
                           {"username": "CASS", "password": PASSWORD})  # any case
    assert response.status_code == 302 and response["Location"] == reverse("console:dashboard")
    assert client.get(reverse("console:dashboard")).status_code == 200
    assert client.get(reverse("console:logout")).status_code == 405  # POST only
    client.post(reverse("console:logout"))
    assert client.get(reverse("console:dashboard")).status_code == 302


def test_login_goes_back_to_next_but_never_offsite(client, cashier):
    url = reverse("console:login") + "?next=" + reverse("console:shifts")
    response = client.post(url, {"username": "cass", "password": PASSWORD,
                                 "next": reverse("console:shifts")})
    assert response["Location"] == reverse("console:shifts")
    client.post(reverse("console:logout"))
    response = client.post(reverse("console:login"), {"username": "cass", "password": PASSWORD,
                                                      "next": "https://evil.example/"})
    assert response["Location"] == reverse("console:dashboard")


def test_wrong_password_and_inactive_staff_cannot_log_in(client, owner, cashier):
    response = client.post(reverse("console:login"), {"username": "cass", "password": "nope"})
    assert response.status_code == 200
    # usernames are case-insensitive: Django's "both fields may be case-sensitive" is wrong
    assert "Wrong username or password." in text(response)
    assert "case-sensitive" not in text(response)
    accounts.set_staff_active(actor_for(owner), cashier, False)
    response = client.post(reverse("console:login"), {"username": "cass", "password": PASSWORD})
    assert response.status_code == 200
    assert client.get(reverse("console:dashboard")).status_code == 302


def test_disabling_staff_ends_their_session(as_user, owner, cashier):
    client = as_user(cashier)
    assert client.get(reverse("console:dashboard")).status_code == 200
    accounts.set_staff_active(actor_for(owner), cashier, False)
    assert client.get(reverse("console:dashboard")).status_code == 302


T0 = dt.datetime(2026, 11, 25, 9, 0, tzinfo=dt.UTC)


def test_staff_login_is_throttled(client, cashier):
    url = reverse("console:login")
    free = throttle.policy("staff_login").free
    with clock.frozen(T0):
        for _ in range(free):
            response = client.post(url, {"username": "cass", "password": "wrong"})
            assert response.status_code == 200
            assert "Too many attempts" not in text(response)
        response = client.post(url, {"username": "cass", "password": "wrong"})
        assert "Too many attempts" in text(response)  # this failure locked the key
        # while locked, even the right password is not checked
        response = client.post(url, {"username": "cass", "password": PASSWORD})
        assert response.status_code == 429
        assert re.search(r"Wait \d+ seconds? and try again", text(response))
        assert client.get(reverse("console:dashboard")).status_code == 302
    with clock.frozen(T0 + dt.timedelta(hours=1)):
        response = client.post(url, {"username": "cass", "password": PASSWORD})
        assert response.status_code == 302


def test_successful_login_is_forgiven(client, cashier):
    url = reverse("console:login")
    with clock.frozen(T0):
        for _ in range(20):
            client.post(url, {"username": "cass", "password": PASSWORD})
            client.post(reverse("console:logout"))
        assert throttle.retry_after("staff_login", ["user:cass"]) == 0
        assert client.post(url, {"username": "cass", "password": PASSWORD}).status_code == 302


def test_own_password_change(as_user, cashier):
    client = as_user(cashier)
    url = reverse("console:password")
    response = client.post(url, {"current": "bad", "password": "new-horse-77",
                                 "password2": "new-horse-77"})
    assert "not your current password" in text(response)
    response = client.post(url, {"current": PASSWORD, "password": "new-horse-77",
                                 "password2": "new-horse-77"})
    assert response.status_code == 302
    assert client.get(reverse("console:dashboard")).status_code == 200  # still logged in
    cashier.refresh_from_db()
    assert cashier.check_password("new-horse-77")
    assert AuditLog.objects.filter(action="staff.password", actor=cashier,
                                   source="console").exists()


# --- customers ------------------------------------------------------------------------
def test_create_edit_and_find_customers(as_user, cashier):
    client = as_user(cashier)
    response = client.post(reverse("console:customer_new"), {
        "username": "awa", "full_name": "Awa Ndiaye", "phone": "+221 77 123 45 67",
        "price_group": "member", "card_uid": "04:a1:b2:c3", "password": "pw-awa1",
        "pin": "1234",
    })
    awa = Customer.objects.get(username="awa")
    assert response.status_code == 302
    assert response["Location"] == reverse("console:customer", args=[awa.pk])
    assert awa.check_pin("1234") and awa.card_uid == "04A1B2C3"
    entry = AuditLog.objects.get(action="customer.create")
    assert (entry.actor, entry.source, entry.ip) == (cashier, "console", "127.0.0.1")

    response = client.post(reverse("console:customer_new"), {"username": "AWA",
                                                             "price_group": "guest"})
    assert response.status_code == 200 and "is taken" in text(response)

    response = client.post(reverse("console:customer_edit", args=[awa.pk]), {
        "username": "awa", "full_name": "Awa N. Diop", "price_group": "guest",
        "phone": "771234567",
    })
    assert response.status_code == 302
    awa.refresh_from_db()
    assert awa.full_name == "Awa N. Diop" and awa.card_uid is None

    accounts.create_customer(audit.SYSTEM, "moussa", full_name="Moussa Ba",
                             card_uid="DEADBEEF")
    for query, found, not_found in [("awa", "awa", "moussa"), ("diop", "awa", "moussa"),
                                    ("12345", "awa", "moussa"), ("de:ad:be", "moussa", "awa"),
                                    ("MOUSSA", "moussa", "awa")]:
        page = text(client.get(reverse("console:customers"), {"q": query}))
        assert f">{found}</a>" in page and f">{not_found}</a>" not in page, query


def test_customer_search_htmx_returns_only_the_results(as_user, cashier, make_customer):
    make_customer("zoe")
    client = as_user(cashier)
    response = client.get(reverse("console:customers"), {"q": "zo"},
                          HTTP_HX_REQUEST="true", HTTP_HX_TARGET="results")
    page = text(response)
    assert ">zoe</a>" in page and "<html" not in page


def test_customer_list_is_paginated(as_user, cashier, make_customer):
    for i in range(30):
        make_customer(f"p{i:02d}", password=None)
    client = as_user(cashier)
    first = text(client.get(reverse("console:customers")))
    assert ">p00</a>" in first and ">p29</a>" not in first and "Page 1 of 2" in first
    second = text(client.get(reverse("console:customers"), {"page": 2}))
    assert ">p29</a>" in second and ">p00</a>" not in second


def test_disable_enable_and_credentials(as_user, cashier, make_customer):
    c = make_customer("kim")
    client = as_user(cashier)
    client.post(reverse("console:customer_status", args=[c.pk]), {"active": "0"})
    c.refresh_from_db()
    assert c.status == Customer.Status.DISABLED
    assert "Disabled" in text(client.get(reverse("console:customer", args=[c.pk])))
    client.post(reverse("console:customer_status", args=[c.pk]), {"active": "1"})
    c.refresh_from_db()
    assert c.is_active

    url = reverse("console:customer_credentials", args=[c.pk])
    assert "Enter a new password or PIN" in text(client.post(url, {}))
    assert "4 to 8 digits" in text(client.post(url, {"pin": "12"}))
    assert client.post(url, {"password": "fresh-pw", "pin": "98765"}).status_code == 302
    assert accounts.authenticate_customer("kim", "fresh-pw") == c
    assert accounts.authenticate_customer("kim", "98765") == c
    client.post(url, {"clear_pin": "on"})
    assert accounts.authenticate_customer("kim", "98765") is None


def test_deposit_refund_and_balance(as_user, cashier, make_customer):
    c = make_customer("ali")
    client = as_user(cashier)
    detail = reverse("console:customer", args=[c.pk])
    deposit = reverse("console:customer_deposit", args=[c.pk])

    # no open shift: refused with a clear message, nothing posted
    response = client.post(deposit, {"amount": "1500"})
    assert response.status_code == 200 and "Open a shift before moving cash" in text(response)
    assert not Transaction.objects.exists()

    client.post(reverse("console:shift_open"), {"opening_float": "5000"})
    for bad, message in [("abc", "is not an amount"), ("-5", "cannot be negative"),
                         ("0", "more than zero"), ("", "This field is required")]:
        response = client.post(deposit, {"amount": bad})
        assert message in text(response), bad
    assert accounts.balance(c) == 0

    response = client.post(deposit, {"amount": "1 500", "memo": "cash"})
    assert response.status_code == 302 and response["Location"] == detail
    assert accounts.balance(c) == Money.parse("1500", core_services.currency()).minor
    page = text(client.get(detail))
    assert money(accounts.balance(c)) in page and "Deposit" in page

    refund = reverse("console:customer_refund", args=[c.pk])
    response = client.post(refund, {"amount": "2000"})
    assert "more than the customer" in text(response)
    client.post(refund, {"amount": "500"})
    assert accounts.balance(c) == Money.parse("1000", core_services.currency()).minor
    tx = Transaction.objects.filter(kind="refund").get()
    assert (tx.staff, tx.source, tx.source_ip) == (cashier, "console", "127.0.0.1")
    assert tx.shift == ledger.current_shift(cashier)


def test_deposit_with_htmx_swaps_the_money_panel(as_user, cashier, make_customer):
    c = make_customer("hx")
    client = as_user(cashier)
    client.post(reverse("console:shift_open"), {"opening_float": "0"})
    response = client.post(reverse("console:customer_deposit", args=[c.pk]), {"amount": "700"},
                           HTTP_HX_REQUEST="true", HTTP_HX_TARGET="money-panel")
    page = text(response)
    assert response.status_code == 200 and "<html" not in page
    assert 'id="money-panel"' in page and money(700) in page and "deposited to hx" in page


def test_adjustment_needs_a_reason_and_a_manager(as_user, manager, cashier, make_customer):
    c = make_customer("adj")
    url = reverse("console:customer_adjust", args=[c.pk])
    assert as_user(cashier).post(url, {"amount": "100", "reason": "gift"}).status_code == 403
    client = as_user(manager)
    assert "This field is required" in text(client.post(url, {"amount": "100", "reason": ""}))
    assert "negative" in text(client.post(url, {"amount": "-100", "reason": "oops"}))
    assert client.post(url, {"amount": "250", "reason": "goodwill"}).status_code == 302
    assert accounts.balance(c) == 250
    assert "goodwill" in text(client.get(reverse("console:customer", args=[c.pk])))
    # the cashier sees no adjustment form
    assert "Adjust the balance" not in text(
        as_user(cashier).get(reverse("console:customer", args=[c.pk])))


def test_customer_history_shows_running_balance_and_pages(as_user, cashier, make_customer):
    c = make_customer("hist")
    actor = actor_for(cashier)
    ledger.open_shift(actor, 0)
    for amount in range(1, 26):
        accounts.deposit(actor, c, amount)
    client = as_user(cashier)
    page1 = text(client.get(reverse("console:customer", args=[c.pk])))
    assert "Page 1 of 2" in page1
    # newest first: +25 then balance 325 (1+…+25)
    assert re.search(re.escape("+" + money(25)) + r".*?" + re.escape(money(325)), page1, re.S)
    page2 = text(client.get(reverse("console:customer", args=[c.pk]), {"page": 2}))
    # oldest row: +1 with balance 1
    rows = re.findall(r"<tr>.*?</tr>", page2, re.S)
    assert "+" + money(1) in rows[-1] and money(1) in rows[-1]
    assert "+" + money(5) in page2 and "+" + money(6) not in page2


# --- shifts ---------------------------------------------------------------------------
def test_open_and_close_shift_with_variance(as_user, cashier, make_customer):
    client = as_user(cashier)
    assert "No open shift" in text(client.get(reverse("console:dashboard")))
    assert "cannot be negative" in text(
        client.post(reverse("console:shift_open"), {"opening_float": "-1"}))
    response = client.post(reverse("console:shift_open"), {"opening_float": "5000"})
    assert response.status_code == 302
    shift = ledger.current_shift(cashier)
    assert shift.opening_float == 5000
    assert "Shift open since" in text(client.get(reverse("console:dashboard")))
    assert "already have an open shift" in text(
        client.post(reverse("console:shift_open"), {"opening_float": "1"}))

    c = make_customer()
    client.post(reverse("console:customer_deposit", args=[c.pk]), {"amount": "2000"})
    page = text(client.get(reverse("console:shifts")))
    assert money(7000) in page  # expected in the drawer

    assert "This field is required" in text(client.post(reverse("console:shift_close"), {}))
    response = client.post(reverse("console:shift_close"), {"counted": "6900", "note": "short"})
    shift.refresh_from_db()
    assert response.status_code == 302
    assert response["Location"] == reverse("console:shift", args=[shift.pk])
    assert (shift.expected, shift.counted, shift.variance) == (7000, 6900, -100)
    page = text(client.get(response["Location"]))
    assert money(7000) in page and money(6900) in page and money(-100) in page
    assert "cash missing" in page

    response = client.post(reverse("console:shift_close"), {"counted": "1"})
    assert "no open shift to close" in text(response)


def test_cashiers_see_their_own_shifts_managers_all(as_user, cashier, manager, seller):
    mine = ledger.open_shift(actor_for(cashier), 0)
    other = ledger.open_shift(actor_for(seller), 0)
    client = as_user(cashier)
    page = text(client.get(reverse("console:shifts")))
    assert reverse("console:shift", args=[mine.pk]) in page
    assert reverse("console:shift", args=[other.pk]) not in page
    assert client.get(reverse("console:shift", args=[other.pk])).status_code == 403
    assert client.post(reverse("console:shift_close_other", args=[other.pk]),
                       {"counted": "0"}).status_code == 403
    page = text(as_user(manager).get(reverse("console:shifts")))
    assert reverse("console:shift", args=[other.pk]) in page


def test_manager_closes_an_abandoned_shift(as_user, cashier, manager):
    shift = ledger.open_shift(actor_for(cashier), 3000)
    client = as_user(manager)
    response = client.post(reverse("console:shift_close_other", args=[shift.pk]),
                           {"counted": "3000"})
    assert response.status_code == 302
    shift.refresh_from_db()
    assert shift.closed_by == manager and shift.variance == 0
    assert "the drawer is exact" in text(client.get(reverse("console:shift", args=[shift.pk])))


# --- dashboard ------------------------------------------------------------------------
def test_dashboard_figures(as_user, owner, cashier, make_customer):
    actor = actor_for(cashier)
    ledger.open_shift(actor, 10_000)
    a, b = make_customer("fa"), make_customer("fb")
    accounts.deposit(actor, a, 3_000)
    accounts.deposit(actor, b, 2_000)
    accounts.refund(actor, b, 500)
    # café time used from a's credit (as the station service will post it)
    ledger.post("cafe.session", [(a.credit_account, 1_200), (ledger.REVENUE_CAFE, -1_200)])
    page = text(as_user(owner).get(reverse("console:dashboard")))
    assert re.search(r'id="stat-cash">' + re.escape(money(14_500)), page)
    assert re.search(r'id="stat-taken">' + re.escape(money(4_500)), page)
    assert re.search(r'id="stat-revenue">' + re.escape(money(1_200)), page)
    assert re.search(r'id="stat-served">2<', page)
    assert money(5_000) in page  # deposits
    # a cashier sees their own drawer and takings, not the venue's revenue
    page = text(as_user(cashier).get(reverse("console:dashboard")))
    assert "Cash in your drawer" in page and 'id="stat-revenue"' not in page


def test_today_is_the_venue_day(db, cashier, make_customer, owner):
    core_services.update_settings(actor_for(owner), currency_locked=False,
                                  time_zone="America/Lima")  # UTC−5
    actor = actor_for(cashier)
    c = make_customer()
    # 03:00 UTC on the 25th is still the 24th in Lima
    with clock.frozen(dt.datetime(2026, 11, 25, 3, 0, tzinfo=dt.UTC)):
        ledger.open_shift(actor, 0)
        accounts.deposit(actor, c, 111)
    with clock.frozen(dt.datetime(2026, 11, 25, 6, 0, tzinfo=dt.UTC)):
        accounts.deposit(actor, c, 222)
        from ficha.reports import services as reports

        assert reports.venue_today() == dt.date(2026, 11, 25)
        assert reports.day_figures().taken.deposits == 222
        assert reports.day_figures(dt.date(2026, 11, 24)).taken.deposits == 111


def test_alerts_on_the_dashboard(as_user, manager, cashier):
    from ficha.core import alerts

    alert = alerts.raise_alert(alerts.FRAUD, "Unsold code 1234 tried at PC 3", source="PC 3")
    assert "Unsold code 1234" not in text(as_user(cashier).get(reverse("console:dashboard")))
    client = as_user(manager)
    page = text(client.get(reverse("console:dashboard")))
    assert "Unsold code 1234" in page and "1 open alert" in page
    response = client.post(reverse("console:alert_ack", args=[alert.pk]),
                           HTTP_HX_REQUEST="true")
    assert "Acknowledged" in text(response)
    alert.refresh_from_db()
    assert alert.acknowledged_by == manager
    assert "Unsold code 1234" not in text(client.get(reverse("console:dashboard")))


# --- staff and tokens -----------------------------------------------------------------
def test_owner_manages_staff(as_user, owner):
    client = as_user(owner)
    response = client.post(reverse("console:staff_new"), {
        "username": "newbie", "full_name": "New Bie", "role": "cashier",
        "password": "short", "password2": "short"})
    assert response.status_code == 200 and "too short" in text(response)
    response = client.post(reverse("console:staff_new"), {
        "username": "newbie", "full_name": "New Bie", "role": "cashier",
        "password": "a-long-pass-99", "password2": "a-long-pass-98"})
    assert "differ" in text(response)
    response = client.post(reverse("console:staff_new"), {
        "username": "newbie", "full_name": "New Bie", "role": "cashier",
        "password": "a-long-pass-99", "password2": "a-long-pass-99"})
    assert response.status_code == 302
    from django.contrib.auth import get_user_model

    newbie = get_user_model().objects.get(username="newbie")
    assert roles.role_of(newbie) == roles.CASHIER
    assert "newbie" in text(client.get(reverse("console:staff")))

    client.post(reverse("console:staff_role", args=[newbie.pk]), {"role": "manager"})
    newbie = get_user_model().objects.get(pk=newbie.pk)
    assert roles.role_of(newbie) == roles.MANAGER and roles.can(newbie, "view_audit")

    client.post(reverse("console:staff_password", args=[newbie.pk]),
                {"password": "other-pass-77", "password2": "other-pass-77"})
    newbie.refresh_from_db()
    assert newbie.check_password("other-pass-77")

    client.post(reverse("console:staff_status", args=[newbie.pk]), {"active": "0"})
    newbie.refresh_from_db()
    assert not newbie.is_active

    # the last owner cannot demote or disable themselves
    response = client.post(reverse("console:staff_role", args=[owner.pk]), {"role": "cashier"})
    assert "at least one active owner" in text(response)
    assert roles.role_of(get_user_model().objects.get(pk=owner.pk)) == roles.OWNER
    actions = set(AuditLog.objects.filter(actor=owner, source="console")
                  .values_list("action", flat=True))
    assert {"staff.create", "staff.role", "staff.password", "staff.active"} <= actions


def test_api_tokens_are_shown_once_and_revoked(as_user, owner):
    from ficha.accounts import tokens

    client = as_user(owner)
    response = client.post(reverse("console:tokens"), {"name": "website", "role": "cashier"})
    page = text(response)
    plaintext = re.search(r'value="(fch_[^"]+)"', page).group(1)
    assert tokens.authenticate_token(plaintext) is not None
    assert plaintext not in text(client.get(reverse("console:tokens")))
    assert "website" in text(client.get(reverse("console:tokens")))
    # the user behind a token is not listed as staff
    assert "api-website" not in text(client.get(reverse("console:staff")))
    token = tokens.find_token("website")
    client.post(reverse("console:token_revoke", args=[token.pk]))
    assert tokens.authenticate_token(plaintext) is None
    response = client.post(reverse("console:tokens"), {"name": "bad name!", "role": "cashier"})
    assert "token name" in text(response)


# --- audit and settings ---------------------------------------------------------------
def test_audit_log_filters_and_shows_before_after(as_user, owner, manager, cashier,
                                                  make_customer):
    c = make_customer("audited")
    accounts.update_customer(actor_for(cashier), c, full_name="Before Name")
    accounts.update_customer(actor_for(manager), c, full_name="After Name")
    client = as_user(manager)
    url = reverse("console:audit")
    page = text(client.get(url, {"action": "customer.update", "actor": manager.pk}))
    assert "After Name" in page and "Before Name" in page  # before/after of one change
    assert page.count("<code>customer.update</code>") == 1
    page = text(client.get(url, {"q": "audited", "object_type": "accounts.customer"}))
    assert "customer.create" in page
    page = text(client.get(url, {"since": "2000-01-01", "until": "2000-01-02"}))
    assert "Nothing matches" in page
    page = text(client.get(url, {"since": "not-a-date"}))
    assert "were ignored" in page
    response = client.get(url, {"action": "customer.update"}, HTTP_HX_REQUEST="true",
                          HTTP_HX_TARGET="audit-rows")
    assert "<html" not in text(response)


def test_audit_log_is_paginated(as_user, manager):
    for i in range(60):
        audit.record(audit.SYSTEM, "test.thing", summary=f"thing {i}")
    client = as_user(manager)
    page = text(client.get(reverse("console:audit")))
    assert "thing 59" in page and "thing 0<" not in page and "Page 1 of 2" in page


def test_settings(as_user, owner, cashier, make_customer):
    client = as_user(owner)
    url = reverse("console:settings")
    form = {"venue_name": "Cyber Teranga", "currency": "EUR", "time_zone": "Africa/Dakar",
            "language": "fr", "code_length": "10", "code_check_digit": "on"}
    assert client.post(url, form).status_code == 302
    venue = core_services.venue_settings()
    assert (venue.venue_name, venue.currency, venue.time_zone, venue.language,
            venue.code_length, venue.code_check_digit, venue.breakage_enabled) == (
        "Cyber Teranga", "EUR", "Africa/Dakar", "fr", 10, True, False)
    assert AuditLog.objects.filter(action="settings.update", actor=owner).exists()

    response = client.post(url, {**form, "code_length": "20"})
    assert "code_length" in response.context["form"].errors
    form["language"] = "en"
    client.cookies[django_settings.LANGUAGE_COOKIE_NAME] = "en"  # read the errors in English
    assert "Unknown time zone" in text(client.post(url, {**form, "time_zone": "Mars/Base"}))
    assert "Unknown currency" in text(client.post(url, {**form, "currency": "ZZZ"}))

    # once money exists, the currency is locked
    actor = actor_for(cashier)
    ledger.open_shift(actor, 100)
    page = text(client.get(url))
    assert "currency is locked" in page and re.search(r'name="currency"[^>]*disabled', page)
    client.post(url, {**form, "currency": "XOF", "venue_name": "Renamed"})
    venue = core_services.venue_settings()
    assert venue.currency == "EUR" and venue.venue_name == "Renamed"


# --- language and venue time ----------------------------------------------------------
def test_language_switcher_and_venue_default(as_user, owner):
    client = as_user(owner)
    page = text(client.get(reverse("console:dashboard")))
    assert '<html lang="en">' in page
    assert f'action="{reverse("set_language")}"' in page
    response = client.post(reverse("set_language"),
                           {"language": "fr", "next": reverse("console:dashboard")})
    assert response.status_code == 302
    page = text(client.get(reverse("console:dashboard")))
    assert '<html lang="fr">' in page

    # without a chosen language, the console speaks the venue's default
    client.cookies.clear()
    client.force_login(owner)
    core_services.update_settings(actor_for(owner), currency_locked=False, language="de")
    assert '<html lang="de">' in text(client.get(reverse("console:dashboard")))


def test_times_are_shown_in_the_venue_time_zone(as_user, owner, cashier):
    core_services.update_settings(actor_for(owner), currency_locked=False,
                                  time_zone="Asia/Kolkata")  # UTC+5:30
    with clock.frozen(dt.datetime(2026, 11, 25, 8, 0, tzinfo=dt.UTC)):
        shift = ledger.open_shift(actor_for(cashier), 0)
    Shift.objects.filter(pk=shift.pk)  # opened_at = 08:00 UTC = 13:30 in Kolkata
    page = text(as_user(cashier).get(reverse("console:dashboard")))
    assert "Shift open since 13:30" in page


def test_phone_search_ignores_spacing(as_user, cashier, make_customer):
    make_customer("spaced", phone="+221 77-123.45 67")
    make_customer("other", phone="+221 70 000 00 00")
    client = as_user(cashier)
    for query in ("771234567", "77 123 45", "123 45 67"):
        page = text(client.get(reverse("console:customers"), {"q": query}))
        assert ">spaced</a>" in page and ">other</a>" not in page, query


def test_forms_need_the_csrf_token(cashier, make_customer):
    from django.test import Client

    c = make_customer("csrf")
    client = Client(enforce_csrf_checks=True)
    client.force_login(cashier)
    response = client.post(reverse("console:customer_status", args=[c.pk]), {"active": "0"})
    assert response.status_code == 403
    c.refresh_from_db()
    assert c.is_active
    page = text(client.get(reverse("console:customer", args=[c.pk])))
    assert page.count('name="csrfmiddlewaretoken"') >= page.count('method="post"')


def test_console_pages_are_not_cached(as_user, cashier):
    response = as_user(cashier).get(reverse("console:customers"))
    assert "no-store" in response["Cache-Control"]
