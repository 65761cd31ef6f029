"""CDR parsing: Asterisk cdr_csv (16/17/18/21 columns) and FreeSWITCH mod_cdr_csv."""

from __future__ import annotations

import datetime as dt

import pytest

from ficha.callshop import cdr
from ficha.callshop.cdr import Cdr, CdrError

# The 16 base columns of Asterisk's Master.csv, as cdr_csv writes them (every string
# quoted, numbers not).
BASE = ('"booth3","101","0033140000000","callshop","""Booth 3"" <101>",'
        '"PJSIP/booth3-0000001a","PJSIP/trunk-0000001b","Dial","PJSIP/0033140000000@trunk,60",'
        '"2026-12-02 10:00:00","2026-12-02 10:00:07","2026-12-02 10:01:12",72,65,'
        '"ANSWERED","DOCUMENTATION"')
UNIQUEID = ',"1764669600.42"'
USERFIELD = ',"note, with comma"'
EXTRA = ',"","1764669600.41",17'


@pytest.mark.parametrize("line,width", [
    (BASE, 16), (BASE + UNIQUEID, 17), (BASE + UNIQUEID + USERFIELD, 18),
    (BASE + UNIQUEID + USERFIELD + EXTRA, 21),
])
def test_every_asterisk_column_variant_is_read(line, width):
    [record] = cdr.parse_text(line + "\n")
    assert isinstance(record, Cdr), record
    assert record.source == cdr.ASTERISK
    assert record.accountcode == "booth3"
    assert record.dst == "0033140000000"
    assert record.channel == "PJSIP/booth3-0000001a" and record.endpoint == "booth3"
    assert record.start == dt.datetime(2026, 12, 2, 10, 0, 0)
    assert record.answer == dt.datetime(2026, 12, 2, 10, 0, 7)
    assert (record.duration, record.billsec, record.disposition) == (72, 65, "ANSWERED")
    assert record.answered
    assert record.uid == ("" if width == 16 else "1764669600.42")
    assert record.userfield == ("note, with comma" if width >= 18 else "")
    assert record.linkedid == ("1764669600.41" if width == 21 else "")
    assert record.sequence == (17 if width == 21 else None)


def test_quoted_fields_with_doubled_quotes_and_commas():
    line = BASE.replace('"Dial"', '"Dial ""quoted"", and a comma"')
    [record] = cdr.parse_text(line + "\n")
    assert isinstance(record, Cdr)
    assert record.dst == "0033140000000"


def test_unanswered_calls_have_no_answer_time_and_nothing_to_bill():
    line = BASE.replace('"2026-12-02 10:00:07"', '""').replace(",72,65,", ",30,0,").replace(
        '"ANSWERED"', '"NO ANSWER"')
    [record] = cdr.parse_text(line + UNIQUEID + "\n")
    assert isinstance(record, Cdr)
    assert record.answer is None and record.billsec == 0
    assert record.disposition == "NO ANSWER" and not record.answered


@pytest.mark.parametrize("disposition", cdr.DISPOSITIONS)
def test_every_disposition_is_known(disposition):
    [record] = cdr.parse_text(BASE.replace('"ANSWERED"', f'"{disposition}"') + "\n")
    assert record.disposition == disposition


def test_a_truncated_last_line_is_reported_and_earlier_lines_are_read():
    text = BASE + UNIQUEID + "\n" + BASE.replace("42", "43") + "\n" + BASE[:60]
    records = cdr.parse_text(text)
    assert [type(r) for r in records] == [Cdr, Cdr, CdrError]
    assert records[2].line == 3
    assert "Truncated" in records[2].message


def test_a_truncated_line_ending_inside_quotes_is_reported():
    records = cdr.parse_text(BASE + "\n" + '"booth3","101","0033')
    assert isinstance(records[0], Cdr)
    assert isinstance(records[1], CdrError)


