"""API tokens for integrations: create, list, revoke, authenticate.

A token is ``fch_`` followed by 43 random URL-safe characters (256 bits). Ficha keeps
only its SHA-256 (a fast hash is enough for a secret this long: nobody can guess it, so
there is nothing to slow down) and a short visible prefix to tell tokens apart.

Each token is backed by its own staff user named ``api-<name>`` with no usable password,
in the role's group. Role checks (``roles.can``), audit actors, ledger rows and shifts
therefore work exactly as for a person. Revoking the token disables that user, so the
token stops working on the very next request. The user is kept (never deleted) because
ledger rows and the audit log point at it.

Doors check ``roles.can(user, "manage_tokens")`` before calling ``create_token`` or
``revoke_token``; the CLI acts as the system.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import os
import re
import secrets
import time

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import DEFAULT_DB_ALIAS, IntegrityError, connection, transaction
from django.db.models import F, Q
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from ficha.core import audit, clock, roles, rows

from .models import ApiToken
from .services import AccountError, find_staff

TOKEN_PREFIX = "fch_"
VISIBLE_CHARS = 12  # "fch_" + 8 characters, shown in lists
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$")
USER_PREFIX = "api-"
# last_used_at is written at most this often per token (a write per request would be
# a write lock per GET on SQLite).
TOUCH_EVERY = dt.timedelta(seconds=60)


class TokenError(AccountError):
    """A token request that cannot be done; the message is for people."""


def hash_token(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode("utf-8", "surrogatepass")).hexdigest()


def is_token_user(user) -> bool:
    """True for the hidden staff users behind API tokens (hide them from staff lists).

    In a queryset: ``User.objects.filter(api_token__isnull=True)`` keeps only people.
    """
    if user is None or getattr(user, "pk", None) is None:
        return False
    return ApiToken.objects.filter(user_id=user.pk).exists()


def _clean_name(name: str) -> str:
    name = (name or "").strip()
    if not NAME_RE.match(name):
        raise TokenError(
            _("A token name has 1 to 40 letters, digits, dots, dashes or underscores, "
              "and starts with a letter or digit.")
        )
    return name


def _clean_role(role: str) -> str:
    role = (role or "").strip().lower().replace("-", "_").replace(" ", "_")
    if role not in roles.TOKEN_ROLES:
        raise TokenError(
            _("Unknown role. Choose one of: %(roles)s.") % {"roles": ", ".join(roles.TOKEN_ROLES)}
        )
    return role


def _free_username(name: str) -> str:
    base = f"{USER_PREFIX}{name}"
    candidate, n = base, 1
    while find_staff(candidate) is not None:
        n += 1
        candidate = f"{base}-{n}"
    return candidate


def create_token(actor: audit.Actor, name: str, role: str) -> tuple[ApiToken, str]:
    """Create a token; returns (token, plaintext). Show the plaintext once: it is not kept."""
    name = _clean_name(name)
    role = _clean_role(role)
    User = get_user_model()
    plaintext = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with transaction.atomic():
        if ApiToken.objects.filter(name__iexact=name, revoked_at__isnull=True).exists():
            raise TokenError(_("A token named “%(name)s” already exists.") % {"name": name})
        if not Group.objects.filter(name=role).exists():
            roles.sync_roles()
        user = User(username=_free_username(name), first_name=f"API: {name}"[:150])
        user.set_unusable_password()
        user.is_superuser = False  # the role group gives exactly the role's capabilities
        user.is_staff = False
        user.save()
        user.groups.set([Group.objects.get(name=role)])
        try:
            with transaction.atomic():
                token = ApiToken.objects.create(
                    name=name, user=user, role=role, prefix=plaintext[:VISIBLE_CHARS],
                    token_hash=hash_token(plaintext), created_at=clock.now(),
                    created_by=actor.staff,
                )
        except IntegrityError:
            raise TokenError(_("A token named “%(name)s” already exists.") % {"name": name})
        audit.record(actor, "token.create", token,
                     after={"name": name, "role": role, "prefix": token.prefix,
                            "user": user.username},
                     summary=_("API token %(name)s created") % {"name": name})
    return token, plaintext


def revoke_token(actor: audit.Actor, token: ApiToken) -> ApiToken:
    """Revoke a token: it stops working immediately and cannot be restored."""
    with transaction.atomic():
        token = ApiToken.objects.select_for_update().select_related("user").get(pk=token.pk)
        if token.revoked_at is not None:
            raise TokenError(_("This token is already revoked."))
        token.revoked_at = clock.now()
        token.revoked_by = actor.staff
        token.save(update_fields=["revoked_at", "revoked_by"])
        user = token.user
        user.is_active = False
        user.save(update_fields=["is_active"])
        audit.record(actor, "token.revoke", token,
                     before={"active": True}, after={"active": False, "prefix": token.prefix},
                     summary=_("API token %(name)s revoked") % {"name": token.name})
    return token


def find_token(name: str) -> ApiToken | None:
    """The active token with this name (case-insensitive), or None."""
    return (
        ApiToken.objects.select_related("user")
        .filter(name__iexact=str(name).strip(), revoked_at__isnull=True)
        .first()
    )


def list_tokens(include_revoked: bool = True):
    """Tokens, active ones first, then by name (a queryset)."""
    qs = ApiToken.objects.select_related("user", "created_by", "revoked_by")
    if not include_revoked:
        qs = qs.filter(revoked_at__isnull=True)
    return qs.order_by(F("revoked_at").asc(nulls_first=True), "name", "-created_at")


_LOOKUP_SQL: dict[str, str] = {}  # database vendor -> the statement below


def _lookup_sql() -> str:
    """The token lookup, written once per database vendor: the user's columns, the token's
    id and last use, and one row per group of the user (none: one row, NULL group)."""
    sql = _LOOKUP_SQL.get(connection.vendor)
    if sql is None:
        q = connection.ops.quote_name
        User = get_user_model()
        groups = User._meta.get_field("groups")
        user_t, token_t = q(User._meta.db_table), q(ApiToken._meta.db_table)
        link_t, group_t = q(groups.remote_field.through._meta.db_table), q(Group._meta.db_table)
        sql = (
            f"SELECT {rows.columns(User)}, {token_t}.{q('id')} AS ficha_token_id, "
            f"{token_t}.{q('last_used_at')} AS ficha_token_used, "
            f"{group_t}.{q('name')} AS ficha_group "
            f"FROM {token_t} INNER JOIN {user_t} ON {user_t}.{q('id')} = {token_t}.{q('user_id')} "
            f"LEFT JOIN {link_t} ON {link_t}.{q(groups.m2m_column_name())} = {user_t}.{q('id')} "
            f"LEFT JOIN {group_t} ON {group_t}.{q('id')} = "
            f"{link_t}.{q(groups.m2m_reverse_name())} "
            f"WHERE {token_t}.{q('token_hash')} = %s AND {token_t}.{q('revoked_at')} IS NULL "
            f"AND {user_t}.{q('is_active')}"
        )
        _LOOKUP_SQL[connection.vendor] = sql
    return sql


def _aware(value):
    """A datetime read from a raw column (SQLite gives naive UTC, or text)."""
    if isinstance(value, str):
        value = parse_datetime(value)
    if value is not None and value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value


# --- the per-process cache of token lookups ----------------------------------------------
# Every API request authenticates, so each process keeps what it read for a token (the
# user's columns and group names) and reads it again only when something that could change
# the answer happened: a token, a staff user, a group or a membership saved or deleted
# (the signals below, from any process on this machine: the change is published by
# replacing the file ``<DATA_DIR>/auth-generation``, which every lookup checks with one
# stat), or after CACHE_SECONDS at most (changes made behind Django's back, e.g. SQL typed
# by hand or another machine sharing the database).
CACHE_SECONDS = 30
CACHE_MAX = 1000  # tokens kept per process (a shop has a handful)
GENERATION_FILE = "auth-generation"


@dataclasses.dataclass
class _Cached:
    generation: tuple
    loaded: float  # time.monotonic()
    values: list  # the user's field values, in the order of rows.attnames(User)
    groups: frozenset[str]
    token_id: int
    last_used: dt.datetime | None


_cache: dict[str, _Cached] = {}
_local_generation = 0  # bumped by every invalidation in this process


def _generation_path():
    from django.conf import settings

    return settings.DATA_DIR / GENERATION_FILE


def _generation() -> tuple:
    try:
        st = os.stat(_generation_path())
    except OSError:
        return (_local_generation, None)
    return (_local_generation, st.st_ino, st.st_mtime_ns, st.st_size)


def clear_cache() -> None:
    """Forget every token lookup of this process (the next request of each reads again)."""
    global _local_generation
    _local_generation += 1
    _cache.clear()


def _publish() -> None:
    """Tell every process on this machine (this one included) to read tokens again."""
    clear_cache()
    path = _generation_path()
    tmp = path.with_name(f"{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    try:
        tmp.write_text(secrets.token_hex(8))
        os.replace(tmp, path)  # a new file each time: its identity changes
    except OSError:  # a read-only data directory: the other processes wait CACHE_SECONDS
        tmp.unlink(missing_ok=True)


def invalidate(**_kwargs) -> None:
    """Signal receiver: something the token lookup reads changed. Forgotten here at once,
    and everywhere when the change commits (a process reading before the commit would
    cache the old answer)."""
    clear_cache()
    transaction.on_commit(_publish)


def _user_saved(sender, update_fields=None, **kwargs) -> None:
    if update_fields is not None and set(update_fields) <= {"last_login"}:
        return  # a person logging in changes nothing a token lookup reads
    invalidate()


def connect_signals() -> None:
    """Called from the accounts app's ready()."""
    from django.db.models.signals import m2m_changed, post_delete, post_save

    User = get_user_model()
    post_save.connect(_user_saved, sender=User, dispatch_uid="ficha.tokens.user")
    post_delete.connect(invalidate, sender=User, dispatch_uid="ficha.tokens.user_del")
    m2m_changed.connect(invalidate, sender=User.groups.through,
                        dispatch_uid="ficha.tokens.groups")
    for model in (ApiToken, Group):
        post_save.connect(invalidate, sender=model, dispatch_uid=f"ficha.tokens.{model}")
        post_delete.connect(invalidate, sender=model,
                            dispatch_uid=f"ficha.tokens.{model}_del")


