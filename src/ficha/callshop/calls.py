"""Call-shop services for the PBX: authorize a call before it is dialled, end it after.

Part of the call shop's service layer (re-exported by ``callshop.services``): the only
code that creates and ends :class:`~ficha.callshop.models.Call` rows for live calls. The
API (``POST /api/v1/calls/authorize``, ``/calls/{id}/end``) is a thin door over
:func:`authorize` and :func:`end_call`; an AGI or ESL door could call the same.

Who pays for a call, in this order:

* a calling-card PIN: a recharge code, used like a hotspot login code — the first call
  redeems it into an account named after the code, later calls use that account's
  credit (``recharges.redeem_for_login``: throttled, attempts logged, unsold codes raise
  a fraud alert, as at every other door);
* a customer account (``account``; its PIN when it has one), throttled per booth and
  account name so names and PINs cannot be guessed;
* neither: the booth's open postpaid session — the call is added to the session and paid
  at checkout (no ledger entry until then).

Prepaid calls *reserve* credit: the authorization grants the longest talk time whose
rounded cost fits the account's spendable credit (``ledger.spendable``: balance minus the
holds of its other live calls; connect fee, minimum block and minimum cost included,
``rating.max_talk_time``), and places a ledger hold of that cost ("call:<id>") until the
call ends. Every other debit of the account (café time, Wi-Fi, packages, refunds) sees
the hold and cannot take that credit. The end rates the talk time (at most the granted
time) with the rate copied at authorization, releases the hold and debits the account
through the ledger in one transaction (``ledger.settle_hold``), exactly once: a retried
end answers what the first one did.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from ficha.accounts import services as accounts
from ficha.accounts.models import Customer
from ficha.core import audit, clock, throttle
from ficha.core.money import Money, exponent
from ficha.ledger import services as ledger
from ficha.recharges import services as recharges

from . import rating
from .cdr import endpoint_of
from .matching import NumberError
from .models import Booth, BoothSession, Call, Deck

THROTTLE_SCOPE = "callshop"
MAX_BILLSEC = 7 * 86400
LEDGER_KIND = "callshop.call"


class CallError(ValueError):
    """A PBX request that cannot be done (unknown booth or call, bad input): 4xx."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class Authorization:
    """The answer to an authorization: ``allowed`` with the talk time, or refused with the
    reason (``reason`` a machine code, ``message`` for people, in the active language)."""

    allowed: bool
    reason: str  # "" when allowed; else no_payer, pin, account, number, no_deck, no_rate,
    # credit, booth_inactive, throttled, disabled, duplicate
    message: str
    call: Call | None = None
    max_seconds: int = 0
    terms: rating.Terms | None = None
    currency: str = ""
    credit: int | None = None  # prepaid: the credit free for this call before it
    reserved: int = 0
    first_charge: int = 0  # what the shortest billed call costs (minor units)
    retry_after: int | None = None
    postpaid: bool = False
    repeated: bool = False  # the same PBX call id was authorized before: that answer


@dataclass
class Ending:
    call: Call
    cost: int
    billed_seconds: int
    debited: bool  # a ledger debit was written (prepaid, cost > 0)
    repeated: bool  # the call had ended before: nothing changed
    unpaid: int = 0  # prepaid: the part of the cost the credit could not cover


# --- lookups ----------------------------------------------------------------------------
def find_booth(ref: str) -> Booth | None:
    """A booth by name, PBX account code, endpoint or channel name ("PJSIP/booth3-0a1b")."""
    ref = (ref or "").strip()
    if not ref:
        return None
    booth = (Booth.objects.filter(name=ref).first()
             or Booth.objects.filter(accountcode=ref).first()
             or Booth.objects.filter(endpoint=ref).first())
    if booth is None and "/" in ref:
        endpoint = endpoint_of(ref)
        if endpoint:
            booth = Booth.objects.filter(endpoint=endpoint).first()
    return booth


def open_session(booth: Booth) -> BoothSession | None:
    return BoothSession.objects.filter(booth=booth, state=BoothSession.State.OPEN).first()


def deck_for(price_group: str = "", *fallbacks: str) -> Deck | None:
    """The deck of the first of ``price_group``, ``fallbacks`` that has one, else the
    deck without a price group (the lowest id)."""
    for group in (price_group, *fallbacks):
        if group:
            deck = Deck.objects.filter(price_group=group).first()
            if deck is not None:
                return deck
    return Deck.objects.filter(price_group="").order_by("pk").first()


