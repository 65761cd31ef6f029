"""Digits that are not ASCII 0-9 ("²", "٣", "３") pass str.isdigit() but are not what a
deck, a CDR or a dialled number means: they are refused with a reason, never a crash."""

from __future__ import annotations

import pytest

from ficha.callshop import cdr, decks, matching, rating


def _errors(parsed):
    return [(e.column, str(e.message)) for e in parsed.errors]


@pytest.mark.parametrize(
    "text, column",
    [
        ("prefix;price;grace\n33;0.10;²\n", "grace"),
        ("prefix;price;min_block\n33;0.10;٣٠\n", "min_block"),
        ("prefix;price;billing\n33;0.10;²/6\n", "billing"),
        ("prefix;price;tiers\n33;0.10;²:0.05\n", "tiers"),
    ],
)
def test_a_deck_cell_with_superscript_or_arabic_digits_is_a_row_error_not_a_crash(text, column):
    parsed = decks.parse(text)
    assert parsed.rows == []
    assert [c for c, _m in _errors(parsed)] == [column]


@pytest.mark.parametrize("prefix", ["3³", "٣٣", "３３"])
def test_a_prefix_in_other_digits_is_refused(prefix):
    parsed = decks.parse(f"44;UK;0.20\n{prefix};Somewhere;0.10\n")
    assert [r[0] for r in parsed.rows] == ["44"]
    assert [c for c, _m in _errors(parsed)] == ["prefix"]


@pytest.mark.parametrize("dialled", ["٣٣١٤٠٠٠", "+٣٣١٤٠", "３３１４０", "01²3"])
def test_a_dialled_number_in_other_digits_is_not_a_phone_number(dialled):
    with pytest.raises(matching.NumberError):
        matching.DialPlan(country_code="33").normalise(dialled)


def test_a_master_csv_billsec_in_other_digits_is_reported_with_the_column():
    line = (
        '"","100","0033140","from-booths","","SIP/booth1-0001","","Dial","","'
        '2026-01-01 10:00:00","2026-01-01 10:00:05","2026-01-01 10:01:05","65","6²",'
        '"ANSWERED","DOCUMENTATION"'
    )
    result = cdr.parse_line(line, 1, cdr.ASTERISK)
    assert isinstance(result, cdr.CdrError)
    assert "billsec" in result.message


def test_tiers_in_other_digits_are_a_rating_error():
    with pytest.raises(rating.RatingError):
        rating.parse_tiers("٦٠:0.05")


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be"])
def test_a_utf16_deck_from_excel_unicode_text_reads_like_utf8(encoding):
    # Excel's "Unicode Text (*.txt)" export: UTF-16 with a BOM, tab-separated.
    text = "prefix\tdescription\tprice\r\n33\tCôte française\t0,05\r\n225\tCôte d'Ivoire\t0,10\r\n"
    data = text.encode(encoding)
    if encoding != "utf-16":  # the explicit-endian codecs write no BOM: add it
        data = ("\ufeff" + text).encode(encoding)
    parsed = decks.parse(decks.decode(data))
    assert parsed.errors == []
    assert [(r[0], r[1], r[2]) for r in parsed.rows] == [
        ("33", "Côte française", 50_000),
        ("225", "Côte d'Ivoire", 100_000),
    ]
