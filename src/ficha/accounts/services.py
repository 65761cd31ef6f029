"""Customers and staff: the only door that changes them, and staff money actions."""

from __future__ import annotations

import re
import secrets
import unicodedata
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from ficha.core import audit, clock, roles
from ficha.ledger import services as ledger
from ficha.ledger.models import Account

from .models import Customer, StaffProfile, username_key

USERNAME_RE = re.compile(r"^[\w.@+-]{1,150}$")
PIN_RE = re.compile(r"^\d{4,8}$")

CUSTOMER_FIELDS = [
    "username", "full_name", "phone", "email", "id_doc_type", "id_doc_number", "notes",
    "price_group", "custom_group", "status", "card_uid",
]


class AccountError(ValueError):
    """A request about an account that cannot be done; the message is for people.

    ``errors`` ({field: message}) carries every problem found at once, so a form can show
    them all on their fields; the message is then all of them.
    """

    def __init__(self, message: str = "", *, errors: dict[str, str] | None = None):
        self.errors = dict(errors or {})
        super().__init__(message or " ".join(self.errors.values()))


# --- customers --------------------------------------------------------------------------
def find_customer(username: str) -> Customer | None:
    return Customer.objects.filter(username_key=username_key(username)).first()


def _check_fields(fields: dict, *, instance: Customer | None = None,
                  password: str | None = None, pin: str | None = None) -> dict:
    """The fields cleaned; every problem at once (AccountError.errors), not the first."""
    out, errors = _customer_problems(fields, instance=instance, password=password, pin=pin)
    if errors:
        raise AccountError(errors=errors)
    return out


def customer_problems(fields: dict, *, instance: Customer | None = None,
                      password: str | None = None, pin: str | None = None) -> dict[str, str]:
    """What create/update_customer would refuse in ``fields``, {field: message}, without
    changing anything: a form shows these next to its own errors, all at once."""
    return _customer_problems(fields, instance=instance, password=password, pin=pin)[1]


def typed_username(name: str) -> str:
    """A username as typed, in composed form (NFC): "e" + combining accent, as some
    keyboards send it, is the letter "é" that USERNAME_RE accepts."""
    return unicodedata.normalize("NFC", str(name).strip())


def _customer_problems(fields: dict, *, instance: Customer | None = None,
                       password: str | None = None, pin: str | None = None
                       ) -> tuple[dict, dict[str, str]]:
    out = {}
    errors: dict[str, str] = {}
    for key, value in fields.items():
        if key not in CUSTOMER_FIELDS:
            raise AccountError(_("Unknown field: %(name)s") % {"name": key})
        if isinstance(value, str):
            value = value.strip()
        if key == "username" and isinstance(value, str):
            value = typed_username(value)
        out[key] = value
    if "username" in out:
        name = out["username"]
        if not name or not USERNAME_RE.match(name):
            errors["username"] = _(
                "A username has letters, digits and . @ + - _ only (at most 150).")
        else:
            clash = Customer.objects.filter(username_key=username_key(name))
            if instance is not None:
                clash = clash.exclude(pk=instance.pk)
            if clash.exists():
                errors["username"] = _("The username “%(name)s” is taken.") % {"name": name}
    if out.get("email"):
        try:
            validate_email(out["email"])
        except ValidationError:
            errors["email"] = _("Enter a valid e-mail address.")
    if "price_group" in out and out["price_group"] not in Customer.PriceGroup.values:
        errors["price_group"] = _("Unknown price group.")
    if "status" in out and out["status"] not in Customer.Status.values:
        errors["status"] = _("Unknown status.")
    if "card_uid" in out:
        uid = (out["card_uid"] or "").replace(":", "").replace(" ", "").upper() or None
        if uid is not None:
            if not re.fullmatch(r"[0-9A-F]{4,40}", uid):
                errors["card_uid"] = _("A card UID is written in hexadecimal.")
            else:
                clash = Customer.objects.filter(card_uid=uid)
                if instance is not None:
                    clash = clash.exclude(pk=instance.pk)
                if clash.exists():
                    errors["card_uid"] = _("This card belongs to another customer.")
        out["card_uid"] = uid
    if password and len(password) < 4:
        errors["password"] = _("A password has at least 4 characters.")
    if pin and not PIN_RE.match(pin):
        errors["pin"] = _("A PIN has 4 to 8 digits.")
    return out, errors


