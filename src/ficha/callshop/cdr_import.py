"""CDR import: the PBX's call records into calls, rated and charged once.

Part of the call shop's service layer (re-exported by ``callshop.services``). Reads an
Asterisk ``cdr_csv`` Master.csv or a FreeSWITCH ``mod_cdr_csv`` file (``callshop.cdr``),
from a file or by following a growing one (:class:`Follower`, which survives rotation).

For each record, in batches:

* the call's PBX id (uniqueid / uuid; a hash of the record's fields when the PBX wrote
  none) is looked up: a call known already is a *duplicate* and charges nothing — unless
  it is a call the PBX authorized through the API and never ended (a lost ``end``
  request): the CDR ends it, debiting it exactly as ``end`` would;
* the booth comes from the account code, else from the endpoint in the channel name; an
  account code naming a customer account makes the call a prepaid call of that account;
* the call is rated with the deck of the booth's (or customer's) price group, through
  the deck index's batch path, at the call's answer time in the venue's time zone;
* answered calls of a customer account are debited through the ledger, one transaction
  per batch (each customer's line is the sum of their calls; each call keeps the
  transaction's id); calls of a booth with an open session that began before the call
  are attached to it (paid at checkout); unanswered calls are kept at zero cost;
* a record that cannot be read, whose booth is unknown or whose answered number has no
  rate is reported with its line and reason — and not stored, so importing the file
  again after fixing the cause picks it up (nothing is charged twice either way).

Calls are written in bulk (PostgreSQL ``COPY``, SQLite ``executemany``) in the batch's
transaction; the batch commits as a whole.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import time
import zoneinfo
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from django.db import IntegrityError, connection, transaction
from django.utils.translation import gettext as _

from ficha.accounts.models import Customer, username_key
from ficha.core import audit
from ficha.core.services import venue_settings
from ficha.ledger import services as ledger

from . import calls as call_services
from .cdr import Cdr, CdrError, detect, parse_lines
from .matching import DeckIndex, NumberError
from .models import Booth, BoothSession, Call, Deck

BATCH = 5000
MAX_PROBLEMS = 1000  # problems kept in a result (all are counted)
LEDGER_KIND = "callshop.cdr"

Progress = Callable[[int, int], None]  # (bytes read, total bytes)


@dataclass(frozen=True, slots=True)
class Problem:
    line: int
    message: str
    text: str = ""

    def __str__(self) -> str:
        return _("line %(line)d: %(message)s") % {"line": self.line, "message": self.message}


@dataclass
class CdrImport:
    """What an import did."""

    records: int = 0  # CDR lines read (not counting blank lines)
    imported: int = 0  # new calls stored
    answered: int = 0  # of which answered
    duplicates: int = 0  # known already: nothing charged again
    ended: int = 0  # calls authorized through the API that their CDR ended
    charged: int = 0  # prepaid calls debited
    charged_amount: int = 0  # minor units
    session_calls: int = 0  # added to an open booth session
    unbilled: int = 0  # stored with nobody to charge (the booth was not open)
    unpaid: int = 0  # prepaid cost the accounts' credit did not cover (minor units)
    total_cost: int = 0  # of the stored calls
    problems: list[Problem] = field(default_factory=list)
    problem_count: int = 0
    source: str = ""
    seconds: float = 0.0

    def add_problem(self, problem: Problem) -> None:
        self.problem_count += 1
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(problem)

    def merge(self, other: CdrImport) -> None:
        for name in ("records", "imported", "answered", "duplicates", "ended", "charged",
                     "charged_amount", "session_calls", "unbilled", "total_cost", "unpaid"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for problem in other.problems:
            self.add_problem(problem)
        self.problem_count += other.problem_count - len(other.problems)
        self.source = self.source or other.source

    def as_dict(self) -> dict:
        return {"records": self.records, "imported": self.imported,
                "duplicates": self.duplicates, "ended": self.ended, "charged": self.charged,
                "charged_amount": self.charged_amount, "session_calls": self.session_calls,
                "unbilled": self.unbilled, "unpaid": self.unpaid,
                "problems": self.problem_count,
                "source": self.source}


def synthetic_uid(record: Cdr) -> str:
    """An id for a record the PBX wrote without one (16-column Asterisk files): the same
    record always gets the same id, so importing it again is still a duplicate."""
    key = "\x1f".join((record.source, record.accountcode, record.channel, record.src,
                       record.dst, record.start.isoformat(), str(record.duration),
                       str(record.billsec), record.disposition))
    return "cdr:" + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:40]


# --- the batch importer -----------------------------------------------------------------
class _Context:
    """What stays the same during an import: booths, decks, the venue's zone and plan."""

    def __init__(self) -> None:
        from . import services

        self.services = services
        self.zone = zoneinfo.ZoneInfo(venue_settings().time_zone)
        self.plan = services.dial_plan()
        booths = list(Booth.objects.all())
        self.by_accountcode = {b.accountcode: b for b in booths if b.accountcode}
        self.by_endpoint = {b.endpoint: b for b in booths if b.endpoint}
        self.by_name = {b.name: b for b in booths}
        self.decks: dict[str, Deck | None] = {}
        self.indexes: dict[int, tuple[DeckIndex, bool]] = {}
        self.customers: dict[str, Customer | None] = {}

    def deck(self, *groups: str) -> Deck | None:
        key = "|".join(groups)
        if key not in self.decks:
            self.decks[key] = call_services.deck_for(*groups)
        return self.decks[key]

    def index(self, deck: Deck) -> tuple[DeckIndex, bool]:
        """The deck's index and whether any of its rows depends on the time."""
        found = self.indexes.get(deck.pk)
        if found is None:
            index = self.services.deck_index(deck)
            timed = any(t.conditional for t in index.rows())
            found = self.indexes[deck.pk] = (index, timed)
        return found

    def load_customers(self, codes: Iterable[str]) -> None:
        wanted = {c for c in codes if c and c not in self.customers}
        if not wanted:
            return
        keys = {username_key(c): c for c in wanted}
        found = {username_key(c.username): c for c in
                 Customer.objects.filter(username_key__in=list(keys))}
        for key, code in keys.items():
            self.customers[code] = found.get(key)

    def local(self, value: dt.datetime | None) -> dt.datetime | None:
        """A PBX time as naive venue-local wall-clock time (as the calls are written)."""
        if value is None or value.tzinfo is None:
            return value
        return value.astimezone(self.zone).replace(tzinfo=None)

    def aware(self, value: dt.datetime | None) -> dt.datetime | None:
        if value is None or value.tzinfo is not None:
            return value
        return value.replace(tzinfo=self.zone)


