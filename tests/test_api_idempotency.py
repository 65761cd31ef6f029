from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.db import connection

from ficha.accounts import services as accounts
from ficha.api import services as api_services
from ficha.api.models import IdempotencyKey
from ficha.cli import worker
from ficha.core import clock
from ficha.ledger import services as ledger
from ficha.ledger.models import Transaction

from .conftest import actor_for

V1 = "/api/v1"


@pytest.fixture
def setup(api_client, cashier, make_customer, open_shift):
    customer = make_customer("ana")
    return api_client(user=cashier), f"{V1}/customers/{customer.pk}/deposits", customer


@pytest.fixture
def spy_deposit(monkeypatch):
    calls = []
    real = accounts.deposit

    def counting(*args, **kwargs):
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(accounts, "deposit", counting)
    return calls


def deposits() -> int:
    return Transaction.objects.filter(kind="deposit").count()


def test_replay_returns_the_stored_response_without_running_again(setup, spy_deposit):
    client, url, customer = setup
    first = client.post(url, {"amount_minor": 1000}, key="abc-1")
    assert first.status_code == 201
    assert "Idempotent-Replayed" not in first
    again = client.post(url, {"amount_minor": 1000}, key="abc-1")
    assert again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert len(spy_deposit) == 1
    assert deposits() == 1 and accounts.balance(customer) == 1000
    # the same JSON written differently is the same request
    third = client.post(url, '{ "amount_minor" : 1000 }', key="abc-1")
    assert third["Idempotent-Replayed"] == "true"


def test_without_a_key_every_post_runs(setup):
    client, url, customer = setup
    client.post(url, {"amount_minor": 1000})
    client.post(url, {"amount_minor": 1000})
    assert accounts.balance(customer) == 2000


def test_same_key_with_a_different_request_is_refused(setup, make_customer):
    client, url, customer = setup
    client.post(url, {"amount_minor": 1000}, key="k")
    different_body = client.post(url, {"amount_minor": 2000}, key="k")
    assert different_body.status_code == 422
    assert different_body.json()["code"] == "idempotency_key_reused"
    assert "different request" in different_body.json()["detail"]
    other = make_customer("bea")
    different_path = client.post(f"{V1}/customers/{other.pk}/deposits", {"amount_minor": 1000},
                                 key="k")
    assert different_path.status_code == 422
    assert accounts.balance(customer) == 1000 and accounts.balance(other) == 0


def test_keys_belong_to_one_principal(setup, api_client, manager):
    client, url, customer = setup
    ledger.open_shift(actor_for(manager), 0)
    client.post(url, {"amount_minor": 1000}, key="shared")
    theirs = api_client(user=manager).post(url, {"amount_minor": 1000}, key="shared")
    assert theirs.status_code == 201 and "Idempotent-Replayed" not in theirs
    assert accounts.balance(customer) == 2000


def test_a_key_in_progress_answers_409(setup, cashier):
    client, url, customer = setup
    first = client.post(url, {"amount_minor": 1000}, key="busy")
    # as if that request had not finished yet: its key is still in progress
    IdempotencyKey.objects.filter(key="busy").update(status=None, body="")
    response = client.post(url, {"amount_minor": 1000}, key="busy")
    assert first.status_code == 201
    assert response.status_code == 409
    assert response.json()["code"] == "idempotency_in_progress"
    assert response["Retry-After"]
    assert deposits() == 1


def test_an_abandoned_key_is_taken_over_after_a_while(setup):
    client, url, customer = setup
    client.post(url, {"amount_minor": 1000}, key="dead")
    # as if the first request's process died: its changes were never committed
    IdempotencyKey.objects.filter(key="dead").update(
        status=None, body="", created_at=clock.now() - api_services.STALE_AFTER
    )
    response = client.post(url, {"amount_minor": 1000}, key="dead")
    assert response.status_code == 201 and "Idempotent-Replayed" not in response
    replay = client.post(url, {"amount_minor": 1000}, key="dead")
    assert replay["Idempotent-Replayed"] == "true"


def test_answers_of_the_operation_are_final_for_the_key(api_client, cashier, make_customer):
    customer = make_customer()
    client = api_client(user=cashier)
    url = f"{V1}/customers/{customer.pk}/deposits"
    refused = client.post(url, {"amount_minor": 500}, key="no-shift")
    assert refused.status_code == 409 and refused.json()["code"] == "no_open_shift"
    ledger.open_shift(actor_for(cashier), 0)
    replay = client.post(url, {"amount_minor": 500}, key="no-shift")
    assert replay.status_code == 409 and replay["Idempotent-Replayed"] == "true"
    assert client.post(url, {"amount_minor": 500}, key="no-shift-2").status_code == 201


def test_requests_that_never_ran_do_not_use_up_the_key(setup, api_client, seller):
    client, url, customer = setup
    invalid = client.post(url, {"amount_minor": "lots"}, key="retry-me")
    assert invalid.status_code == 422
    assert client.post(url, {"amount_minor": 700}, key="retry-me").status_code == 201
    forbidden = api_client(user=seller).post(url, {"amount_minor": 1}, key="s-1")
    assert forbidden.status_code == 403
    unauthenticated = api_client().post(url, {"amount_minor": 1}, key="s-1")
    assert unauthenticated.status_code == 401
    assert not IdempotencyKey.objects.filter(key="s-1").exists()
    assert accounts.balance(customer) == 700


