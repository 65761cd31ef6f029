"""The audit trail: every staff action on money, codes, accounts, roles or settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db import models

from . import rows
from .models import AuditLog


@dataclass(frozen=True)
class Actor:
    """Who is acting and from where; every service that changes state takes one."""

    user: Any = None  # a staff User, or None for customers, the worker, the RADIUS server
    ip: str | None = None
    source: str = "system"  # console, api, cli, portal, worker, system
    label: str = ""  # free text when there is no staff user ("customer alice", "station 3")
    extra: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        if self.user is not None and getattr(self.user, "is_authenticated", False):
            return self.user.get_username()
        return self.label or self.source

    @property
    def staff(self):
        user = self.user
        if user is not None and getattr(user, "is_authenticated", False):
            return user
        return None


SYSTEM = Actor(source="system", label="system")


def _json_safe(value):
    """A field's value as an audit record keeps it: a row by its id, else a JSON scalar."""
    if isinstance(value, models.Model):
        return value.pk
    if value is not None and not isinstance(value, (str, int, float, bool)):
        return str(value)
    return value


def snapshot(obj: models.Model, fields: list[str]) -> dict:
    """A JSON-safe dict of some fields of ``obj``, for before/after."""
    return {name: _json_safe(getattr(obj, name)) for name in fields}


HIDDEN = "(changed)"  # what the log says of a secret that changed: never its value


def changes(obj: models.Model, new: dict, hidden=()) -> tuple[dict, dict]:
    """What saving ``new`` (field → value) on ``obj`` changes, as the before/after of an
    audit record: only the fields whose value differs (JSON-safe, as :func:`snapshot`);
    a ``hidden`` field (a secret) that changed is named, its values are not."""
    old = snapshot(obj, list(new))
    before, after = {}, {}
    for name, value in new.items():
        value = _json_safe(value)
        if value == old[name]:
            continue
        if name in hidden:
            after[name] = HIDDEN
        else:
            before[name], after[name] = old[name], value
    return before, after


def record(
    actor: Actor,
    action: str,
    obj: models.Model | None = None,
    *,
    object_type: str = "",
    object_id: str | int = "",
    summary: str = "",
    before: dict | None = None,
    after: dict | None = None,
) -> AuditLog:
    if obj is not None:
        object_type = object_type or obj._meta.label_lower
        object_id = object_id or obj.pk
    # a written-out INSERT: the audit row is written on every change, redemptions included
    return rows.insert(AuditLog(
        actor=actor.staff,
        actor_label=actor.name[:150],
        source=actor.source[:20],
        ip=actor.ip or None,
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        summary=summary,
        before=before,
        after=after,
    ))
