"""Call-shop counter services: booths, postpaid booth sessions, extras, checkout, receipts
and the live booth screen.

Part of the call shop's service door (with ``callshop.services``): the only code that
changes booths, sessions, extras and checkouts. Console views call these functions and
render what they return.

A postpaid session: the cashier *opens* a booth (the PBX then lets it call without an
account, see the call authorization service); calls accumulate on the session as they
end, rated; the cashier adds *extras* (internet time, a coffee); at *checkout* the
receipt's total is rounded to the venue's cash-rounding step, the customer hands over
cash (tendered ≥ total), the change is shown, and the total enters the cashier's open
shift through the ledger. A session can also be *closed* first (the booth takes no new
calls; the customer pays later): it stays in the unpaid list until it is settled.

A call still in progress blocks checkout: the cashier closes the booth (no new call can
start), the running call ends (the PBX reports it, rated) and then the session is
settled with every call on the receipt. Nothing is ever settled with a call missing.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.db import IntegrityError, transaction
from django.db.models import Prefetch
from django.utils.translation import gettext as _

from ficha.core import audit, clock
from ficha.core.money import MAX_MINOR, Money, MoneyError, parse_amount
from ficha.core.services import currency, venue_settings
from ficha.ledger import services as ledger

from . import counter, rating
from .counter_models import BoothExtra, Checkout, CounterSettings
from .models import Booth, BoothSession, Call, Deck
from .services import CallshopError, local_time, policy


class BoothError(CallshopError):
    """A counter request that cannot be done; the message is meant for people."""


# --- counter settings -------------------------------------------------------------------
def counter_settings() -> CounterSettings:
    row = CounterSettings.objects.filter(pk=1).first()
    if row is None:
        row, _created = CounterSettings.objects.get_or_create(pk=1)
    return row


def update_counter_settings(actor: audit.Actor, *, cash_rounding_step: int | str,
                            cash_rounding_mode: str, mask_digits: int,
                            locale: str | None = None) -> CounterSettings:
    """Change the cash rounding (step typed as an amount, e.g. "0.05" or "25") and how
    many digits of dialled numbers are hidden."""
    step = _amount(cash_rounding_step, locale, zero_ok=True)
    if step > counter.MAX_STEP:
        raise BoothError(_("The rounding step is too large."))
    if cash_rounding_mode not in counter.ROUNDING_MODES:
        raise BoothError(_("Unknown cash rounding."))
    if isinstance(mask_digits, bool) or not isinstance(mask_digits, int) \
            or not 0 <= mask_digits <= counter.MAX_HIDE:
        raise BoothError(_("Hide 0 to %(n)d digits.") % {"n": counter.MAX_HIDE})
    values = {"cash_rounding_step": step, "cash_rounding_mode": cash_rounding_mode,
              "mask_digits": mask_digits}
    counter_settings()
    with transaction.atomic():
        row = CounterSettings.objects.select_for_update().get(pk=1)
        before = audit.snapshot(row, list(values))
        for name, value in values.items():
            setattr(row, name, value)
        row.save()
        audit.record(actor, "callshop.counter_settings", row, before=before, after=values,
                     summary=_("Counter settings changed"))
    return row


def _amount(value: int | str, locale: str | None, *, zero_ok: bool = False) -> int:
    """An amount in minor units: an int as it is, text through ``parse_amount``."""
    cur = currency()
    if isinstance(value, bool):
        raise BoothError(_("Type an amount."))
    if isinstance(value, int):
        minor = value
    else:
        text = (value or "").strip()
        if not text:
            raise BoothError(_("Type an amount."))
        try:
            minor = parse_amount(text, cur, locale=locale).minor
        except MoneyError as exc:
            raise BoothError(str(exc)) from None
    if minor < 0 or (minor == 0 and not zero_ok):
        raise BoothError(_("The amount must be more than zero."))
    if minor > MAX_MINOR:
        raise BoothError(_("The amount is too large."))
    return minor


# --- booths -----------------------------------------------------------------------------
BOOTH_FIELDS = ("name", "accountcode", "endpoint", "price_group", "active")


def _clean_booth(values: dict, booth: Booth | None = None) -> dict:
    unknown = set(values) - set(BOOTH_FIELDS)
    if unknown:
        raise BoothError(_("Unknown booth setting %(name)s.") % {"name": sorted(unknown)[0]})
    out = dict(values)
    for name in ("name", "accountcode", "endpoint"):
        if name in out:
            out[name] = str(out[name] or "").strip()
            limit = Booth._meta.get_field(name).max_length
            if len(out[name]) > limit:
                raise BoothError(_("%(field)s is at most %(n)d characters.") % {
                    "field": Booth._meta.get_field(name).verbose_name, "n": limit})
    if "name" in out and not out["name"]:
        raise BoothError(_("A booth needs a name."))
    name = out.get("name", booth.name if booth else "")
    accountcode = out.get("accountcode", booth.accountcode if booth else "")
    endpoint = out.get("endpoint", booth.endpoint if booth else "")
    if not accountcode and not endpoint:
        raise BoothError(_("Give the booth's PBX account code or its endpoint name (or both): "
                           "that is how its calls are recognised."))
    group = out.get("price_group")
    if group and group not in dict(Booth._meta.get_field("price_group").choices):
        raise BoothError(_("Unknown price group."))
    others = Booth.objects.exclude(pk=booth.pk if booth else None)
    if others.filter(name=name).exists():
        raise BoothError(_("A booth named %(name)s exists already.") % {"name": name})
    if accountcode and others.filter(accountcode=accountcode).exists():
        raise BoothError(_("Another booth has the account code %(code)s.")
                         % {"code": accountcode})
    if endpoint and others.filter(endpoint=endpoint).exists():
        raise BoothError(_("Another booth has the endpoint %(endpoint)s.")
                         % {"endpoint": endpoint})
    if "active" in out:
        out["active"] = bool(out["active"])
    return out


def create_booth(actor: audit.Actor, **values) -> Booth:
    values = _clean_booth(values)
    try:
        with transaction.atomic():
            booth = Booth.objects.create(**values)
            audit.record(actor, "callshop.booth_create", booth,
                         after=audit.snapshot(booth, list(BOOTH_FIELDS)),
                         summary=_("Booth %(name)s created") % {"name": booth.name})
    except IntegrityError:
        raise BoothError(_("A booth with this name or PBX identity exists already.")) from None
    return booth


def update_booth(actor: audit.Actor, booth: Booth, **values) -> Booth:
    values = _clean_booth(values, booth)
    try:
        with transaction.atomic():
            booth = Booth.objects.select_for_update().get(pk=booth.pk)
            before = audit.snapshot(booth, list(values))
            for name, value in values.items():
                setattr(booth, name, value)
            booth.save()
            audit.record(actor, "callshop.booth_update", booth, before=before,
                         after=audit.snapshot(booth, list(values)),
                         summary=_("Booth %(name)s changed") % {"name": booth.name})
    except IntegrityError:
        raise BoothError(_("A booth with this name or PBX identity exists already.")) from None
    return booth


# --- sessions ---------------------------------------------------------------------------
def open_session(actor: audit.Actor, booth: Booth) -> BoothSession:
    """Unlock ``booth`` for a walk-in customer: its calls go on the new session."""
    with transaction.atomic():
        booth = Booth.objects.select_for_update().get(pk=booth.pk)
        if not booth.active:
            raise BoothError(_("Booth %(name)s is switched off.") % {"name": booth.name})
        if BoothSession.objects.filter(booth=booth, state=BoothSession.State.OPEN).exists():
            raise BoothError(_("Booth %(name)s is already open.") % {"name": booth.name})
        try:
            with transaction.atomic():
                session = BoothSession.objects.create(booth=booth, opened_by=actor.staff,
                                                      opened_at=clock.now())
        except IntegrityError:
            raise BoothError(_("Booth %(name)s is already open.") % {"name": booth.name}) \
                from None
        audit.record(actor, "callshop.session_open", session,
                     after={"booth": booth.name},
                     summary=_("Booth %(name)s opened") % {"name": booth.name})
    return session


def _locked(session: BoothSession) -> BoothSession:
    return BoothSession.objects.select_for_update().select_related("booth").get(pk=session.pk)


def close_session(actor: audit.Actor, session: BoothSession) -> BoothSession:
    """The booth takes no new calls on this session; it stays unpaid until checkout."""
    with transaction.atomic():
        session = _locked(session)
        if session.state != BoothSession.State.OPEN:
            raise BoothError(_("This booth session is not open."))
        session.state = BoothSession.State.CLOSED
        session.closed_at = clock.now()
        session.closed_by = actor.staff
        session.save(update_fields=["state", "closed_at", "closed_by"])
        audit.record(actor, "callshop.session_close", session,
                     before={"state": "open"}, after={"state": "closed"},
                     summary=_("Booth %(name)s closed") % {"name": session.booth.name})
    return session


def add_extra(actor: audit.Actor, session: BoothSession, *, description: str,
              amount: int | str, kind: str = BoothExtra.Kind.PRODUCT,
              locale: str | None = None) -> BoothExtra:
    """Add a line to an unsettled session; ``amount`` typed by a person is read with
    ``parse_amount`` in ``locale`` (an int is minor units)."""
    description = (description or "").strip()
    if not description:
        description = str(BoothExtra.Kind(kind).label) if kind in BoothExtra.Kind.values \
            else ""
    if kind not in BoothExtra.Kind.values:
        raise BoothError(_("Unknown kind of extra."))
    if len(description) > BoothExtra._meta.get_field("description").max_length:
        raise BoothError(_("The description is at most 100 characters."))
    minor = _amount(amount, locale)
    with transaction.atomic():
        session = _locked(session)
        if session.state == BoothSession.State.SETTLED:
            raise BoothError(_("This booth session is paid already."))
        extra = BoothExtra.objects.create(session=session, kind=kind, description=description,
                                          amount=minor, currency=currency(),
                                          created_by=actor.staff)
        shown = Money(minor, extra.currency).format()
        audit.record(actor, "callshop.extra_add", extra,
                     after={"session": session.pk, "kind": kind, "description": description,
                            "amount": minor},
                     summary=_("%(what)s %(amount)s added to booth %(name)s") % {
                         "what": description, "amount": shown, "name": session.booth.name})
    return extra


def remove_extra(actor: audit.Actor, extra: BoothExtra) -> None:
    with transaction.atomic():
        session = _locked(extra.session)
        if session.state == BoothSession.State.SETTLED:
            raise BoothError(_("This booth session is paid already."))
        before = {"session": session.pk, "kind": extra.kind,
                  "description": extra.description, "amount": extra.amount}
        pk = extra.pk
        extra.delete()
        audit.record(actor, "callshop.extra_remove", object_type="callshop.boothextra",
                     object_id=pk, before=before,
                     summary=_("%(what)s removed from booth %(name)s") % {
                         "what": before["description"], "name": session.booth.name})


# --- bills ------------------------------------------------------------------------------
@dataclass
class LiveCall:
    call: Call
    number: str  # masked
    seconds: int  # running time (answered), 0 while ringing
    cost: int  # running cost so far (minor units)
    ringing: bool  # no answer time reported (yet): counted from the authorization


@dataclass
class Bill(counter.BillTotals):
    """A session's account at one moment: ended calls, live calls, extras, totals."""

    session: BoothSession
    calls: list[Call]
    numbers: dict[int, str]  # call id → masked number
    live: list[LiveCall]
    extras: list[BoothExtra]
    step: int
    mode: str
    currency: str
    checkout: Checkout | None = None

    @property
    def lines(self) -> list[tuple[Call, str]]:
        """The ended calls with their masked numbers."""
        return [(c, self.numbers[c.pk]) for c in self.calls]

    @property
    def running(self) -> int:
        return self.subtotal + sum(c.cost for c in self.live)

    @property
    def due(self) -> int:
        """What the customer pays now: the subtotal rounded for cash."""
        if self.checkout is not None:
            return self.checkout.total
        return counter.round_cash(self.subtotal, self.step, self.mode)

    @property
    def rounding(self) -> int:
        if self.checkout is not None:
            return self.checkout.rounding
        return self.due - self.subtotal

    @property
    def settled(self) -> bool:
        return self.checkout is not None


