"""Redemption: a sold code credits a customer exactly once, from any door."""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass

from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from ficha.accounts import services as accounts
from ficha.accounts.models import Customer
from ficha.core import alerts, audit, clock, codes, throttle
from ficha.ledger import services as ledger

from ..models import Recharge, RedeemAttempt, Tally
from .base import THROTTLE_SCOPE, Out, S, format_time
from .errors import RechargeError
from .issue import _code_formats
from .tally import _tally_rows


@dataclass(frozen=True)
class Source:
    """Who is trying a code, for throttling, the attempt log and alerts."""

    ip: str | None = None
    mac: str | None = None
    station: str | None = None
    account: str | None = None
    door: str = "portal"  # portal, portal_login, api, console, station, hotspot
    # A staff member redeeming for a customer at the counter: the till's IP serves every
    # customer, so the staff login (with the customer's account) is throttled instead.
    staff: str | None = None

    @staticmethod
    def _mac(mac: str) -> str:
        return mac.strip().lower().replace("-", ":")

    def keys(self) -> list[str]:
        """Throttle keys: one per thing we know about the source."""
        if self.staff:
            out = [f"staff:{self.staff.strip().lower()}"]
            if self.account:
                out.append(f"account:{str(self.account).strip().lower()}")
            return [k[:128] for k in out]
        out = []
        if self.ip:
            out.append(f"ip:{str(self.ip).strip()}")
        if self.mac:
            out.append(f"mac:{self._mac(str(self.mac))}")
        if self.station:
            out.append(f"station:{str(self.station).strip()}")
        if self.account:
            out.append(f"account:{str(self.account).strip().lower()}")
        if not out:  # nothing known: at least throttle the door as a whole
            out.append(f"door:{self.door}")
        return [k[:128] for k in out]

    def describe(self) -> str:
        parts = []
        if self.staff:
            parts.append(_("staff %(name)s") % {"name": self.staff})
        if self.station:
            parts.append(_("station %(name)s") % {"name": self.station})
        if self.ip:
            parts.append(_("IP %(ip)s") % {"ip": self.ip})
        if self.mac:
            parts.append(_("MAC %(mac)s") % {"mac": self._mac(str(self.mac))})
        if self.account:
            parts.append(_("account %(name)s") % {"name": self.account})
        if not parts:
            parts.append(_("unknown source"))
        return _("%(who)s via %(door)s") % {"who": ", ".join(parts), "door": self.door}


@dataclass
class Redemption:
    recharge: Recharge
    customer: Customer
    amount: int  # credited now (0 when a code-named account logs in again)
    balance: int  # the customer's credit afterwards
    created_account: bool


def _check_format(raw) -> str:
    """The typed code's digits, or a "format" error (a typo costs no attempt)."""
    try:
        return codes.parse(raw, _code_formats())
    except codes.CodeError as exc:
        raise RechargeError("format", str(exc))


def _wait_message(seconds: int) -> str:
    if seconds >= 120:
        minutes = (seconds + 59) // 60
        return ngettext("Too many attempts. Wait %(n)d minute and try again.",
                        "Too many attempts. Wait %(n)d minutes and try again.", minutes
                        ) % {"n": minutes}
    return ngettext("Too many attempts. Wait %(n)d second and try again.",
                    "Too many attempts. Wait %(n)d seconds and try again.", seconds
                    ) % {"n": seconds}


def _invalid() -> RechargeError:
    return RechargeError("invalid", _("Invalid code."))


def _expired(when: dt.datetime | None) -> RechargeError:
    if when is None:
        return RechargeError("expired", _("This code has expired."))
    return RechargeError("expired", _("This code expired on %(date)s.")
                         % {"date": format_time(when)}, expired_at=when)


class _Lost(Exception):
    """The conditional UPDATE matched nothing: another request changed the code first."""


