from __future__ import annotations

import pytest
from django.contrib.auth.hashers import identify_hasher

from ficha.accounts import services as accounts
from ficha.accounts.models import Customer
from ficha.core import audit, roles
from ficha.core.models import AuditLog
from ficha.ledger import services as ledger

from .conftest import actor_for


def test_usernames_are_unique_regardless_of_case(make_customer):
    make_customer("Alice")
    with pytest.raises(accounts.AccountError):
        make_customer("alice")
    assert accounts.find_customer("ALICE").username == "Alice"


def test_customer_login_by_password_or_pin_and_disabled_refused(make_customer, manager):
    c = make_customer("bob", password="s3cret-pw", pin="4321")
    assert accounts.authenticate_customer("BOB", "s3cret-pw") == c
    assert accounts.authenticate_customer("bob", "4321") == c
    assert accounts.authenticate_customer("bob", "nope") is None
    accounts.set_customer_status(actor_for(manager), c, active=False)
    assert accounts.authenticate_customer("bob", "s3cret-pw") is None


def test_card_uid_is_unique_and_normalised(make_customer):
    make_customer("c1", card_uid="04:a1:b2:c3")
    assert Customer.objects.get(username="c1").card_uid == "04A1B2C3"
    with pytest.raises(accounts.AccountError):
        make_customer("c2", card_uid="04A1B2C3")


def test_deposit_refund_adjust_record_who_where_and_shift(cashier, manager, make_customer):
    actor = actor_for(cashier, ip="192.0.2.7")
    shift = ledger.open_shift(actor, 0)
    c = make_customer()
    tx = accounts.deposit(actor, c, 1_000, memo="cash")
    assert (tx.staff, tx.shift, tx.source_ip) == (cashier, shift, "192.0.2.7")
    assert accounts.balance(c) == 1_000
    with pytest.raises(accounts.AccountError):
        accounts.refund(actor, c, 1_001)
    accounts.refund(actor, c, 400)
    with pytest.raises(accounts.AccountError):
        accounts.adjust(actor_for(manager), c, 50, reason="  ")
    accounts.adjust(actor_for(manager), c, -100, reason="double charge")
    assert accounts.balance(c) == 500
    actions = list(AuditLog.objects.filter(object_id=str(c.pk)).values_list("action", flat=True))
    assert {"customer.deposit", "customer.refund", "customer.adjust"} <= set(actions)
    entry = AuditLog.objects.get(action="customer.refund")
    assert entry.ip == "192.0.2.7" and entry.actor == cashier
    assert entry.before == {"balance": 1_000} and entry.after["balance"] == 600


def test_staff_roles_map_to_capabilities(owner, manager, cashier, seller):
    assert roles.can(owner, "manage_staff")
    assert not roles.can(manager, "manage_staff") and roles.can(manager, "adjust")
    assert roles.can(cashier, "deposit") and not roles.can(cashier, "adjust")
    assert roles.can(seller, "sell_recharges") and not roles.can(seller, "deposit")
    assert roles.role_of(seller) == roles.VOUCHER_SELLER


def test_last_owner_cannot_be_demoted_or_disabled(owner):
    with pytest.raises(accounts.AccountError):
        accounts.set_staff_role(audit.SYSTEM, owner, roles.CASHIER)
    with pytest.raises(accounts.AccountError):
        accounts.set_staff_active(audit.SYSTEM, owner, False)


def test_ensure_owner_generates_once(db):
    user, generated = accounts.ensure_owner()
    assert generated and user.check_password(generated)
    again, generated2 = accounts.ensure_owner()
    assert again == user and generated2 is None


def test_production_hasher_is_argon2(settings, make_customer):
    from ficha import settings as prod

    assert prod.PASSWORD_HASHERS[0].endswith("Argon2PasswordHasher")
    settings.PASSWORD_HASHERS = prod.PASSWORD_HASHERS
    c = make_customer("argo", password="long-password-1")
    assert identify_hasher(c.password).algorithm == "argon2"
