"""The console's recharges window, code page, customer redeem form and alerts page."""

from __future__ import annotations

import csv
import datetime as dt
import html
import io
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from ficha.core import alerts, audit, clock, codes, roles, throttle
from ficha.core import services as core_services
from ficha.core.models import Alert, AuditLog, Throttle
from ficha.core.money import Money
from ficha.ledger import services as ledger
from ficha.recharges import services as rs
from ficha.recharges.models import Batch, Recharge

from .conftest import actor_for
from .recharges_support import assert_books_balanced, fresh_source
from .test_printing import read_pdf

S = Recharge.Status
T0 = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)
PASSWORD = "correct-horse-9"
WINDOW = "/console/recharges/"


def money(minor: int) -> str:
    return Money(minor, core_services.currency()).format("en")


def text(response) -> str:
    return html.unescape(response.content.decode())


def listed(response) -> list[str]:
    """The codes in the window's table, in order."""
    return re.findall(r'<tr class="st-\w+" data-code="(\d+)"', text(response))


@pytest.fixture
def as_user(client):
    def login(user):
        client.force_login(user)
        return client

    return login




@pytest.fixture
def batch(office):
    return rs.generate(office, count=20, amount=500, label="B500")


def ids_of(rows) -> list[int]:
    return [r.pk for r in rows]


def first(batch, n, status=S.UNSOLD) -> list[Recharge]:
    return list(batch.recharges.filter(status=status).order_by("id")[:n])


# --- the list ---------------------------------------------------------------------------
def test_window_shows_every_column(as_user, cashier, desk, batch, make_customer):
    amina = make_customer("amina", full_name="Amina Diallo")
    sold = first(batch, 3)
    rs.sell(desk, sold)
    rs.redeem(sold[0].code, customer=amina, source=fresh_source())
    response = as_user(cashier).get(WINDOW)
    assert response.status_code == 200
    page = text(response)
    used = sold[0]
    # the code grouped as printed, linking to its page
    assert f'href="/console/recharges/{used.pk}/">{codes.group(used.code)}</a>' in page
    row = re.search(rf'data-code="{used.code}">(.*?)</tr>', page, re.S).group(1)
    assert 'badge badge-used">Used<' in row
    assert money(500) in row
    assert "cass" in row  # the seller
    assert f'href="/console/customers/{amina.pk}/"' in row and ">amina<" in row
    row = re.search(rf'data-code="{sold[1].code}">(.*?)</tr>', page, re.S).group(1)
    assert 'badge badge-sold">Sold<' in row
    assert len(listed(response)) == 20
    assert "B500" in page


def test_a_live_code_past_its_expiry_shows_as_expired(as_user, cashier, office):
    with clock.frozen(T0):
        old = rs.generate(office, count=1, amount=100, valid_days=7)
    with clock.frozen(T0 + dt.timedelta(days=30)):
        page = text(as_user(cashier).get(WINDOW))
    code = old.recharges.get().code
    row = re.search(rf'data-code="{code}">(.*?)</tr>', page, re.S).group(1)
    assert "badge-expired" in row


def test_filters(as_user, manager, office, cashier, make_customer):
    desk = actor_for(cashier)
    amina = make_customer("amina")
    with clock.frozen(T0):
        ledger.open_shift(desk, 0)
        early = rs.generate(office, count=4, amount=500, label="early")
        rs.sell(desk, first(early, 2))
        rs.redeem(first(early, 1, S.SOLD)[0].code, customer=amina, source=fresh_source())
    with clock.frozen(T0 + dt.timedelta(days=3)):
        late = rs.generate(office, count=3, amount=1000, label="late")
        rs.sell(desk, first(late, 1))
        rs.redeem(first(late, 1, S.SOLD)[0].code, customer=amina, source=fresh_source())
    client = as_user(manager)
    every = {r.code for r in Recharge.objects.all()}

    def found(**params):
        return set(listed(client.get(WINDOW, params)))

    assert found() == every
    assert found(status="unsold") == set(Recharge.objects.filter(status=S.UNSOLD)
                                         .values_list("code", flat=True))
    assert found(status="used") == set(Recharge.objects.filter(status=S.USED)
                                       .values_list("code", flat=True))
    assert found(status="sold") == {early.recharges.get(status=S.SOLD).code}
    assert found(batch="late") == set(late.recharges.values_list("code", flat=True))
    assert found(batch=str(late.pk)) == set(late.recharges.values_list("code", flat=True))
    assert found(amount="1000") == set(late.recharges.values_list("code", flat=True))
    one = late.recharges.order_by("id").first().code
    assert one in found(code=codes.group(one)[:6])
    assert found(code=codes.group(one)) == {one}
    day0, day3 = T0.date().isoformat(), (T0 + dt.timedelta(days=3)).date().isoformat()
    assert found(sold_from=day3) == {first(late, 1, S.USED)[0].code}
    assert found(sold_to=day0) == set(early.recharges.exclude(status=S.UNSOLD)
                                      .values_list("code", flat=True))
    assert found(used_from=day0, used_to=day0) == {first(early, 1, S.USED)[0].code}
    assert found(created_from=day3) == set(late.recharges.values_list("code", flat=True))
    assert found(created_to=day0) == set(early.recharges.values_list("code", flat=True))
    # filters combine
    assert found(batch="early", status="unsold") == set(
        early.recharges.filter(status=S.UNSOLD).values_list("code", flat=True))
    # nothing matches: a clear sentence, no crash
    response = client.get(WINDOW, {"batch": "no-such-batch"})
    assert response.status_code == 200 and not listed(response)
    assert "No such batch" in text(response)
    response = client.get(WINDOW, {"amount": "abc", "sold_from": "not a date"})
    assert response.status_code == 200
    assert len(listed(response)) == 7  # bad filters are left out and explained
    assert 'id="filter-errors"' in text(response)