@pytest.mark.parametrize("broken,why", [
    (BASE.replace(",72,65,", ",72,x,"), "billsec"),
    (BASE.replace(",72,65,", ",60,65,"), "longer than duration"),
    (BASE.replace('"2026-12-02 10:00:00"', '"yesterday"'), "start"),
    (BASE.replace('"ANSWERED"', '"MAYBE"'), "disposition"),
    (BASE + ',"a","b","c"', "columns"),  # 19 columns: not an Asterisk width
    (BASE.replace('"Dial"', '"Dial"x'), "Not valid CSV"),  # text after a closing quote
    # An even count of quotes, yet a field left open at the line's end: this line alone
    # is in error, the next one is still read.
    (BASE.replace('"Dial"', 'Di"al,"x'), "Not valid CSV"),
    (BASE.replace(",72,65,", ",0x48,65,"), "duration"),
    (BASE.replace(",72,65,", ",１２,65,"), "duration"),  # full-width digits
    (BASE.replace('"2026-12-02 10:00:07"', '"2026-12-02 25:00:07"'), "answer"),
])
def test_bad_rows_are_errors_with_a_reason_and_do_not_stop_the_file(broken, why):
    records = cdr.parse_text(broken + "\n" + BASE + "\n")
    assert isinstance(records[0], CdrError)
    assert why in records[0].message
    assert records[0].line == 1
    assert isinstance(records[1], Cdr)


def test_a_first_line_that_is_not_csv_is_reported_and_the_rest_is_read():
    # A quote left open on line 1 joins line 2; the joined text is not CSV.
    records = cdr.parse_text('x"\ny"\n' + BASE + "\n")
    assert [type(r) for r in records] == [CdrError, Cdr]
    assert "Not valid CSV" in records[0].message and records[1].line == 3


def test_blank_lines_are_skipped_but_counted_for_line_numbers():
    records = cdr.parse_text("\n" + BASE + "\n\n" + BASE.replace('"101"', '"x') + "\n")
    assert records[0].line == 2
    assert isinstance(records[1], CdrError) and records[1].line == 4


# FreeSWITCH mod_cdr_csv's example template:
# "${caller_id_name}","${caller_id_number}","${destination_number}","${context}",
# "${start_stamp}","${answer_stamp}","${end_stamp}","${duration}","${billsec}",
# "${hangup_cause}","${uuid}","${bleg_uuid}","${accountcode}","${read_codec}",
# "${write_codec}"
FS = ('"Booth 2","1002","0033612345678","default","2026-12-02 11:00:00",'
      '"2026-12-02 11:00:05","2026-12-02 11:02:05","125","120","NORMAL_CLEARING",'
      '"a1b2c3d4-0000-4000-8000-000000000001","","booth2","PCMA","PCMA"')


def test_freeswitch_example_template_is_detected_and_read():
    [record] = cdr.parse_text(FS + "\n")
    assert isinstance(record, Cdr)
    assert record.source == cdr.FREESWITCH
    assert record.uid == "a1b2c3d4-0000-4000-8000-000000000001"
    assert record.accountcode == "booth2" and record.dst == "0033612345678"
    assert (record.duration, record.billsec, record.disposition) == (125, 120, "ANSWERED")


def test_freeswitch_unanswered_call_maps_its_hangup_cause():
    line = FS.replace('"2026-12-02 11:00:05"', '""').replace('"120"', '"0"').replace(
        "NORMAL_CLEARING", "USER_BUSY")
    [record] = cdr.parse_text(line + "\n")
    assert record.answer is None and record.billsec == 0
    assert record.disposition == "BUSY" and record.hangup_cause == "USER_BUSY"


@pytest.mark.parametrize("channel,endpoint", [
    ("PJSIP/booth3-0000001a", "booth3"), ("SIP/101-00000007", "101"),
    ("sofia/internal/1001@10.0.0.1", "1001"), ("IAX2/booth-5", "booth-5"), ("", ""),
])
def test_booth_endpoint_from_channel_name(channel, endpoint):
    assert cdr.endpoint_of(channel) == endpoint
