from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from ficha.core import clock


class IdempotencyKey(models.Model):
    """One ``Idempotency-Key`` a principal sent with a POST, and the response it got.

    ``status`` is null while the first request runs; it is filled in the same database
    transaction as the handler's own changes, so a stored response always matches what
    really happened.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    key = models.CharField(max_length=255)
    method = models.CharField(max_length=10)
    path = models.CharField(max_length=500)
    fingerprint = models.CharField(max_length=64)  # sha256 of method, path, query and body
    status = models.PositiveSmallIntegerField(null=True, blank=True)
    content_type = models.CharField(max_length=100, blank=True)
    body = models.TextField(blank=True)
    created_at = models.DateTimeField(default=clock.now)
    completed_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "key"], name="idempotency_key_per_user"),
        ]
        verbose_name = _("idempotency key")

    def __str__(self) -> str:
        return f"{self.user_id}:{self.key}"

    @property
    def in_progress(self) -> bool:
        return self.status is None