def test_sorting_by_clicking_the_headers(as_user, manager, office):
    for amount in (300, 100, 200):
        rs.generate(office, count=1, amount=amount)
    client = as_user(manager)
    by_amount = {r.code: r.amount for r in Recharge.objects.all()}

    def amounts(sort):
        return [by_amount[c] for c in listed(client.get(WINDOW, {"sort": sort}))]

    assert amounts("amount") == [100, 200, 300]
    assert amounts("-amount") == [300, 200, 100]
    assert amounts("-id") == [200, 100, 300]  # newest first, the default
    assert listed(client.get(WINDOW, {"sort": "code"})) == sorted(by_amount)
    assert amounts("nonsense") == [200, 100, 300]
    # the header of the sorted column links to the other direction
    page = text(client.get(WINDOW, {"sort": "amount"}))
    assert 'aria-sort="ascending"' in page
    assert "sort=-amount" in page


def test_pagination_without_counting_the_table(as_user, manager, office):
    rs.generate(office, count=60, amount=100)
    client = as_user(manager)
    seen = []
    for page in (1, 2, 3):
        response = client.get(WINDOW, {"per_page": "25", "page": str(page)})
        rows = listed(response)
        assert len(rows) == (25 if page < 3 else 10)
        assert f"Page {page} of 3" in text(response)
        seen += rows
    assert len(set(seen)) == 60
    assert listed(client.get(WINDOW, {"per_page": "25", "page": "99"})) == seen[50:]
    assert listed(client.get(WINDOW, {"per_page": "25", "page": "x"})) == seen[:25]
    # the unfiltered window takes its totals from the tally, never COUNT(*) of the codes
    with CaptureQueriesContext(connection) as queries:
        client.get(WINDOW, {"page": "2", "per_page": "25"})
        client.get(WINDOW, {"status": "unsold", "page": "2", "per_page": "25"})
    table = Recharge._meta.db_table
    counting = [q["sql"] for q in queries.captured_queries
                if table in q["sql"] and "COUNT(" in q["sql"].upper()]
    assert not counting


def test_totals_per_status_and_what_is_owed(as_user, manager, desk, batch, make_customer):
    sold = first(batch, 5)
    rs.sell(desk, sold)
    rs.redeem(sold[0].code, customer=make_customer(), source=fresh_source())
    page = text(as_user(manager).get(WINDOW))

    def tab(name, page):
        block = re.search(rf'id="{name}"[^>]*>(.*?)</(?:a|div)>', page, re.S).group(1)
        count = re.search(r'class="tab-count">([^<]*)<', block).group(1)
        value = re.search(r'class="tab-value">([^<]*)<', block).group(1)
        return count, value

    assert tab("tab-unsold", page) == ("15", money(15 * 500))
    assert tab("tab-sold", page) == ("4", money(4 * 500))
    assert tab("tab-used", page) == ("1", money(500))
    assert tab("tab-expired", page) == ("0", money(0))
    assert tab("tab-all", page) == ("20", money(20 * 500))
    assert tab("outstanding", page) == ("4", money(4 * 500))
    # filtered totals follow the other filters
    page = text(as_user(manager).get(WINDOW, {"code": sold[1].code}))
    assert tab("tab-all", page) == ("1", money(500))
    assert tab("outstanding", page) == ("1", money(500))
    assert tab("tab-unsold", page) == ("0", money(0))