def _running(call: Call, hide: int, now: dt.datetime) -> LiveCall:
    """A live call's running time and cost: from its answer time when the PBX reported
    one, else from its authorization (ringing included: an upper estimate until the PBX
    ends the call with its real talk time)."""
    number = counter.mask_number(call.dialled, hide)
    since = call.answered_at or call.started_at
    seconds = max(0, int((now - since).total_seconds()))
    if call.max_seconds is not None:
        seconds = min(seconds, call.max_seconds)
    terms = call.terms()
    cost = 0
    if terms is not None:
        deck: Deck | None = call.deck
        pol = policy(deck) if deck is not None else rating.Policy(
            currency=call.currency, exponent=Money(0, call.currency).exponent)
        cost = rating.rate_call(terms, seconds, pol).cost
    return LiveCall(call, number, seconds, cost, call.answered_at is None)


def bill(session: BoothSession, *, now: dt.datetime | None = None,
         settings: CounterSettings | None = None) -> Bill:
    """The session's calls (ended ones billed, live ones running), extras and totals."""
    return bills([session], now=now, settings=settings)[0]


def bills(sessions: list[BoothSession], *, now: dt.datetime | None = None,
          settings: CounterSettings | None = None, with_checkout: bool = True
          ) -> list[Bill]:
    """:func:`bill` for several sessions with a fixed number of queries (the booth screen
    asks every second, whatever the number of booths)."""
    if not sessions:
        return []
    settings = settings or counter_settings()
    now = now or clock.now()
    ids = [s.pk for s in sessions]
    calls: dict[int, list[Call]] = {pk: [] for pk in ids}
    live_decks: set[int] = set()
    for c in Call.objects.filter(session_id__in=ids).order_by("started_at", "id"):
        calls[c.session_id].append(c)
        if c.live and c.deck_id is not None:
            live_decks.add(c.deck_id)
    if live_decks:  # only running calls need their deck (its rounding), once per deck
        decks = Deck.objects.in_bulk(live_decks)
        for group in calls.values():
            for c in group:
                if c.live and c.deck_id is not None:
                    c.deck = decks.get(c.deck_id)
    extras: dict[int, list[BoothExtra]] = {pk: [] for pk in ids}
    for e in BoothExtra.objects.filter(session_id__in=ids):
        extras[e.session_id].append(e)
    checkouts = {co.session_id: co for co in Checkout.objects.filter(session_id__in=ids)} \
        if with_checkout else {}
    hide = settings.mask_digits
    cur = currency()
    out = []
    for session in sessions:
        ended = [c for c in calls[session.pk] if c.state == Call.State.ENDED]
        out.append(Bill(
            session=session, calls=ended,
            numbers={c.pk: counter.mask_number(c.dialled, hide) for c in ended},
            live=[_running(c, hide, now) for c in calls[session.pk] if c.live],
            extras=extras[session.pk], step=settings.cash_rounding_step,
            mode=settings.cash_rounding_mode, currency=cur,
            checkout=checkouts.get(session.pk)))
    return out


