"""Sending queued CoA/Disconnect jobs: claim, encode, send, record the answer, retry.

A job is claimed with a conditional UPDATE on (state, attempts, next_try_at): only one
worker wins it, and a worker that dies mid-send leaves a lease (``next_try_at``) after
which another may take the job again. Answers:

* ACK — done. A Disconnect-ACK means the gateway ended the session: ours is closed at
  once (it no longer counts as online nor against the customer's devices, and is not
  kicked or sent a CoA again); the gateway's accounting Stop that follows still brings
  its last usage, which is debited as usual.
* NAK — recorded with its Error-Cause. 503 (Session-Context-Not-Found) means the gateway
  no longer has the session: ours is closed as stale (its usage was already debited).
  A NAK'd CoA that would have *shortened* the session (credit taken back) falls back to
  a Disconnect: otherwise the customer keeps time they no longer pay for. A NAK'd CoA
  that *extends* a session does not: cutting off someone who has just paid is what
  customers would least expect; the session runs to its old Session-Timeout and the next
  login gets the full new time.
* no answer, or a NAK with Error-Cause 506 (Resources Unavailable) — retried with
  back-off (:data:`BACKOFF`), then given up.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import logging
import threading
import time

from django.conf import settings
from django.db import close_old_connections, transaction
from django.db.models import F
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from ficha.core import alerts, clock

from .. import coa_sender
from ..models import CoaJob, HotspotSession, Nas
from .coa import _queue, credit_accounts_changed, queue_credit_changed

log = logging.getLogger("ficha.hotspot.coa")

# The owner is told when a gateway refuses or never answers a Disconnect for a session
# whose credit or validity ran out (it is asked again: coa.DISCONNECT_AGAIN_AFTER).
GATEWAY_ALERT = "gateway"
alerts.KINDS.setdefault(GATEWAY_ALERT, gettext_lazy("Wi-Fi gateway"))

BACKOFF = (5, 15, 60, 300, 900)  # seconds before attempt 2, 3, …
MAX_ATTEMPTS = len(BACKOFF) + 1
LEASE = dt.timedelta(seconds=30)  # a claimed job is free again after this
SESSION_NOT_FOUND = 503
# NAKs that say "not now" (RFC 5176 §3.5: 506 Resources Unavailable): retried like silence
RETRY_CAUSES = frozenset({506})
ACKED = coa_sender.Answer(coa_sender.ACK)


def destination(nas: Nas) -> str | None:
    """The address CoA/Disconnect requests go to: ``coa_address``, else the NAS address
    if it is one host (a network says nothing about which gateway to ask)."""
    if nas.coa_address:
        return nas.coa_address
    try:
        network = ipaddress.ip_network(nas.address.strip(), strict=False)
    except ValueError:
        return None
    if network.num_addresses == 1:
        return str(network.network_address)
    return None


def request_attributes(job: CoaJob) -> list[tuple[str, object]]:
    """What identifies the session (RFC 5176 §3: User-Name, Acct-Session-Id,
    Calling-Station-Id, Framed-IP-Address) and, for a CoA, its new limits in the
    gateway's own attributes."""
    session = job.session
    vendor = job.nas.vendor
    attrs: list[tuple[str, object]] = [("User-Name", session.username),
                                       ("Acct-Session-Id", session.acct_session_id)]
    if session.mac:
        mac = session.mac
        if vendor == Nas.Vendor.MIKROTIK:
            mac = mac.upper()  # RouterOS reports and matches capitals
        elif vendor == Nas.Vendor.COOVACHILLI:
            mac = mac.upper().replace(":", "-")  # chilli's format: AA-BB-CC-...
        attrs.append(("Calling-Station-Id", mac))
    if session.framed_ip and ":" not in session.framed_ip:
        attrs.append(("Framed-IP-Address", session.framed_ip))
    if job.kind != CoaJob.Kind.COA:
        return attrs
    if job.session_timeout is not None:
        attrs.append(("Session-Timeout", int(job.session_timeout)))
    quota = job.quota
    if quota is not None and vendor == Nas.Vendor.MIKROTIK:
        attrs.append(("Mikrotik-Total-Limit", quota & 0xFFFFFFFF))
        if quota >> 32:
            attrs.append(("Mikrotik-Total-Limit-Gigawords", quota >> 32))
    elif quota is not None and vendor == Nas.Vendor.COOVACHILLI:
        attrs.append(("ChilliSpot-Max-Total-Octets", quota & 0xFFFFFFFF))
        if quota >> 32:
            attrs.append(("ChilliSpot-Max-Total-Gigawords", quota >> 32))
    return attrs