def _hash_password(password: str | None) -> str:
    if not password:
        return ""
    if len(password) < 4:
        raise AccountError(_("A password has at least 4 characters."))
    return make_password(password)


def _hash_pin(pin: str | None) -> str:
    if not pin:
        return ""
    if not PIN_RE.match(pin):
        raise AccountError(_("A PIN has 4 to 8 digits."))
    return make_password(pin)


def create_customer(
    actor: audit.Actor,
    username: str,
    *,
    password: str | None = None,
    pin: str | None = None,
    origin: str = Customer.Origin.STAFF,
    **fields,
) -> Customer:
    fields = _check_fields({"username": username, **fields}, password=password, pin=pin)
    with transaction.atomic():
        credit = ledger.open_account(
            f"customer:{secrets.token_hex(8)}", Account.Kind.LIABILITY,
            f"Credit of {fields['username']}",
        )
        try:
            with transaction.atomic():
                customer = Customer.objects.create(
                    password=_hash_password(password), pin=_hash_pin(pin), origin=origin,
                    credit_account=credit, created_at=clock.now(), **fields,
                )
        except IntegrityError:
            raise AccountError(
                _("The username “%(name)s” is taken.") % {"name": fields["username"]}
            )
        audit.record(actor, "customer.create", customer,
                     after=audit.snapshot(customer, CUSTOMER_FIELDS),
                     summary=_("Customer %(name)s created") % {"name": customer.username})
    return customer


def update_customer(actor: audit.Actor, customer: Customer, **fields) -> Customer:
    fields = _check_fields(fields, instance=customer)
    with transaction.atomic():
        customer = Customer.objects.select_for_update().get(pk=customer.pk)
        before = audit.snapshot(customer, CUSTOMER_FIELDS)
        for key, value in fields.items():
            setattr(customer, key, value)
        try:
            with transaction.atomic():
                customer.save()
        except IntegrityError:
            raise AccountError(_("The username or card is already used by another customer."))
        after = audit.snapshot(customer, CUSTOMER_FIELDS)
        if after != before:
            changed = {k for k in after if after[k] != before[k]}
            audit.record(actor, "customer.update", customer,
                         before={k: before[k] for k in changed},
                         after={k: after[k] for k in changed},
                         summary=_("Customer %(name)s edited") % {"name": customer.username})
    return customer


def set_customer_status(actor: audit.Actor, customer: Customer, active: bool) -> Customer:
    status = Customer.Status.ACTIVE if active else Customer.Status.DISABLED
    return update_customer(actor, customer, status=status)


def set_customer_password(actor: audit.Actor, customer: Customer, password: str | None = None,
                          pin: str | None = None) -> Customer:
    _check_fields({}, password=password, pin=pin)  # both refusals at once
    with transaction.atomic():
        customer = Customer.objects.select_for_update().get(pk=customer.pk)
        changed = []
        if password is not None:
            customer.password = _hash_password(password)
            changed.append("password")
        if pin is not None:
            customer.pin = _hash_pin(pin)
            changed.append("pin")
        customer.save(update_fields=changed or None)
        audit.record(actor, "customer.credentials", customer, after={"changed": changed},
                     summary=_("Credentials of %(name)s changed") % {"name": customer.username})
    return customer


def authenticate_customer(username: str, password: str) -> Customer | None:
    """The active customer with these credentials (password or PIN), or None."""
    customer = find_customer(username)
    if customer is None:
        make_password(password)  # same work either way: no timing oracle on usernames
        return None
    if not customer.is_active:
        return None
    if customer.check_password(password) or customer.check_pin(password):
        return customer
    return None


def touch(customer: Customer) -> None:
    Customer.objects.filter(pk=customer.pk).update(last_seen_at=clock.now())


