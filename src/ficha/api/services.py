"""Idempotency records for the JSON API: claim a key, store the answer, purge old keys.

The door-side mechanism that uses these is ``ficha.api.idempotency``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import IntegrityError, transaction

from ficha.core import clock

from .models import IdempotencyKey

TTL = dt.timedelta(hours=24)
# A key still "in progress" after this long belongs to a request whose process died
# before it could commit (the answer is stored in the same transaction as the work, so
# nothing of it was saved); a retry may then take the key over.
STALE_AFTER = dt.timedelta(minutes=5)

NEW = "new"  # the caller owns the key and must run the request
REPLAY = "replay"  # the request already ran: answer with the stored response
MISMATCH = "mismatch"  # the key was used for a different request
BUSY = "busy"  # the first request with this key is still running


@dataclass(frozen=True)
class Claim:
    outcome: str
    record: IdempotencyKey | None


def claim(user, key: str, method: str, path: str, fingerprint: str) -> Claim:
    """Take ``key`` for ``user`` or report what happened to it before.

    The unique constraint on (user, key) makes sure only one of several concurrent
    requests gets ``NEW``.
    """
    for _attempt in range(3):
        now = clock.now()
        try:
            with transaction.atomic():
                record = IdempotencyKey.objects.create(
                    user=user, key=key, method=method[:10], path=path[:500],
                    fingerprint=fingerprint, created_at=now, expires_at=now + TTL,
                )
            return Claim(NEW, record)
        except IntegrityError:
            pass
        record = IdempotencyKey.objects.filter(user=user, key=key).first()
        if record is None:  # purged in between: try again
            continue
        if record.expires_at <= now:
            IdempotencyKey.objects.filter(pk=record.pk, expires_at__lte=now).delete()
            continue
        if record.fingerprint != fingerprint:
            return Claim(MISMATCH, record)
        if record.in_progress:
            if record.created_at <= now - STALE_AFTER:
                IdempotencyKey.objects.filter(
                    pk=record.pk, status__isnull=True, created_at__lte=now - STALE_AFTER
                ).delete()
                continue
            return Claim(BUSY, record)
        return Claim(REPLAY, record)
    return Claim(BUSY, None)


def complete(record: IdempotencyKey, status: int, content_type: str, body: str) -> bool:
    """Store the answer. False if the key was taken over meanwhile (then roll back)."""
    updated = IdempotencyKey.objects.filter(pk=record.pk, status__isnull=True).update(
        status=status, content_type=content_type[:100], body=body, completed_at=clock.now()
    )
    return updated == 1


def release(record: IdempotencyKey) -> None:
    """Forget a key whose request did not run to an answer worth keeping."""
    IdempotencyKey.objects.filter(pk=record.pk, status__isnull=True).delete()


def purge_idempotency_keys() -> int:
    """Delete expired keys (a worker job). Returns how many were deleted."""
    deleted, _detail = IdempotencyKey.objects.filter(expires_at__lte=clock.now()).delete()
    return deleted