def _outcome_of(row: Recharge, now: dt.datetime) -> str:
    """What an attempt on this (not redeemable now) row amounts to."""
    if row.status == S.USED:
        return Out.USED
    if row.status == S.DELETED:
        return Out.DELETED
    if row.status == S.VOID:
        return Out.VOID
    if row.status == S.UNSOLD or (row.status == S.EXPIRED and row.sold_at is None):
        return Out.UNSOLD
    if row.effective_status(now) == S.EXPIRED:
        return Out.EXPIRED
    return ""  # sold and live: redeemable


def _open_code_account(code: str) -> Customer:
    """A fresh account named after the code (hotspot style); the customer may later
    set a password and keep it."""
    name = code
    if accounts.find_customer(name) is not None:
        name = f"{code}-{codes.random_code(8, False)[:4]}"
    try:
        return accounts.create_customer(
            audit.Actor(source="portal", label=f"code {codes.group(code)}"), name,
            origin=Customer.Origin.CODE,
        )
    except accounts.AccountError:
        raise _Lost()  # the same name appeared meanwhile: a parallel login won


def _returning_login(row: Recharge, code: str) -> Customer | None:
    """The account this code opened, if the code may still log into it alone."""
    if row.used_by_id is None:
        return None
    customer = Customer.objects.filter(pk=row.used_by_id).first()
    if (customer is None or customer.origin != Customer.Origin.CODE
            or customer.has_password or customer.pin
            or not customer.username.split("-")[0] == code):
        return None
    return customer


def _fraud_alert(row: Recharge, outcome: str, source: Source) -> None:
    with alerts.in_venue_language():
        kind_text = {
            Out.UNSOLD: _("unsold"), Out.DELETED: _("deleted"), Out.VOID: _("voided"),
        }[outcome]
        message = _(
            "Someone tried the %(kind)s code %(code)s (batch %(batch)s) from %(source)s. "
            "It may have been copied from a display or a lost sheet: keep unsold cards out "
            "of sight, and delete or void the code if in doubt."
        ) % {"kind": kind_text, "code": codes.group(row.code), "batch": row.batch.label,
             "source": source.describe()}
        who = source.describe()
    alerts.raise_alert(
        alerts.FRAUD, message, source=who,
        data={"recharge": row.pk, "code": row.code, "status": row.status, "ip": source.ip,
              "mac": source.mac, "station": source.station, "account": source.account,
              "door": source.door},
        dedupe_key=f"fraud:{row.code}:{who}",
    )


