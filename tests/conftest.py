from __future__ import annotations

import pytest
from django.core.management.commands import flush
from django.utils import translation

from ficha.core import audit, roles, throttle
from ficha.core import services as core_services
from ficha.ledger import guard
from ficha.ledger import services as ledger

# Transactional tests empty every table between tests; the ledger's append-only
# triggers would refuse that on SQLite, so the flush (and only the flush) unlocks them.
_original_flush = flush.Command.handle


def _flush_unlocked(self, *args, **kwargs):
    with guard.unlocked():
        return _original_flush(self, *args, **kwargs)


flush.Command.handle = _flush_unlocked


# --- Slow tests ----------------------------------------------------------------------------
# Tests marked ``@pytest.mark.slow`` (benchmarks' smoke runs, concurrency storms, real
# servers) are skipped by a plain ``pytest`` so that the edit-test loop stays fast, and the
# run says so. scripts/test.sh (the whole suite, what CI runs) passes --run-slow.
def pytest_addoption(parser):
    parser.addoption("--run-slow", action="store_true", default=False,
                     help="also run the tests marked slow (scripts/test.sh does)")


SLOW_SKIP_REASON = "slow test: run with --run-slow (scripts/test.sh runs every test)"


def pytest_collection_modifyitems(config, items):
    if config.getoption("--run-slow"):
        return
    skip = pytest.mark.skip(reason=SLOW_SKIP_REASON)
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if config.getoption("--run-slow"):
        return
    skipped = [r for r in terminalreporter.stats.get("skipped", [])
               if SLOW_SKIP_REASON in str(getattr(r, "longrepr", ""))]
    if skipped:
        terminalreporter.write_line(
            f"{len(skipped)} slow tests were skipped; run them with --run-slow "
            "(scripts/test.sh runs the whole suite).", yellow=True)


@pytest.fixture(autouse=True)
def _fresh_caches():
    # A request served in another language leaves it active in this thread: start each
    # test in English, as a fresh process would.
    translation.activate("en")
    core_services.clear_cache()
    ledger.clear_cache()
    throttle.discard_pending()  # refusals a previous test counted but never wrote
    yield
    core_services.clear_cache()
    ledger.clear_cache()


def _staff(username: str, role: str):
    from ficha.accounts import services as accounts

    roles.sync_roles()
    return accounts.create_staff(audit.SYSTEM, username, "correct-horse-9", role,
                                 username.title())


@pytest.fixture
def owner(db):
    return _staff("olga", roles.OWNER)


@pytest.fixture
def manager(db):
    return _staff("manu", roles.MANAGER)


@pytest.fixture
def cashier(db):
    return _staff("cass", roles.CASHIER)


@pytest.fixture
def seller(db):
    return _staff("sela", roles.VOUCHER_SELLER)


def actor_for(user, source: str = "console", ip: str = "10.0.0.5") -> audit.Actor:
    return audit.Actor(user=user, ip=ip, source=source)


@pytest.fixture
def cashier_actor(cashier):
    return actor_for(cashier)


@pytest.fixture
def open_shift(cashier_actor):
    return ledger.open_shift(cashier_actor, 10_000)


@pytest.fixture
def office(owner):
    """The owner at the console (generates, voids)."""
    return actor_for(owner)


@pytest.fixture
def desk(cashier, open_shift):
    """The cashier with an open shift (the one who sells in most tests)."""
    return actor_for(cashier)


@pytest.fixture
def make_customer(db):
    from ficha.accounts import services as accounts

    counter = {"n": 0}

    def make(username: str | None = None, **fields):
        counter["n"] += 1
        name = username or f"cust{counter['n']}"
        fields.setdefault("password", "pw-" + name)
        return accounts.create_customer(audit.SYSTEM, name, **fields)

    return make


# --- JSON API (tests/test_api*.py) -------------------------------------------------------
@pytest.fixture
def api_client(db):
    """api_client(user=None, token=None): a test Client for /api/v1/.

    ``user`` logs in with the console session; ``token`` sends ``Authorization: Bearer``.
    ``client.post(path, data, key="...")`` sends JSON with an Idempotency-Key.
    """
    import json

    from django.test import Client

    class ApiClient(Client):
        def _send(self, method, path, data=None, key=None, headers=None, **extra):
            headers = dict(headers or {})
            if key is not None:
                headers["Idempotency-Key"] = key
            if data is not None and not isinstance(data, (bytes, str)):
                data = json.dumps(data)
            return self.generic(method, path, data or "", content_type="application/json",
                                headers=headers, **extra)

        def post(self, path, data=None, key=None, headers=None, **extra):
            return self._send("POST", path, data, key, headers, **extra)

        def patch(self, path, data=None, key=None, headers=None, **extra):
            return self._send("PATCH", path, data, key, headers, **extra)

    def make(user=None, token=None, **kwargs):
        if token is not None:
            kwargs["HTTP_AUTHORIZATION"] = f"Bearer {token}"
        client = ApiClient(**kwargs)
        if user is not None:
            client.force_login(user)
        return client

    return make


@pytest.fixture
def api_token(db):
    """api_token(role, name=None) -> (ApiToken, plaintext) created by the system."""
    from ficha.accounts import tokens

    counter = {"n": 0}

    def make(role: str, name: str | None = None):
        counter["n"] += 1
        roles.sync_roles()
        return tokens.create_token(audit.SYSTEM, name or f"{role}-{counter['n']}", role)

    return make


@pytest.fixture(autouse=True)
def _fresh_recharge_caches():
    """The recharge service caches the code formats ever issued; tests start clean."""
    from ficha.recharges import services as recharges

    recharges.clear_cache()
    yield
    recharges.clear_cache()


# The browser tests' headless Chromium (skips cleanly without Chromium or Playwright).
# A desktop page; a browser test file may define its own ``page``.
from .browser_support import chromium, page  # noqa: E402,F401


@pytest.fixture(autouse=True)
def _fresh_hotspot_plans():
    """The logins' plan cache and verified passwords outlive a test's rolled-back rows:
    tests start clean."""
    import importlib

    from ficha.hotspot.services import plans

    authorize = importlib.import_module("ficha.hotspot.services.authorize")

    plans.forget_plans()
    authorize.forget_verified()
    yield
    plans.forget_plans()
    authorize.forget_verified()