# The columns a CDR call is written with, in COPY / INSERT order.
_COLUMNS = ("booth_id", "session_id", "customer_id", "recharge_id", "source", "external_id",
            "caller", "dialled", "digits", "deck_id", "prefix", "destination", "price",
            "connect_fee", "min_block", "increment", "grace", "free_seconds", "min_cost",
            "tiers", "state", "reason", "disposition", "started_at", "answered_at",
            "ended_at", "max_seconds", "billsec", "billed_seconds", "currency", "cost",
            "unpaid", "reserved", "ledger_transaction_id")


_SOURCE_CDR = Call.Source.CDR.value
_ENDED = Call.State.ENDED.value


def _import_batch(ctx: _Context, records: list[Cdr], out: CdrImport,
                  seen: set[str] | None = None) -> None:
    """Import one batch of parsed records, all in one transaction. ``seen``: the PBX ids
    of this import's earlier batches (a repeat is a duplicate without asking the
    database); this batch's are added once it is stored."""
    if not records:
        return
    seen = set() if seen is None else seen
    for attempt in range(3):
        result = CdrImport()
        try:
            with transaction.atomic():
                prepared = _prepare(ctx, records, result, seen)
                _write(ctx, prepared, result)
        except IntegrityError:
            # A PBX id stored in parallel (an API call, another importer): check again.
            if attempt == 2:
                raise
            continue
        seen |= prepared.uids
        out.merge(result)
        return


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
            cur.execute(head + f"{q('external_id')} = ANY(%s)", [uids])
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


