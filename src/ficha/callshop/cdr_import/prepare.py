"""One batch read and rated, nothing written: duplicates found, booths and accounts
looked up, calls rated, rows and debits built."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field

from django.db import connection
from django.utils.translation import gettext as _

from ficha.accounts.models import Customer

from ..cdr import Cdr
from ..matching import NumberError
from ..models import Booth, BoothSession, Call, Deck
from .context import _Context
from .result import CdrImport, Problem

_SOURCE_CDR = Call.Source.CDR.value
_ENDED = Call.State.ENDED.value


def synthetic_uid(record: Cdr) -> str:
    """An id for a record the PBX wrote without one (16-column Asterisk files): the same
    record always gets the same id, so importing it again is still a duplicate."""
    key = "\x1f".join((record.source, record.accountcode, record.channel, record.src,
                       record.dst, record.start.isoformat(), str(record.duration),
                       str(record.billsec), record.disposition))
    return "cdr:" + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:40]


@dataclass
class _Prepared:
    """One batch, read and rated (nothing written yet): what :func:`_write` stores."""

    uids: set[str] = field(default_factory=set)
    lost: list[tuple[int, Cdr]] = field(default_factory=list)  # live API calls to end
    rows: list[list] = field(default_factory=list)
    debits: dict[int, int] = field(default_factory=dict)  # customer -> amount
    credit_accounts: dict[int, int] = field(default_factory=dict)  # customer -> account
    charged_rows: list[list] = field(default_factory=list)


def _known(uids: list[str]) -> dict[str, tuple[int, str]]:
    """uid -> (call id, state) for the PBX ids stored already (one query per chunk,
    written out: the ORM's ``__in`` costs more than the query for thousands of ids)."""
    found: dict[str, tuple[int, str]] = {}
    q = connection.ops.quote_name
    table = q(Call._meta.db_table)
    head = f"SELECT {q('id')}, {q('external_id')}, {q('state')} FROM {table} WHERE "
    with connection.cursor() as cur:
        if connection.vendor == "postgresql":
            # One index probe per id (external_id is unique, so LIMIT 1 drops nothing):
            # with ``external_id = ANY(5,000 ids)`` PostgreSQL chose a scan of the whole
            # table, which grew with every call stored (44 ms a batch at 400,000 calls;
            # this plan: ~15 ms whatever the table's size).
            cur.execute(f"SELECT c.{q('id')}, c.{q('external_id')}, c.{q('state')} "
                        f"FROM unnest(%s::text[]) AS u(x) CROSS JOIN LATERAL "
                        f"(SELECT {q('id')}, {q('external_id')}, {q('state')} FROM {table} "
                        f"WHERE {q('external_id')} = u.x LIMIT 1) AS c", [uids])
            rows = cur.fetchall()
        else:
            rows = []
            for start in range(0, len(uids), 500):
                chunk = uids[start:start + 500]
                cur.execute(head + f"{q('external_id')} IN ({', '.join(['%s'] * len(chunk))})",
                            chunk)
                rows += cur.fetchall()
    for pk, ext, state in rows:
        found[ext] = (pk, state)
    return found


def _prepare(ctx: _Context, records: list[Cdr], out: CdrImport, seen: set[str]
             ) -> _Prepared:
    """Read and rate one batch: deduplicate, find booths and accounts, rate, build the
    rows and the debits. Reads the database, writes nothing."""
    prepared = _Prepared()
    uids = [r.uid or synthetic_uid(r) for r in records]
    known = _known(list(set(uids) - seen))
    # live API calls, and lost ones (the worker released their hold): the CDR ends them
    live = (Call.State.RESERVED, Call.State.ANSWERED, Call.State.LOST)
    mine = prepared.uids
    fresh: list[tuple[Cdr, str]] = []
    for record, uid in zip(records, uids, strict=True):
        out.records += 1
        if uid in mine or uid in seen:
            out.duplicates += 1
            continue
        mine.add(uid)
        hit = known.get(uid)
        if hit is None:
            fresh.append((record, uid))
        elif hit[1] in live:
            prepared.lost.append((hit[0], record))
        else:
            out.duplicates += 1
    if not fresh:
        return prepared
    # Who: booth, customer.
    ctx.load_customers(r.accountcode for r, _u in fresh
                       if r.accountcode and r.accountcode not in ctx.by_accountcode)
    placed: list[tuple[Cdr, str, Booth | None, Customer | None]] = []
    for record, uid in fresh:
        booth = ctx.by_accountcode.get(record.accountcode) if record.accountcode else None
        customer = None
        if booth is None:
            if record.endpoint:
                booth = ctx.by_endpoint.get(record.endpoint)
            if record.accountcode:
                customer = ctx.customers.get(record.accountcode)
        if booth is None and customer is None:
            out.add_problem(Problem(record.line, _(
                "No booth has the account code “%(code)s” or the endpoint “%(endpoint)s”.")
                % {"code": record.accountcode, "endpoint": record.endpoint or record.channel}))
            continue
        placed.append((record, uid, booth, customer))
    sessions = {booth: (pk, ctx.local(opened)) for booth, (pk, opened) in _open_sessions(
        {b.id for _r, _u, b, _c in placed if b is not None}).items()}
    # Rate, grouped by deck.
    by_deck: dict[int, list[int]] = {}
    decks: dict[int, Deck] = {}
    digits_of: list[str | None] = []
    rows: list[list] = []
    for n, (record, _uid, booth, customer) in enumerate(placed):
        try:
            digits = ctx.plan.normalise(record.dst)
        except NumberError as exc:
            digits = None
            if record.answered:
                out.add_problem(Problem(record.line, str(exc)))
                digits_of.append(None)
                rows.append(None)
                continue
        deck = ctx.deck(customer.price_group if customer else "",
                        booth.price_group if booth else "")
        digits_of.append(digits)
        rows.append(None)
        if deck is None:
            if record.answered:
                out.add_problem(Problem(record.line, _("No rates are set up for calls yet.")))
                digits_of[n] = None
            continue
        decks[deck.id] = deck
        by_deck.setdefault(deck.id, []).append(n)
    rated: dict[int, tuple] = {}  # placed index -> (deck, terms, billed, cost)
    for deck_pk, members in by_deck.items():
        deck = decks[deck_pk]
        index, timed = ctx.index(deck)
        wanted = [(n, digits_of[n]) for n in members if digits_of[n] is not None]
        if timed:
            for n, digits in wanted:
                record = placed[n][0]
                found = index.cost(digits, record.billsec,
                                   ctx.local(record.answer or record.start))
                rated[n] = (deck, *found) if found else (deck, None, 0, 0)
        else:
            costs = index.cost_many((d, placed[n][0].billsec) for n, d in wanted)
            for (n, _d), terms, billed, cost in zip(wanted, costs.terms, costs.billed,
                                                   costs.cost, strict=True):
                rated[n] = (deck, terms, billed, cost)
    # Build the rows; sum prepaid debits per customer.
    debits = prepared.debits
    credit_accounts = prepared.credit_accounts
    charged_rows = prepared.charged_rows
    for n, (record, uid, booth, customer) in enumerate(placed):
        if n in rated:
            deck, terms, billed, cost = rated[n]
        else:
            if digits_of[n] is None and record.answered:
                continue  # reported above
            deck, terms, billed, cost = None, None, 0, 0
        answered = record.answered
        if answered and terms is None:
            out.add_problem(Problem(record.line, _("No rate for %(digits)s.")
                                    % {"digits": digits_of[n]}))
            continue
        if not answered:
            billed, cost = 0, 0
        # Times stay naive venue-local (what the PBX wrote): _insert_calls stores them in
        # the venue's zone (PostgreSQL: SET LOCAL TIME ZONE; SQLite: converted).
        start = record.start if record.start.tzinfo is None else ctx.local(record.start)
        session_id = None
        if customer is None and booth is not None:
            session = sessions.get(booth.id)
            if session is not None and session[1] <= start:
                session_id = session[0]
        row = [
            booth.id if booth else None, session_id, customer.id if customer else None, None,
            _SOURCE_CDR, uid, record.src[:80], record.dst[:80],
            digits_of[n] or "", deck.id if deck else None,
            terms.prefix if terms else "", terms.description[:100] if terms else "",
            terms.price if terms else None, terms.connect_fee if terms else 0,
            terms.min_block if terms else 60, terms.increment if terms else 60,
            terms.grace if terms else 0, terms.free_seconds if terms else 0,
            terms.min_cost if terms else 0,
            _tiers_text(terms), _ENDED, "", record.disposition[:12], start,
            (record.answer if record.answer.tzinfo is None else ctx.local(record.answer))
            if answered else None,
            (record.end if record.end is None or record.end.tzinfo is None
             else ctx.local(record.end)) or start, None, record.billsec, billed,
            deck.currency if deck else _venue_currency(), cost, 0, 0, None,
        ]
        out.imported += 1
        out.total_cost += cost
        if answered:
            out.answered += 1
        if customer is not None and cost > 0:
            debits[customer.id] = debits.get(customer.id, 0) + cost
            credit_accounts[customer.id] = customer.credit_account_id
            charged_rows.append(row)
            out.charged += 1
            out.charged_amount += cost
        elif session_id is not None:
            out.session_calls += 1
        elif customer is None and cost > 0:
            out.unbilled += 1
            row[21] = _("The booth had no open session: not charged.")
        rows[n] = row
    prepared.rows = [r for r in rows if r is not None]
    return prepared


def _tiers_text(terms) -> str:
    if terms is None or not terms.tiers:
        return ""
    from .rating import format_tiers

    return format_tiers(terms.tiers)


def _venue_currency() -> str:
    from ficha.core.services import currency

    return currency()


def _open_sessions(booth_ids: set[int]) -> dict[int, tuple[int, dt.datetime]]:
    if not booth_ids:
        return {}
    return {booth: (pk, opened) for pk, booth, opened in BoothSession.objects.filter(
        booth_id__in=booth_ids, state=BoothSession.State.OPEN).values_list(
        "pk", "booth_id", "opened_at")}
