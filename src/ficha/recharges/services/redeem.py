"""Redemption: a sold code credits a customer exactly once, from any door."""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
from dataclasses import dataclass

from django.db import connection, transaction
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from ficha.accounts import services as accounts
from ficha.accounts.models import Customer
from ficha.core import alerts, audit, clock, codes, throttle
from ficha.core.db import prepared
from ficha.core.models import Throttle
from ficha.ledger import services as ledger

from ..models import Recharge, RedeemAttempt, Tally
from .base import THROTTLE_SCOPE, Out, S, format_time
from .errors import RechargeError
from .issue import _code_formats


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
        # A hotspot's "station" names the gateway every phone goes through: with the
        # phone's MAC known (a MAC the phone states), the gateway's key only holds back a
        # guesser who rotates MACs (core.throttle's loose policy for gateway keys). A
        # customer logged in to an account (the status page) is held back by the
        # account's key instead: a stranger rotating MACs at the login page never keeps
        # a paying customer from adding a code.
        if self.station and self.door == "hotspot" and self.mac:
            if not self.account:
                out.append(f"{throttle.GATEWAY_KEY_PREFIX}{str(self.station).strip()}")
        elif self.station:
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


def _wait_message(seconds: int, shared: bool = False) -> str:
    """The throttled refusal's words; ``shared``: only the gateway every phone goes through
    is held back (someone else's guesses), so the customer is not told they tried too
    often."""
    if shared:
        if seconds >= 120:
            minutes = (seconds + 59) // 60
            return ngettext(
                "Too many wrong codes were tried on this Wi-Fi just now. Wait %(n)d minute "
                "and try again.",
                "Too many wrong codes were tried on this Wi-Fi just now. Wait %(n)d minutes "
                "and try again.", minutes) % {"n": minutes}
        return ngettext(
            "Too many wrong codes were tried on this Wi-Fi just now. Wait %(n)d second and "
            "try again.",
            "Too many wrong codes were tried on this Wi-Fi just now. Wait %(n)d seconds and "
            "try again.", seconds) % {"n": seconds}
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


def _open_code_account(code: str, door: str = "portal") -> Customer:
    """A fresh account named after the code (hotspot style); the customer may later
    set a password and keep it. Called only by the attempt that took the code, so no
    parallel login opens the same name; an account someone else named like the code gets
    a suffix."""
    name = code
    if accounts.find_customer(name) is not None:
        name = f"{code}-{codes.random_code(8, False)[:4]}"
    return accounts.create_customer(
        # the audit log says where the code was typed (a station, the hotspot, the portal)
        audit.Actor(source="portal" if door.startswith("portal") else door,
                    label=f"code {codes.group(code)}"), name,
        origin=Customer.Origin.CODE,
    )


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


# --- the statements of one attempt --------------------------------------------------------
# A redemption runs on every code typed at every door, so its few statements are written
# out: one transaction, no savepoint, nothing read back that was just written. On success:
# the throttle claim, the conditional UPDATE of the code, the ledger's two INSERTs, the
# code's links, tally and attempt (one statement on PostgreSQL), the balance (and the audit
# row for staff). Each statement's text is worked out once per database vendor.
def _q(name: str) -> str:
    return connection.ops.quote_name(name)


def _when(value) -> dt.datetime | None:
    if isinstance(value, str):
        value = parse_datetime(value)
    if value is not None and value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value


def _claim(cur, keys: list[str], now: dt.datetime
           ) -> tuple[int, list[tuple[int, str, int]], bool]:
    """Claim an attempt for the source's keys in one statement: the rows are created or
    locked (an upsert takes the row lock), a window that ran out starts again. Returns
    (seconds to wait, 0 when the attempt may go on; [(id, key, failures)]; whether only
    a gateway's shared key is locked).

    The attempt is counted at the end, in the same transaction (:func:`_count_failure`),
    and only if it failed: claim and count commit together or not at all, so counting
    first and forgiving a success (``core.throttle.claim``/``forgive``) would change
    nothing but cost four statements more.
    """
    at = connection.ops.adapt_datetimefield_value(now)
    stale = [connection.ops.adapt_datetimefield_value(
        now - dt.timedelta(seconds=throttle.policy(THROTTLE_SCOPE, key).window_seconds))
        for key in keys]  # each key's window, as its policy says
    cur.execute(
        _claim_sql(connection.vendor, len(keys)),
        [v for key in keys for v in (THROTTLE_SCOPE, key, at)]
        + [v for pair in zip(keys, stale, strict=True) for v in pair],
    )
    rows, wait, held = [], 0.0, []
    for pk, key, failures, locked in cur.fetchall():
        locked = _when(locked)
        if locked is not None and locked > now:
            wait = max(wait, (locked - now).total_seconds())
            held.append(key)
        rows.append((pk, key, failures))
    shared = bool(held) and all(k.startswith(throttle.GATEWAY_KEY_PREFIX) for k in held)
    return (max(1, int(wait + 0.999)) if wait else 0), rows, shared