def claim_due(limit: int = 100, ids=None) -> list[CoaJob]:
    """Jobs whose time has come, each claimed by exactly one caller."""
    now = clock.now()
    due = CoaJob.objects.filter(state__in=CoaJob.ACTIVE, next_try_at__lte=now)
    if ids is not None:
        due = due.filter(pk__in=list(ids))
    claimed = []
    # one conditional UPDATE per job (its row count says who won), all in one database
    # transaction: one commit per batch, not one per job
    with transaction.atomic():
        for pk, attempts in (due.order_by("next_try_at", "pk")
                             .values_list("pk", "attempts")[:limit]):
            won = CoaJob.objects.filter(
                pk=pk, attempts=attempts, state__in=CoaJob.ACTIVE, next_try_at__lte=now,
            ).update(state=CoaJob.State.SENDING, attempts=F("attempts") + 1,
                     next_try_at=now + LEASE)
            if won:
                claimed.append(pk)
    return list(CoaJob.objects.filter(pk__in=claimed)
                .select_related("session", "nas").order_by("pk"))


def record(job: CoaJob, answer: coa_sender.Answer) -> CoaJob:
    """Store what the gateway answered and what follows from it."""
    now = clock.now()
    fields = {"last_answer": answer.result if not answer.detail
              else f"{answer.result}: {answer.detail}"[:40],
              "error_cause": answer.error_cause}
    with transaction.atomic(savepoint=False):
        if answer.result == coa_sender.ACK:
            fields.update(state=CoaJob.State.ACKED, finished_at=now)
            if job.kind == CoaJob.Kind.DISCONNECT:
                _disconnected([job], now)
        elif answer.result == coa_sender.NAK and (
                answer.error_cause not in RETRY_CAUSES or job.attempts >= MAX_ATTEMPTS):
            fields.update(state=CoaJob.State.NAKED, finished_at=now)
        elif job.attempts >= MAX_ATTEMPTS:
            fields.update(state=CoaJob.State.FAILED, finished_at=now)
        else:
            delay = BACKOFF[min(job.attempts, len(BACKOFF)) - 1]
            fields.update(state=CoaJob.State.PENDING,
                          next_try_at=now + dt.timedelta(seconds=delay))
        # only the claimer (state sending, same attempt) may write the outcome
        CoaJob.objects.filter(pk=job.pk, state=CoaJob.State.SENDING,
                              attempts=job.attempts).update(**fields)
        for key, value in fields.items():
            setattr(job, key, value)
        if job.state == CoaJob.State.NAKED:
            _after_nak(job, now)
        if (job.state in (CoaJob.State.NAKED, CoaJob.State.FAILED)
                and job.kind == CoaJob.Kind.DISCONNECT
                and job.reason in (CoaJob.Reason.CREDIT, CoaJob.Reason.VALIDITY)
                and job.error_cause != SESSION_NOT_FOUND):
            _not_disconnected(job)
    return job


def _not_disconnected(job: CoaJob) -> None:
    """Tell the owner: a session that should have ended goes on at the gateway."""
    session, nas = job.session, job.nas.name
    with alerts.in_venue_language():
        answer = (_("refused it (Error-Cause %(n)s)") % {"n": job.error_cause}
                  if job.state == CoaJob.State.NAKED else _("did not answer"))
        message = _("Gateway %(nas)s %(answer)s: the Wi-Fi session of %(user)s should "
                    "have ended (%(reason)s) and goes on. Ficha asks again every few "
                    "minutes; check the gateway's CoA settings (port, secret).") % {
            "nas": nas, "answer": answer, "user": session.username or "?",
            "reason": job.get_reason_display()}
    alerts.raise_alert(GATEWAY_ALERT, message, source=f"nas {nas}",
                       data={"nas": job.nas_id, "session": session.pk, "job": job.pk})


def _after_nak(job: CoaJob, now) -> None:
    session = job.session
    if job.error_cause == SESSION_NOT_FOUND:
        HotspotSession.objects.filter(pk=session.pk, status=HotspotSession.Status.OPEN
                                      ).update(status=HotspotSession.Status.STALE,
                                               stopped_at=now,
                                               terminate_cause="Not-On-NAS")
        return
    if job.kind == CoaJob.Kind.COA and job.reason == CoaJob.Reason.REDUCED:
        session.refresh_from_db(fields=["status"])
        if session.status == HotspotSession.Status.OPEN:
            _queue(session, CoaJob.Kind.DISCONNECT, CoaJob.Reason.FALLBACK)


