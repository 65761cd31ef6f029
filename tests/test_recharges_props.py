"""Property test: any sequence of recharge operations keeps the books right.

After every operation: each transaction sums to zero, the recharge liability equals the
face value of sold codes nobody has used (nor moved to breakage), customers hold exactly
the value of the codes they redeemed, every code is in the status a simple model
predicts, and the instant totals agree with a count of the codes.
"""

from __future__ import annotations

import datetime as dt
import itertools

from django.db.models import Sum
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ficha.accounts import services as accounts
from ficha.core import audit, clock
from ficha.core import services as core_services
from ficha.ledger import services as ledger
from ficha.recharges import services as rs
from ficha.recharges.models import Recharge

from .conftest import actor_for
from .recharges_support import assert_books_balanced, fresh_source

S = Recharge.Status
POOL = 6
_examples = itertools.count()
BASE = dt.datetime(2027, 1, 1, 12, 0, tzinfo=dt.UTC)

OPS = st.lists(
    st.one_of(
        st.tuples(st.just("sell"), st.integers(0, POOL - 1), st.sampled_from([None, 80])),
        st.tuples(st.just("sell_all"), st.just(0), st.sampled_from([None, 90])),
        st.tuples(st.just("unsell"), st.integers(0, POOL - 1), st.just(None)),
        st.tuples(st.just("redeem"), st.integers(0, POOL - 1), st.integers(0, 1)),
        st.tuples(st.just("void"), st.integers(0, POOL - 1), st.just(None)),
        st.tuples(st.just("delete"), st.integers(0, POOL - 1), st.just(None)),
        st.tuples(st.just("advance"), st.integers(1, 4), st.just(None)),
        st.tuples(st.just("close_shift"), st.just(0), st.just(None)),
        st.tuples(st.just("breakage"), st.just(0), st.booleans()),
    ),
    min_size=1,
    max_size=18,
)


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(ops=OPS)
def test_any_sequence_keeps_the_books_right(db, owner, cashier, ops):
    office, desk = actor_for(owner), actor_for(cashier)
    now = BASE + dt.timedelta(days=100 * next(_examples))
    with clock.frozen(now):
        ledger.current_shift(owner) or ledger.open_shift(office, 100_000)
        shift = ledger.current_shift(cashier) or ledger.open_shift(desk, 0)
        short = rs.generate(office, count=POOL // 2, amount=100, valid_days=3)
        forever = rs.generate(office, count=POOL - POOL // 2, amount=250)
    codes = list(short.recharges.order_by("id")) + list(forever.recharges.order_by("id"))
    customers = [accounts.create_customer(audit.SYSTEM, f"prop{now:%Y%m%d}{i}")
                 for i in range(2)]
    # the model: status, the shift it was sold in, whether it was ever sold
    model = {r.pk: {"status": S.UNSOLD, "shift": None, "sold": False} for r in codes}
    credit = {c.pk: 0 for c in customers}

    def live(r) -> bool:
        return r.expires_at is None or r.expires_at > now

    for op, arg, extra in ops:
        with clock.frozen(now):
            ok = True
            r = codes[arg] if op not in ("advance", "close_shift", "breakage") else None
            m = model[r.pk] if r is not None else None
            try:
                if op == "sell":
                    ok = m["status"] == S.UNSOLD and live(r)
                    rs.sell(desk, [r], price=extra)
                    assert ok, "sold a code that is not for sale"
                    m.update(status=S.SOLD, shift=shift.pk, sold=True)
                elif op == "sell_all":
                    for_sale = [c for c in codes
                                if model[c.pk]["status"] == S.UNSOLD and live(c)]
                    price = extra if len({c.amount for c in for_sale}) == 1 else None
                    ok = bool(for_sale)
                    n = rs.sell(desk, codes, price=price).count
                    assert n == len(for_sale)
                    for c in for_sale:
                        model[c.pk].update(status=S.SOLD, shift=shift.pk, sold=True)
                elif op == "unsell":
                    ok = m["status"] == S.SOLD and m["shift"] == shift.pk
                    rs.unsell(desk, [r])
                    assert ok, "unsold a code outside its shift"
                    m.update(status=S.UNSOLD, shift=None, sold=False)
                elif op == "redeem":
                    ok = m["status"] == S.SOLD and live(r)
                    got = rs.redeem(r.code, customer=customers[extra], source=fresh_source())
                    assert ok, "redeemed a code that is not redeemable"
                    m["status"] = S.USED
                    credit[customers[extra].pk] += r.amount
                    assert got.balance == credit[customers[extra].pk]
                elif op == "void":
                    ok = m["status"] == S.SOLD and live(r)
                    rs.void(office, r, "property test")
                    assert ok, "voided a code that cannot be voided"
                    m["status"] = S.VOID
                elif op == "delete":
                    ok = m["status"] == S.UNSOLD or (m["status"] == S.EXPIRED and not m["sold"])
                    rs.delete(office, [r])
                    assert ok, "deleted a code that cannot be deleted"
                    m["status"] = S.DELETED
                elif op == "advance":
                    now += dt.timedelta(days=arg)
                    with clock.frozen(now):
                        rs.expire_due()
                    for c in codes:
                        if model[c.pk]["status"] in (S.UNSOLD, S.SOLD) and not live(c):
                            model[c.pk]["status"] = S.EXPIRED
                elif op == "close_shift":
                    ledger.close_shift(desk, shift, counted=ledger.shift_cash(shift))
                    shift = ledger.open_shift(desk, 0)
                elif op == "breakage":
                    core_services.update_settings(office, currency_locked=True,
                                                  breakage_enabled=extra)
                    core_services.clear_cache()
            except rs.RechargeError:
                assert not ok, f"{op} refused a valid request"
        # --- invariants after every step ---
        assert_books_balanced()
        got = dict(Recharge.objects.filter(pk__in=model).values_list("pk", "status"))
        assert got == {pk: m["status"] for pk, m in model.items()}, op
        for c in customers:
            assert accounts.balance(c) == credit[c.pk]
            used = Recharge.objects.filter(used_by=c).aggregate(s=Sum("amount"))["s"] or 0
            assert used == credit[c.pk]
    # the instant totals agree with a scan of the codes
    with clock.frozen(now):
        every = rs.search(status=list(S.values))
        assert rs.totals() == rs.totals(every.filter(amount__gt=0))
        assert rs.totals()["outstanding"]["value"] == ledger.balance(ledger.RECHARGE_LIABILITY)
        rs.compact_tally()
        assert rs.totals() == rs.totals(every.filter(amount__gt=0))
    core_services.update_settings(office, currency_locked=True, breakage_enabled=True)