def _write(ctx: _Context, prepared: _Prepared, out: CdrImport) -> None:
    """Store one prepared batch (inside the caller's transaction): end the lost API calls,
    debit the prepaid accounts (one ledger transaction), store the calls in bulk."""
    for call_id, record in prepared.lost:
        _end_from_cdr(ctx, call_id, record, out)
    debits = prepared.debits
    if debits:
        call_services.lock_customers(debits)
        # At most each account's spendable credit: the balance never goes below zero.
        free = ledger.within_credit_many(
            {prepared.credit_accounts[pk]: amount for pk, amount in debits.items()})
        taken = {pk: free[prepared.credit_accounts[pk]] for pk in debits}
        _spread_unpaid(prepared.charged_rows, taken, out)
        lines = [(prepared.credit_accounts[pk], amount)
                 for pk, amount in sorted(taken.items()) if amount]
        if lines:
            lines.append((ledger.REVENUE_CALLS, -sum(taken.values())))
            tx = ledger.post(LEDGER_KIND, lines, actor=audit.Actor(source="cdr"),
                             memo=_("Calls from the PBX's call records: %(n)d")
                             % {"n": len(prepared.charged_rows)})
            for row in prepared.charged_rows:
                if row[_COL_COST] > row[_COL_UNPAID]:
                    row[-1] = tx.pk
    _insert_calls(prepared.rows, ctx.zone)


_COL_CUSTOMER = _COLUMNS.index("customer_id")
_COL_COST = _COLUMNS.index("cost")
_COL_UNPAID = _COLUMNS.index("unpaid")
_COL_REASON = _COLUMNS.index("reason")


def _spread_unpaid(rows: list[list], taken: dict[int, int], out: CdrImport) -> None:
    """Each customer's debit (``taken``, at most their credit) pays their calls in file
    order; what is left unpaid is written on the calls it did not cover."""
    left = dict(taken)
    for row in rows:
        customer, cost = row[_COL_CUSTOMER], row[_COL_COST]
        paid = min(cost, left[customer])
        left[customer] -= paid
        if paid < cost:
            row[_COL_UNPAID] = cost - paid
            row[_COL_REASON] = call_services.unpaid_reason(cost - paid, row[_COLUMNS.index(
                "currency")])
            out.unpaid += cost - paid
            out.charged_amount -= cost - paid
            if not paid:
                out.charged -= 1


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


def _end_from_cdr(ctx: _Context, call_id: int, record: Cdr, out: CdrImport) -> None:
    """A call the PBX authorized through the API and never ended: its CDR ends it."""
    call = Call.objects.select_for_update().get(pk=call_id)
    if not call.live and call.state != Call.State.LOST:
        out.duplicates += 1
        return
    if call.customer_id is not None:
        call_services.lock_customers([call.customer_id])
    ending = call_services._end(
        call, record.billsec, record.disposition, answered_at=ctx.aware(record.answer),
        ended_at=ctx.aware(record.end), source_note=" (CDR)")
    out.ended += 1
    out.total_cost += ending.cost
    if ending.debited:
        out.charged += 1
        out.charged_amount += ending.cost - ending.unpaid
    out.unpaid += ending.unpaid