def _redeem(code: str, *, source: Source, customer: Customer | None, actor,
            for_login: bool) -> Redemption:
    if customer is not None and not customer.is_active:
        raise RechargeError("disabled", _("This account is disabled; please ask at the "
                                          "counter."))
    code = _check_format(code)
    if customer is not None and not source.account:
        source = dataclasses.replace(source, account=customer.username)
    if actor is not None and actor.staff is not None and not source.staff:
        source = dataclasses.replace(source, staff=actor.staff.get_username())
    keys = source.keys()
    now = clock.now()
    door = (source.door or "portal")[:20]
    ledger_actor = actor if actor is not None else audit.Actor(
        ip=source.ip, source=door,
        label=f"customer {customer.username}" if customer else f"code {codes.group(code)}",
    )
    result: Redemption | None = None
    outcome = Out.UNKNOWN
    row = None
    with transaction.atomic():
        # The claim commits with the attempt it allows: one transaction per attempt. A
        # wrong code still commits its counted failure (nothing below raises); only a
        # refused claim rolls back, and it had nothing to keep.
        wait = throttle.claim(THROTTLE_SCOPE, keys)
        if wait:
            raise RechargeError("throttled", _wait_message(wait), retry_after=wait)
        row = (Recharge.objects.filter(code=code).select_related("batch")
               .only("pk", "code", "amount", "status", "expires_at", "sold_at",
                     "used_by_id", "batch_id", "batch__label").first())
        if row is not None:
            outcome = _outcome_of(row, now)
            if not outcome:
                try:
                    with transaction.atomic():
                        target = customer if customer is not None else _open_code_account(code)
                        tx = ledger.post(
                            "recharge.redeem",
                            [(ledger.RECHARGE_LIABILITY, row.amount),
                             (target.credit_account_id, -row.amount)],
                            actor=ledger_actor, reference=f"recharge:{row.pk}",
                            memo=f"recharge {codes.group(row.code)}",
                        )
                        n = (Recharge.objects.filter(pk=row.pk).redeemable(now)
                             .update(status=S.USED, used_at=now, used_by=target,
                                     used_door=door, redeem_transaction=tx))
                        if n != 1:
                            raise _Lost()
                        _tally_rows([(row.batch_id, row.amount)], (S.SOLD, -1),
                                    (S.USED, 1), (Tally.LIABILITY, -1))
                    outcome = Out.SUCCESS
                    # the row as the UPDATE left it (no second read of the code)
                    row.status, row.used_at, row.used_by = S.USED, now, target
                    row.used_door, row.redeem_transaction = door, tx
                    result = Redemption(row, target, row.amount, 0, customer is None)
                except _Lost:
                    row.refresh_from_db(fields=["status", "expires_at", "sold_at",
                                                "used_by"])
                    outcome = _outcome_of(row, now) or Out.USED
            if outcome == Out.USED and for_login:
                again = _returning_login(row, code)
                if again is not None:
                    if not again.is_active:
                        outcome = "disabled"
                    else:
                        outcome = Out.RETURN
                        result = Redemption(row, again, 0, 0, False)
        hint = "" if row is not None else code[:4]
        RedeemAttempt.objects.create(
            at=now, door=door, outcome=outcome if outcome != "disabled" else Out.RETURN,
            ip=(source.ip or "")[:45], mac=(source.mac or "")[:32],
            station=(source.station or "")[:64], account=(source.account or "")[:150],
            code_hint=hint, code_length=len(code), recharge=row,
            customer=result.customer if result else customer,
            staff=actor.staff if actor is not None else None,
        )
        if outcome in (Out.UNSOLD, Out.DELETED, Out.VOID):
            _fraud_alert(row, outcome, source)
        if result is not None:
            # in the same transaction: a success costs no extra commit
            throttle.forgive(THROTTLE_SCOPE, keys)

    if result is not None:
        result.balance = accounts.balance(result.customer)
        if actor is not None and actor.staff is not None:
            audit.record(
                actor, "recharges.redeem", result.recharge,
                after={"customer": result.customer.pk, "amount": result.amount,
                       "balance": result.balance, "code": result.recharge.code},
                summary=_("Recharge %(code)s redeemed for %(name)s")
                % {"code": codes.group(result.recharge.code),
                   "name": result.customer.username},
            )
        return result
    if outcome == "disabled":
        throttle.forgive(THROTTLE_SCOPE, keys)
        raise RechargeError("disabled", _("This account is disabled; please ask at the "
                                          "counter."))
    if outcome == Out.USED:
        raise RechargeError("used", _("This code has already been used."))
    if outcome == Out.EXPIRED:
        raise _expired(row.expires_at if row is not None else None)
    raise _invalid()


def redeem(code: str, *, customer: Customer, source: Source, actor=None) -> Redemption:
    """Credit ``customer`` with a sold, unexpired, unused code: exactly once.

    One transaction: a conditional UPDATE (status sold and not expired → used, checked
    by its row count) and the ledger posting liability → customer credit. The attempt is
    claimed in the throttle first and forgiven on success. ``actor``: the staff member
    redeeming for a customer (audited), or None when the customer does it.
    """
    if customer is None:
        raise TypeError("redeem() needs a customer; use redeem_for_login() without one")
    return _redeem(code, source=source, customer=customer, actor=actor, for_login=False)


def redeem_for_login(code: str, *, source: Source) -> Redemption:
    """A code alone at login: open an account named after the code, credited with it.

    If the code was already used to open such an account and that account still has
    no password or PIN, the same code logs into it again: the result then has
    ``amount == 0`` and ``created_account == False``. Otherwise like :func:`redeem`.
    """
    return _redeem(code, source=source, customer=None, actor=None, for_login=True)