# --- checkout ---------------------------------------------------------------------------
REVENUE_FOR_EXTRA = {
    BoothExtra.Kind.INTERNET: ledger.REVENUE_CAFE,
    BoothExtra.Kind.PRODUCT: ledger.REVENUE_PRODUCTS,
    BoothExtra.Kind.OTHER: ledger.REVENUE_PRODUCTS,
}


@dataclass
class CheckoutResult:
    checkout: Checkout
    bill: Bill
    messages: list[str] = field(default_factory=list)

    @property
    def change(self) -> int:
        return self.checkout.change


def checkout(actor: audit.Actor, session: BoothSession, tendered: int | str, *,
             locale: str | None = None) -> CheckoutResult:
    """Settle ``session``: total = Σ calls + Σ extras, rounded for cash; ``tendered``
    (typed by the cashier, read with ``parse_amount``) must cover it; the total enters the
    cashier's open shift (cash) against call, café and product revenue, the rounding
    against adjustments. Refused — and nothing changes — while a call is in progress,
    without an open shift, or with too little cash."""
    cur = currency()
    paid = _amount(tendered, locale, zero_ok=True)
    shift = ledger.require_shift(actor.staff)  # NoOpenShift: "Open a shift before …"
    with transaction.atomic():
        session = _locked(session)
        # Settled and its Checkout row are written in one transaction (and the row is
        # unique per session): the state under the lock says it all.
        if session.state == BoothSession.State.SETTLED:
            raise BoothError(_("This booth session is paid already."))
        now = clock.now()
        current = bills([session], now=now, with_checkout=False)[0]
        if current.live:
            raise BoothError(_(
                "A call is still in progress on booth %(name)s. Close the booth (no new "
                "call can start) and take the payment when the call has ended, so that it "
                "is on the receipt.") % {"name": session.booth.name})
        others = {c.currency for c in current.calls if c.cost} | \
            {e.currency for e in current.extras}
        if others - {cur}:
            raise BoothError(_("This session has amounts in another currency than %(cur)s.")
                             % {"cur": cur})
        due = current.due
        if paid < due:
            raise BoothError(_("%(tendered)s is less than the %(due)s due.") % {
                "tendered": Money(paid, cur).format(), "due": Money(due, cur).format()})
        lines: list[tuple[str, int]] = [(ledger.CASH, due),
                                        (ledger.REVENUE_CALLS, -current.calls_total)]
        by_account: dict[str, int] = {}
        for extra in current.extras:
            code = REVENUE_FOR_EXTRA.get(extra.kind, ledger.REVENUE_PRODUCTS)
            by_account[code] = by_account.get(code, 0) + extra.amount
        lines += [(code, -amount) for code, amount in by_account.items()]
        lines.append((ledger.ADJUSTMENTS, -current.rounding))
        tx = None
        if any(amount for _code, amount in lines):
            tx = ledger.post("callshop.checkout", lines, actor=actor, shift=shift,
                             memo=f"booth {session.booth.name} session {session.pk}",
                             reference=f"booth-session:{session.pk}")
        record = Checkout.objects.create(
            session=session, currency=cur, calls=len(current.calls),
            calls_total=current.calls_total, extras_total=current.extras_total,
            rounding=current.rounding, total=due, tendered=paid, change=paid - due,
            shift=shift, transaction=tx, at=now, by=actor.staff)
        before_state = session.state
        session.state = BoothSession.State.SETTLED
        if session.closed_at is None:
            session.closed_at = now
            session.closed_by = actor.staff
        session.save(update_fields=["state", "closed_at", "closed_by"])
        current.checkout = record
        current.session = session
        audit.record(actor, "callshop.checkout", session,
                     before={"state": before_state},
                     after={"state": "settled", "calls": len(current.calls),
                            "calls_total": current.calls_total,
                            "extras_total": current.extras_total,
                            "rounding": current.rounding, "total": due, "tendered": paid,
                            "change": paid - due, "shift": shift.pk,
                            "transaction": tx.pk if tx else None},
                     summary=_("Booth %(name)s paid: %(total)s, change %(change)s") % {
                         "name": session.booth.name, "total": Money(due, cur).format(),
                         "change": Money(paid - due, cur).format()})
    return CheckoutResult(record, current)


