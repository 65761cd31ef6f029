"""Rate-deck CSV files: read (with a per-row error report) and write (pure, no database).

Two forms are read:

* the plain form ``prefix;description;price`` (no header needed);
* the full form, with a header naming the columns (any order, any subset with ``prefix``
  and ``price``): ``prefix, description, price, connect_fee, min_block, increment,
  billing ("60/60"), grace, free_seconds, min_cost, tiers, windows, valid_from,
  valid_to``. A file without a header is the plain form: a row with more fields is an
  error, never guessed (``44,UK,0,04`` could be a price of 0 and a fee of 0.04).

The separator (``;``, tab, ``|`` or ``,``) is detected from the first lines, and a
decimal comma ("0,05") is accepted in any amount. Empty lines and lines starting with
``#`` are skipped. Every problem is reported with its line number, column and reason;
nothing is dropped silently.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from django.utils.translation import gettext as _

from . import rating
from .rating import RatingError

# The order of the stored columns (and of the full form without a header).
COLUMNS = ("prefix", "description", "price", "connect_fee", "min_block", "increment",
           "grace", "free_seconds", "min_cost", "tiers", "windows", "valid_from", "valid_to")
AMOUNTS = ("price", "connect_fee", "min_cost")
SECONDS = ("min_block", "increment", "grace", "free_seconds")
MAX_DESCRIPTION = 100
MAX_TEXT = 200  # tiers, windows
SEPARATORS = (";", "\t", "|", ",")

ALIASES = {
    "prefix": "prefix", "dialprefix": "prefix", "dial_prefix": "prefix", "code": "prefix",
    "dial_code": "prefix", "destination_prefix": "prefix",
    "description": "description", "destination": "description", "name": "description",
    "country": "description",
    "price": "price", "rate": "price", "price_per_minute": "price", "rate_per_minute": "price",
    "sell_rate": "price", "rateinitial": "price",
    "connect_fee": "connect_fee", "connection_fee": "connect_fee", "connect": "connect_fee",
    "connectcharge": "connect_fee", "setup_fee": "connect_fee",
    "min_block": "min_block", "minimum_block": "min_block", "initblock": "min_block",
    "initial_block": "min_block", "min_duration": "min_block",
    "increment": "increment", "billingblock": "increment", "billing_increment": "increment",
    "billing": "billing", "billing_blocks": "billing",
    "grace": "grace", "grace_seconds": "grace",
    "free_seconds": "free_seconds", "free": "free_seconds",
    "min_cost": "min_cost", "minimum_cost": "min_cost", "minimal_cost": "min_cost",
    "tiers": "tiers", "windows": "windows", "time_windows": "windows",
    "valid_from": "valid_from", "start_date": "valid_from", "startdate": "valid_from",
    "valid_to": "valid_to", "valid_until": "valid_to", "end_date": "valid_to",
    "stopdate": "valid_to",
}


@dataclass(frozen=True, slots=True)
class RowError:
    row: int  # line number in the file, from 1
    column: str  # "" when the problem is the whole row
    message: str

    def __str__(self) -> str:
        if self.column:
            return _("line %(row)d, %(column)s: %(message)s") % {
                "row": self.row, "column": self.column, "message": self.message}
        return _("line %(row)d: %(message)s") % {"row": self.row, "message": self.message}


@dataclass
class ParsedDeck:
    """What a file holds: good rows (tuples in :data:`COLUMNS` order) and every error."""

    rows: list[tuple] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    separator: str = ";"
    header: bool = False
    columns: tuple[str, ...] = ()
    lines: int = 0  # data lines read (not counting the header, blank and comment lines)
    decimal_comma: bool = False  # prices were written with a decimal comma ("0,05")


def decode(data: bytes) -> str:
    """Text of an uploaded file: UTF-16 when it starts with its BOM (Excel's "Unicode
    Text" export), else UTF-8 (with or without BOM), else Windows-1252."""
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            pass
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def detect_separator(sample_lines: list[str]) -> str:
    """The separator giving the most columns on every sample line (``;`` wins ties)."""
    best, best_score = ";", 0
    for sep in SEPARATORS:
        counts = [len(next(csv.reader([line], delimiter=sep))) for line in sample_lines]
        score = min(counts) if counts else 0
        if score > best_score:
            best, best_score = sep, score
    return best


def _key(name: str) -> str:
    return name.strip().lower().replace(" ", "_").replace("-", "_")


def _is_data(first_cell: str) -> bool:
    cell = first_cell.strip().lstrip("+")
    return rating.is_digits(cell)


def parse(text: str, *, default_min_block: int = 60, default_increment: int = 60,
          progress: Callable[[int], None] | None = None) -> ParsedDeck:
    """Read a deck file's text into rows and errors (see the module doc)."""
    out = ParsedDeck()
    lines = text.removeprefix("\ufeff").replace("\x00", "").splitlines()
    numbered = [(n, line) for n, line in enumerate(lines, start=1)
                if line.strip() and not line.lstrip().startswith("#")]
    if not numbered:
        out.errors.append(RowError(1, "", _("The file holds no rates.")))
        return out
    sep = detect_separator([line for _n, line in numbered[:5]])
    out.separator = sep
    reader = csv.reader((line for _n, line in numbered), delimiter=sep)
    # (file line number, cells); a quoted field may span lines: its record's last line.
    records = ((numbered[reader.line_num - 1][0], cells) for cells in reader)
    first_n, first = numbered[0][0], next(csv.reader([numbered[0][1]], delimiter=sep))
    columns: list[str]
    if first and not _is_data(first[0]):
        next(records)
        out.header = True
        columns = []
        for cell in first:
            key = ALIASES.get(_key(cell))
            if key is None:
                out.errors.append(RowError(first_n, cell.strip(), _("Unknown column.")))
                key = ""
            elif key in columns:
                out.errors.append(RowError(first_n, cell.strip(), _("Column given twice.")))
            columns.append(key)
        for required in ("prefix", "price"):
            if required not in columns:
                out.errors.append(RowError(first_n, required, _("Required column missing.")))
        if "billing" in columns and ({"min_block", "increment"} & set(columns)):
            out.errors.append(RowError(first_n, "billing", _(
                "Give either billing (m/i) or min_block and increment, not both.")))
        if out.errors:
            return out
    else:
        columns = ["prefix", "description", "price"]  # without a header: the plain form
    out.columns = tuple(c for c in columns if c)
    try:
        _read_rows(out, records, columns, default_min_block, default_increment, progress)
    except csv.Error as exc:  # e.g. a field larger than the csv module's limit
        line = numbered[min(reader.line_num, len(numbered)) - 1][0]
        out.errors.append(RowError(line, "", _("Unreadable CSV: %(why)s. Reading stopped here.")
                                   % {"why": exc}))
    return out


_PREFIX = re.compile(r"[1-9][0-9]{0,14}\Z")
_PLAIN = re.compile(r"(\d{1,9})(?:[.,](\d{1,6}))?\Z")


def _plain_price(text: str) -> int | None:
    m = _PLAIN.match(text)
    if m is None:
        return None
    whole, frac = m.groups()
    return int(whole) * rating.MICRO + (int(frac.ljust(6, "0")) if frac else 0)


def _read_rows(out: ParsedDeck, records, columns: list[str], default_min_block: int,
               default_increment: int, progress) -> None:
    n_columns = len(columns)
    positional = not out.header
    seen: dict[tuple, int] = {}
    memo: dict[tuple[str, str], object] = {}  # (column, text) -> value or _Bad
    index = {name: i for i, name in enumerate(columns) if name}
    i_prefix, i_desc, i_price = index["prefix"], index.get("description"), index["price"]
    plain_only = set(index) <= {"prefix", "description", "price"}
    errors = out.errors
    rows = out.rows
    parse_micro = rating.parse_micro
    count = 0
    ok_prefix = _PREFIX.match
    comma = False
    for line_no, cells in records:
        count += 1
        if progress is not None and count % 5000 == 0:
            progress(count)
        if plain_only and len(cells) == 3 and positional:
            # The common case, read directly: prefix;description;price, all good.
            prefix, desc, raw_price = cells[0].strip(), cells[1].strip(), cells[2].strip()
            price = _plain_price(raw_price)
            if not comma and "," in raw_price:
                comma = True
            if price is not None and ok_prefix(prefix) and len(desc) <= MAX_DESCRIPTION:
                key = (prefix, "", None, None)
                if key not in seen:
                    seen[key] = line_no
                    rows.append((prefix, desc, price, 0, default_min_block, default_increment,
                                 0, 0, 0, "", "", None, None))
                    continue
            # else: fall through to the full checks, which report what is wrong
        if len(cells) > n_columns and any(c.strip() for c in cells[n_columns:]):
            if positional:
                errors.append(RowError(line_no, "", _(
                    "%(n)d fields where prefix, description and price were expected (more "
                    "columns need a header line; a decimal comma in a comma-separated file "
                    "must be quoted).") % {"n": len(cells)}))
            else:
                errors.append(RowError(line_no, "", _("%(n)d fields, at most %(max)d expected.")
                                       % {"n": len(cells), "max": n_columns}))
            continue
        if positional and len(cells) < 3:
            errors.append(RowError(line_no, "", _(
                "%(n)d fields where prefix, description and price were expected.")
                % {"n": len(cells)}))
            continue
        bad = False
        prefix = cells[i_prefix].strip().lstrip("+") if i_prefix < len(cells) else ""
        if not rating.is_digits(prefix) or len(prefix) > 15:
            errors.append(RowError(line_no, "prefix", _("“%(v)s” is not 1 to 15 digits.")
                                   % {"v": prefix}))
            bad = True
        elif prefix[0] == "0":
            errors.append(RowError(line_no, "prefix", _(
                "“%(v)s” starts with 0: write prefixes in E.164, country code first "
                "(33 for France, not 0033).") % {"v": prefix}))
            bad = True
        desc = cells[i_desc].strip() if i_desc is not None and i_desc < len(cells) else ""
        if len(desc) > MAX_DESCRIPTION:
            errors.append(RowError(line_no, "description", _("Longer than %(n)d characters.")
                                   % {"n": MAX_DESCRIPTION}))
            bad = True
        raw_price = cells[i_price].strip() if i_price < len(cells) else ""
        price = 0
        if not raw_price:
            errors.append(RowError(line_no, "price", _("Missing.")))
            bad = True
        else:
            if not comma and "," in raw_price:
                comma = True
            try:
                price = parse_micro(raw_price)
            except RatingError as exc:
                errors.append(RowError(line_no, "price", str(exc)))
                bad = True
        if plain_only:
            if bad:
                continue
            row = (prefix, desc, price, 0, default_min_block, default_increment, 0, 0, 0,
                   "", "", None, None)
            key = (prefix, "", None, None)
        else:
            row = _full_row(line_no, cells, index, prefix, desc, price, default_min_block,
                            default_increment, errors, memo)
            if bad or row is None:
                continue
            key = (prefix, row[10], row[11], row[12])
        first_line = seen.get(key)
        if first_line is not None:
            errors.append(RowError(line_no, "prefix", _(
                "Prefix %(p)s is already on line %(line)d (same windows and dates).")
                % {"p": prefix, "line": first_line}))
            continue
        seen[key] = line_no
        rows.append(row)
    out.lines = count
    out.decimal_comma = comma
    if not rows and not errors:
        errors.append(RowError(1, "", _("The file holds no rates.")))
    if progress is not None:
        progress(count)


class _Bad(str):
    """A memoised cell value that was refused (the reason)."""


def _amount(raw: str) -> int:
    return rating.parse_micro(raw)


def _seconds(raw: str) -> int:
    if rating.is_digits(raw) and int(raw) <= 86400:
        return int(raw)
    raise RatingError(_("“%(v)s” is not a whole number of seconds (0 to 86400).") % {"v": raw})


def _billing(raw: str) -> tuple[int, int]:
    m_text, slash, i_text = raw.partition("/")
    if slash and rating.is_digits(m_text.strip()) and rating.is_digits(i_text.strip()):
        return int(m_text), int(i_text)
    raise RatingError(_("“%(v)s” is not MIN/INCREMENT seconds (e.g. 60/60, 30/6).")
                      % {"v": raw})


def _text(parser, formatter):
    def read(raw: str) -> str:
        text = formatter(parser(raw))
        if len(text) > MAX_TEXT:
            raise RatingError(_("Longer than %(n)d characters.") % {"n": MAX_TEXT})
        return text
    return read


def _date(raw: str) -> dt.date:
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise RatingError(_("“%(v)s” is not a date (YYYY-MM-DD).") % {"v": raw}) from None


# The optional columns of the full form: how a cell is read (values repeat a lot in real
# decks, so each distinct text is read once per file).
_READERS = (("connect_fee", _amount), ("min_cost", _amount), ("billing", _billing),
            ("min_block", _seconds), ("increment", _seconds), ("grace", _seconds),
            ("free_seconds", _seconds), ("tiers", _text(rating.parse_tiers, rating.format_tiers)),
            ("windows", _text(rating.parse_windows, rating.format_windows)),
            ("valid_from", _date), ("valid_to", _date))


def _full_row(line_no: int, cells: list[str], index: dict[str, int], prefix: str, desc: str,
              price: int, default_min_block: int, default_increment: int,
              errors: list[RowError], memo: dict) -> tuple | None:
    values: dict[str, object] = {"connect_fee": 0, "min_cost": 0, "billing": None,
                                 "min_block": None, "increment": None, "grace": 0,
                                 "free_seconds": 0, "tiers": "", "windows": "",
                                 "valid_from": None, "valid_to": None}
    width = len(cells)
    ok = True
    for name, reader in _READERS:
        i = index.get(name)
        if i is None or i >= width:
            continue
        raw = cells[i].strip()
        if not raw:
            continue
        value = memo.get((name, raw))
        if value is None:
            try:
                value = reader(raw)
            except RatingError as exc:
                value = _Bad(str(exc))
            memo[(name, raw)] = value
        if type(value) is _Bad:
            errors.append(RowError(line_no, name, str(value)))
            ok = False
        else:
            values[name] = value
    if not ok:
        return None
    block, increment = values["billing"] or (default_min_block, default_increment)
    if values["min_block"] is not None:
        block = values["min_block"]
    if values["increment"] is not None:
        increment = values["increment"]
    if increment < 1:
        errors.append(RowError(line_no, "increment" if "increment" in index else "billing",
                               _("The increment is at least 1 second.")))
        return None
    vfrom, vto = values["valid_from"], values["valid_to"]
    if vfrom and vto and vto < vfrom:
        errors.append(RowError(line_no, "valid_to", _("Ends before it starts.")))
        return None
    return (prefix, desc, price, values["connect_fee"], block, increment, values["grace"],
            values["free_seconds"], values["min_cost"], values["tiers"], values["windows"],
            vfrom, vto)


def write(rows: Iterable[tuple], out: io.TextIOBase | None = None) -> str:
    """The full form with a header, ``;``-separated, ``.`` decimals (reads back identical)."""
    buffer = out if out is not None else io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\n")
    writer.writerow(COLUMNS)
    fmt = rating.format_micro
    for (prefix, desc, price, fee, m, i, g, f, k, tiers, windows, vfrom, vto) in rows:
        writer.writerow((prefix, desc, fmt(price), fmt(fee), m, i, g, f, fmt(k), tiers, windows,
                         vfrom.isoformat() if vfrom else "", vto.isoformat() if vto else ""))
    return buffer.getvalue() if out is None else ""
