"""Hotspot accounting: Interim-Updates per second through the services, without UDP.

``hotspot.account_many``
    Interim-Updates of 256 open sessions (256 customers, one plan at 3600 an hour billed
    per second), each advancing its session by one second so that every one posts a
    debit, processed by ``hotspot.services.account_many`` in batches of 32 (what the
    RADIUS door's micro-batching hands it), against the same requests through
    ``account()`` one by one (one database transaction each). Target ≥ 2×: a batch
    shares its round trips, locks and commit.
"""

from __future__ import annotations

import itertools
import secrets
import time

from ficha.accounts import services as accounts
from ficha.core import audit
from ficha.hotspot import services as hs

from ..runner import Context, Measurement, register

TARGET = 2.0
SESSIONS = 256
BATCH = 32


class AccountingFixture:
    def __init__(self) -> None:
        tag = secrets.token_hex(3)
        actor = audit.Actor(source="bench", label="bench")
        self.nas = hs.create_nas(
            actor,
            name=f"bench-{tag}",
            address="192.0.2.1",
            secret="bench-secret-123",
            vendor="mikrotik",
        )
        hs.create_plan(
            actor, name=f"bench-{tag}", price_per_hour=3600, increment_seconds=1, is_default=True
        )
        self.users = []
        for k in range(SESSIONS):
            customer = accounts.create_customer(audit.SYSTEM, f"acct-{tag}-{k}")
            accounts.adjust(actor, customer, 10**12, "bench credit")
            self.users.append(customer.username)
        self.seconds = [0] * SESSIONS
        hs.account_many([(self.nas, self.req("start", k)) for k in range(SESSIONS)])
        self.next = itertools.cycle(range(SESSIONS))

    def req(self, status: str, k: int) -> hs.AcctRequest:
        return hs.AcctRequest(
            status=status,
            session_id=f"s{k}",
            username=self.users[k],
            session_time=self.seconds[k],
            input_octets=self.seconds[k],
            mac="AA:BB:CC:00:00:01",
        )

    def interims(self, n: int) -> list[hs.AcctRequest]:
        out = []
        for _ in range(n):
            k = next(self.next)
            self.seconds[k] += 1
            out.append(self.req("interim", k))
        return out

    def many_work(self):
        nas = self.nas

        def work(n: int) -> None:
            reqs = self.interims(n)
            for start in range(0, n, BATCH):
                for result in hs.account_many([(nas, r) for r in reqs[start : start + BATCH]]):
                    if isinstance(result, Exception) or not result.debit:
                        raise RuntimeError(f"an interim did not debit: {result!r}")

        return work

    def one_work(self):
        nas = self.nas

        def work(n: int) -> None:
            for r in self.interims(n):
                if not hs.account(nas, r).debit:
                    raise RuntimeError("an interim did not debit")

        return work


@register(
    "hotspot.account_many",
    "Interim-Updates/s: account_many in batches of 32 vs account() one by one",
)
def hotspot_account_many(ctx: Context) -> list[Measurement]:
    """Interim-Updates/s through account_many (batches of 32) vs account() (target 2x)."""
    fixture = AccountingFixture()
    measurement = ctx.compare(
        f"hotspot.account_many[batch {BATCH}]",
        fixture.many_work(),
        fixture.one_work(),
        unit="interims/s",
        baseline_unit="interims/s (one by one)",
        target=TARGET,
        subject_label=f"hotspot.services.account_many, batches of {BATCH} sessions",
        baseline_label="hotspot.services.account, one transaction per interim",
    )
    # this process's CPU per interim (Python, psycopg; not PostgreSQL's), each side
    n = 20 * BATCH
    for side, work in (("batches", fixture.many_work()), ("one by one", fixture.one_work())):
        start = time.process_time()
        work(n)
        cpu_ms = (time.process_time() - start) / n * 1000
        measurement.details[f"process CPU ms/interim, {side}"] = round(cpu_ms, 3)
        ctx.log(f"process CPU per interim, {side}: {cpu_ms:.3f} ms")
    return [measurement]
