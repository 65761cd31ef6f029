"""One batch read and rated, nothing written: duplicates found, booths and accounts
looked up, calls rated, rows and debits built."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
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
            # this plan: ~15 ms whatever the table's size). The ids go as one JSON array:
            # psycopg dumps a list as an array in Python, element by element (a tenth of
            # the batch's preparation), json.dumps does it in C.
            cur.execute(f"SELECT c.{q('id')}, c.{q('external_id')}, c.{q('state')} "
                        f"FROM json_array_elements_text(%s::json) AS u(x) CROSS JOIN LATERAL "
                        f"(SELECT {q('id')}, {q('external_id')}, {q('state')} FROM {table} "
                        f"WHERE {q('external_id')} = u.x LIMIT 1) AS c", [json.dumps(uids)])
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
    rows and the debits. Reads the database, writes nothing.

    Problems are reported in the order of the checks (who, then the number and the deck,
    then the rate), each in file order."""
    prepared = _Prepared()
    uids = [r.uid or synthetic_uid(r) for r in records]
    known = _known(list(set(uids) - seen))
    # live API calls, and lost ones (the worker released their hold): the CDR ends them
    live = (Call.State.RESERVED, Call.State.ANSWERED, Call.State.LOST)
    mine = prepared.uids
    fresh: list[tuple[Cdr, str]] = []
    out.records += len(records)
    duplicates = 0
    for record, uid in zip(records, uids, strict=True):
        if uid in mine or uid in seen:
            duplicates += 1
            continue
        mine.add(uid)
        hit = known.get(uid)
        if hit is None:
            fresh.append((record, uid))
        elif hit[1] in live:
            prepared.lost.append((hit[0], record))
        else:
            duplicates += 1
    out.duplicates += duplicates
    if not fresh:
        return prepared
    # Who: booth, customer.
    by_accountcode = ctx.by_accountcode
    ctx.load_customers(r.accountcode for r, _u in fresh
                       if r.accountcode and r.accountcode not in by_accountcode)
    booth_of, endpoint_booth, customer_of = (by_accountcode.get, ctx.by_endpoint.get,
                                             ctx.customers.get)
    placed: list[tuple[Cdr, str, Booth | None, Customer | None]] = []
    for record, uid in fresh:
        code = record.accountcode
        booth = booth_of(code) if code else None
        customer = None
        if booth is None:
            if record.endpoint:
                booth = endpoint_booth(record.endpoint)
            if code:
                customer = customer_of(code)
            if booth is None and customer is None:
                out.add_problem(Problem(record.line, _(
                    "No booth has the account code “%(code)s” or the endpoint "
                    "“%(endpoint)s”.") % {"code": code,
                                          "endpoint": record.endpoint or record.channel}))
                continue
        placed.append((record, uid, booth, customer))
    sessions = {booth: (pk, ctx.local(opened)) for booth, (pk, opened) in _open_sessions(
        {b.id for _r, _u, b, _c in placed if b is not None}).items()}
    # Rate, grouped by deck. Per placed call (by its index): whether it was answered, its
    # digits (None: not rated, or reported), its deck and what rating found.
    count = len(placed)
    answered_of = [r.answered for r, _u, _b, _c in placed]
    digits_of: list[str | None] = [None] * count
    deck_of: list[Deck | None] = [None] * count
    terms_of: list = [None] * count
    billed_of = [0] * count
    cost_of = [0] * count
    by_deck: dict[int, list[int]] = {}
    decks: dict[int, Deck] = {}
    normalise, deck_for = ctx.plan.normalise, ctx.deck
    for n, (record, _uid, booth, customer) in enumerate(placed):
        try:
            digits = normalise(record.dst)
        except NumberError as exc:
            if answered_of[n]:
                out.add_problem(Problem(record.line, str(exc)))
                continue
            digits = None
        deck = deck_for(customer.price_group if customer else "",
                        booth.price_group if booth else "")
        if deck is None:
            if answered_of[n]:
                out.add_problem(Problem(record.line, _("No rates are set up for calls yet.")))
            else:
                digits_of[n] = digits
            continue
        digits_of[n] = digits
        decks[deck.id] = deck
        by_deck.setdefault(deck.id, []).append(n)
    for deck_pk, members in by_deck.items():
        deck = decks[deck_pk]
        index, timed = ctx.index(deck)
        wanted = [n for n in members if digits_of[n] is not None]
        for n in wanted:
            deck_of[n] = deck
        if timed:
            for n in wanted:
                record = placed[n][0]
                found = index.cost(digits_of[n], record.billsec,
                                   ctx.local(record.answer or record.start))
                if found:
                    terms_of[n], billed_of[n], cost_of[n] = found
        else:
            costs = index.cost_many((digits_of[n], placed[n][0].billsec) for n in wanted)
            for n, terms, billed, cost in zip(wanted, costs.terms, costs.billed, costs.cost,
                                              strict=True):
                terms_of[n], billed_of[n], cost_of[n] = terms, billed, cost
    # Build the rows; sum prepaid debits per customer.
    debits = prepared.debits
    credit_accounts = prepared.credit_accounts
    charged_rows = prepared.charged_rows
    rows = prepared.rows
    segment_of = ctx.call_columns
    unbilled_reason = None
    local = ctx.local
    imported = answered_count = total_cost = charged = charged_amount = session_calls = 0
    unbilled = 0
    for n, (record, uid, booth, customer) in enumerate(placed):
        answered = answered_of[n]
        digits = digits_of[n]
        if digits is None and answered:
            continue  # reported above
        deck, terms = deck_of[n], terms_of[n]
        if answered:
            if terms is None:
                out.add_problem(Problem(record.line, _("No rate for %(digits)s.")
                                        % {"digits": digits}))
                continue
            billed, cost = billed_of[n], cost_of[n]
        else:
            billed = cost = 0
        # The columns the deck and the rate give, the same for every call rated alike.
        key = id(terms) if terms is not None else (deck.id if deck is not None else None,)
        segment = segment_of.get(key)
        if segment is None:
            segment = segment_of[key] = _call_columns(deck, terms)
        rated, currency = segment
        # Times stay naive venue-local (what the PBX wrote): _insert_calls stores them in
        # the venue's zone (PostgreSQL: SET LOCAL TIME ZONE; SQLite: converted).
        start = record.start
        if start.tzinfo is not None:
            start = local(start)
        session_id = None
        if customer is None and booth is not None:
            session = sessions.get(booth.id)
            if session is not None and session[1] <= start:
                session_id = session[0]
        end = record.end
        if end is None:
            end = start
        elif end.tzinfo is not None:
            end = local(end)
        if answered:
            answer = record.answer
            if answer.tzinfo is not None:
                answer = local(answer)
        else:
            answer = None
        row = [
            booth.id if booth is not None else None, session_id,
            customer.id if customer is not None else None, None, _SOURCE_CDR, uid,
            record.src[:80], record.dst[:80], digits or "", *rated, _ENDED, "",
            record.disposition[:12], start, answer, end, None, record.billsec, billed,
            currency, cost, 0, 0, None,
        ]
        imported += 1
        total_cost += cost
        if answered:
            answered_count += 1
        if customer is not None and cost > 0:
            debits[customer.id] = debits.get(customer.id, 0) + cost
            credit_accounts[customer.id] = customer.credit_account_id
            charged_rows.append(row)
            charged += 1
            charged_amount += cost
        elif session_id is not None:
            session_calls += 1
        elif customer is None and cost > 0:
            unbilled += 1
            if unbilled_reason is None:
                unbilled_reason = _("The booth had no open session: not charged.")
            row[21] = unbilled_reason
        rows.append(row)
    out.imported += imported
    out.answered += answered_count
    out.total_cost += total_cost
    out.charged += charged
    out.charged_amount += charged_amount
    out.session_calls += session_calls
    out.unbilled += unbilled
    return prepared


def _call_columns(deck: Deck | None, terms) -> tuple[tuple, str]:
    """A call's columns deck_id to tiers (in :data:`store._COLUMNS` order) as ``deck``
    and the rate row's ``terms`` (None: no rate) give them, and its currency."""
    if terms is None:
        rated = (deck.id if deck else None, "", "", None, 0, 60, 60, 0, 0, 0, "")
    else:
        rated = (deck.id if deck else None, terms.prefix, terms.description[:100],
                 terms.price, terms.connect_fee, terms.min_block, terms.increment,
                 terms.grace, terms.free_seconds, terms.min_cost, _tiers_text(terms))
    return rated, deck.currency if deck else _venue_currency()


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