def _lookup(token_hash: str) -> _Cached | None:
    generation = _generation()  # before reading: a change committed meanwhile wins
    entry = _cache.get(token_hash)
    if (entry is not None and entry.generation == generation
            and time.monotonic() - entry.loaded < CACHE_SECONDS):
        return entry
    found = rows.read(get_user_model(), _lookup_sql(), [token_hash], extra=3)
    if not found:
        _cache.pop(token_hash, None)
        return None
    user, token_id, last_used, _group = found[0]
    entry = _Cached(generation=generation, loaded=time.monotonic(),
                    values=[getattr(user, name) for name in rows.attnames(type(user))],
                    groups=frozenset(group for *_r, group in found if group),
                    token_id=token_id, last_used=_aware(last_used))
    if len(_cache) >= CACHE_MAX:
        _cache.clear()
    _cache[token_hash] = entry
    return entry


def authenticate_token(plaintext: str, ip: str | None = None):
    """The active user behind this token, or None. Records when it was last used.

    This runs on every API request: the token's user, with the names of the user's groups
    (so the role checks that follow, ``roles.can``, need no query), is read with one
    written-out statement and kept per process (see ``CACHE_SECONDS`` above): a revoked
    token, a disabled user or a changed role counts on the very next request. Each call
    gets its own user instance."""
    if not isinstance(plaintext, str):
        return None
    plaintext = plaintext.strip()
    if not plaintext.startswith(TOKEN_PREFIX) or len(plaintext) > 200:
        return None
    entry = _lookup(hash_token(plaintext))
    if entry is None:
        return None
    User = get_user_model()
    user = User.from_db(DEFAULT_DB_ALIAS, rows.attnames(User), list(entry.values))
    roles.remember_groups(user, entry.groups)
    now = clock.now()
    last_used = entry.last_used
    if last_used is None or now - last_used >= TOUCH_EVERY:
        ApiToken.objects.filter(pk=entry.token_id).filter(
            Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - TOUCH_EVERY)
        ).update(last_used_at=now, last_used_ip=ip or None)
        entry.last_used = now
    return user