def _insert_calls(rows: list[list], zone: zoneinfo.ZoneInfo | None = None) -> None:
    """Store call rows in bulk. Naive times in them are wall-clock times in ``zone``."""
    if not rows:
        return
    q = connection.ops.quote_name
    table = q(Call._meta.db_table)
    columns = ", ".join(q(c) for c in _COLUMNS)
    with connection.cursor() as cur:
        if connection.vendor == "postgresql":
            # PostgreSQL reads naive times in the session's zone: the venue's for the
            # COPY (no conversion per value here), then back to the connection's.
            if zone is not None:
                cur.execute("SET LOCAL TIME ZONE %s", [zone.key])
            with cur.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            if zone is not None:
                cur.execute("SET LOCAL TIME ZONE %s", [connection.timezone_name])
        else:
            from django.db.models import DateTimeField

            prep = DateTimeField().get_db_prep_save
            sql = f"INSERT INTO {table} ({columns}) VALUES ({', '.join(['%s'] * len(_COLUMNS))})"
            for row in rows:
                for i in (23, 24, 25):
                    value = row[i]
                    if value is not None and value.tzinfo is None and zone is not None:
                        value = value.replace(tzinfo=zone)
                    row[i] = prep(value, connection)
            cur.executemany(sql, rows)


# --- doors: a file, a growing file ------------------------------------------------------
def import_lines(lines: Iterable[str], *, source: str | None = None, first_line: int = 1,
                 complete: bool = True, progress: Callable[[int], None] | None = None
                 ) -> CdrImport:
    """Import CDR lines (each with its newline), in batches of :data:`BATCH`.

    On PostgreSQL, outside a transaction, the batches are written by a second thread (its
    own connection) while the next one is read and rated: the database's work and
    Python's overlap. A batch it could not write (a PBX id stored meanwhile by someone
    else) is done again at the end, the plain way.
    """
    started = time.perf_counter()
    out = CdrImport()
    ctx = _Context()
    writer = _Writer(ctx) if PIPELINE and connection.vendor == "postgresql" \
        and not connection.in_atomic_block else None
    seen: set[str] = set()
    batch: list[Cdr] = []
    pending: list[list[Cdr]] = []

    def flush(records: list[Cdr]) -> None:
        if writer is None:
            _import_batch(ctx, records, out, seen)
            return
        result = CdrImport()
        prepared = _prepare(ctx, records, result, seen)
        seen.update(prepared.uids)  # optimistic: taken back if the write fails
        writer.put(records, prepared, result)

    try:
        for item in parse_lines(lines, source=source, first_line=first_line,
                                complete=complete):
            if isinstance(item, CdrError):
                out.records += 1
                out.add_problem(Problem(item.line, item.message, item.text))
                continue
            out.source = out.source or item.source
            batch.append(item)
            if len(batch) >= BATCH:
                flush(batch)
                batch = []
                if progress is not None:
                    progress(item.line)
        if batch:
            flush(batch)
    finally:
        if writer is not None:
            written, failed = writer.finish()
            for result in written:
                out.merge(result)
            for records, prepared in failed:
                seen.difference_update(prepared.uids)
                pending.append(records)
    for records in pending:
        _import_batch(ctx, records, out, seen)
    out.seconds = time.perf_counter() - started
    return out


PIPELINE = True  # PostgreSQL: write batches in a second thread (tests switch it off)


class _Writer:
    """The thread that writes prepared batches, one transaction each, in order."""

    def __init__(self, ctx: _Context) -> None:
        import queue
        import threading

        self.ctx = ctx
        self.queue: queue.Queue = queue.Queue(maxsize=2)
        self.written: list[CdrImport] = []
        self.failed: list[tuple[list[Cdr], _Prepared]] = []
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="cdr-writer", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        from django.db import connection as conn

        try:
            while True:
                item = self.queue.get()
                if item is None:
                    return
                if self.error is not None:
                    continue  # drain after a failure
                records, prepared, result = item
                try:
                    with transaction.atomic():
                        _write(self.ctx, prepared, result)
                except IntegrityError:
                    self.failed.append((records, prepared))
                    continue
                self.written.append(result)
        except BaseException as exc:  # reported to the importing thread
            self.error = exc
            while self.queue.get() is not None:  # let the producer finish
                pass
        finally:
            conn.close()

    def put(self, records: list[Cdr], prepared: _Prepared, result: CdrImport) -> None:
        if self.error is not None:
            raise self.error
        self.queue.put((records, prepared, result))

    def finish(self) -> tuple[list[CdrImport], list[tuple[list[Cdr], _Prepared]]]:
        self.queue.put(None)
        self.thread.join()
        if self.error is not None:
            raise self.error
        return self.written, self.failed


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def import_file(actor: audit.Actor, data: bytes | str, *, name: str = "",
                progress: Progress | None = None) -> CdrImport:
    """Import a whole CDR file (Asterisk or FreeSWITCH, detected). Audited. A last line
    without its line end is reported (the PBX may still be writing it) and not read."""
    text = _decode(data) if isinstance(data, bytes) else data
    lines = text.splitlines(keepends=True)
    total = len(lines)
    report = (lambda n: progress(n, total)) if progress is not None else None
    result = import_lines(lines, complete=False, progress=report)
    if progress is not None:
        progress(total, total)
    audit.record(actor, "callshop.cdr_import", object_type="callshop.call",
                 summary=_("CDR file %(name)s imported: %(new)d calls, %(dup)d duplicates, "
                           "%(bad)d problems") % {"name": name or "-", "new": result.imported,
                                                 "dup": result.duplicates,
                                                 "bad": result.problem_count},
                 after={"file": name[:200], **result.as_dict()})
    return result


