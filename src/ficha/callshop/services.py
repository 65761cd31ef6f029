"""Call shop services: the dialing plan, rate decks (create, import, export) and rating.

The only place that changes call-shop rows. Doors (CLI now; console, API, the CDR
importer later) call these functions and render what they return.

Rating is exact (``callshop.rating``): a call's cost is an ``int`` in minor units of the
deck's currency, which is what ``ledger`` posts.
"""

from __future__ import annotations

import datetime as dt
import time
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass, field

from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from ficha.core import audit, clock
from ficha.core.money import exponent
from ficha.core.services import currency, venue_settings

from . import decks, pricing, rating
from .cdr import Cdr
from .matching import Candidate, DeckIndex, DialPlan, NumberError
from .models import Deck, DialingPlan, Rate

INSERT_CHUNK = 5000  # rows per INSERT statement / progress step
SAMPLE_ROWS = 20  # rows kept in an import result for a preview

Progress = Callable[[str, int, int], None]  # (stage "read" | "write", done, total)


class CallshopError(ValueError):
    """A call-shop request that cannot be done; the message is meant for people."""


# --- dialing plan -----------------------------------------------------------------------
def dialing_plan() -> DialingPlan:
    plan = DialingPlan.objects.filter(pk=1).first()
    if plan is None:
        plan, _created = DialingPlan.objects.get_or_create(pk=1)
    return plan


def dial_plan() -> DialPlan:
    """The venue's dialing conventions, for :meth:`DialPlan.normalise`."""
    row = dialing_plan()
    return DialPlan(row.international_prefix, row.national_prefix, row.country_code)


def update_dialing_plan(actor: audit.Actor, *, international_prefix: str, national_prefix: str,
                        country_code: str) -> DialingPlan:
    values = {"international_prefix": international_prefix.strip(),
              "national_prefix": national_prefix.strip(), "country_code": country_code.strip()}
    for name, value in values.items():
        if len(value) > DialingPlan._meta.get_field(name).max_length:
            raise CallshopError(_("%(field)s is too long.") % {
                "field": DialingPlan._meta.get_field(name).verbose_name})
    try:
        DialPlan(**values)
    except NumberError as exc:
        raise CallshopError(str(exc)) from None
    with transaction.atomic():
        row = DialingPlan.objects.select_for_update().filter(pk=1).first() or dialing_plan()
        before = audit.snapshot(row, list(values))
        for name, value in values.items():
            setattr(row, name, value)
        row.save()
        audit.record(actor, "callshop.dialing_plan", row, before=before, after=values,
                     summary=_("Dialing plan changed"))
    return row


# --- decks ------------------------------------------------------------------------------
DECK_OPTIONS = ("name", "description", "price_group", "rounding", "whole_duration",
                "default_min_block", "default_increment")


def _check_deck_options(options: dict) -> None:
    if "name" in options:
        options["name"] = _clean_name(options["name"])
    unknown = set(options) - set(DECK_OPTIONS)
    if unknown:
        raise CallshopError(_("Unknown deck setting %(name)s.") % {"name": sorted(unknown)[0]})
    if "rounding" in options and options["rounding"] not in rating.ROUNDING_MODES:
        raise CallshopError(_("Unknown rounding mode %(mode)s.") % {"mode": options["rounding"]})
    group = options.get("price_group")
    if group and group not in dict(Deck.price_group.field.choices):
        raise CallshopError(_("Unknown price group."))
    for name in ("default_min_block", "default_increment"):
        if name in options and (not isinstance(options[name], int) or options[name] < 0
                                or options[name] > 86400):
            raise CallshopError(_("Seconds must be a whole number from 0 to 86400."))
    if options.get("default_increment", 1) < 1:
        raise CallshopError(_("The increment is at least 1 second."))


def _check_group_free(options: dict, deck: Deck | None = None) -> None:
    group = options.get("price_group")
    if not group:
        return
    other = Deck.objects.filter(price_group=group).exclude(pk=deck.pk if deck else None).first()
    if other is not None:
        raise CallshopError(_("Deck %(deck)s already rates this price group.")
                            % {"deck": other.name})