def test_htmx_filters_swap_only_the_results(as_user, cashier, batch):
    response = as_user(cashier).get(WINDOW, {"status": "unsold"}, HTTP_HX_REQUEST="true",
                                    HTTP_HX_TARGET="window-results")
    page = text(response)
    assert "<html" not in page and 'id="recharges"' in page
    assert len(listed(response)) == 20
    # the plain page has a GET form for every filter and the htmx attributes
    page = text(as_user(cashier).get(WINDOW))
    assert re.search(r'<form id="filters"[^>]*method="get"', page)
    assert 'hx-target="#window-results"' in page and 'hx-push-url="true"' in page


# --- actions ----------------------------------------------------------------------------
def test_generate_a_batch(as_user, manager):
    client = as_user(manager)
    with clock.frozen(T0):
        response = client.post(reverse("console:recharge_generate"),
                               {"count": "30", "amount": "1000", "validity": "30",
                                "label": "promo"}, follow=True)
    batch = Batch.objects.get(label="promo")
    assert batch.count == 30 and batch.recharges.count() == 30
    assert batch.amount == Money.parse("1000", core_services.currency()).minor
    assert batch.expires_at.date() == (T0 + dt.timedelta(days=30)).date()
    assert response.redirect_chain[-1][0] == f"{WINDOW}?batch=promo"
    assert f"30 codes of {money(batch.amount)} generated (batch promo)." in text(response)
    assert 'id="batch-card"' in text(response) and len(listed(response)) == 30
    # a date instead of a preset; no expiry
    with clock.frozen(T0):
        client.post(reverse("console:recharge_generate"),
                    {"count": "2", "amount": "500", "validity": "date",
                     "expires_on": "2027-01-31", "label": "dated"})
    assert Batch.objects.get(label="dated").expires_at.date() == dt.date(2027, 1, 31)
    client.post(reverse("console:recharge_generate"), {"count": "1", "amount": "500",
                                                       "label": "forever"})
    assert Batch.objects.get(label="forever").expires_at is None
    assert AuditLog.objects.filter(action="recharges.generate").count() == 3


@pytest.mark.parametrize("data, error", [
    ({"count": "0", "amount": "500"}, "greater than or equal to 1"),
    ({"count": "100001", "amount": "500"}, "less than or equal to 100000"),
    ({"count": "5", "amount": ""}, "This field is required"),
    ({"count": "5", "amount": "-5"}, ""),
    ({"count": "5", "amount": "500", "validity": "date"}, "Choose the expiry date"),
    ({"count": "5", "amount": "500", "validity": "7", "expires_on": "2027-01-01"},
     "not both"),
    ({"count": "5", "amount": "500", "expires_on": "2001-01-01"}, "already past"),
    ({"count": "5", "amount": "500", "label": "B500"}, "exists"),
])
def test_generate_refusals_change_nothing(as_user, manager, batch, data, error):
    response = as_user(manager).post(reverse("console:recharge_generate"), data)
    assert response.status_code == 200
    assert error in text(response)
    assert Batch.objects.count() == 1


def test_sell_the_ticked_codes(as_user, cashier, open_shift, batch):
    client = as_user(cashier)
    picked = first(batch, 12)
    response = client.post(reverse("console:recharge_sell"),
                           {"ids": ids_of(picked), "payment_method": "cash", "price": "",
                            "next": f"{WINDOW}?batch=B500"}, follow=True)
    assert response.redirect_chain[0][0] == f"{WINDOW}?batch=B500"
    assert f"12 codes sold for {money(12 * 500)} (Cash)." in text(response)
    assert batch.recharges.filter(status=S.SOLD, sold_by=cashier,
                                  sold_shift=open_shift).count() == 12
    assert_books_balanced()
    # at another price, by mobile money; a sold code is skipped
    more = first(batch, 2)
    response = client.post(reverse("console:recharge_sell"),
                           {"ids": ids_of(more) + [picked[0].pk],
                            "payment_method": "mobile_money", "price": "450"}, follow=True)
    assert f"2 codes sold for {money(900)} (Mobile money)." in text(response)
    assert {r.sale_price for r in Recharge.objects.filter(pk__in=ids_of(more))} == {450}


def test_sell_needs_an_open_shift(as_user, cashier, batch):
    client = as_user(cashier)
    page = text(client.get(WINDOW))
    assert 'id="no-shift"' in page and reverse("console:shifts") in page
    response = client.post(reverse("console:recharge_sell"),
                           {"ids": ids_of(first(batch, 2)), "payment_method": "cash"},
                           follow=True)
    assert "Open your shift" in text(response)
    assert not batch.recharges.filter(status=S.SOLD).exists()