@functools.cache
def _claim_sql(vendor: str, n_keys: int) -> str:
    table = _q(Throttle._meta.db_table)
    return (
        f"INSERT INTO {table} ({_q('scope')}, {_q('key')}, {_q('failures')}, "
        f"{_q('last_failure_at')}) VALUES " + ", ".join(["(%s, %s, 0, %s)"] * n_keys)
        + f" ON CONFLICT ({_q('scope')}, {_q('key')}) DO UPDATE SET "
        # a window that ran out starts again (each key's window as its policy says); only
        # a failure moves the window (_count_failure): a gateway's customers who log in
        # all day long must not keep a typo of the morning counted
        f"{_q('failures')} = CASE WHEN {table}.{_q('last_failure_at')} < (CASE "
        f"{table}.{_q('key')} " + " ".join(["WHEN %s THEN %s"] * n_keys) + " END) THEN 0 "
        f"ELSE {table}.{_q('failures')} END "
        f"RETURNING {_q('id')}, {_q('key')}, {_q('failures')}, {_q('locked_until')}"
    )


def _count_failure(cur, rows: list[tuple[int, str, int]], now: dt.datetime) -> None:
    """The claimed attempt failed: one more failure per key, and the lock it earns."""
    cases, params = [], []
    for pk, key, failures in rows:
        seconds = throttle.lock_seconds(throttle.policy(THROTTLE_SCOPE, key), failures + 1)
        cases.append("WHEN %s THEN %s")
        params += [pk, connection.ops.adapt_datetimefield_value(
            now + dt.timedelta(seconds=seconds)) if seconds else None]
    ids = [pk for pk, _k, _f in rows]
    lock = _q("locked_until")
    cast = "::timestamptz" if connection.vendor == "postgresql" else ""
    cur.execute(
        f"UPDATE {_q(Throttle._meta.db_table)} SET {_q('failures')} = {_q('failures')} + 1, "
        f"{lock} = (CASE {_q('id')} {' '.join(cases)} END){cast}, "
        f"{_q('last_failure_at')} = %s "
        f"WHERE {_q('id')} IN ({', '.join(['%s'] * len(ids))})",
        [*params, connection.ops.adapt_datetimefield_value(now), *ids],
    )


_TAKEN = ("id", "amount", "currency", "batch_id", "created_at", "expires_at", "sold_at",
          "sold_by_id", "sold_shift_id", "sale_price", "payment_method")


@functools.cache
def _take_sql(vendor: str) -> str:
    return (
        f"UPDATE {_q(Recharge._meta.db_table)} SET {_q('status')} = %s, {_q('used_at')} = %s, "
        f"{_q('used_door')} = %s WHERE {_q('code')} = %s AND {_q('status')} = %s AND "
        f"({_q('expires_at')} IS NULL OR {_q('expires_at')} > %s) "
        f"RETURNING {', '.join(_q(c) for c in _TAKEN)}"
    )


def _take(cur, code: str, now: dt.datetime, door: str) -> Recharge | None:
    """Mark a sold, live code used: the conditional UPDATE that makes redemption happen
    exactly once (a second one waits for the first, then matches nothing). The row as
    the UPDATE left it, or None."""
    at = connection.ops.adapt_datetimefield_value(now)
    cur.execute(_take_sql(connection.vendor), [S.USED, at, door, code, S.SOLD, at])
    found = cur.fetchone()
    if found is None:
        return None
    values = dict(zip(_TAKEN, found, strict=True))
    for name in ("created_at", "expires_at", "sold_at"):
        values[name] = _when(values[name])
    return Recharge(code=code, status=S.USED, used_at=now, used_door=door, **values)


_LINK = ("UPDATE {recharge} SET {used_by_id} = %s, {redeem_transaction_id} = %s "
         "WHERE {id} = %s")
_TALLY = ("INSERT INTO {tally} ({key}, {batch_id}, {count}, {value}) VALUES "
          "('sold', %s, -1, %s), ('used', %s, 1, %s), ('liability', %s, -1, %s)")
_ATTEMPT = ("INSERT INTO {attempt} ({at}, {door}, {outcome}, {ip}, {mac}, {station}, "
            "{account}, {code_hint}, {code_length}, {recharge_id}, {customer_id}, "
            "{staff_id}) VALUES (%s, %s, 'success', %s, %s, %s, %s, '', %s, %s, %s, %s)")


def _sql(template: str) -> str:
    return _written(template, connection.vendor)


@functools.cache
def _written(template: str, vendor: str) -> str:
    """A template with its names quoted for ``vendor``: worked out once per statement."""
    names = {"recharge": Recharge._meta.db_table, "tally": Tally._meta.db_table,
             "attempt": RedeemAttempt._meta.db_table}
    return template.format_map(
        {k: _q(names.get(k, k)) for k in ("recharge", "tally", "attempt", "used_by_id",
                                          "redeem_transaction_id", "id", "key", "batch_id",
                                          "count", "value", "at", "door", "outcome", "ip",
                                          "mac", "station", "account", "code_hint",
                                          "code_length", "recharge_id", "customer_id",
                                          "staff_id")})