def _clean_name(name: str) -> str:
    name = (name or "").strip()
    if not name or len(name) > Deck._meta.get_field("name").max_length:
        raise CallshopError(_("A deck name is 1 to 60 characters."))
    return name


def create_deck(actor: audit.Actor, name: str, **options) -> Deck:
    name = _clean_name(name)
    _check_deck_options(options)
    _check_group_free(options)
    try:
        with transaction.atomic():
            deck = Deck.objects.create(name=name, currency=currency(), **options)
            audit.record(actor, "callshop.deck_create", deck,
                         summary=_("Rate deck %(name)s created") % {"name": name})
    except IntegrityError:
        raise CallshopError(_("A deck named %(name)s exists already.") % {"name": name}) from None
    return deck


def update_deck(actor: audit.Actor, deck: Deck, **options) -> Deck:
    """Change a deck's name or settings (rounding, convention, price group, default
    billing)."""
    _check_deck_options(options)
    _check_group_free(options, deck)
    name = options.get("name")
    if name is not None and Deck.objects.filter(name=name).exclude(pk=deck.pk).exists():
        raise CallshopError(_("A deck named %(name)s exists already.") % {"name": name})
    try:
        with transaction.atomic():
            deck = Deck.objects.select_for_update().get(pk=deck.pk)
            before = audit.snapshot(deck, list(options))
            for key, value in options.items():
                setattr(deck, key, value)
            deck.version += 1  # rating changes: cached indexes are rebuilt
            deck.save()
            audit.record(actor, "callshop.deck_update", deck, before=before,
                         after=audit.snapshot(deck, list(options)),
                         summary=_("Rate deck %(name)s changed") % {"name": deck.name})
    except IntegrityError:  # renamed at the same moment by someone else
        raise CallshopError(_("A deck named %(name)s exists already.") % {"name": name}) \
            from None
    return deck


def find_deck(name: str) -> Deck | None:
    return Deck.objects.filter(name=(name or "").strip()).first()


def deck_for_price_group(price_group: str) -> Deck | None:
    """The deck customers of ``price_group`` are rated with (None: none set)."""
    return Deck.objects.filter(price_group=price_group).order_by("pk").first()


@dataclass
class ImportResult:
    """What :func:`import_deck` did (or, for a preview or a file with errors, would do)."""

    deck_name: str
    deck: Deck | None  # None for a preview of a deck that does not exist yet
    preview: bool
    created: bool  # the deck was (or would be) created
    rows: int  # good rows read
    lines: int  # data lines read
    written: int  # rows stored (0 for a preview or when there are errors)
    replaced: int  # rows the deck held before (replaced by the import)
    errors: list[decks.RowError]
    separator: str
    header: bool
    columns: tuple[str, ...]
    decimal_comma: bool = False  # amounts were written "0,05"
    sample: list[tuple] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.errors