def held(customer: Customer) -> int:
    """Credit held on the customer's account (their live calls' ledger holds)."""
    return ledger.held(customer.credit_account_id)


def hold_reference(call: Call | int) -> str:
    """The reference of a call's ledger hold."""
    return f"call:{call.pk if isinstance(call, Call) else call}"


def _money(amount: int, currency: str) -> str:
    return str(Money(amount, currency))


def _refused(reason: str, message: str, **kw) -> Authorization:
    return Authorization(False, reason, message, **kw)


def _wait_text(seconds: int) -> str:
    return ngettext("Too many attempts. Wait %(n)d second and try again.",
                    "Too many attempts. Wait %(n)d seconds and try again.", seconds
                    ) % {"n": seconds}


# --- authorize --------------------------------------------------------------------------
def authorize(booth_ref: str, dialled: str, *, account: str = "", account_pin: str = "",
              pin: str = "", external_id: str = "", caller: str = "") -> Authorization:
    """Decide whether ``booth_ref`` may dial ``dialled``, and for how long.

    Raises :class:`CallError` for an unknown booth or malformed input; every other "no"
    is an :class:`Authorization` with ``allowed=False`` (and, when the booth and number
    are known, a ``rejected`` Call row so the refusal is visible in the console).
    """
    from . import services  # the deck index and dial plan live there

    booth = find_booth(booth_ref)
    if booth is None:
        raise CallError("unknown_booth", _("There is no booth %(booth)s.")
                        % {"booth": (booth_ref or "").strip()[:60]})
    dialled = (dialled or "").strip()
    if not dialled or len(dialled) > 80:
        raise CallError("number", _("Give the dialled number (at most 80 characters)."))
    external_id = (external_id or "").strip()[:150]
    if external_id:
        earlier = Call.objects.filter(external_id=external_id).first()
        if earlier is not None:
            return _again(earlier)
    base = {"booth": booth, "dialled": dialled, "caller": (caller or "")[:80],
            "external_id": external_id or None}
    if not booth.active:
        return _reject_row(base, "booth_inactive", _("This booth is switched off."))
    try:
        digits = services.dial_plan().normalise(dialled)
    except NumberError as exc:
        return _reject_row(base, "number", str(exc))
    base["digits"] = digits

    # Who pays.
    customer: Customer | None = None
    recharge = None
    session: BoothSession | None = None
    if pin:
        # Throttled per booth: the PBX's address is every booth's, so it is no key.
        source = recharges.Source(door="callshop", station=f"booth:{booth.name}"[:64])
        try:
            redemption = recharges.redeem_for_login(pin, source=source)
        except recharges.RechargeError as exc:
            return _reject_row(base, "throttled" if exc.reason == "throttled" else "pin",
                               exc.message, retry_after=exc.retry_after or None)
        customer, recharge = redemption.customer, redemption.recharge
    elif account:
        customer, refusal = _check_account(booth, account, account_pin)
        if refusal is not None:
            return _finish_refusal(base, refusal)
    else:
        session = open_session(booth)
        if session is None:
            return _reject_row(base, "no_payer", _(
                "This booth is not open: pay at the counter first, or use a calling card."))
    if customer is not None and not customer.is_active:
        return _reject_row(base, "disabled", _("This account is disabled; please ask at the "
                                               "counter."), customer=customer)

    deck = deck_for(customer.price_group if customer else booth.price_group,
                    booth.price_group)
    if deck is None:
        return _reject_row(base, "no_deck", _("No rates are set up for calls yet."),
                           customer=customer)
    index = services.deck_index(deck)
    terms = index.match(digits, services.local_time(None))
    if terms is None:
        return _reject_row(base, "no_rate", _("Calls to this number are not possible here "
                                              "(no rate for %(digits)s).")
                           % {"digits": digits}, customer=customer, deck=deck)
    policy = index.policy
    first = rating.first_charge(terms, policy)
    rate_fields = _rate_fields(deck, terms)
    if session is not None:
        with transaction.atomic():
            # The session row locked, as checkout locks it: a call is never added to a
            # session that was paid or closed since it was read above.
            still_open = BoothSession.objects.select_for_update().filter(
                pk=session.pk, state=BoothSession.State.OPEN).exists()
            call = _create(Call(**base, **rate_fields, session=session,
                                currency=deck.currency, max_seconds=rating.MAX_TALK_SECONDS)
                           ) if still_open else False
        if call is False:
            return _reject_row(base, "no_payer", _(
                "This booth is not open: pay at the counter first, or use a calling card."))
        if call is None:
            return _again(Call.objects.get(external_id=external_id))
        return Authorization(True, "", _("Allowed: the call is added to the booth's bill."),
                             call=call, max_seconds=rating.MAX_TALK_SECONDS, terms=terms,
                             currency=deck.currency, first_charge=first, postpaid=True)
    # Prepaid: one authorization per account at a time, so two calls cannot both take
    # the same credit.
    with transaction.atomic():
        lock_customers([customer.pk])
        free = ledger.spendable(customer.credit_account_id)
        seconds = rating.max_talk_time(terms, max(free, 0), policy)
        if seconds <= 0:
            message = _("Not enough credit: %(credit)s left, the shortest call to %(dest)s "
                        "costs %(cost)s.") % {
                "credit": _money(max(free, 0), deck.currency),
                "dest": terms.description or digits, "cost": _money(first, deck.currency)}
            refusal = _reject_row({**base, **rate_fields}, "credit", message,
                                  customer=customer, recharge=recharge)
            refusal.credit, refusal.first_charge = free, first
            refusal.terms, refusal.currency = terms, deck.currency
            return refusal
        reserve = rating.rate_call(terms, seconds, policy).cost
        call = Call(**base, **rate_fields, customer=customer, recharge=recharge,
                    currency=deck.currency, max_seconds=seconds, reserved=reserve)
        try:
            with transaction.atomic():
                call.save(force_insert=True)
        except IntegrityError:
            call = None
        else:
            if reserve > 0:  # a free destination holds nothing
                ledger.place_hold(customer.credit_account_id, reserve, hold_reference(call))
    if call is None:  # the same PBX call id, authorized in parallel
        return _again(Call.objects.get(external_id=external_id))
    if seconds < 120:
        message = ngettext("Allowed: up to %(n)d second.", "Allowed: up to %(n)d seconds.",
                           seconds) % {"n": seconds}
    else:
        message = ngettext("Allowed: up to %(n)d minute.", "Allowed: up to %(n)d minutes.",
                           seconds // 60) % {"n": seconds // 60}
    return Authorization(
        True, "", message,
        call=call, max_seconds=seconds, terms=terms, currency=deck.currency, credit=free,
        reserved=reserve, first_charge=first)


def _check_account(booth: Booth, account: str, account_pin: str
                   ) -> tuple[Customer | None, tuple | None]:
    """The paying customer for an account name (and PIN). Failures are counted per booth
    and name (unknown names like wrong PINs, so neither can be probed) and lock both out
    for a while; a good request costs no throttle write, so an account's calls on several
    booths at once are never throttled."""
    keys = [f"station:booth:{booth.pk}", f"account:{account.strip().lower()}"[:128]]
    wait = throttle.retry_after(THROTTLE_SCOPE, keys)
    if wait:
        throttle.note_refused(THROTTLE_SCOPE, keys)
        return None, ("throttled", _wait_text(wait), {"retry_after": wait})
    customer = accounts.find_customer(account.strip()[:150])
    ok = customer is not None and (
        not (customer.pin or account_pin)
        or (not customer.pin_locked and customer.check_pin(account_pin or "")))
    if not ok:
        throttle.claim(THROTTLE_SCOPE, keys)  # counts this failure
        return None, ("account", _("Unknown account or wrong PIN."), {})
    return customer, None


def _finish_refusal(base: dict, refusal: tuple) -> Authorization:
    reason, message, extra = refusal
    return _reject_row(base, reason, message, **extra)


def _rate_fields(deck: Deck, terms: rating.Terms) -> dict:
    return {"deck": deck, "prefix": terms.prefix, "destination": terms.description[:100],
            "price": terms.price, "connect_fee": terms.connect_fee,
            "min_block": terms.min_block, "increment": terms.increment, "grace": terms.grace,
            "free_seconds": terms.free_seconds, "min_cost": terms.min_cost,
            "tiers": rating.format_tiers(terms.tiers)}


def _create(call: Call) -> Call | None:
    """Insert ``call``; None when its PBX id exists already (a parallel retry)."""
    try:
        with transaction.atomic():
            call.save(force_insert=True)
    except IntegrityError:
        if call.external_id and Call.objects.filter(external_id=call.external_id).exists():
            return None
        raise
    return call


def _reject_row(base: dict, reason: str, message: str, *, retry_after: int | None = None,
                customer: Customer | None = None, recharge=None, deck: Deck | None = None
                ) -> Authorization:
    """A refusal, kept as a ``rejected`` call (the console shows what the booth tried)."""
    from ficha.core.services import currency as venue_currency

    fields = {k: v for k, v in base.items() if k != "external_id"}
    if deck is not None:
        fields["deck"] = deck
    call = Call(**fields, state=Call.State.REJECTED, reason=message[:200], customer=customer,
                recharge=recharge, currency=(deck.currency if deck else venue_currency()),
                ended_at=clock.now(), source=Call.Source.API)
    # A refused attempt keeps no PBX id: the PBX may retry the same call (after a top-up).
    call.save(force_insert=True)
    return _refused(reason, message, call=call, retry_after=retry_after)


def _again(call: Call) -> Authorization:
    """The answer for a PBX call id authorized before (a retried request)."""
    terms = call.terms()
    if call.state == Call.State.REJECTED:
        return _refused("duplicate", call.reason, call=call, repeated=True)
    if call.state in (Call.State.ENDED, Call.State.LOST):
        return _refused("duplicate", _("This call has ended already."), call=call,
                        repeated=True)
    return Authorization(True, "", _("Allowed (repeated request)."), call=call,
                         max_seconds=call.max_seconds or 0, terms=terms,
                         currency=call.currency, reserved=call.reserved,
                         postpaid=call.session_id is not None, repeated=True)


# --- end --------------------------------------------------------------------------------
def get_call(call_id: int) -> Call:
    call = Call.objects.filter(pk=call_id).first()
    if call is None:
        raise CallError("unknown_call", _("There is no call %(id)s.") % {"id": call_id})
    return call


def end_call(call_id: int, billsec: int, *, disposition: str = "") -> Ending:
    """End a call with its talk time: rate it (with the rate copied at authorization, at
    most the granted talk time) and, for a prepaid account, debit it through the ledger.

    Exactly once: a second end of the same call (a PBX retry) changes nothing and answers
    what the first one did.
    """
    if isinstance(billsec, bool) or not isinstance(billsec, int) or not \
            0 <= billsec <= MAX_BILLSEC:
        raise CallError("billsec", _("billsec is a whole number of seconds from 0 to "
                                     "604800."))
    disposition = (disposition or "").strip().upper()[:12]
    with transaction.atomic():
        call = Call.objects.select_for_update().filter(pk=call_id).first()
        if call is None:
            raise CallError("unknown_call", _("There is no call %(id)s.") % {"id": call_id})
        if call.state == Call.State.ENDED:
            return Ending(call, call.cost, call.billed_seconds,
                          call.ledger_transaction_id is not None, True, call.unpaid)
        # A lost call (its hold released by the worker) is still charged, once.
        if call.state == Call.State.REJECTED:
            raise CallError("rejected", _("This call was refused; there is nothing to end."))
        if call.customer_id is not None:
            # As authorize does: the debit and the released reservation are seen together.
            lock_customers([call.customer_id])
        return _end(call, billsec, disposition or ("ANSWERED" if billsec else "NO ANSWER"))


def _end(call: Call, billsec: int, disposition: str, *, answered_at=None, ended_at=None,
         source_note: str = "") -> Ending:
    """Rate and close a live call (inside the caller's transaction, row locked)."""
    now = ended_at or clock.now()
    talk = billsec if call.max_seconds is None else min(billsec, call.max_seconds)
    terms = call.terms()
    cost = billed = 0
    if terms is not None and talk > 0:
        policy = rating.Policy(currency=call.currency, exponent=exponent(call.currency),
                               rounding=call.deck.rounding if call.deck else rating.HALF_UP,
                               whole_duration=call.deck.whole_duration if call.deck
                               else False)
        rated = rating.rate_call(terms, talk, policy)
        cost, billed = rated.cost, rated.billed_seconds
    if call.state == Call.State.LOST:
        call.reason = _("Ended after it was marked lost: charged then.")[:200]
    call.billsec = billsec
    call.billed_seconds = billed
    call.cost = cost
    call.state = Call.State.ENDED
    call.disposition = disposition
    call.ended_at = now
    if billsec and call.answered_at is None:
        call.answered_at = answered_at or now - dt.timedelta(seconds=billsec)
    if billsec > talk:
        call.reason = (_("Talked %(talk)d s, %(granted)d s granted: billed for the granted "
                         "time.") % {"talk": billsec, "granted": talk})[:200]
    call.reserved = 0
    debited = False
    if call.customer_id is not None:
        # The hold released and the cost debited together (the debit may use its hold),
        # at most the credit then: a lost call's hold was released by the worker, and the
        # balance never goes below zero — the rest is kept as ``unpaid``.
        tx, taken = ledger.settle_hold_within_credit(
            hold_reference(call), LEDGER_KIND, _credit_account(call),
            ledger.REVENUE_CALLS, cost,
            actor=audit.Actor(source="pbx", label=f"booth {call.booth_id}"),
            reference=f"call:{call.pk}",
            memo=(f"call {call.digits} {call.billed_seconds}s" + source_note)[:255],
        )
        call.unpaid = cost - taken
        if call.unpaid:
            call.reason = unpaid_reason(call.unpaid, call.currency)
        if tx is not None:
            call.ledger_transaction = tx
            debited = True
    call.save()
    return Ending(call, cost, billed, debited, False, call.unpaid)


def unpaid_reason(unpaid: int, currency: str) -> str:
    """The reason shown on a prepaid call its account's credit did not fully cover."""
    return (_("Not enough credit left when the call was charged: %(unpaid)s unpaid.")
            % {"unpaid": _money(unpaid, currency)})[:200]


# --- lost calls (worker job) ------------------------------------------------------------
def lost_calls(limit: int = 20) -> list[Call]:
    """Recent prepaid calls the console should show: lost (no end, no CDR yet) or charged
    with part of their cost unpaid, newest first."""
    from django.db.models import Q

    return list(Call.objects.filter(Q(state=Call.State.LOST) | Q(unpaid__gt=0))
                .select_related("booth", "customer").order_by("-started_at", "-pk")[:limit])


def sweep_lost_calls() -> int:
    """Worker job: a prepaid call still live past its latest possible end (answer, else
    authorization, + granted talk time) and ``CALLSHOP_LOST_CALL_MINUTES`` more lost its
    end and its CDR (PBX crash, AGI killed): mark it ``lost`` and release its hold, so the
    customer's credit is not blocked for ever. Each call is claimed with a conditional
    UPDATE (still in the state read), so two workers, or a worker and a late end, never
    both act on it; audited as a system action. A late end or CDR still charges it
    (:func:`end_call`, at most the credit then). Returns how many calls it marked."""
    now = clock.now()
    margin = dt.timedelta(minutes=settings.CALLSHOP_LOST_CALL_MINUTES)
    live = (Call.State.RESERVED, Call.State.ANSWERED)
    candidates = (Call.objects.filter(state__in=live, customer__isnull=False,
                                      started_at__lt=now - margin)
                  .order_by("started_at", "pk")
                  .values_list("pk", "state", "started_at", "answered_at", "max_seconds",
                               "reserved", "currency")[:1000])
    done = 0
    for pk, state, started, answered, max_seconds, reserved, currency in candidates:
        latest_end = (answered or started) + dt.timedelta(seconds=max_seconds or 0)
        if latest_end + margin >= now:
            continue
        reason = (_("Lost: no end and no call record %(minutes)d minutes after the granted "
                    "time; the held credit (%(held)s) was released.")
                  % {"minutes": settings.CALLSHOP_LOST_CALL_MINUTES,
                     "held": _money(reserved, currency)})[:200]
        with transaction.atomic():
            claimed = Call.objects.filter(pk=pk, state=state).update(
                state=Call.State.LOST, reason=reason, reserved=0, ended_at=now)
            if not claimed:
                continue  # ended meanwhile, or another worker took it
            released = ledger.release_hold(hold_reference(pk))
            audit.record(audit.SYSTEM, "callshop.call.lost", object_type="callshop.call",
                         object_id=pk, summary=reason,
                         before={"state": state, "reserved": reserved},
                         after={"state": Call.State.LOST.value, "released": released})
        done += 1
    return done


def lock_customers(ids) -> None:
    """Lock the customers' credit accounts (in id order), as every other debit of a
    customer's credit does: their credit and holds stay still until commit."""
    ledger.lock_accounts(Customer.objects.filter(pk__in=set(ids)).values_list(
        "credit_account_id", flat=True))


def _credit_account(call: Call) -> int:
    return Customer.objects.values_list("credit_account_id", flat=True).get(
        pk=call.customer_id)


__all__ = ["Authorization", "CallError", "Ending", "authorize", "end_call", "find_booth",
           "get_call", "held", "hold_reference", "lost_calls", "sweep_lost_calls",
           "unpaid_reason", "deck_for", "open_session",
           "THROTTLE_SCOPE"]