# --- receipts ---------------------------------------------------------------------------
def receipt(session: BoothSession) -> counter.Receipt:
    """The session's receipt (a pro-forma one until it is paid)."""
    current = bill(session)
    venue = venue_settings()
    co = current.checkout
    cashier = ""
    staff = (co.by if co else None) or session.opened_by
    if staff is not None:
        cashier = staff.get_full_name() or staff.get_username()
    return counter.Receipt(
        venue=venue.venue_name, currency=current.currency, booth=session.booth.name,
        session=session.pk, opened=local_time(session.opened_at),
        closed=local_time(session.closed_at) if session.closed_at else None,
        cashier=cashier,
        calls=tuple(counter.CallLine(
            destination=c.destination, number=current.numbers[c.pk],
            started=local_time(c.answered_at or c.started_at), duration=c.billsec,
            billed=c.billed_seconds, cost=c.cost) for c in current.calls),
        extras=tuple(counter.ExtraLine(e.kind, e.description, e.amount)
                     for e in current.extras),
        rounding=current.rounding,
        tendered=co.tendered if co else None, change=co.change if co else None,
    )


def record_printout(actor: audit.Actor, session: BoothSession, how: str) -> None:
    """Audit a receipt sent to a printer or downloaded (``how``: pdf, escpos, printer)."""
    audit.record(actor, "callshop.receipt_print", session, after={"how": how},
                 summary=_("Receipt of booth %(name)s session %(n)s printed (%(how)s)")
                 % {"name": session.booth.name, "n": session.pk, "how": how})