def remember_language(customer: Customer, language: str | None) -> bool:
    """Remember ``language`` (a language Ficha speaks) as the one ``customer`` uses, so
    messages sent without a page (the hotspot's Reply-Message) speak it too. Writes only
    on a change; returns whether it changed."""
    language = (language or "").strip()
    if language not in dict(settings.LANGUAGES) or customer.language == language:
        return False
    Customer.objects.filter(pk=customer.pk).update(language=language)
    customer.language = language
    return True


def balance(customer: Customer) -> int:
    """The customer's credit in minor units (sum of their credit entries)."""
    return ledger.balance(customer.credit_account)


def available(customer: Customer) -> int:
    """What a debit may take of the customer's credit: the balance minus the credit held
    by their live calls (``ledger.spendable``). Decides a debit only under the lock."""
    return ledger.spendable(customer.credit_account_id)


# --- staff money actions ----------------------------------------------------------------
def _positive(amount: int) -> int:
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise AccountError("amount must be an integer of minor units")
    if amount <= 0:
        raise AccountError(_("The amount must be more than zero."))
    return amount


def _money_after(customer: Customer, tx, amount: int, memo: str) -> dict:
    return {"amount": amount, "transaction": tx.pk, "balance": balance(customer), "memo": memo}


def deposit(actor: audit.Actor, customer: Customer, amount: int, memo: str = ""):
    """Cash in the drawer becomes the customer's credit."""
    amount = _positive(amount)
    if not customer.is_active:
        raise AccountError(_("This customer is disabled."))
    shift = ledger.require_shift(actor.staff)
    with transaction.atomic():
        before = balance(customer)
        tx = ledger.post(
            "deposit", [(ledger.CASH, amount), (customer.credit_account, -amount)],
            actor=actor, shift=shift, memo=memo, reference=f"customer:{customer.pk}",
        )
        audit.record(actor, "customer.deposit", customer, before={"balance": before},
                     after=_money_after(customer, tx, amount, memo),
                     summary=_("Deposit to %(name)s") % {"name": customer.username})
    return tx


def refund(actor: audit.Actor, customer: Customer, amount: int, memo: str = ""):
    """Pay the customer's credit back in cash."""
    amount = _positive(amount)
    shift = ledger.require_shift(actor.staff)
    with transaction.atomic():
        Account.objects.select_for_update().filter(pk=customer.credit_account_id).first()
        before = balance(customer)
        if amount > available(customer):
            raise AccountError(_("The refund is more than the customer's credit "
                                 "(less what their live calls hold)."))
        tx = ledger.post(
            "refund", [(customer.credit_account, amount), (ledger.CASH, -amount)],
            actor=actor, shift=shift, memo=memo, reference=f"customer:{customer.pk}",
        )
        audit.record(actor, "customer.refund", customer, before={"balance": before},
                     after=_money_after(customer, tx, amount, memo),
                     summary=_("Refund to %(name)s") % {"name": customer.username})
    return tx


def adjust(actor: audit.Actor, customer: Customer, amount: int, reason: str):
    """Correct a balance without cash (positive: more credit). A reason is required."""
    if isinstance(amount, bool) or not isinstance(amount, int) or amount == 0:
        raise AccountError(_("The adjustment must not be zero."))
    reason = (reason or "").strip()
    if not reason:
        raise AccountError(_("Say why you adjust this balance."))
    with transaction.atomic():
        Account.objects.select_for_update().filter(pk=customer.credit_account_id).first()
        before = balance(customer)
        if amount < 0 and available(customer) + amount < 0:
            raise AccountError(_("The adjustment would make the balance negative "
                                 "(counting what the customer's live calls hold)."))
        tx = ledger.post(
            "adjustment", [(ledger.ADJUSTMENTS, amount), (customer.credit_account, -amount)],
            actor=actor, shift=ledger.current_shift(actor.staff), memo=reason,
            reference=f"customer:{customer.pk}",
        )
        audit.record(actor, "customer.adjust", customer, before={"balance": before},
                     after=_money_after(customer, tx, amount, reason),
                     summary=_("Balance of %(name)s adjusted") % {"name": customer.username})
    return tx


# --- staff ------------------------------------------------------------------------------
def _validate_staff_password(password: str, user=None) -> None:
    try:
        validate_password(password, user)
    except ValidationError as exc:
        raise AccountError(" ".join(exc.messages))


