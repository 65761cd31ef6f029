"""Booth pages in the console: roles, the live board, a session's bill, checkout, receipts,
booth setup."""

from __future__ import annotations

import pytest
from django.urls import reverse

from ficha.callshop import booths
from ficha.callshop.counter_models import Checkout
from ficha.callshop.models import Booth, BoothSession
from ficha.core import audit
from ficha.core.models import AuditLog
from ficha.ledger import services as ledger

from .callshop_support import answer, call, make_booth, make_deck, ring

pytestmark = pytest.mark.django_db


@pytest.fixture
def as_user(client):
    def login(user):
        client.force_login(user)
        return client

    return login


@pytest.fixture
def booth(db):
    make_deck()
    return make_booth()


def _open(user, booth):
    return booths.open_session(audit.Actor(user=user, source="test"), booth)


@pytest.mark.parametrize(("role", "screen", "setup"), [
    ("owner", 200, 200), ("manager", 200, 200), ("cashier", 200, 403), ("seller", 403, 403),
])
def test_who_may_use_the_booth_pages(request, as_user, booth, role, screen, setup):
    user = request.getfixturevalue(role)
    client = as_user(user)
    assert client.get(reverse("console:booths")).status_code == screen
    assert client.get(reverse("console:booth_board")).status_code == screen
    assert client.get(reverse("console:booth_manage")).status_code == setup
    assert client.post(reverse("console:booth_edit", args=[booth.pk]),
                       {"name": "X", "endpoint": "x", "active": "on"}).status_code in (setup, 302)
    response = client.post(reverse("console:booth_open", args=[booth.pk]))
    assert response.status_code == (302 if screen == 200 else 403)
    assert BoothSession.objects.exists() == (screen == 200)


def test_the_board_shows_a_running_call_and_the_session_total(as_user, cashier, booth):
    session = _open(cashier, booth)
    call(session, "0033123456789", 60)
    answer(ring(session, "0022507123456"))
    html = as_user(cashier).get(reverse("console:booth_board")).content.decode()
    assert 'hx-trigger="every 1s"' in html
    assert "Côte d&#x27;Ivoire mobile" in html or "Côte d'Ivoire mobile" in html
    assert "0022507123\u2022\u2022\u2022" in html  # masked
    assert "on a call" in html
    assert "150" in html  # the session total so far


def test_checkout_in_the_console_shows_the_change(as_user, cashier, booth):
    client = as_user(cashier)
    client.post(reverse("console:shift_open"), {"opening_float": "5,000"})
    session = _open(cashier, booth)
    call(session, "0033123456789", 61)  # 300
    url = reverse("console:booth_session", args=[session.pk])
    response = client.post(reverse("console:booth_extra", args=[session.pk]),
                           {"extra-kind": "product", "extra-description": "Coffee",
                            "extra-amount": "200"})
    assert response.status_code == 302
    response = client.post(reverse("console:booth_checkout", args=[session.pk]),
                           {"pay-tendered": "1,000"}, follow=True)
    html = response.content.decode()
    assert response.status_code == 200
    assert "give back" in html and 'id="change-due"' in html
    co = Checkout.objects.get(session=session)
    assert (co.total, co.change) == (500, 500)
    assert ledger.shift_cash(ledger.current_shift(cashier)) == 5_500
    assert client.get(url).status_code == 200
    shift = ledger.current_shift(cashier)
    page = client.get(reverse("console:shift", args=[shift.pk])).content.decode()
    assert "Booth payment" in page


def test_checkout_errors_keep_the_form_and_change_nothing(as_user, cashier, booth):
    client = as_user(cashier)
    session = _open(cashier, booth)
    call(session, "0033123456789", 61)  # 300
    url = reverse("console:booth_checkout", args=[session.pk])
    response = client.post(url, {"pay-tendered": "1,000"})
    assert response.status_code == 400 and "Open a shift" in response.content.decode()
    client.post(reverse("console:shift_open"), {"opening_float": "0"})
    response = client.post(url, {"pay-tendered": "200"})
    assert response.status_code == 400 and "less than" in response.content.decode()
    response = client.post(url, {"pay-tendered": "1e5"})
    assert response.status_code == 400
    assert not Checkout.objects.exists()


def test_receipts_pdf_escpos_and_ticket_page(as_user, cashier, booth):
    client = as_user(cashier)
    session = _open(cashier, booth)
    call(session, "0033123456789", 61)
    pdf = client.get(reverse("console:booth_receipt_pdf", args=[session.pk]))
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")
    raw = client.get(reverse("console:booth_receipt_escpos", args=[session.pk]) + "?width=58")
    assert raw.status_code == 200 and raw.content.startswith(b"\x1b@")
    page = client.get(reverse("console:booth_receipt", args=[session.pk]) + "?width=80")
    html = page.content.decode()
    assert page.status_code == 200 and "France" in html and "Not paid yet" in html
    assert AuditLog.objects.filter(action="callshop.receipt_print").count() == 2


def test_receipt_to_an_unreachable_printer_says_why(as_user, owner, cashier, booth):
    from ficha.core import services as core

    core.update_settings(audit.SYSTEM, currency_locked=False, printer_host="127.0.0.1",
                         printer_port=9)  # discard port: nothing listens
    session = _open(cashier, booth)
    response = as_user(cashier).post(
        reverse("console:booth_receipt_send", args=[session.pk]), follow=True)
    assert response.status_code == 200
    assert "printer" in response.content.decode().lower()


def test_setup_adds_booths_and_sets_the_cash_rounding(as_user, manager):
    client = as_user(manager)
    url = reverse("console:booth_manage")
    response = client.post(url, {"form": "booth", "booth-name": "Cabine 4",
                                 "booth-endpoint": "booth4", "booth-active": "on"})
    assert response.status_code == 302
    assert Booth.objects.get(name="Cabine 4").endpoint == "booth4"
    response = client.post(url, {"form": "booth", "booth-name": "No PBX"})
    assert response.status_code == 400 and "account code" in response.content.decode()
    response = client.post(url, {"form": "settings", "cash_rounding_step": "25",
                                 "cash_rounding_mode": "nearest", "mask_digits": "2"})
    assert response.status_code == 302
    row = booths.counter_settings()
    assert (row.cash_rounding_step, row.mask_digits) == (25, 2)
    response = client.post(url, {"form": "settings", "cash_rounding_step": "2.5",
                                 "cash_rounding_mode": "nearest", "mask_digits": "2"})
    assert response.status_code == 400


def test_the_board_costs_the_same_queries_for_one_booth_or_ten(as_user, cashier, booth):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = as_user(cashier)
    desk = audit.Actor(user=cashier, source="test")

    def add(n: int) -> None:
        s = _open(cashier, make_booth(f"Busy {n}", f"busy{n}"))
        call(s, "0033123456789", 60)
        answer(ring(s, "0022507123456"))
        closed = _open(cashier, make_booth(f"Closed {n}", f"closed{n}"))
        call(closed, "0033123456789", 60)
        booths.close_session(desk, closed)

    add(1)
    client.get(reverse("console:booth_board"))  # warm caches (settings, session)
    with CaptureQueriesContext(connection) as one:
        client.get(reverse("console:booth_board"))
    for n in range(2, 11):
        add(n)
    with CaptureQueriesContext(connection) as ten:
        response = client.get(reverse("console:booth_board"))
    html = response.content.decode()
    assert html.count('data-state="calling"') == 10
    assert html.count("Checkout</a>") == 10  # ten closed sessions waiting for payment
    assert len(ten.captured_queries) == len(one.captured_queries)
