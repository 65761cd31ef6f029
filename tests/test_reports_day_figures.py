"""The dashboard's day figures: one statement that must say what the separate reports say.

``reports.day_figures`` reads the day's money taken, revenue, customers served, new
customers and open drawers with two statements; ``money_taken``, ``revenue``,
``customers_served``, ``new_customers`` and ``open_drawers`` are the plain ORM queries that
define those figures (``_summary_by_the_orm`` a shift's summary). Whatever happened during
the day, for the venue and for each member of staff, both must agree. The dashboard's
statement count is pinned too: it was 15.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection, transaction
from django.db.models import Q, Sum
from django.db.models.functions import Coalesce
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ficha.accounts import services as accounts
from ficha.core import alerts, clock
from ficha.core import services as core_services
from ficha.ledger import services as ledger
from ficha.ledger.models import Entry, Shift, Transaction
from ficha.reports import services as reports

from .conftest import _staff, actor_for

NOON = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)
TODAY = NOON.date()
YESTERDAY = TODAY - dt.timedelta(days=1)

OPS = ("deposit", "refund", "cafe", "cash_sale", "recharge_sale", "safe_drop", "touch",
       "hotspot_from_credit", "close_and_reopen")
op = st.tuples(st.sampled_from(OPS), st.integers(0, 1), st.integers(0, 2),
               st.integers(1, 5_000), st.booleans())


def _separate(day: dt.date, staff=None) -> reports.DayFigures:
    start, end = reports.day_range(day)
    return reports.DayFigures(
        day=day,
        taken=reports.money_taken(start, end, staff),
        revenue=reports.revenue(start, end, staff),
        customers_served=reports.customers_served(start, end, staff),
        new_customers=reports.new_customers(start, end) if staff is None else 0,
        drawers=reports.open_drawers(staff),
    )


def _summary_by_the_orm(shift) -> reports.ShiftSummary:
    """``shift_summary`` as ORM queries: what the written-out statements must agree with."""
    cash_id = ledger.account_id(ledger.CASH)
    cash = Entry.objects.filter(transaction__shift=shift, account_id=cash_id)
    per_kind = (
        cash.exclude(transaction__kind__in=reports.SHIFT_KINDS)
        .values_list("transaction__kind")
        .annotate(inflow=Coalesce(Sum("amount", filter=Q(amount__gt=0)), 0),
                  outflow=Coalesce(Sum("amount", filter=Q(amount__lt=0)), 0))
        .order_by("transaction__kind")
    )
    cash_in = sum(i for _k, i, _o in per_kind)
    cash_out = -sum(o for _k, _i, o in per_kind)
    floats = cash.filter(transaction__kind="shift.open").aggregate(s=Sum("amount"))["s"] or 0
    expected = shift.expected if shift.expected is not None else floats + cash_in - cash_out
    count = Transaction.objects.filter(shift=shift).exclude(
        kind__in=reports.SHIFT_KINDS).count()
    return reports.ShiftSummary(shift=shift, opening_float=floats, cash_in=cash_in,
                                cash_out=cash_out, expected=expected,
                                by_kind=[(k, i + o) for k, i, o in per_kind],
                                transactions=count)


def _same(got: reports.DayFigures, want: reports.DayFigures) -> None:
    assert got.day == want.day
    assert got.taken == want.taken
    assert got.revenue.streams == want.revenue.streams
    assert (got.customers_served, got.new_customers) == (want.customers_served,
                                                         want.new_customers)
    assert [(d.shift.pk, d.expected) for d in got.drawers] == [
        (d.shift.pk, d.expected) for d in want.drawers]
    assert got.cash_in_drawers == want.cash_in_drawers


@settings(max_examples=20, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(ops=st.lists(op, max_size=12))
def test_day_figures_say_what_the_separate_reports_say(db, ops):
    with transaction.atomic():  # each example starts from an empty database
        _play(ops)
        transaction.set_rollback(True)
    ledger.clear_cache()
    core_services.clear_cache()


def _play(ops):
    ledger.clear_cache()
    core_services.clear_cache()
    people = [_staff("ana", "cashier"), _staff("ben", "cashier")]
    staff_actors = [actor_for(p) for p in people]
    with clock.frozen(NOON - dt.timedelta(days=1)):
        shifts = [ledger.open_shift(a, 1_000) for a in staff_actors]
        customers = [accounts.create_customer(actor_for(people[0]), f"c{i}")
                     for i in range(3)]
    for kind, who, cust, amount, yesterday in ops:
        at = NOON - dt.timedelta(days=1 if yesterday else 0, minutes=len(kind))
        actor, shift, customer = staff_actors[who], shifts[who], customers[cust]
        with clock.frozen(at):
            if kind == "deposit":
                accounts.deposit(actor, customer, amount)
            elif kind == "refund":
                accounts.deposit(actor, customer, amount)
                credit = ledger.balance(customer.credit_account)
                if credit > 0:  # café or hotspot time may have spent it
                    accounts.refund(actor, customer, min(amount // 2 or 1, credit))
            elif kind == "cafe":
                ledger.post("cafe.session", [(customer.credit_account, amount),
                                             (ledger.REVENUE_CAFE, -amount)], actor=actor)
            elif kind == "hotspot_from_credit":
                ledger.post("hotspot.session", [(customer.credit_account, amount),
                                                (ledger.REVENUE_HOTSPOT, -amount)])
            elif kind == "cash_sale":
                ledger.post("pos.sale", [(ledger.CASH, amount),
                                         (ledger.REVENUE_PRODUCTS, -amount)],
                            actor=actor, shift=shift)
            elif kind == "recharge_sale":
                ledger.post("recharge.sale", [(ledger.CASH, amount),
                                              (ledger.RECHARGE_LIABILITY, -amount)],
                            actor=actor, shift=shift)
            elif kind == "safe_drop":  # cash leaves the drawer for the safe: "other"
                ledger.post("cash.drop", [(ledger.CASH, -amount), (ledger.SAFE, amount)],
                            actor=actor, shift=shift)
            elif kind == "touch":
                accounts.touch(customer)
            elif kind == "close_and_reopen":
                ledger.close_shift(actor, shift, counted=amount)
                shifts[who] = ledger.open_shift(actor, amount)
    with clock.frozen(NOON + dt.timedelta(hours=1)):
        for day in (TODAY, YESTERDAY):
            for staff in (None, *people):
                _same(reports.day_figures(day, staff=staff), _separate(day, staff))
        for shift in Shift.objects.all():
            assert reports.shift_summary(shift) == _summary_by_the_orm(shift)


def test_an_empty_day(db, owner):
    _same(reports.day_figures(), _separate(reports.venue_today()))
    figures = reports.day_figures(staff=owner)
    assert figures.taken.net == 0 and figures.revenue.total == 0
    assert figures.customers_served == 0 and figures.drawers == []


# --- statements per dashboard -----------------------------------------------------------
def _busy_day(cashier, owner, make_customer):
    actor = actor_for(cashier)
    shift = ledger.open_shift(actor, 10_000)
    customers = [make_customer(f"d{i}") for i in range(5)]
    for c in customers:
        accounts.deposit(actor, c, 1_000)
        ledger.post("cafe.session", [(c.credit_account, 300), (ledger.REVENUE_CAFE, -300)])
    ledger.open_shift(actor_for(owner), 0)
    alerts.raise_alert(alerts.FRAUD, "Unsold code 1234 tried at PC 3", source="PC 3")
    return shift


@pytest.mark.parametrize("role", ["owner", "cashier"])
def test_the_dashboard_is_few_statements(client, owner, cashier, make_customer, role,
                                        django_capture_on_commit_callbacks):
    # as if each posting had committed: system accounts made here are then remembered
    with django_capture_on_commit_callbacks(execute=True):
        _busy_day(cashier, owner, make_customer)
    user = owner if role == "owner" else cashier
    client.force_login(user)
    # warm the caches (accounts, settings); twice: a system account created by the first
    # request is remembered only once it is seen committed
    client.get(reverse("console:dashboard"))
    client.get(reverse("console:dashboard"))
    with CaptureQueriesContext(connection) as got:
        response = client.get(reverse("console:dashboard"))
    assert response.status_code == 200
    # the session's last-seen stamp is written once a minute at most: not the page's work
    sqls = [q["sql"] for q in got.captured_queries
            if not q["sql"].startswith(("SAVEPOINT", "RELEASE SAVEPOINT"))
            and not q["sql"].startswith('UPDATE "django_session"')]
    # session, user, staff session check, the user's roles, the day's figures, open
    # drawers, the user's shift and its summary (2), open alerts (owner; one statement
    # while they fit on the page)
    assert len(sqls) <= (10 if role == "owner" else 9), "\n".join(sqls)
    assert sum("ledger_shift" in s and "closed_at" in s and "opened_by_id" in s
               and "LIMIT 1" in s for s in sqls) <= 1  # the user's shift, read once
    assert sum('FROM "auth_group"' in s for s in sqls) <= 1  # roles: once per request
    assert sum('FROM "core_alert"' in s and "COUNT(*)" in s for s in sqls) <= 1