def test_sell_nothing_ticked_and_bad_input(as_user, cashier, open_shift, batch):
    client = as_user(cashier)
    response = client.post(reverse("console:recharge_sell"), {"payment_method": "cash"},
                           follow=True)
    assert "Tick the codes to sell first." in text(response)
    response = client.post(reverse("console:recharge_sell"),
                           {"ids": ids_of(first(batch, 1)), "payment_method": "gold"},
                           follow=True)
    assert "Select a valid choice" in text(response)
    response = client.post(reverse("console:recharge_sell"),
                           {"ids": ["x", "99999999"], "payment_method": "cash"}, follow=True)
    assert "None of these codes can be sold" in text(response)
    assert not Recharge.objects.filter(status=S.SOLD).exists()


def test_sell_a_range_and_a_whole_batch(as_user, cashier, open_shift, batch):
    client = as_user(cashier)
    rows = list(batch.recharges.order_by("id"))
    response = client.post(reverse("console:recharge_sell"),
                           {"mode": "range", "first": codes.group(rows[9].code),
                            "last": rows[5].code, "payment_method": "cash"}, follow=True)
    assert f"5 codes sold for {money(2500)}" in text(response)
    assert set(ids_of(Recharge.objects.filter(status=S.SOLD))) == set(ids_of(rows[5:10]))
    response = client.post(reverse("console:recharge_sell"),
                           {"mode": "batch", "batch": str(batch.pk),
                            "batch-payment_method": "card", "batch-price": ""}, follow=True)
    assert f"15 codes sold for {money(15 * 500)} (Card)." in text(response)
    assert not batch.recharges.filter(status=S.UNSOLD).exists()
    response = client.post(reverse("console:recharge_sell"),
                           {"mode": "range", "first": "1111 1111", "last": rows[0].code,
                            "payment_method": "cash"}, follow=True)
    assert "No such code" in text(response)


def test_unsell_in_the_same_shift_only(as_user, cashier, manager, open_shift, batch):
    desk = actor_for(cashier)
    sold = first(batch, 3)
    rs.sell(desk, sold, price=400)
    # someone else (with their own shift) cannot undo the cashier's sale
    ledger.open_shift(actor_for(manager), 0)
    response = as_user(manager).post(reverse("console:recharge_unsell"),
                                     {"ids": ids_of(sold)}, follow=True)
    assert "Only sales made in your current shift" in text(response)
    assert batch.recharges.filter(status=S.SOLD).count() == 3
    # the seller can, and is told what to give back
    response = as_user(cashier).post(reverse("console:recharge_unsell"),
                                     {"ids": ids_of(sold[:2])}, follow=True)
    assert f"Sale of 2 codes undone: give {money(800)} back to the buyer." in text(response)
    assert batch.recharges.filter(status=S.SOLD).count() == 1
    assert_books_balanced()


def test_delete_asks_first_and_takes_only_unsold_codes(as_user, manager, desk, batch):
    client = as_user(manager)
    unsold = first(batch, 3)
    sold = first(batch, 6)[-1:]
    rs.sell(desk, sold)
    response = client.post(reverse("console:recharge_delete"),
                           {"ids": ids_of(unsold + sold), "next": WINDOW})
    page = text(response)
    assert "Delete 3 unsold codes?" in page and "1 ticked code is not unsold" in page
    assert codes.group(unsold[0].code) in page
    assert not batch.recharges.filter(status=S.DELETED).exists()  # nothing yet
    response = client.post(reverse("console:recharge_delete"),
                           {"ids": ids_of(unsold), "confirm": "1", "next": WINDOW},
                           follow=True)
    assert "3 unsold codes deleted" in text(response)
    assert batch.recharges.filter(status=S.DELETED).count() == 3
    # deleted codes leave the list
    assert not set(listed(response)) & {r.code for r in unsold}
    response = client.post(reverse("console:recharge_delete"),
                           {"ids": ids_of(sold), "confirm": "1"}, follow=True)
    assert "Only unsold codes can be deleted" in text(response)
    assert Recharge.objects.get(pk=sold[0].pk).status == S.SOLD


def test_void_needs_an_owner_a_reason_and_a_confirmation(as_user, owner, manager, desk,
                                                         batch):
    code = first(batch, 1)[0]
    rs.sell(desk, [code])
    url = reverse("console:recharge_void", args=[code.pk])
    assert as_user(manager).post(url, {"reason": "lost", "confirm": "on"}).status_code == 403
    client = as_user(owner)
    ledger.open_shift(actor_for(owner), 5000)
    response = client.post(url, {"reason": "", "confirm": "on"})
    assert response.status_code == 400 and "This field is required" in text(response)
    response = client.post(url, {"reason": "card stolen"})
    assert response.status_code == 400
    assert Recharge.objects.get(pk=code.pk).status == S.SOLD
    response = client.post(url, {"reason": "card stolen", "confirm": "on"}, follow=True)
    assert (f"Code {codes.group(code.code)} voided. Refund {money(500)} to the buyer (Cash)."
            in text(response))
    code.refresh_from_db()
    assert code.status == S.VOID and code.void_reason == "card stolen"
    assert "card stolen" in text(response)  # the history says why
    # a void code cannot be voided again
    response = client.post(url, {"reason": "again", "confirm": "on"}, follow=True)
    assert "already void" in text(response)
    assert_books_balanced()