def _record_success(cur, row: Recharge, customer: Customer, tx, source: Source,
                    staff, now: dt.datetime) -> int:
    """The rest of a success: the code's links, its tally deltas (sold −1, used +1,
    liability −1) and the attempt; returns the customer's credit afterwards. One round
    trip on PostgreSQL (data-modifying CTEs, then the balance, which sees the ledger's
    rows of this transaction); separate statements on SQLite (in-process: no round
    trips to save)."""
    link = [customer.pk, tx.pk, row.pk]
    b, v = row.batch_id, row.amount
    tally = [b, -v, b, v, b, -v]
    attempt = [connection.ops.adapt_datetimefield_value(now), row.used_door,
               (source.ip or "")[:45], (source.mac or "")[:32], (source.station or "")[:64],
               (source.account or "")[:150], len(row.code), row.pk, customer.pk,
               staff.pk if staff is not None else None]
    row.used_by, row.redeem_transaction = customer, tx
    if connection.vendor != "postgresql":
        cur.execute(_sql(_LINK), link)
        cur.execute(_sql(_TALLY), tally)
        cur.execute(_sql(_ATTEMPT), attempt)
        return _credit(customer)
    cur.execute(f"WITH link AS ({_sql(_LINK)}), tally AS ({_sql(_TALLY)}), "
                f"attempt AS ({_sql(_ATTEMPT)}) {ledger.RAW_SUM_SQL}",
                [*link, *tally, *attempt, customer.credit_account_id])
    return -int(cur.fetchone()[0] or 0)  # the credit account is a liability


def _credit(customer: Customer) -> int:
    """The customer's credit now (their credit account is a liability: credit is the
    negated sum of its entries), read in the redemption's transaction."""
    return -ledger.raw_sum(customer.credit_account_id)


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
    keys = sorted({k[:128] for k in source.keys()})
    now = clock.now()
    door = (source.door or "portal")[:20]
    ledger_actor = actor if actor is not None else audit.Actor(
        ip=source.ip, source=door,
        label=f"customer {customer.username}" if customer else f"code {codes.group(code)}",
    )
    result: Redemption | None = None
    outcome = Out.UNKNOWN
    row = None
    # One transaction per attempt: the claim commits with the attempt it allows. A wrong
    # code commits its counted failure (nothing below raises); only a refused claim rolls
    # back, and it had nothing to keep.
    with transaction.atomic(), prepared.cursor() as cur:
        wait, claimed, shared = _claim(cur, keys, now)
        if wait:
            # counted although this transaction rolls back (aggregated, flood alarm)
            throttle.note_refused(THROTTLE_SCOPE, keys)
            raise RechargeError("throttled", _wait_message(wait, shared), retry_after=wait,
                                shared=shared)
        row = _take(cur, code, now, door)
        if row is not None:
            # the code is ours: nobody else can take it until this transaction ends
            target = customer if customer is not None else _open_code_account(code, door)
            tx = ledger.post(
                "recharge.redeem",
                [(ledger.RECHARGE_LIABILITY, row.amount),
                 (target.credit_account_id, -row.amount)],
                actor=ledger_actor, reference=f"recharge:{row.pk}",
                memo=f"recharge {codes.group(code)}",
            )
            balance = _record_success(cur, row, target, tx, source,
                                      actor.staff if actor is not None else None, now)
            outcome = Out.SUCCESS
            result = Redemption(row, target, row.amount, balance, customer is None)
        else:
            row = (Recharge.objects.filter(code=code).select_related("batch")
                   .only("pk", "code", "amount", "currency", "status", "expires_at",
                         "sold_at", "used_by_id", "batch_id", "batch__label").first())
            if row is not None:
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
        if outcome != Out.SUCCESS:
            RedeemAttempt.objects.create(
                at=now, door=door, outcome=outcome if outcome != "disabled" else Out.RETURN,
                ip=(source.ip or "")[:45], mac=(source.mac or "")[:32],
                station=(source.station or "")[:64], account=(source.account or "")[:150],
                code_hint=hint, code_length=len(code), recharge_id=row.pk if row else None,
                customer=result.customer if result else customer,
                staff=actor.staff if actor is not None else None,
            )
        if outcome in (Out.UNSOLD, Out.DELETED, Out.VOID):
            _fraud_alert(row, outcome, source)
        if result is None and outcome != "disabled":
            _count_failure(cur, claimed, now)
        if result is not None:
            if outcome != Out.SUCCESS:  # a code-named account logging in again
                result.balance = _credit(result.customer)
            if actor is not None and actor.staff is not None and result.amount:
                # in the same transaction: the audit row commits with the redemption
                audit.record(
                    actor, "recharges.redeem", result.recharge,
                    after={"customer": result.customer.pk, "amount": result.amount,
                           "balance": result.balance, "code": code},
                    summary=_("Recharge %(code)s redeemed for %(name)s")
                    % {"code": codes.group(code), "name": result.customer.username},
                )

    if result is not None:
        return result
    if outcome == "disabled":
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

