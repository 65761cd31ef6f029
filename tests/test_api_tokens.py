from __future__ import annotations

import datetime as dt
import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError

from ficha.accounts import services as accounts
from ficha.accounts import tokens
from ficha.accounts.models import ApiToken
from ficha.core import audit, clock, roles
from ficha.core.models import AuditLog

from .conftest import actor_for


def test_created_token_is_shown_once_and_only_its_hash_is_kept(owner):
    token, plaintext = tokens.create_token(actor_for(owner), "website", "cashier")
    assert plaintext.startswith("fch_") and len(plaintext) >= 40
    row = ApiToken.objects.get(pk=token.pk)
    stored = [str(getattr(row, f.attname)) for f in ApiToken._meta.concrete_fields]
    assert plaintext not in stored
    assert row.token_hash == tokens.hash_token(plaintext)
    assert plaintext.startswith(row.prefix) and len(row.prefix) == tokens.VISIBLE_CHARS
    # a second token differs completely
    _other, plaintext2 = tokens.create_token(actor_for(owner), "kiosk", "cashier")
    assert plaintext2[:12] != plaintext[:12]


def test_token_acts_through_its_own_staff_user_with_the_role(owner):
    token, plaintext = tokens.create_token(actor_for(owner), "website", "voucher_seller")
    user = token.user
    assert user.username == "api-website"
    assert not user.has_usable_password()
    assert not user.is_superuser
    assert roles.role_of(user) == roles.VOUCHER_SELLER
    assert roles.can(user, "sell_recharges")
    assert not roles.can(user, "deposit")
    assert tokens.authenticate_token(plaintext) == user
    assert tokens.is_token_user(user) and not tokens.is_token_user(owner)


def test_create_and_revoke_are_audited_and_revocation_is_immediate(owner):
    token, plaintext = tokens.create_token(actor_for(owner), "pos", "cashier")
    created = AuditLog.objects.get(action="token.create")
    assert created.actor == owner and created.after["name"] == "pos"
    assert created.after["prefix"] == token.prefix and plaintext not in str(created.after)
    assert tokens.authenticate_token(plaintext) is not None

    tokens.revoke_token(actor_for(owner), token)
    assert tokens.authenticate_token(plaintext) is None
    revoked = AuditLog.objects.get(action="token.revoke")
    assert revoked.actor == owner
    token.refresh_from_db()
    assert token.revoked_by == owner and not token.user.is_active
    with pytest.raises(tokens.TokenError):
        tokens.revoke_token(actor_for(owner), token)


def test_wrong_or_malformed_tokens_do_not_authenticate(owner):
    _token, plaintext = tokens.create_token(actor_for(owner), "pos", "cashier")
    assert tokens.authenticate_token(plaintext[:-1] + ("A" if plaintext[-1] != "A" else "B")) \
        is None
    assert tokens.authenticate_token("") is None
    assert tokens.authenticate_token("not-a-token") is None
    assert tokens.authenticate_token("fch_" + "x" * 500) is None
    assert tokens.authenticate_token(None) is None  # type: ignore[arg-type]


def test_last_use_is_recorded_at_most_once_a_minute(owner):
    token, plaintext = tokens.create_token(actor_for(owner), "pos", "cashier")
    assert token.last_used_at is None
    t0 = dt.datetime(2030, 1, 1, 12, 0, tzinfo=dt.UTC)
    with clock.frozen(t0):
        tokens.authenticate_token(plaintext, ip="10.1.2.3")
    token.refresh_from_db()
    assert token.last_used_at == t0 and token.last_used_ip == "10.1.2.3"
    with clock.frozen(t0 + dt.timedelta(seconds=30)):
        tokens.authenticate_token(plaintext, ip="10.1.2.4")
    token.refresh_from_db()
    assert token.last_used_at == t0
    with clock.frozen(t0 + dt.timedelta(seconds=61)):
        tokens.authenticate_token(plaintext, ip="10.1.2.4")
    token.refresh_from_db()
    assert token.last_used_at == t0 + dt.timedelta(seconds=61)


def test_names_and_roles_are_checked(owner):
    actor = actor_for(owner)
    for bad in ["", " ", "a b", "x" * 41, "-lead", "tab\tname", "naïve"]:
        with pytest.raises(tokens.TokenError):
            tokens.create_token(actor, bad, "cashier")
    with pytest.raises(tokens.TokenError):
        tokens.create_token(actor, "site", "janitor")
    tokens.create_token(actor, "site", "Voucher-Seller")  # forgiving spelling of a role
    with pytest.raises(tokens.TokenError, match="already exists"):
        tokens.create_token(actor, "SITE", "cashier")


def test_a_revoked_name_can_be_used_again(owner):
    actor = actor_for(owner)
    first, _p1 = tokens.create_token(actor, "site", "cashier")
    tokens.revoke_token(actor, first)
    second, p2 = tokens.create_token(actor, "site", "manager")
    assert second.user != first.user
    assert second.user.username == "api-site-2"
    assert tokens.authenticate_token(p2) == second.user
    assert tokens.find_token("site") == second
    assert [t.pk for t in tokens.list_tokens()] == [second.pk, first.pk]
    assert [t.pk for t in tokens.list_tokens(include_revoked=False)] == [second.pk]


def test_a_token_user_never_counts_as_the_last_owner(owner):
    tokens.create_token(actor_for(owner), "full", "owner")
    with pytest.raises(accounts.AccountError):
        accounts.set_staff_active(audit.SYSTEM, owner, False)


def test_token_users_cannot_log_in_to_the_console(owner, client):
    token, _plaintext = tokens.create_token(actor_for(owner), "pos", "cashier")
    assert not client.login(username=token.user.username, password="")
    assert not client.login(username=token.user.username, password="!")


# --- CLI ----------------------------------------------------------------------------------
def _run(*args) -> str:
    out = io.StringIO()
    call_command("token", *args, stdout=out)
    return out.getvalue()


def test_cli_create_prints_the_token_once_and_it_works(db):
    out = _run("create", "website", "--role", "cashier")
    plaintext = next(w for w in out.split() if w.startswith("fch_"))
    assert "shown only this once" in out
    user = tokens.authenticate_token(plaintext)
    assert user is not None and roles.role_of(user) == roles.CASHIER
    entry = AuditLog.objects.get(action="token.create")
    assert entry.source == "cli"

    listing = _run("list")
    assert "website" in listing and "cashier" in listing and "active" in listing
    assert plaintext not in listing and plaintext[:12] in listing


def test_cli_quiet_create_prints_only_the_token(db):
    out = _run("create", "script", "--role", "manager", "--quiet").strip()
    assert out.startswith("fch_") and " " not in out
    assert tokens.authenticate_token(out) is not None


def test_cli_revoke_stops_the_token(db):
    plaintext = _run("create", "website", "--role", "cashier", "--quiet").strip()
    out = _run("revoke", "website")
    assert "revoked" in out
    assert tokens.authenticate_token(plaintext) is None
    assert "revoked" in _run("list")
    assert "No API tokens." in _run("list", "--active")
    with pytest.raises(CommandError, match="No active token"):
        _run("revoke", "website")


def test_cli_refuses_bad_input(db):
    with pytest.raises(CommandError, match="Unknown role"):
        _run("create", "website", "--role", "boss")
    with pytest.raises(CommandError):
        _run("create", "bad name", "--role", "cashier")
    assert get_user_model().objects.filter(username__startswith="api-").count() == 0