def import_deck(actor: audit.Actor, data: bytes | str, deck_name: str, *,
                preview: bool = False, create: bool = True,
                progress: Progress | None = None) -> ImportResult:
    """Replace the rows of deck ``deck_name`` with those of a CSV file, all or nothing.

    Every bad row is reported (line, column, reason) and then nothing is written; with
    ``preview`` nothing is written either. ``create``: make the deck if it does not exist.
    """
    started = time.perf_counter()
    deck_name = _clean_name(deck_name)
    text = decks.decode(data) if isinstance(data, bytes) else data
    deck = find_deck(deck_name)
    if deck is None and not create:
        raise CallshopError(_("There is no deck named %(name)s.") % {"name": deck_name})
    total_lines = text.count("\n") + 1
    report = (lambda n: progress("read", n, total_lines)) if progress else None
    parsed = decks.parse(
        text,
        default_min_block=deck.default_min_block if deck else 60,
        default_increment=deck.default_increment if deck else 60,
        progress=report,
    )
    if progress is not None:  # blank and comment lines were not counted: finish the bar
        progress("read", parsed.lines, parsed.lines)
    result = ImportResult(
        deck_name=deck_name, deck=deck, preview=preview, created=deck is None,
        rows=len(parsed.rows), lines=parsed.lines, written=0,
        replaced=deck.row_count if deck else 0, errors=parsed.errors,
        separator=parsed.separator, header=parsed.header, columns=parsed.columns,
        decimal_comma=parsed.decimal_comma, sample=parsed.rows[:SAMPLE_ROWS],
    )
    if preview or parsed.errors:
        result.seconds = time.perf_counter() - started
        return result
    with transaction.atomic():
        if deck is None:
            deck = create_deck(actor, deck_name)
        deck = Deck.objects.select_for_update().get(pk=deck.pk)
        result.replaced = Rate.objects.filter(deck_id=deck.pk).count()
        Rate.objects.filter(deck_id=deck.pk).delete()
        _insert_rates(deck.pk, parsed.rows, progress)
        deck.version += 1
        deck.row_count = len(parsed.rows)
        deck.imported_at = clock.now()
        deck.save(update_fields=["version", "row_count", "imported_at"])
        audit.record(actor, "callshop.deck_import", deck,
                     summary=_("Rate deck %(name)s imported: %(n)d rates")
                     % {"name": deck.name, "n": len(parsed.rows)},
                     after={"rows": len(parsed.rows), "replaced": result.replaced})
    result.deck = deck
    result.written = len(parsed.rows)
    result.seconds = time.perf_counter() - started
    return result


def _insert_rates(deck_id: int, rows: list[tuple], progress: Progress | None) -> None:
    """Bulk insert: PostgreSQL's COPY; SQLite's executemany (one prepared statement in a C
    loop), both in chunks so the progress bar moves."""
    q = connection.ops.quote_name
    columns = ", ".join(q(c) for c in ["deck_id", *decks.COLUMNS])
    table = q(Rate._meta.db_table)
    total = len(rows)
    with connection.cursor() as cur:
        if connection.vendor == "postgresql":
            with cur.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for start in range(0, total, INSERT_CHUNK):
                    for row in rows[start:start + INSERT_CHUNK]:
                        copy.write_row((deck_id, *row))
                    if progress is not None:
                        progress("write", min(start + INSERT_CHUNK, total), total)
        else:
            sql = f"INSERT INTO {table} ({columns}) VALUES ({', '.join(['%s'] * 14)})"
            for start in range(0, total, INSERT_CHUNK):
                cur.executemany(sql, [(deck_id, *row) for row in rows[start:start + INSERT_CHUNK]])
                if progress is not None:
                    progress("write", min(start + INSERT_CHUNK, total), total)
    if progress is not None and not total:
        progress("write", 0, 0)


def deck_rows(deck: Deck) -> list[tuple]:
    """The deck's rows as tuples in ``decks.COLUMNS`` order (prefix order)."""
    return list(Rate.objects.filter(deck_id=deck.pk).order_by("prefix", "id")
                .values_list(*decks.COLUMNS))


def export_deck(deck: Deck, out=None) -> str:
    """The deck as the full CSV form (reads back to the same rows)."""
    return decks.write(deck_rows(deck), out)


# --- rating -----------------------------------------------------------------------------
def policy(deck: Deck) -> rating.Policy:
    return rating.Policy(currency=deck.currency, exponent=exponent(deck.currency),
                         rounding=deck.rounding, whole_duration=deck.whole_duration)


_indexes: dict[int, tuple[tuple, DeckIndex]] = {}


