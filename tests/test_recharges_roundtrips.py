"""How many statements one redemption sends to the database (each is a round trip).

Not a timing test: the number of statements is a property of the code, the same on a
fast machine and a slow one. ``python -m bench recharges.redeem_sql`` measures the speed.
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from ficha.core.models import AuditLog
from ficha.recharges import services as rs
from ficha.recharges.models import RedeemAttempt

from .conftest import actor_for
from .recharges_support import assert_books_balanced, fresh_source


@pytest.fixture
def sold(office, desk):
    batch = rs.generate(office, count=5, amount=500, label="RT")
    rs.sell_batch(desk, batch)
    return list(batch.recharges.order_by("id"))


def _statements(captured) -> list[str]:
    """The statements sent, without the test's own transaction: pytest-django wraps each
    test in one, which turns the redemption's BEGIN/COMMIT into a savepoint."""
    sqls = [q["sql"] for q in captured.captured_queries]
    savepoints = [s for s in sqls if s.startswith(("SAVEPOINT", "RELEASE SAVEPOINT"))]
    assert len(savepoints) == 2, savepoints  # the redemption's one transaction, no other
    return [s for s in sqls if s not in savepoints]


def test_a_service_redemption_is_few_statements(db, sold, make_customer, manager):
    amina = make_customer("amina")
    rs.redeem(sold[0].code, customer=amina, source=fresh_source())  # warm caches
    with CaptureQueriesContext(connection) as got:
        done = rs.redeem(sold[1].code, customer=amina, source=fresh_source(),
                         actor=actor_for(manager))
    sqls = _statements(got)
    assert done.amount == 500 and done.balance == 1000
    # claim, take the code, 2 ledger INSERTs, links + tally + attempt + the new balance
    # (one statement on PostgreSQL, four on SQLite), audit
    assert len(sqls) <= (6 if connection.vendor == "postgresql" else 9), sqls
    assert AuditLog.objects.filter(action="recharges.redeem").count() == 1
    assert RedeemAttempt.objects.filter(outcome="success").count() == 2
    assert_books_balanced()


def test_an_api_redemption_commits_once_with_its_audit_row(db, sold, make_customer,
                                                          api_client, api_token):
    amina = make_customer("amina")
    _token, secret = api_token("cashier")
    client = api_client(token=secret)
    first = client.post("/api/v1/recharges/redeem", {"code": sold[0].code,
                                                     "username": "amina"})
    assert first.status_code == 200, first.content
    with CaptureQueriesContext(connection) as got:
        response = client.post("/api/v1/recharges/redeem", {"code": sold[1].code,
                                                             "customer_id": amina.pk})
    assert response.status_code == 200, response.content
    sqls = _statements(got)
    # the service's and the customer: the token, its user and role were read by the first
    # request and are remembered by this process (ficha.accounts.tokens)
    assert len(sqls) <= (7 if connection.vendor == "postgresql" else 10), sqls
    assert not any("accounts_apitoken" in s or "auth_user" in s for s in sqls), sqls
    audit_at = next(i for i, s in enumerate(sqls) if "core_auditlog" in s)
    assert not any("recharges_recharge" in s for s in sqls[audit_at:])  # nothing re-read
    assert response.json()["balance"]["amount_minor"] == 1000
    assert AuditLog.objects.filter(action="recharges.redeem").count() == 2


def test_an_api_redemption_with_an_idempotency_key_adds_two_statements(
        db, sold, make_customer, api_client, api_token):
    amina = make_customer("amina")
    _token, secret = api_token("cashier")
    client = api_client(token=secret)
    first = client.post("/api/v1/recharges/redeem", {"code": sold[0].code,
                                                     "username": "amina"}, key="k-0")
    assert first.status_code == 200, first.content
    with CaptureQueriesContext(connection) as got:
        response = client.post("/api/v1/recharges/redeem", {"code": sold[1].code,
                                                             "customer_id": amina.pk},
                               key="k-1")
    assert response.status_code == 200, response.content
    sqls = [q["sql"] for q in got.captured_queries]
    blocks = [s for s in sqls if s.startswith("SAVEPOINT")]
    # the key's claim commits on its own (a concurrent replay sees it in progress), the
    # request and its stored answer commit together, the redemption nests in that
    assert len(blocks) == 3, sqls
    sqls = [s for s in sqls if not s.startswith(("SAVEPOINT", "RELEASE SAVEPOINT"))]
    # the redemption's (7 on PostgreSQL, 10 on SQLite) + the key claimed + its answer
    assert len(sqls) <= (9 if connection.vendor == "postgresql" else 12), sqls
    assert sum("api_idempotencykey" in s for s in sqls) == 2, sqls
    replay = client.post("/api/v1/recharges/redeem", {"code": sold[1].code,
                                                      "customer_id": amina.pk}, key="k-1")
    assert replay["Idempotent-Replayed"] == "true" and replay.json() == response.json()