def test_a_server_error_rolls_back_and_frees_the_key(setup, monkeypatch):
    client, url, customer = setup
    real = accounts.deposit

    def broken(*args, **kwargs):
        real(*args, **kwargs)  # the money moves, then something fails
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(accounts, "deposit", broken)
    failed = client.post(url, {"amount_minor": 900}, key="boom")
    assert failed.status_code == 500
    assert failed.json()["code"] == "internal_error"
    assert "fire" not in failed.json()["detail"]
    assert accounts.balance(customer) == 0 and deposits() == 0
    monkeypatch.setattr(accounts, "deposit", real)
    retried = client.post(url, {"amount_minor": 900}, key="boom")
    assert retried.status_code == 201 and "Idempotent-Replayed" not in retried
    assert accounts.balance(customer) == 900


def test_losing_the_key_mid_request_rolls_the_work_back(setup, monkeypatch):
    client, url, customer = setup
    real = accounts.deposit

    def racing(*args, **kwargs):
        tx = real(*args, **kwargs)
        # a retry took the key over while this request ran
        IdempotencyKey.objects.filter(key="race").delete()
        return tx

    monkeypatch.setattr(accounts, "deposit", racing)
    response = client.post(url, {"amount_minor": 300}, key="race")
    assert response.status_code == 409
    assert deposits() == 0 and accounts.balance(customer) == 0


@pytest.mark.parametrize("key", ["", "x" * 256, "café", "a b"])
def test_malformed_keys_are_refused(setup, key):
    client, url, customer = setup
    response = client.post(url, {"amount_minor": 100}, key=key)
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_idempotency_key"
    assert accounts.balance(customer) == 0


def test_get_requests_ignore_the_key(setup):
    client, _url, customer = setup
    response = client.get(f"{V1}/customers/{customer.pk}", headers={"Idempotency-Key": "g"})
    assert response.status_code == 200 and not IdempotencyKey.objects.exists()


def test_keys_expire_and_the_worker_purges_them(setup):
    client, url, customer = setup
    client.post(url, {"amount_minor": 100}, key="old")
    later = clock.now() + api_services.TTL + dt.timedelta(seconds=1)
    with clock.frozen(later):
        # an expired key runs as new
        response = client.post(url, {"amount_minor": 100}, key="old")
        assert response.status_code == 201 and "Idempotent-Replayed" not in response
        client.post(url, {"amount_minor": 100}, key="fresh")
    assert accounts.balance(customer) == 300
    with clock.frozen(later + api_services.TTL + dt.timedelta(seconds=1)):
        assert dict(worker.jobs())["api.idempotency_purge"]() == 2
    assert not IdempotencyKey.objects.exists()


def test_purge_keeps_live_keys(setup):
    client, url, _customer = setup
    client.post(url, {"amount_minor": 100}, key="live")
    assert api_services.purge_idempotency_keys() == 0
    assert IdempotencyKey.objects.filter(key="live").exists()


# --- real concurrency ---------------------------------------------------------------------
@pytest.mark.django_db(transaction=True)
def test_concurrent_duplicates_run_once(api_client, cashier, make_customer, monkeypatch):
    ledger.open_shift(actor_for(cashier), 0)
    customer = make_customer("ana")
    url = f"{V1}/customers/{customer.pk}/deposits"
    inside, release = threading.Event(), threading.Event()
    real = accounts.deposit
    calls = []

    def slow(*args, **kwargs):
        calls.append(1)
        inside.set()
        release.wait(10)
        return real(*args, **kwargs)

    monkeypatch.setattr(accounts, "deposit", slow)
    results: dict[str, object] = {}

    def send(name):
        try:
            results[name] = api_client(user=cashier).post(url, {"amount_minor": 400}, key="dup")
        finally:
            connection.close()

    first = threading.Thread(target=send, args=("first",))
    first.start()
    assert inside.wait(10)
    second = threading.Thread(target=send, args=("second",))
    second.start()
    second.join(1.5)  # PostgreSQL answers 409 at once; SQLite waits for the writer
    release.set()
    first.join(15)
    second.join(15)
    assert results["first"].status_code == 201
    later = results["second"]
    assert (later.status_code == 409 and later.json()["code"] == "idempotency_in_progress") or (
        later.status_code == 201 and later["Idempotent-Replayed"] == "true"
    ), later.content
    assert len(calls) == 1
    assert Transaction.objects.filter(kind="deposit").count() == 1
    assert accounts.balance(customer) == 400


def test_every_post_operation_of_every_router_has_idempotency():
    from ficha.api.api import api
    from ficha.api.idempotency import idempotent

    posts = [op for bound in api._get_bound_routers()
             for view in bound.path_operations.values() for op in view.operations
             if "POST" in op.methods]
    assert len(posts) >= 9
    marker = idempotent(lambda request: None).__code__
    for op in posts:
        chain, run = [], op.run  # other view decorators may wrap it (functools.wraps)
        while run is not None:
            chain.append(getattr(run, "__code__", None))
            run = getattr(run, "__wrapped__", None)
        assert marker in chain, op.view_func.__name__