def deck_index(deck: Deck) -> DeckIndex:
    """The in-memory index of ``deck``, cached per deck version: an import or a settings
    change bumps the version, so the next caller holding the new row rebuilds it (the
    creation and import times are part of the key, so a re-created deck never meets an
    old index)."""
    stamp = (deck.version, deck.created_at, deck.imported_at)
    cached = _indexes.get(deck.pk)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    terms = []
    for rate_id, *row in Rate.objects.filter(deck_id=deck.pk).values_list(
            "id", *decks.COLUMNS).iterator(chunk_size=10000):
        (prefix, desc, price, fee, m, i, g, f, k, tiers, windows, vfrom, vto) = row
        terms.append(rating.Terms(
            prefix=prefix, description=desc, price=price, connect_fee=fee, min_block=m,
            increment=i, grace=g, free_seconds=f, min_cost=k,
            tiers=rating.parse_tiers(tiers), windows=rating.parse_windows(windows),
            valid_from=vfrom, valid_to=vto, rate_id=rate_id))
    index = DeckIndex(terms, policy(deck))
    _indexes[deck.pk] = (stamp, index)
    return index


def clear_cache() -> None:
    _indexes.clear()


def local_time(when: dt.datetime | None) -> dt.datetime:
    """``when`` (aware; default now) in the venue's time zone, as rate windows read it."""
    when = when or clock.now()
    zone = zoneinfo.ZoneInfo(venue_settings().time_zone)
    return timezone.localtime(when, zone) if timezone.is_aware(when) else when


@dataclass(frozen=True)
class Quote:
    """Which rate a dialled number matches and what a call of ``duration`` s costs."""

    dialled: str
    digits: str  # E.164 digits
    deck: Deck
    rated: rating.Rated | None  # None: no rate for this destination
    rule: str = ""  # how the dialing plan read the number (matching.RULES)
    plan: DialPlan | None = None
    candidates: tuple[Candidate, ...] = ()  # the prefixes tried, longest first

    @property
    def lines(self) -> tuple[str, ...]:
        return self.rated.lines if self.rated else ()


def quote(deck: Deck, dialled: str, duration: int, when: dt.datetime | None = None) -> Quote:
    """Rate one call step by step (the console's rate tool, ``ficha rates quote``): the
    number read with the venue's dialing plan, the prefixes the longest-prefix match
    tried, and the cost explained by the rating formula itself."""
    plan = dial_plan()
    try:
        digits, rule = plan.read(dialled)
    except NumberError as exc:
        raise CallshopError(str(exc)) from None
    if isinstance(duration, bool) or not isinstance(duration, int) or not 0 <= duration \
            <= 7 * 86400:
        raise CallshopError(_("A duration is a whole number of seconds from 0 to 604800."))
    index = deck_index(deck)
    terms, candidates = index.lookup(digits, local_time(when))
    rated = None if terms is None else rating.rate_call(terms, duration, index.policy,
                                                        explain=True)
    return Quote(dialled=dialled, digits=digits, deck=deck, rated=rated, rule=rule, plan=plan,
                 candidates=tuple(candidates))


def search_rates(deck: Deck, query: str = ""):
    """The deck's rows in prefix order; ``query`` keeps those whose prefix starts with its
    digits ("+44 20" → 4420…) or whose destination contains it."""
    rows = Rate.objects.filter(deck_id=deck.pk).order_by("prefix", "id")
    query = (query or "").strip()
    if query:
        digits = query.lstrip("+").replace(" ", "")
        if rating.is_digits(digits):
            rows = rows.filter(prefix__startswith=digits)
        else:
            rows = rows.filter(description__icontains=query)
    return rows


def rate_cdrs(deck: Deck, records: list[Cdr]) -> list[pricing.RatedCdr | pricing.Unrated]:
    """Rate parsed CDRs with ``deck`` and the venue's dialing plan (nothing is stored: the
    CDR importer posts the results through the ledger)."""
    zone = zoneinfo.ZoneInfo(venue_settings().time_zone)
    return list(pricing.rate_cdrs(records, deck_index(deck), dial_plan(), zone))



# --- calls: the PBX's doors (authorize/end) and CDR import live in their own modules ------
# (they use the deck index and dial plan above; imported last, re-exported here)
from .calls import (  # noqa: E402, F401
    Authorization,
    CallError,
    Ending,
    authorize,
    end_call,
    find_booth,
    get_call,
    lost_calls,
    sweep_lost_calls,
)
from .cdr_import import CdrImport, Follower, import_file, import_lines  # noqa: E402, F401
