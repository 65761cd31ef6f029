"""Token requests to the API take a shorter middleware chain and a cached token lookup,
and lose none of their checks (ficha.core.middleware.TokenApiMiddleware,
ficha.accounts.tokens: the per-process cache)."""

from __future__ import annotations

import datetime as dt
import os

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from ficha.accounts import tokens
from ficha.accounts.models import ApiToken
from ficha.core import clock, throttle
from ficha.recharges import services as rs
from ficha.recharges.models import Recharge

from .conftest import actor_for

V1 = "/api/v1"


def token_client(plaintext: str, **extra) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Bearer {plaintext}", **extra)


# --- the shorter chain -----------------------------------------------------------------------
def test_a_token_request_gets_no_session_but_every_security_header(api_token):
    _token, plaintext = api_token("cashier")
    response = token_client(plaintext).get(f"{V1}/me")
    assert response.status_code == 200 and response.json()["via"] == "token"
    assert response["Content-Security-Policy"] == settings.CONTENT_SECURITY_POLICY
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Language"] == "en"
    # the cookie-session middleware did not run: no session, messages or htmx on the
    # request, no cookie in the answer
    request = response.wsgi_request
    assert not any(hasattr(request, name) for name in ("session", "_messages", "htmx"))
    assert not response.cookies
    # a request without the header takes the whole chain
    assert hasattr(Client().get(f"{V1}/me").wsgi_request, "session")


def test_a_token_request_still_needs_a_valid_token_and_the_role(api_token, make_customer):
    _token, plaintext = api_token("voucher_seller")
    customer = make_customer("ana")
    assert token_client("fch_" + "x" * 43).get(f"{V1}/customers").status_code == 401
    assert token_client(plaintext).get(f"{V1}/customers").status_code == 403
    response = token_client(plaintext).get(f"{V1}/customers/{customer.pk}?per_page=5")
    assert response.status_code in (403, 422)  # role checked, and unknown names refused
    refused = token_client(plaintext).get(f"{V1}/me?x=1")
    assert refused.status_code == 422 and refused.json()["code"] == "unknown_parameter"


def test_a_token_request_answers_in_the_language_asked(api_token):
    _token, plaintext = api_token("voucher_seller")
    response = token_client(plaintext, HTTP_ACCEPT_LANGUAGE="fr").get(f"{V1}/customers")
    assert response.status_code == 403
    assert response["Content-Language"] == "fr"
    assert "rôle" in response.json()["detail"]


def test_a_token_redemption_is_still_throttled(api_token, office, desk, make_customer):
    _token, plaintext = api_token("cashier")
    customer = make_customer("mallory")
    client = token_client(plaintext)
    statuses = []
    with clock.frozen(dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)):
        for n in range(20_000_000, 20_000_100):
            guess = f"{n:08d}"
            if Recharge.objects.filter(code=guess).exists():
                continue
            response = client.post(f"{V1}/recharges/redeem",
                                   {"code": guess, "customer_id": customer.pk},
                                   content_type="application/json")
            statuses.append(response.status_code)
            if response.status_code == 429:
                break
    assert statuses[-1] == 429 and response["Retry-After"]
    assert statuses[:-1] == [400] * (throttle.policy("redeem").free + 1)


def test_the_session_still_needs_csrf_and_the_console_keeps_its_session(manager):
    client = Client(enforce_csrf_checks=True)
    client.force_login(manager)
    assert client.get(f"{V1}/me").json()["via"] == "session"
    refused = client.post(f"{V1}/customers", {"username": "zed"},
                          content_type="application/json")
    assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]
    # with an Authorization header the session cookie counts for nothing
    client.defaults["HTTP_AUTHORIZATION"] = "Bearer fch_nothing"
    assert client.get(f"{V1}/me").status_code == 401
    del client.defaults["HTTP_AUTHORIZATION"]
    assert client.get("/console/").status_code == 200


# --- the cached token lookup --------------------------------------------------------------
def test_a_token_is_read_once_then_remembered(api_token):
    _token, plaintext = api_token("cashier")
    assert tokens.authenticate_token(plaintext) is not None  # read, first use recorded
    with CaptureQueriesContext(connection) as got:
        first = tokens.authenticate_token(plaintext)
        second = tokens.authenticate_token(plaintext)
    assert got.captured_queries == []
    assert first == second and first is not second  # each caller gets its own instance
    assert first.is_active and tokens.roles.role_of(first) == "cashier"


