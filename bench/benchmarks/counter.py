"""Call-shop counter: the live booth screen's refresh, and booth checkouts.

``callshop.board``
    ``callshop.booths.board()`` — what the booth screen asks for every second — with 20
    booths, each in an open session with 10 ended calls, one call in progress (its
    running cost rated) and 2 extras, plus 5 closed sessions waiting for payment
    (``unpaid_sessions()``). Baseline, in the same run: the same rows read with plain
    SQL through the same connection (booths, open and closed sessions, their calls and
    extras; four SELECTs), nothing computed. Targets: ratio ≥ 0.05× (model rows, masking
    and the running calls' rating on top of the raw reads) and, absolute, ≥ 5 refreshes
    a second — a refresh takes at most a fifth of the screen's 1 s polling interval. A
    refresh costs a fixed number of queries whatever the number of booths (a test checks
    it).

``callshop.checkout``
    A whole walk-in customer at the counter: ``open_session``, ``add_extra`` (the amount
    typed as text, read with ``parse_amount``) and ``checkout`` with cash rounding to 25,
    each its own transaction with its audit row, the cash into the cashier's open shift.
    Baseline: the checkout's ledger posting alone (``ledger.post`` of the same four
    lines into the same shift). Targets: ratio ≥ 0.01× (three transactions of ORM-built
    statements, three audit rows, against one hand-written posting) and, absolute, ≥ 2
    customers a second — a counter serves a customer in minutes, not milliseconds.

``BENCH_COUNTER_BOOTHS`` lowers the number of booths for a quick look.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets

from django.db import connection, transaction

from ficha.accounts import services as accounts
from ficha.callshop import booths
from ficha.callshop import services as callshop
from ficha.callshop.counter_models import BoothExtra
from ficha.callshop.models import Booth, BoothSession, Call
from ficha.core import audit, clock, roles
from ficha.ledger import services as ledger

from ..runner import Context, Measurement, register

BOOTHS = 20
CALLS = 10
UNPAID = 5
BOARD_RATIO = 0.05
BOARD_PER_SECOND = 5.0
CHECKOUT_RATIO = 0.01
CHECKOUT_PER_SECOND = 2.0
DECK = "225;Côte d'Ivoire;100\n22507;Côte d'Ivoire mobile;120\n33;France;150\n"


def _cashier(tag: str) -> audit.Actor:
    roles.sync_roles()
    user = accounts.create_staff(audit.SYSTEM, f"bench-cashier-{tag}", "bench-pass-9",
                                 roles.CASHIER, "Bench")
    return audit.Actor(user=user, ip="127.0.0.1", source="console")


def _deck():
    found = callshop.deck_for_price_group("")
    if found is None:
        found = callshop.import_deck(audit.SYSTEM, DECK, f"bench-{secrets.token_hex(3)}").deck
    return found


def _session_with_calls(desk: audit.Actor, booth: Booth, calls: int, *, live: bool):
    session = booths.open_session(desk, booth)
    now = clock.now()
    for k in range(calls):
        decision = callshop.authorize(booth.endpoint, f"002250712{k:04d}")
        callshop.end_call(decision.call.pk, 30 + 17 * k)
    if live:
        decision = callshop.authorize(booth.endpoint, "0033123456789")
        Call.objects.filter(pk=decision.call.pk).update(
            state=Call.State.ANSWERED, answered_at=now - dt.timedelta(seconds=95))
    booths.add_extra(desk, session, description="Internet", amount=200,
                     kind=BoothExtra.Kind.INTERNET)
    booths.add_extra(desk, session, description="Coffee", amount=300)
    return session


@register("callshop.board", "the live booth screen's refresh (20 booths) vs reading its rows")
def board(ctx: Context, count: int | None = None, calls: int = CALLS) -> list[Measurement]:
    count = count or int(os.environ.get("BENCH_COUNTER_BOOTHS", BOOTHS))
    tag = secrets.token_hex(3)
    desk = _cashier(tag)
    _deck()
    ctx.log(f"callshop.board: {count} booths with {calls} calls each")
    for n in range(count):
        booth = Booth.objects.create(name=f"bench-{tag}-{n}", endpoint=f"b{tag}{n}")
        _session_with_calls(desk, booth, calls, live=True)
    for n in range(min(UNPAID, count)):
        booth = Booth.objects.create(name=f"bench-{tag}-closed-{n}", endpoint=f"c{tag}{n}")
        booths.close_session(desk, _session_with_calls(desk, booth, 2, live=False))

    q = connection.ops.quote_name
    sqls = [
        f"SELECT * FROM {q(Booth._meta.db_table)} WHERE {q('active')} ORDER BY {q('name')}",
        f"SELECT * FROM {q(BoothSession._meta.db_table)} WHERE {q('state')} IN "
        "('open', 'closed')",
        f"SELECT c.* FROM {q(Call._meta.db_table)} c JOIN {q(BoothSession._meta.db_table)} s "
        f"ON c.{q('session_id')} = s.{q('id')} WHERE s.{q('state')} IN ('open', 'closed') "
        f"ORDER BY c.{q('started_at')}",
        f"SELECT e.* FROM {q(BoothExtra._meta.db_table)} e JOIN "
        f"{q(BoothSession._meta.db_table)} s ON e.{q('session_id')} = s.{q('id')} "
        f"WHERE s.{q('state')} IN ('open', 'closed')",
    ]

    def subject(n: int) -> None:
        for _ in range(n):
            states = booths.board()
            unpaid = booths.unpaid_sessions()
            assert len(states) >= count and len(unpaid) >= min(UNPAID, count)

    def baseline(n: int) -> None:
        for _ in range(n):
            with connection.cursor() as cur:
                for sql in sqls:
                    cur.execute(sql)
                    cur.fetchall()

    # what the screen shows adds up
    state = next(s for s in booths.board() if s.booth.name == f"bench-{tag}-0")
    assert len(state.bill.calls) == calls and len(state.bill.live) == 1
    m = ctx.compare(f"callshop.board[{count} booths]", subject, baseline,
                    unit="refreshes/s", baseline_unit="raw reads of the rows/s",
                    target=BOARD_RATIO,
                    subject_label="booths.board() + unpaid_sessions(): bills, running costs",
                    baseline_label="four plain SELECTs of the same rows")
    return [m, _absolute(m, BOARD_PER_SECOND, "refreshes/s")]


def _absolute(m: Measurement, target: float, unit: str) -> Measurement:
    return Measurement(
        name=f"{m.name} >= {target:g}/s", unit=unit, value=m.value, baseline=target,
        baseline_unit=f"{unit} target", target=1.0,
        subject_label=f"{m.subject_label} (median of the repetitions above)",
        baseline_label=f"at least {target:g} {unit}", details=m.details)


@register("callshop.checkout", "open, extra, checkout of a booth session vs its ledger post")
def checkout(ctx: Context) -> list[Measurement]:
    tag = secrets.token_hex(3)
    desk = _cashier(tag)
    shift = ledger.open_shift(desk, 10_000)
    booths.update_counter_settings(desk, cash_rounding_step=25, cash_rounding_mode="nearest",
                                   mask_digits=3)
    booth = Booth.objects.create(name=f"bench-{tag}", endpoint=f"k{tag}")

    def subject(n: int) -> None:
        for _ in range(n):
            session = booths.open_session(desk, booth)
            booths.add_extra(desk, session, description="Coffee", amount="1,210",
                             locale="en")
            booths.checkout(desk, session, "2,000", locale="en")

    lines = [(ledger.CASH, 1_200), (ledger.REVENUE_CALLS, 0),
             (ledger.REVENUE_PRODUCTS, -1_210), (ledger.ADJUSTMENTS, 10)]

    def baseline(n: int) -> None:
        for _ in range(n):
            with transaction.atomic():
                ledger.post("bench.checkout", lines, actor=desk, shift=shift,
                            memo="bench", reference="bench")

    m = ctx.compare("callshop.checkout", subject, baseline, unit="customers/s",
                    baseline_unit="ledger postings/s", target=CHECKOUT_RATIO,
                    subject_label="open_session + add_extra + checkout (3 transactions)",
                    baseline_label="the checkout's ledger.post alone")
    return [m, _absolute(m, CHECKOUT_PER_SECOND, "customers/s")]