# --- the live booth screen --------------------------------------------------------------
@dataclass
class BoothState:
    booth: Booth
    session: BoothSession | None
    bill: Bill | None

    @property
    def state(self) -> str:
        if self.session is None:
            return "free"
        if self.bill and self.bill.live:
            return "calling"
        return "open"


def board(now: dt.datetime | None = None) -> list[BoothState]:
    """Every active booth with its open session, current call and running total."""
    now = now or clock.now()
    booths = list(Booth.objects.filter(active=True).prefetch_related(
        Prefetch("sessions", queryset=BoothSession.objects.filter(
            state=BoothSession.State.OPEN).select_related("opened_by"), to_attr="open_sessions")))
    open_sessions = [b.open_sessions[0] for b in booths if b.open_sessions]
    by_session = {b.session.pk: b for b in bills(open_sessions, now=now)}
    out = []
    for booth in booths:
        session = booth.open_sessions[0] if booth.open_sessions else None
        out.append(BoothState(booth, session, by_session[session.pk] if session else None))
    return out


def unpaid_sessions() -> list[Bill]:
    """Closed sessions not settled yet (oldest first): they stay on the screen until paid."""
    sessions = BoothSession.objects.filter(state=BoothSession.State.CLOSED) \
        .select_related("booth").order_by("closed_at", "id")
    return bills(list(sessions))


def recent_checkouts(limit: int = 10) -> list[Checkout]:
    return list(Checkout.objects.select_related("session__booth").order_by("-at", "-id")
                [:limit])