def _pdf_text(data: bytes) -> str:
    return "\n".join(p.text for p in read_pdf(data))


def test_print_ticked_codes_and_whole_batches(as_user, seller, batch, office):
    client = as_user(seller)
    picked = first(batch, 3)
    response = client.post(reverse("console:recharge_print"),
                           {"ids": ids_of(picked), "format": "pdf"})
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert 'attachment; filename="recharges-B500.pdf"' == response["Content-Disposition"]
    content = _pdf_text(response.content)
    for r in picked:
        assert codes.group(r.code) in content
    assert codes.group(first(batch, 4)[-1].code) not in content
    # ESC/POS tickets hold the codes too
    for width in ("58", "80"):
        response = client.post(reverse("console:recharge_print"),
                               {"ids": ids_of(picked), "format": width})
        assert response["Content-Type"] == "application/octet-stream"
        assert response["Content-Disposition"].endswith(f'-{width}mm.prn"')
        for r in picked:
            assert codes.group(r.code).encode() in response.content
    # the whole batch, from a link
    response = client.get(reverse("console:recharge_print"),
                          {"batch": str(batch.pk), "format": "pdf"})
    content = _pdf_text(response.content)
    assert all(codes.group(r.code) in content for r in batch.recharges.all())
    # nothing printable: told so
    rs.delete(office, picked)
    response = client.post(reverse("console:recharge_print"),
                           {"ids": ids_of(picked), "format": "pdf"}, follow=True)
    assert "Nothing to print" in text(response)
    assert client.get(reverse("console:recharge_print"),
                      {"batch": "nope"}).status_code == 404


def test_a_big_batch_prints_in_parts(as_user, seller, batch, monkeypatch):
    from ficha.console.views.recharges import printing as window

    monkeypatch.setattr(window, "PRINT_PART", 8)
    client = as_user(seller)
    response = client.get(reverse("console:recharge_print"), {"batch": "B500", "format": "pdf"})
    assert response.status_code == 200 and "text/html" in response["Content-Type"]
    page = text(response)
    assert "Part 3: cards 17 to 20" in page and "Part 4" not in page
    response = client.post(reverse("console:recharge_print"),
                           {"batch": "B500", "format": "pdf", "part": "3"})
    assert response["Content-Disposition"] == 'attachment; filename="recharges-B500-part3.pdf"'
    content = _pdf_text(response.content)
    in_order = list(batch.recharges.order_by("pk"))
    assert all(codes.group(r.code) in content for r in in_order[16:])
    assert not any(codes.group(r.code) in content for r in in_order[:16])