class Follower:
    """Follow a growing CDR file, as ``tail -F`` does: each :meth:`poll` imports the
    lines completed since the last one. A rotated file (a new file at the path, or the
    same file truncated) is read from its start, after the rest of the old one.

    The position is not stored: a restarted follower reads the file from its start (or
    its end, ``from_end``) — the PBX ids make re-reading charge nothing twice.
    """

    def __init__(self, path: str, *, from_end: bool = False) -> None:
        self.path = path
        self.handle = None
        self.inode: tuple[int, int] | None = None
        self.offset = 0
        self.line = 0
        self.source: str | None = None
        self.from_end = from_end
        self.rotations = 0

    def _open(self) -> bool:
        try:
            handle = open(self.path, "rb")  # noqa: SIM115 (kept open between polls)
        except FileNotFoundError:
            return False
        st = os.fstat(handle.fileno())
        self.handle, self.inode = handle, (st.st_dev, st.st_ino)
        self.offset, self.line = 0, 0
        if self.from_end:
            self.offset = st.st_size
            self.from_end = False
        return True

    def close(self) -> None:
        if self.handle is not None:
            self.handle.close()
            self.handle = None

    def _read_complete(self) -> tuple[list[str], int]:
        """The complete lines after the offset (a last line without its end waits), and
        the offset after them."""
        self.handle.seek(self.offset)
        data = self.handle.read()
        cut = data.rfind(b"\n")
        if cut < 0:
            return [], self.offset
        chunk = data[:cut + 1]
        return _decode(chunk).splitlines(keepends=True), self.offset + len(chunk)

    def poll(self) -> CdrImport:
        """Import what was completed since the last poll. If the import fails (the
        database went away), the position stays: the next poll reads the lines again
        (those stored meanwhile are then duplicates, charged once)."""
        out = CdrImport()
        if self.handle is None and not self._open():
            return out
        while True:
            lines, offset = self._read_complete()
            out.merge(self._import(lines))
            self.offset = offset
            try:
                st = os.stat(self.path)
            except FileNotFoundError:
                return out  # rotated away, the new one not there yet: keep the old open
            if (st.st_dev, st.st_ino) != self.inode:
                # rotated: the old file is finished (read above); the new one from its start
                self.close()
                self.rotations += 1
                self.source = None
                if not self._open():
                    return out
                continue
            if st.st_size < self.offset:  # truncated in place (copytruncate)
                self.rotations += 1
                self.offset, self.line, self.source = 0, 0, None
                continue
            return out

    def _import(self, lines: list[str]) -> CdrImport:
        if not lines:
            return CdrImport()
        if self.source is None:
            first = next((ln for ln in lines if ln.strip()), None)
            if first is not None:
                self.source = detect(first.rstrip("\r\n"))
        result = import_lines(lines, source=self.source, first_line=self.line + 1)
        self.line += len(lines)
        return result