def staff_problems(username: str | None, password: str | None, role: str | None
                   ) -> dict[str, str]:
    """What create_staff would refuse, {field: message}, without changing anything
    (``None``: not checked)."""
    errors = {}
    if username is not None:
        username = typed_username(username)
        if not username or not USERNAME_RE.match(username):
            errors["username"] = _("A username has letters, digits and . @ + - _ only (at "
                                   "most 150).")
        elif find_staff(username) is not None:
            errors["username"] = _("The username “%(name)s” is taken.") % {"name": username}
    if role is not None and role not in roles.ROLES:
        errors["role"] = _("Unknown role.")
    if password is not None:
        try:
            _validate_staff_password(password)
        except AccountError as exc:
            errors["password"] = str(exc)
    return errors


def create_staff(actor: audit.Actor, username: str, password: str, role: str,
                 full_name: str = ""):
    User = get_user_model()
    username = typed_username(username or "")
    errors = staff_problems(username, password, role)  # every problem at once
    if errors:
        raise AccountError(errors=errors)
    with transaction.atomic():
        if not Group.objects.filter(name=role).exists():
            roles.sync_roles()
        user = User.objects.create_user(username=username, password=password)
        user.first_name = full_name[:150]
        user.is_superuser = role == roles.OWNER
        user.save()
        user.groups.set([Group.objects.get(name=role)])
        audit.record(actor, "staff.create", user, after={"username": username, "role": role},
                     summary=_("Staff member %(name)s created") % {"name": username})
    return user


def set_staff_role(actor: audit.Actor, user, role: str):
    if role not in roles.ROLES:
        raise AccountError(_("Unknown role."))
    with transaction.atomic():
        before = roles.role_of(user)
        if before == roles.OWNER and role != roles.OWNER:
            _ensure_other_owner(user)
        user.groups.set([Group.objects.get(name=role)])
        user.is_superuser = role == roles.OWNER
        user.save(update_fields=["is_superuser"])
        roles.forget_groups(user)
        audit.record(actor, "staff.role", user, before={"role": before}, after={"role": role},
                     summary=_("Role of %(name)s changed") % {"name": user.username})
    return user


def _ensure_other_owner(user) -> None:
    User = get_user_model()
    others = User.objects.filter(groups__name=roles.OWNER, is_active=True,
                                 api_token__isnull=True).exclude(pk=user.pk)
    if not others.exists():
        raise AccountError(_("Ficha needs at least one active owner."))


def set_staff_active(actor: audit.Actor, user, active: bool):
    with transaction.atomic():
        if not active and roles.role_of(user) == roles.OWNER:
            _ensure_other_owner(user)
        if not active and actor.staff is not None and actor.staff.pk == user.pk:
            raise AccountError(_("You cannot disable your own login."))
        before = user.is_active
        user.is_active = active
        user.save(update_fields=["is_active"])
        audit.record(actor, "staff.active", user, before={"active": before},
                     after={"active": active},
                     summary=_("Staff member %(name)s enabled") % {"name": user.username}
                     if active else
                     _("Staff member %(name)s disabled") % {"name": user.username})
    return user


def set_staff_password(actor: audit.Actor, user, password: str):
    """Change a staff password; every session of that user ends (the caller keeps its own
    with :func:`staff_session_key` when the user changed it themselves)."""
    _validate_staff_password(password, user)
    with transaction.atomic():
        user.set_password(password)
        user.save(update_fields=["password"])
        _new_session_key(user)
        audit.record(actor, "staff.password", user, summary=_("Password of %(name)s changed")
                     % {"name": user.username})
    return user


def find_staff(username: str):
    """The staff user with this username, whatever its case (Unicode-folded), or None."""
    User = get_user_model()
    profile = (StaffProfile.objects.select_related("user")
               .filter(username_key=username_key(username)).first())
    if profile is not None:
        return profile.user
    # a user created without a profile (e.g. by Django's createsuperuser before Ficha ran)
    return User.objects.filter(username__iexact=str(username).strip()).first()