def send_due(limit: int = 100, ids=None, timeout: float | None = None) -> int:
    """Worker job: send every due job once (together); returns how many were sent."""
    jobs = claim_due(limit, ids)
    if not jobs:
        return 0
    requests, sendable = [], []
    for job in jobs:
        if job.session.status != HotspotSession.Status.OPEN:
            # the session ended (Stop received) before we could send: nothing to do
            CoaJob.objects.filter(pk=job.pk, state=CoaJob.State.SENDING).update(
                state=CoaJob.State.SUPERSEDED, finished_at=clock.now(),
                last_answer="session ended")
            continue
        host = destination(job.nas)
        if host is None:
            record(job, coa_sender.Answer(coa_sender.ERROR, detail="no CoA address"))
            continue
        requests.append(coa_sender.Request(host, job.nas.coa_port, job.nas.secret,
                                           job.kind, request_attributes(job)))
        sendable.append(job)
    if timeout is None:
        timeout = float(getattr(settings, "HOTSPOT_COA_TIMEOUT", 3.0))
    answers = coa_sender.send(requests, timeout)
    with transaction.atomic():  # one commit for the whole batch's answers
        acked: dict[int, list[int]] = {}  # attempts -> job ids: the common case at once
        for job, answer in zip(sendable, answers, strict=True):
            if answer == ACKED:
                acked.setdefault(job.attempts, []).append(job.pk)
            else:
                record(job, answer)
        now = clock.now()
        for attempts, ids in acked.items():
            CoaJob.objects.filter(pk__in=ids, state=CoaJob.State.SENDING,
                                  attempts=attempts).update(
                state=CoaJob.State.ACKED, finished_at=now, last_answer=coa_sender.ACK,
                error_cause=None)
        _disconnected([job for job, answer in zip(sendable, answers, strict=True)
                       if answer == ACKED and job.kind == CoaJob.Kind.DISCONNECT], now)
    return len(jobs)


def _disconnected(jobs: list[CoaJob], now) -> None:
    """The gateway acknowledged these Disconnect-Requests: their sessions are over."""
    kicked = [job.session_id for job in jobs if job.reason == CoaJob.Reason.KICK]
    others = [job.session_id for job in jobs if job.reason != CoaJob.Reason.KICK]
    for ids, cause in ((kicked, "Admin-Reset"), (others, "Disconnected")):
        if ids:
            HotspotSession.objects.filter(pk__in=ids, status=HotspotSession.Status.OPEN
                                          ).update(status=HotspotSession.Status.CLOSED,
                                                   stopped_at=now, terminate_cause=cause)


def send_soon(jobs) -> threading.Thread | None:
    """Send these jobs now, in a background thread (a kick, a top-up): the worker would
    take them within its interval anyway. Off with FICHA_HOTSPOT_COA_SEND_NOW=0."""
    ids = [job.pk for job in jobs if job is not None and job.is_active]
    if not ids or not getattr(settings, "HOTSPOT_COA_SEND_NOW", True):
        return None

    def run():
        try:
            send_due(ids=ids)
        except Exception:
            log.exception("sending CoA/Disconnect jobs %s failed", ids)
        finally:
            close_old_connections()

    thread = threading.Thread(target=run, name="ficha-coa", daemon=True)
    # after the caller's transaction commits (at once outside one): the job must be
    # visible to the thread's own database connection
    transaction.on_commit(thread.start)
    return thread


ONLINE_CACHE_SECONDS = 2.0
_online: dict = {"until": 0.0, "ids": frozenset()}


def online_credit_accounts() -> frozenset[int]:
    """Credit accounts of customers online now, as this process saw them at most
    :data:`ONLINE_CACHE_SECONDS` ago: the ledger hook runs after every posting and must
    cost no query for the many postings of customers who are not online. A session that
    started since is caught by the worker's review."""
    now = time.monotonic()
    if now >= _online["until"]:
        ids = frozenset(HotspotSession.objects.filter(
            status=HotspotSession.Status.OPEN, customer__isnull=False,
        ).values_list("customer__credit_account_id", flat=True))
        _online.update(until=now + ONLINE_CACHE_SECONDS, ids=ids)
    return _online["ids"]


def forget_online() -> None:
    _online.update(until=0.0, ids=frozenset())


def on_ledger_posted(kind: str, account_ids: list[int]) -> None:
    """Ledger hook (after commit): a posting touched these accounts; if one is the credit
    of a customer who is online, their gateways are told now. Hotspot's own usage debits
    are skipped (they are what the session's Session-Timeout already counts on)."""
    if kind == "hotspot.usage":
        return
    online = online_credit_accounts()
    touched = [pk for pk in account_ids if pk in online]
    if touched:
        send_soon(credit_accounts_changed(touched))


def credit_changed(account) -> list[CoaJob]:
    """A door changed a customer's credit: queue a CoA (the new Session-Timeout) or a
    Disconnect (nothing left) for each of their live sessions and send them as soon as
    the door's transaction commits. ``account``: a Customer, a customer id or the
    customer's ledger credit Account. Returns the jobs queued; calling it again (or
    after the ledger hook did the same) queues nothing new."""
    jobs = queue_credit_changed(account)
    send_soon(jobs)
    return jobs