def test_revocation_counts_on_the_next_request_of_a_remembered_token(api_token, owner):
    token, plaintext = api_token("cashier")
    client = token_client(plaintext)
    assert client.get(f"{V1}/me").status_code == 200
    assert client.get(f"{V1}/me").status_code == 200  # from the cache
    tokens.revoke_token(actor_for(owner), token)
    assert client.get(f"{V1}/me").status_code == 401


def _other_process_publishes():
    """What another worker process does after its change commits: a new generation file
    (this process's own cache is not touched)."""
    path = settings.DATA_DIR / tokens.GENERATION_FILE
    tmp = path.with_name("other-process.tmp")
    tmp.write_text(os.urandom(8).hex())
    os.replace(tmp, path)


def test_a_revocation_in_another_process_counts_on_the_next_request(api_token):
    token, plaintext = api_token("cashier")
    client = token_client(plaintext)
    assert client.get(f"{V1}/me").status_code == 200
    # the other process's write: no signal reaches this process
    ApiToken.objects.filter(pk=token.pk).update(revoked_at=clock.now())
    assert client.get(f"{V1}/me").status_code == 200  # still remembered here...
    _other_process_publishes()
    assert client.get(f"{V1}/me").status_code == 401  # ...until the other one publishes


def test_a_change_behind_djangos_back_counts_after_the_cache_time(api_token, monkeypatch):
    token, plaintext = api_token("cashier")
    assert tokens.authenticate_token(plaintext) is not None
    type(token.user).objects.filter(pk=token.user_id).update(is_active=False)  # raw SQL
    later = tokens.time.monotonic() + tokens.CACHE_SECONDS
    monkeypatch.setattr(tokens.time, "monotonic", lambda: later)
    assert tokens.authenticate_token(plaintext) is None


def test_a_change_commits_before_other_processes_hear_of_it(
        api_token, owner, django_capture_on_commit_callbacks):
    token, plaintext = api_token("cashier")
    path = settings.DATA_DIR / tokens.GENERATION_FILE
    before = path.read_text() if path.exists() else None
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        tokens.revoke_token(actor_for(owner), token)
    assert (path.read_text() if path.exists() else None) == before  # not yet committed
    for callback in callbacks:
        callback()
    assert path.read_text() != before
    assert tokens.authenticate_token(plaintext) is None


@pytest.mark.parametrize("change", ["role", "disable", "delete"])
def test_staff_changes_forget_remembered_tokens(api_token, owner, change):
    from ficha.accounts import services as accounts
    from ficha.core import roles

    token, plaintext = api_token("manager")
    assert tokens.authenticate_token(plaintext) is not None
    if change == "role":
        accounts.set_staff_role(actor_for(owner), token.user, roles.VOUCHER_SELLER)
        assert roles.role_of(tokens.authenticate_token(plaintext)) == roles.VOUCHER_SELLER
    elif change == "disable":
        accounts.set_staff_active(actor_for(owner), token.user, False)
        assert tokens.authenticate_token(plaintext) is None
    else:
        ApiToken.objects.filter(pk=token.pk).delete()
        assert tokens.authenticate_token(plaintext) is None


def test_a_person_logging_in_keeps_the_tokens_remembered(api_token, manager):
    _token, plaintext = api_token("cashier")
    assert tokens.authenticate_token(plaintext) is not None
    Client().force_login(manager)  # saves the manager's last_login
    with CaptureQueriesContext(connection) as got:
        assert tokens.authenticate_token(plaintext) is not None
    assert got.captured_queries == []


def test_redemptions_through_a_remembered_token_credit_once(api_token, office, desk,
                                                           make_customer):
    _token, plaintext = api_token("cashier")
    batch = rs.generate(office, count=3, amount=500, label="TP")
    rs.sell_batch(desk, batch)
    customer = make_customer("amina")
    client = token_client(plaintext)
    codes = [r.code for r in batch.recharges.order_by("id")]
    for code in codes:
        ok = client.post(f"{V1}/recharges/redeem", {"code": code, "customer_id": customer.pk},
                         content_type="application/json")
        assert ok.status_code == 200, ok.content
    again = client.post(f"{V1}/recharges/redeem", {"code": codes[0],
                                                   "customer_id": customer.pk},
                        content_type="application/json")
    assert again.status_code == 409
    assert ok.json()["balance"]["amount_minor"] == 1500
