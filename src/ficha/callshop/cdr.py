"""Call detail records from the PBX: Asterisk ``cdr_csv`` and FreeSWITCH ``mod_cdr_csv``
(pure, no database).

Asterisk's Master.csv has no header. Its columns are accountcode, src, dst, dcontext,
clid, channel, dstchannel, lastapp, lastdata, start, answer, end, duration, billsec,
disposition, amaflags, then (optionally) uniqueid, userfield, then (optionally)
peeraccount, linkedid, sequence: 16, 17, 18 or 21 columns, detected per row. Strings are
quoted with ``"``, a ``"`` inside doubled; ``answer`` is empty for unanswered calls.

FreeSWITCH's example ``mod_cdr_csv`` template writes caller_id_name, caller_id_number,
destination_number, context, start_stamp, answer_stamp, end_stamp, duration, billsec,
hangup_cause, uuid, bleg_uuid, accountcode, read_codec, write_codec (15 columns).

Each line becomes a :class:`Cdr` or a :class:`CdrError` with its line number and reason;
a truncated last line (a file being written) is reported, never crashes the reader.
Times are naive local times as the PBX wrote them ("YYYY-MM-DD HH:MM:SS"); the importer
attaches the PBX's time zone.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from django.utils.translation import gettext as _

from .rating import is_digits

ASTERISK = "asterisk"
FREESWITCH = "freeswitch"

ASTERISK_COLUMNS = ("accountcode", "src", "dst", "dcontext", "clid", "channel", "dstchannel",
                    "lastapp", "lastdata", "start", "answer", "end", "duration", "billsec",
                    "disposition", "amaflags", "uniqueid", "userfield", "peeraccount",
                    "linkedid", "sequence")
ASTERISK_WIDTHS = (16, 17, 18, 21)
FREESWITCH_COLUMNS = ("caller_id_name", "caller_id_number", "destination_number", "context",
                      "start_stamp", "answer_stamp", "end_stamp", "duration", "billsec",
                      "hangup_cause", "uuid", "bleg_uuid", "accountcode", "read_codec",
                      "write_codec")
DISPOSITIONS = ("ANSWERED", "NO ANSWER", "BUSY", "FAILED", "CONGESTION")

# Channel names: "PJSIP/booth3-0000001a", "SIP/101-00000007", "sofia/internal/1001@host".
_CHANNEL = re.compile(r"^[A-Za-z0-9_]+/(?:[^/]+/)?([^/@;]+?)(?:-[0-9a-fA-F]{8})?(?:[@;].*)?$")


@dataclass(slots=True)
class Cdr:
    """One call as the PBX recorded it (format-neutral). Read-only by convention: not
    frozen, because a frozen dataclass pays ``object.__setattr__`` per field and per
    record, which was a fifth of the parser's time on a 100,000-line file."""

    line: int
    source: str  # ASTERISK or FREESWITCH
    uid: str  # uniqueid (Asterisk) / uuid (FreeSWITCH); "" when the PBX wrote none
    accountcode: str
    channel: str
    endpoint: str  # the endpoint named in the channel ("booth3"), "" when none
    src: str
    dst: str
    start: dt.datetime
    answer: dt.datetime | None  # None when the call was not answered
    end: dt.datetime | None
    duration: int
    billsec: int
    disposition: str  # ANSWERED, NO ANSWER, BUSY, FAILED, CONGESTION (FreeSWITCH mapped)
    hangup_cause: str = ""
    linkedid: str = ""
    sequence: int | None = None
    userfield: str = ""

    @property
    def answered(self) -> bool:
        return self.answer is not None and self.billsec > 0


@dataclass(frozen=True, slots=True)
class CdrError:
    line: int
    message: str
    text: str = ""  # the raw line (shortened), to find it again

    def __str__(self) -> str:
        return _("line %(line)d: %(message)s") % {"line": self.line, "message": self.message}


def endpoint_of(channel: str) -> str:
    """The endpoint a channel name belongs to: PJSIP/booth3-0000001a → "booth3"."""
    m = _CHANNEL.match(channel.strip())
    return m.group(1) if m else ""


def _time(text: str, column: str) -> dt.datetime | None:
    text = text.strip()
    if not text:
        return None
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(_("%(column)s “%(value)s” is not a date and time.")
                         % {"column": column, "value": text[:40]}) from None
    return value


def _seconds(text: str, column: str) -> int:
    text = text.strip()
    if not is_digits(text) or len(text) > 9:
        raise ValueError(_("%(column)s “%(value)s” is not a whole number of seconds.")
                         % {"column": column, "value": text[:40]})
    return int(text)