def test_export_csv_of_the_current_filter(as_user, manager, desk, batch):
    sold = first(batch, 4)
    rs.sell(desk, sold)
    response = as_user(manager).get(reverse("console:recharge_export"),
                                    {"status": "sold", "sort": "code"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"].startswith('attachment; filename="recharges-')
    raw = b"".join(response.streaming_content)
    assert raw.startswith(b"\xef\xbb\xbf")  # UTF-8 BOM: Excel on Windows reads accents
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows[0][:4] == ["code", "amount", "currency", "status"]
    assert [r[0] for r in rows[1:]] == sorted(r.code for r in sold)
    assert {r[3] for r in rows[1:]} == {"sold"}
    assert all(r[7] == "cass" for r in rows[1:])
    # the window links to the export with its filters
    page = text(as_user(manager).get(WINDOW, {"status": "sold"}))
    assert re.search(r'href="/console/recharges/export\.csv\?status=sold"', page)


def test_code_page_tells_its_story(as_user, owner, desk, batch, make_customer):
    amina = make_customer("amina", full_name="Amina Diallo")
    code = first(batch, 1)[0]
    bad = first(batch, 2)[1]
    rs.sell(desk, [code])
    rs.redeem(code.code, customer=amina, source=fresh_source(door="portal"))
    with pytest.raises(rs.RechargeError):
        rs.redeem(bad.code, customer=amina, source=fresh_source(ip="10.9.9.9"))
    client = as_user(owner)
    page = text(client.get(reverse("console:recharge", args=[code.pk])))
    history = re.search(r'id="history">(.*?)</ol>', page, re.S).group(1)
    for word in ("Generated", "B500", "Sold", "Cass", "Cash", "Used", "amina", "Amina Diallo",
                 "portal"):
        assert word in history, word
    assert "shift #" in history
    assert 'id="code-audit"' in page and "recharges.sell" in page
    assert "Redeemed" in re.search(r'id="attempts">(.*?)</table>', page, re.S).group(1)
    # the unsold code someone tried: the attempt and its source
    page = text(client.get(reverse("console:recharge", args=[bad.pk])))
    assert "Unsold code" in page and "10.9.9.9" in page
    assert 'id="sell-one"' in page and 'id="void"' not in page
    assert client.get(reverse("console:recharge", args=[999999])).status_code == 404


# --- redeem for a customer --------------------------------------------------------------
def test_redeem_a_code_for_a_customer(as_user, cashier, desk, batch, make_customer):
    amina = make_customer("amina")
    code = first(batch, 1)[0]
    rs.sell(desk, [code])
    client = as_user(cashier)
    page = text(client.get(reverse("console:customer", args=[amina.pk])))
    assert 'id="redeem"' in page
    url = reverse("console:customer_redeem", args=[amina.pk])
    response = client.post(url, {"code": codes.group(code.code)}, follow=True)
    assert (f"Code {codes.group(code.code)} added to amina's credit: +{money(500)}. "
            f"New balance: {money(500)}." in text(response))
    code.refresh_from_db()
    assert code.status == S.USED and code.used_by == amina and code.used_door == "console"
    entry = AuditLog.objects.get(action="recharges.redeem")
    assert entry.actor == cashier
    # used again: refused, shown on the customer page; an unsold code: "invalid" + alert
    response = client.post(url, {"code": code.code})
    assert response.status_code == 400 and "already been used" in text(response)
    unsold = first(batch, 1)[0]
    response = client.post(url, {"code": unsold.code})
    assert response.status_code == 400 and "Invalid code." in text(response)
    alert = Alert.objects.get(kind=alerts.FRAUD)
    assert "account amina via console" in alert.source
    response = client.post(url, {"code": ""})
    assert response.status_code == 400
    assert as_user(cashier).post(reverse("console:customer_redeem", args=[999999]),
                                 {"code": code.code}).status_code == 404


# --- role matrix ------------------------------------------------------------------------
def _who(role, owner, manager, cashier, seller):
    return {"owner": owner, "manager": manager, "cashier": cashier,
            "voucher_seller": seller}[role]


ALL = {"owner", "manager", "cashier", "voucher_seller"}
MGMT = {"owner", "manager"}

PAGES = [  # (name, kwargs key, query, roles)
    ("recharges", None, {}, ALL),
    ("recharge", "code", {}, ALL),
    ("recharge_generate", None, {}, MGMT),
    ("recharge_export", None, {}, MGMT),
    ("recharge_print", None, {"batch": "B500"}, ALL),
    ("alerts", None, {}, MGMT),
]


@pytest.mark.parametrize("role", roles.ROLES)
def test_role_matrix_for_pages(role, as_user, owner, manager, cashier, seller, batch):
    client = as_user(_who(role, owner, manager, cashier, seller))
    code = first(batch, 1)[0]
    for name, obj, query, allowed in PAGES:
        url = reverse(f"console:{name}", kwargs={"pk": code.pk} if obj else {})
        response = client.get(url, query)
        expected = 200 if role in allowed else 403
        assert response.status_code == expected, (role, name, response.status_code)
    # the window offers only what the role may do
    page = text(client.get(WINDOW))
    assert ("Generate codes" in page) == (role in MGMT)
    assert ('id="export-csv"' in page) == (role in MGMT)
    assert ('id="delete-selected"' in page) == (role in MGMT)
    assert ('id="unsell-selected"' in page) == (role != "voucher_seller")
    assert 'id="sell-selected"' in page and 'value="58"' in page


@pytest.mark.parametrize("role", roles.ROLES)
def test_role_matrix_for_actions(role, as_user, owner, manager, cashier, seller, batch,
                                 make_customer):
    """Each POST, valid for an allowed role, is refused with 403 and changes nothing."""
    user = _who(role, owner, manager, cashier, seller)
    me = actor_for(user)
    ledger.open_shift(me, 5000)
    amina = make_customer("amina")
    rows = list(batch.recharges.order_by("id"))
    mine, to_void, to_redeem = rows[0], rows[1], rows[2]
    rs.sell(me, [mine, to_void, to_redeem])
    alert = alerts.raise_alert(alerts.FRAUD, "copied code", source="ip 1.2.3.4")
    throttle.claim("redeem", ["ip:1.2.3.4"])
    Throttle.objects.filter(key="ip:1.2.3.4").update(locked_until=clock.now()
                                                     + dt.timedelta(hours=1), failures=9)
    actions = [
        ("recharge_sell", {}, {"ids": [rows[5].pk], "payment_method": "cash"}, ALL,
         lambda: Recharge.objects.get(pk=rows[5].pk).status == S.SOLD),
        ("recharge_unsell", {}, {"ids": [mine.pk]}, ALL - {"voucher_seller"},
         lambda: Recharge.objects.get(pk=mine.pk).status == S.UNSOLD),
        ("recharge_delete", {}, {"ids": [rows[6].pk], "confirm": "1"}, MGMT,
         lambda: Recharge.objects.get(pk=rows[6].pk).status == S.DELETED),
        ("recharge_void", {"pk": to_void.pk}, {"reason": "lost", "confirm": "on"}, {"owner"},
         lambda: Recharge.objects.get(pk=to_void.pk).status == S.VOID),
        ("recharge_generate", {}, {"count": "3", "amount": "100"}, MGMT,
         lambda: Batch.objects.count() == 2),
        ("customer_redeem", {"pk": amina.pk}, {"code": to_redeem.code},
         ALL - {"voucher_seller"},
         lambda: Recharge.objects.get(pk=to_redeem.pk).status == S.USED),
        ("alerts_ack_all", {}, {}, MGMT,
         lambda: Alert.objects.get(pk=alert.pk).acknowledged_at is not None),
        ("alerts_unlock", {}, {"scope": "redeem", "key": "ip:1.2.3.4"}, MGMT,
         lambda: throttle.retry_after("redeem", ["ip:1.2.3.4"]) == 0),
        ("alert_ack", {"pk": alert.pk}, {}, MGMT,
         lambda: Alert.objects.get(pk=alert.pk).acknowledged_at is not None),
    ]
    client = as_user(user)
    for name, kwargs, data, allowed, changed in actions:
        before = AuditLog.objects.count()
        response = client.post(reverse(f"console:{name}", kwargs=kwargs), data)
        if role in allowed:
            assert response.status_code in (200, 302), (role, name, response.status_code)
            assert changed(), (role, name)
        else:
            assert response.status_code == 403, (role, name, response.status_code)
            assert AuditLog.objects.count() == before, (role, name)
            assert not changed(), (role, name)


def test_every_new_view_checks_a_capability():
    from django.urls import URLPattern

    from ficha.console import urls

    mine = {"recharges", "recharge", "recharge_generate", "recharge_sell", "recharge_unsell",
            "recharge_delete", "recharge_print", "recharge_export", "recharge_void",
            "customer_redeem", "alerts", "alerts_ack_all", "alerts_unlock"}
    patterns = {p.name: p for p in urls.urlpatterns if isinstance(p, URLPattern)}
    assert mine <= set(patterns)
    for name in mine:
        assert patterns[name].callback.capabilities, name


# --- alerts -----------------------------------------------------------------------------
def test_alerts_page_lists_filters_and_acknowledges(as_user, manager, cashier, batch):
    unsold = first(batch, 1)[0]
    with pytest.raises(rs.RechargeError):
        rs.redeem_for_login(unsold.code, source=fresh_source(ip="10.7.7.7"))
    brute = alerts.raise_alert(alerts.BRUTEFORCE, "45 failed attempts", source="")
    client = as_user(manager)
    page = text(client.get(reverse("console:alerts")))
    assert "Fraud" in page and "10.7.7.7" in page and "45 failed attempts" in page
    assert reverse("console:recharge", args=[unsold.pk]) in page  # link to the code
    # the navigation shows how many are open
    assert re.search(r'Alerts <span class="nav-badge">2</span>', page)
    assert 'class="nav-badge"' not in text(as_user(cashier).get(reverse("console:dashboard")))
    # filter by kind
    page = text(as_user(manager).get(reverse("console:alerts"), {"kind": "bruteforce"}))
    assert "45 failed attempts" in page and "10.7.7.7" not in page
    # acknowledge one (plain form: back to this page), with a note
    response = client.post(reverse("console:alert_ack", args=[brute.pk]),
                           {"note": "checked the logs", "next": reverse("console:alerts")})
    assert response["Location"] == reverse("console:alerts")
    brute.refresh_from_db()
    assert brute.acknowledged_by == manager and brute.note == "checked the logs"
    page = text(client.get(reverse("console:alerts")))
    assert "45 failed attempts" not in page
    page = text(client.get(reverse("console:alerts"), {"state": "acknowledged"}))
    assert "45 failed attempts" in page and "checked the logs" in page and "manu" in page
    # acknowledge all
    response = client.post(reverse("console:alerts_ack_all"), follow=True)
    assert "1 alert acknowledged." in text(response)
    assert not alerts.open_alerts().exists()
    assert "No open alert" in text(response)
    assert AuditLog.objects.filter(action="alert.acknowledge").count() == 2


def test_locked_sources_can_be_unlocked(as_user, manager, owner):
    with clock.frozen(T0):
        for _ in range(6):
            throttle.claim("redeem", ["ip:10.6.6.6", "account:bob"])
        assert throttle.retry_after("redeem", ["ip:10.6.6.6"]) > 0
        failures = Throttle.objects.get(scope="redeem", key="ip:10.6.6.6").failures
        client = as_user(manager)
        page = text(client.get(reverse("console:alerts")))
        locked = re.search(r'id="locked"(.*?)</section>', page, re.S).group(1)
        assert "10.6.6.6" in locked and "bob" in locked and "Recharge codes" in locked
        response = client.post(reverse("console:alerts_unlock"),
                               {"scope": "redeem", "key": "ip:10.6.6.6"}, follow=True)
        assert "ip:10.6.6.6 may try again now." in text(response)
        assert throttle.retry_after("redeem", ["ip:10.6.6.6"]) == 0
        assert throttle.retry_after("redeem", ["account:bob"]) > 0
        entry = AuditLog.objects.get(action="throttle.unlock")
        assert entry.actor == manager and entry.before["failures"] == failures > 0
        response = client.post(reverse("console:alerts_unlock"),
                               {"scope": "redeem", "key": "ip:nobody"}, follow=True)
        assert "This source is not locked." in text(response)
        assert AuditLog.objects.filter(action="throttle.unlock").count() == 1


def test_unlock_source_service(db, owner):
    assert core_services.unlock_source(actor_for(owner), "redeem", "ip:none") is False
    assert not AuditLog.objects.filter(action="throttle.unlock").exists()


# --- staff login and logout are audited ---------------------------------------------------
def test_staff_login_and_logout_are_audited(client, cashier):
    client.post(reverse("console:login"), {"username": "cass", "password": PASSWORD},
                REMOTE_ADDR="10.1.2.3")
    entry = AuditLog.objects.get(action="staff.login")
    assert entry.actor == cashier and entry.ip == "10.1.2.3" and entry.source == "console"
    client.post(reverse("console:logout"))
    assert AuditLog.objects.get(action="staff.logout").actor == cashier
    client.post(reverse("console:login"), {"username": "cass", "password": "wrong"})
    assert AuditLog.objects.filter(action="staff.login").count() == 1


def test_audit_actor_for_login_is_the_user(db, cashier):
    from ficha.accounts import services as accounts

    accounts.record_login(audit.Actor(user=cashier, source="console"), cashier)
    assert AuditLog.objects.get(action="staff.login").summary == "cass logged in"


def test_an_unknown_print_format_is_refused_with_a_message(as_user, seller, batch):
    client = as_user(seller)
    for how in (client.get, client.post):
        response = how(reverse("console:recharge_print"), {"batch": "B500", "format": "xyz"})
        assert response.status_code == 400
        assert "Unknown print format" in response.content.decode()
        assert response["Content-Type"].startswith("text/plain")
    assert not AuditLog.objects.filter(action="recharges.print").exists()


def test_sale_and_undo_messages_come_from_what_the_service_did(as_user, cashier, desk,
                                                              batch):
    client = as_user(cashier)
    picked = first(batch, 2)
    page = text(client.post(reverse("console:recharge_sell"),
                            {"ids": ids_of(picked), "payment_method": "mobile_money",
                             "price": "450"}, follow=True))
    assert "2 codes sold for" in page and "900" in page and "Mobile money" in page
    page = text(client.post(reverse("console:recharge_unsell"), {"ids": ids_of(picked)},
                            follow=True))
    assert "give" in page and "900" in page


def test_export_is_audited_with_its_filters(as_user, manager, desk, batch):
    rs.sell(desk, first(batch, 3))
    response = as_user(manager).get(reverse("console:recharge_export"), {"status": "sold"})
    b"".join(response.streaming_content)
    log = AuditLog.objects.get(action="recharges.export")
    assert log.actor == manager and log.after == {"filters": {"status": "sold"}, "count": 3}


def test_an_expired_code_is_neither_printed_nor_offered_for_deletion_twice(
        as_user, owner, desk, batch, office):
    """Rules live on the model: a live code past its date counts as expired everywhere."""
    client = as_user(owner)
    old = first(batch, 1)[0]
    Recharge.objects.filter(pk=old.pk).update(expires_at=clock.now() - dt.timedelta(days=1))
    response = client.post(reverse("console:recharge_print"),
                           {"ids": [old.pk], "format": "pdf"}, follow=True)
    assert "Nothing to print" in text(response)
    page = text(client.get(reverse("console:recharge", args=[old.pk])))
    assert "Expired" in page