def sync_staff_profile(user) -> StaffProfile:
    """Create or update the user's profile after the user row was saved."""
    key = username_key(user.get_username())
    profile = StaffProfile.objects.filter(user_id=user.pk).first()
    if profile is None:
        try:
            with transaction.atomic():
                profile = StaffProfile.objects.create(user_id=user.pk, username_key=key)
        except IntegrityError:
            raise AccountError(_("The username “%(name)s” is taken.")
                               % {"name": user.get_username()})
    elif profile.username_key != key:
        profile.username_key = key
        profile.save(update_fields=["username_key"])
    return profile


def staff_session_key(user) -> str:
    """The user's current session key (see StaffProfile); sessions carry it."""
    profile = StaffProfile.objects.filter(user_id=user.pk).only("session_key").first()
    if profile is None:
        profile = sync_staff_profile(user)
    return profile.session_key


def _new_session_key(user) -> str:
    key = secrets.token_hex(16)
    if not StaffProfile.objects.filter(user_id=user.pk).update(session_key=key):
        sync_staff_profile(user)
        StaffProfile.objects.filter(user_id=user.pk).update(session_key=key)
    return key


def log_out_everywhere(actor: audit.Actor, user) -> str:
    """End every console session of ``user`` and forget the browsers that knew them.

    Returns the new session key (the caller may keep its own session alive with it).
    """
    with transaction.atomic():
        key = _new_session_key(user)
        audit.record(actor, "staff.logout_everywhere", user,
                     summary=_("%(name)s logged out everywhere")
                     % {"name": user.get_username()})
    return key


def record_login(actor: audit.Actor, user) -> None:
    """Audit a staff member's login (console session)."""
    audit.record(actor, "staff.login", user, summary=_("%(name)s logged in")
                 % {"name": user.get_username()})


def record_logout(actor: audit.Actor, user) -> None:
    """Audit a staff member's logout (console session)."""
    audit.record(actor, "staff.logout", user, summary=_("%(name)s logged out")
                 % {"name": user.get_username()})


def ensure_owner(password: str | None = None, username: str = "owner") -> tuple[object, str | None]:
    """Make sure an active owner login exists. Returns (user, generated password or None).

    A password is generated (and returned, to be printed once) only when Ficha creates
    the owner and none was given.
    """
    User = get_user_model()
    roles.sync_roles()
    existing = User.objects.filter(groups__name=roles.OWNER, is_active=True,
                                   api_token__isnull=True).first()
    if existing is not None:
        return existing, None
    generated = None
    if not password:
        generated = password = secrets.token_urlsafe(12)
    with transaction.atomic():
        user = User.objects.filter(username=username).first()
        if user is None:
            user = User.objects.create_user(username=username, password=password)
        else:
            user.set_password(password)
            user.is_active = True
        user.is_superuser = True
        user.is_staff = True
        user.save()
        user.groups.set([Group.objects.get(name=roles.OWNER)])
        audit.record(audit.Actor(source="cli", label="ficha init"), "staff.create", user,
                     after={"username": username, "role": roles.OWNER},
                     summary=_("Owner login created"))
    return user, generated


# --- reading (customer-facing) ------------------------------------------------------------
@dataclass(frozen=True)
class Movement:
    """One change of a customer's credit, in the credit's sign (+ more credit)."""

    at: object  # aware datetime of the transaction
    kind: str  # the ledger transaction kind ("deposit", "recharge.redeem", ...)
    amount: int  # minor units, positive when the customer's credit grew
    reference: str
    transaction_id: int


def history(customer: Customer, limit: int = 10) -> list[Movement]:
    """The latest movements on the customer's credit, newest first (read-only)."""
    from ficha.ledger.models import Entry

    sign = customer.credit_account.normal_sign
    rows = (
        Entry.objects.filter(account_id=customer.credit_account_id)
        .select_related("transaction")
        .order_by("-transaction_id", "-id")[: max(0, int(limit))]
    )
    return [
        Movement(at=e.transaction.created_at, kind=e.transaction.kind, amount=sign * e.amount,
                 reference=e.transaction.reference, transaction_id=e.transaction_id)
        for e in rows
    ]