_FREESWITCH_DISPOSITION = {
    "NORMAL_CLEARING": "ANSWERED", "USER_BUSY": "BUSY", "NO_ANSWER": "NO ANSWER",
    "NO_USER_RESPONSE": "NO ANSWER", "ORIGINATOR_CANCEL": "NO ANSWER",
    "CALL_REJECTED": "BUSY", "NORMAL_CIRCUIT_CONGESTION": "CONGESTION",
    "SWITCH_CONGESTION": "CONGESTION",
}


_fromisoformat = dt.datetime.fromisoformat
_match_channel = _CHANNEL.match


def _asterisk(line_no: int, f: list[str]) -> Cdr:
    """An Asterisk record, the usual case read inline; anything unusual (a bad or empty
    time, a count that is not plain digits, an unknown disposition...) is read again by
    :func:`_asterisk_checked`, which says exactly what is wrong."""
    width = len(f)
    if width not in ASTERISK_WIDTHS:
        return _asterisk_checked(line_no, f)
    try:
        start = _fromisoformat(f[9].strip())  # "" raises: "start is empty."
        answer = f[10].strip()
        answer = _fromisoformat(answer) if answer else None
        end = f[11].strip()
        end = _fromisoformat(end) if end else None
        duration, billsec = f[12].strip(), f[13].strip()
        disposition = f[14].strip().upper()
        if not (duration.isdigit() and billsec.isdigit() and duration.isascii()
                and billsec.isascii() and len(duration) <= 9 and len(billsec) <= 9
                and disposition in DISPOSITIONS):
            return _asterisk_checked(line_no, f)
        duration, billsec = int(duration), int(billsec)
        if billsec > duration:
            return _asterisk_checked(line_no, f)
        if answer is None:  # unanswered: nothing to bill whatever billsec says
            billsec = 0
        sequence = None
        linkedid = ""
        if width == 21:
            seq = f[20].strip()
            sequence = int(seq) if seq.isdigit() and seq.isascii() else None
            linkedid = f[19].strip()
    except ValueError:
        return _asterisk_checked(line_no, f)
    channel = f[5].strip()
    m = _match_channel(channel)
    return Cdr(line_no, ASTERISK, f[16].strip() if width >= 17 else "", f[0].strip(),
               channel, m[1] if m else "", f[1].strip(), f[2].strip(), start, answer, end,
               duration, billsec, disposition, "", linkedid, sequence,
               f[17] if width >= 18 else "")


def _asterisk_checked(line_no: int, f: list[str]) -> Cdr:
    """An Asterisk record read one check at a time: the reason for the first that fails."""
    width = len(f)
    if width not in ASTERISK_WIDTHS:
        raise ValueError(_("%(n)d columns; Asterisk writes 16, 17, 18 or 21.") % {"n": width})
    start = _time(f[9], "start")
    if start is None:
        raise ValueError(_("start is empty."))
    answer = _time(f[10], "answer")
    end = _time(f[11], "end")
    duration, billsec = _seconds(f[12], "duration"), _seconds(f[13], "billsec")
    disposition = f[14].strip().upper()
    if disposition not in DISPOSITIONS:
        raise ValueError(_("Unknown disposition “%(d)s”.") % {"d": f[14][:40]})
    if billsec > duration:
        raise ValueError(_("billsec %(b)d is longer than duration %(d)d.")
                         % {"b": billsec, "d": duration})
    if answer is None:  # unanswered: nothing to bill whatever billsec says
        billsec = 0
    sequence = None
    if width == 21:
        seq = f[20].strip()
        sequence = int(seq) if is_digits(seq) else None
    return Cdr(
        line=line_no, source=ASTERISK, uid=f[16].strip() if width >= 17 else "",
        accountcode=f[0].strip(), channel=f[5].strip(), endpoint=endpoint_of(f[5]),
        src=f[1].strip(), dst=f[2].strip(), start=start, answer=answer, end=end,
        duration=duration, billsec=billsec, disposition=disposition,
        userfield=f[17] if width >= 18 else "", linkedid=f[19].strip() if width == 21 else "",
        sequence=sequence,
    )


def _freeswitch(line_no: int, f: list[str]) -> Cdr:
    if len(f) != len(FREESWITCH_COLUMNS):
        raise ValueError(_("%(n)d columns; the FreeSWITCH template has 15.") % {"n": len(f)})
    start = _time(f[4], "start_stamp")
    if start is None:
        raise ValueError(_("start_stamp is empty."))
    answer = _time(f[5], "answer_stamp")
    end = _time(f[6], "end_stamp")
    duration, billsec = _seconds(f[7], "duration"), _seconds(f[8], "billsec")
    if billsec > duration:
        raise ValueError(_("billsec %(b)d is longer than duration %(d)d.")
                         % {"b": billsec, "d": duration})
    cause = f[9].strip().upper()
    if answer is not None and billsec > 0:
        disposition = "ANSWERED"
    else:
        disposition = _FREESWITCH_DISPOSITION.get(cause, "FAILED")
        if disposition == "ANSWERED":
            disposition = "NO ANSWER"
        billsec = 0
    return Cdr(
        line=line_no, source=FREESWITCH, uid=f[10].strip(), accountcode=f[12].strip(),
        channel="", endpoint="", src=f[1].strip(), dst=f[2].strip(), start=start,
        answer=answer, end=end, duration=duration, billsec=billsec, disposition=disposition,
        hangup_cause=cause,
    )


def detect(first_line: str) -> str:
    """ASTERISK or FREESWITCH from a file's first line (15 columns = FreeSWITCH). A line
    that is not CSV says Asterisk (its reader reports the line)."""
    try:
        fields = next(csv.reader([first_line]), [])
    except csv.Error:
        return ASTERISK
    return FREESWITCH if len(fields) == len(FREESWITCH_COLUMNS) else ASTERISK


def parse_lines(lines: Iterable[str], *, source: str | None = None, first_line: int = 1,
                complete: bool = False) -> Iterator[Cdr | CdrError]:
    """Parse CDR lines (with or without their newline), one result per non-empty line.

    ``source`` None: detected from the first line. A last line that does not end with a
    newline is *truncated* (the PBX was still writing it) unless ``complete`` says the
    input was whole; it is reported as an error.
    """
    line_no = first_line - 1
    pending: str | None = None
    reader, feed = _reader()
    for raw in lines:
        line_no += 1
        if pending is not None:  # a quoted field spanning lines: join them
            raw = pending + raw
            pending = None
        if raw[-1:] == "\n":
            if raw.count('"') & 1:
                pending = raw
                continue
            truncated = False
        else:
            truncated = not complete
        text = raw.rstrip("\r\n")
        if not text or text.isspace():
            continue
        if source is None:
            source = detect(text)
        if truncated:
            yield CdrError(line_no, _("Truncated last line (no line end): not read yet."),
                           text[:120])
            continue
        if "\x00" in text:  # a damaged file; PostgreSQL stores no NUL in text
            yield _nul_error(line_no, text)
            continue
        # One CSV reader for the whole input, fed a line at a time (a reader per line
        # cost as much as reading the line): the same fields and errors, line by line.
        feed.append(text)
        try:
            fields = next(reader)
        except csv.Error as exc:
            reader, feed = _reader()
            yield CdrError(line_no, _("Not valid CSV: %(why)s.") % {"why": exc}, text[:120])
            continue
        try:
            record = (_freeswitch(line_no, fields) if source == FREESWITCH
                      else _asterisk(line_no, fields))
        except ValueError as exc:
            record = CdrError(line_no, str(exc), text[:120])
        yield record
    if pending is not None:
        yield CdrError(line_no, _("A quoted field is not closed."), pending[:120])


def _reader() -> tuple[Iterator[list[str]], list]:
    """A strict CSV reader and its feed: append one line to the feed, then ``next`` the
    reader. The feed's bottom ``None`` ends the input for a record left open at the end of
    its line ("unexpected end of data", as for a lone line); the reader is spent then,
    and taken anew after any error."""
    feed: list = [None]
    return csv.reader(iter(feed.pop, None), strict=True), feed


def _nul_error(line_no: int, text: str) -> CdrError:
    return CdrError(line_no, _("The line holds a NUL character (a damaged file): not read."),
                    text[:120].replace("\x00", "\\0"))


def parse_line(text: str, line_no: int, source: str) -> Cdr | CdrError:
    if "\x00" in text:
        return _nul_error(line_no, text)
    try:
        fields = next(csv.reader([text], strict=True))
    except csv.Error as exc:
        return CdrError(line_no, _("Not valid CSV: %(why)s.") % {"why": exc}, text[:120])
    try:
        if source == FREESWITCH:
            return _freeswitch(line_no, fields)
        return _asterisk(line_no, fields)
    except ValueError as exc:
        return CdrError(line_no, str(exc), text[:120])


def parse_text(text: str, *, source: str | None = None) -> list[Cdr | CdrError]:
    """Parse a whole file's text (its last line may be truncated: then it is reported)."""
    return list(parse_lines(text.splitlines(keepends=True), source=source))
