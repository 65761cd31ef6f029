"""Rate decks: CSV import (plain and full forms), per-row errors, atomicity, preview,
export, several decks, rating through the cached index."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from ficha.callshop import decks
from ficha.callshop import services as callshop
from ficha.callshop.models import Deck, Rate
from ficha.core import audit
from ficha.core.models import AuditLog

pytestmark = pytest.mark.django_db

PLAIN = "33;France;0,05\n336;France mobile;0,12\n225;Côte d'Ivoire;0,20\n"


@pytest.fixture
def actor(owner):
    return audit.Actor(user=owner, source="test")


def test_plain_form_with_semicolons_and_decimal_commas(actor):
    result = callshop.import_deck(actor, PLAIN.encode(), "retail")

    assert result.ok and result.written == 3 and result.created
    assert result.separator == ";" and not result.header
    deck = Deck.objects.get(name="retail")
    assert deck.row_count == 3 and deck.version == 1
    france = Rate.objects.get(deck=deck, prefix="336")
    assert france.description == "France mobile"
    assert france.price == 120_000  # 0.12 in micro-units
    assert (france.min_block, france.increment) == (60, 60)  # the deck's default: 60/60
    assert AuditLog.objects.filter(action="callshop.deck_import").count() == 1


@pytest.mark.parametrize("sep", [",", "\t", "|"])
def test_other_separators_are_detected(actor, sep):
    text = f"33{sep}France{sep}0.05\n44{sep}UK{sep}0.04\n"
    result = callshop.import_deck(actor, text, "d")
    assert result.ok and result.separator == sep and result.written == 2


def test_full_form_with_a_header_in_any_order(actor):
    text = ("Rate;Prefix;Destination;Connect fee;Billing;Grace;Free seconds;Min cost;Tiers;"
            "Windows;Valid from;Valid to\n"
            "0.10;+33;France;0.02;30/6;3;0;0.05;60:0.08;mon-fri 08:00-18:00;2026-01-01;\n"
            "0.04;33;France week-end;0;1/1;;;;;sat+sun;;\n")
    result = callshop.import_deck(actor, text, "full")
    assert result.ok, result.errors
    assert result.header
    rows = callshop.deck_rows(Deck.objects.get(name="full"))
    weekday = next(r for r in rows if r[1] == "France")
    assert weekday == ("33", "France", 100_000, 20_000, 30, 6, 3, 0, 50_000, "60:0.08",
                       "mon-fri 08:00-18:00", dt.date(2026, 1, 1), None)


def test_errors_are_reported_per_row_and_column_and_nothing_is_written(actor):
    callshop.import_deck(actor, PLAIN, "retail")
    before = set(callshop.deck_rows(Deck.objects.get(name="retail")))
    text = ("33;France;0,06\n"
            "3x6;Bad prefix;0,12\n"  # line 2
            "44;UK;cheap\n"  # line 3
            "\n"
            "49;Germany\n"  # line 5: too few fields
            "33;France again;0,07\n"  # line 6: duplicate of line 1
            "39;Italy;-1\n")  # line 7
    result = callshop.import_deck(actor, text, "retail")

    assert not result.ok and result.written == 0
    found = {(e.row, e.column) for e in result.errors}
    assert found == {(2, "prefix"), (3, "price"), (5, ""), (6, "prefix"), (7, "price")}
    assert "line 1" in str(next(e for e in result.errors if e.row == 6).message)
    # All or nothing: the deck still holds exactly what it held.
    deck = Deck.objects.get(name="retail")
    assert set(callshop.deck_rows(deck)) == before and deck.version == 1


def test_full_form_errors_name_their_column(actor):
    text = ("prefix;price;billing;tiers;windows;valid_from;valid_to;grace\n"
            "33;0.1;60;;;;;\n"  # billing not m/i
            "34;0.1;60/0;;;;;\n"  # increment 0
            "35;0.1;;60;;;;\n"  # tier without price
            "36;0.1;;;someday;;;\n"
            "37;0.1;;;;2026-13-01;;\n"
            "38;0.1;;;;2026-02-01;2026-01-01;\n"
            "39;0.1;;;;;;-3\n")
    result = callshop.import_deck(actor, text, "d")
    assert [(e.row, e.column) for e in result.errors] == [
        (2, "billing"), (3, "billing"), (4, "tiers"), (5, "windows"), (6, "valid_from"),
        (7, "valid_to"), (8, "grace")]
    assert not Deck.objects.filter(name="d").exists()


def test_unknown_or_missing_header_columns_are_reported(actor):
    result = callshop.import_deck(actor, "prefix;colour;description\n33;blue;France\n", "d")
    assert {(e.row, e.column) for e in result.errors} == {(1, "colour"), (1, "price")}


def test_preview_writes_nothing_and_says_what_would_happen(actor):
    result = callshop.import_deck(actor, PLAIN, "new deck", preview=True)
    assert result.ok and result.preview and result.created
    assert result.rows == 3 and result.written == 0
    assert [row[0] for row in result.sample] == ["33", "336", "225"]
    assert not Deck.objects.exists() and not Rate.objects.exists()


def test_a_second_import_replaces_the_rows_and_bumps_the_version(actor):
    callshop.import_deck(actor, PLAIN, "retail")
    result = callshop.import_deck(actor, "44;UK;0.04\n", "retail")
    deck = Deck.objects.get(name="retail")
    assert result.replaced == 3 and result.written == 1 and not result.created
    assert [r[0] for r in callshop.deck_rows(deck)] == ["44"]
    assert deck.version == 2


def test_export_reads_back_to_the_same_rows(actor):
    text = ("prefix;description;price;connect_fee;billing;tiers;windows;valid_from\n"
            "33;France; 0,0125;0.01;30/6;60:0.01|120:0.005;sat+sun 10:00-02:00;2026-03-01\n"
            "225;\"Côte d'Ivoire; mobile\";150;0;60/60;;;\n")
    callshop.import_deck(actor, text, "a")
    exported = callshop.export_deck(Deck.objects.get(name="a"))
    callshop.import_deck(actor, exported, "b")
    assert callshop.deck_rows(Deck.objects.get(name="a")) == \
        callshop.deck_rows(Deck.objects.get(name="b"))
    assert exported.splitlines()[0] == ";".join(decks.COLUMNS)


def test_several_decks_rate_the_same_number_differently(actor):
    callshop.import_deck(actor, "33;France;0.10\n", "guests")
    callshop.import_deck(actor, "33;France;0.05\n", "members")
    members = callshop.update_deck(actor, Deck.objects.get(name="members"), price_group="member")
    assert callshop.deck_for_price_group("member") == members
    with pytest.raises(callshop.CallshopError, match="members already rates"):
        callshop.update_deck(actor, Deck.objects.get(name="guests"), price_group="member")
    guests = Deck.objects.get(name="guests")
    # The venue currency is XOF (no decimals) in the tests' defaults: check the ratio.
    assert callshop.quote(guests, "+33140000000", 600).rated.exact == \
        2 * callshop.quote(members, "+33140000000", 600).rated.exact


def test_the_cached_index_follows_imports(actor):
    callshop.import_deck(actor, "33;France;100\n", "d")
    deck = Deck.objects.get(name="d")
    assert callshop.quote(deck, "+33140000000", 60).rated.cost == 100
    callshop.import_deck(actor, "33;France;200\n", "d")
    deck.refresh_from_db()
    assert callshop.quote(deck, "+33140000000", 60).rated.cost == 200


def test_quote_uses_the_venue_dialing_plan_and_explains(actor):
    callshop.update_dialing_plan(actor, international_prefix="00", national_prefix="",
                                 country_code="225")
    callshop.import_deck(actor, "225;Côte d'Ivoire;60\n2250;CI fixed;90\n", "d")
    deck = callshop.update_deck(actor, Deck.objects.get(name="d"), whole_duration=True)
    q = callshop.quote(deck, "07 07 08 09 10", 61)
    assert q.digits == "2250707080910"
    assert q.rated.terms.description == "CI fixed"
    assert q.rated.billed_seconds == 120 and q.rated.cost == 180
    assert any("whole-duration" in line for line in q.lines)
    with pytest.raises(callshop.CallshopError):
        callshop.quote(deck, "*97", 10)
    with pytest.raises(callshop.CallshopError):
        callshop.update_dialing_plan(actor, international_prefix="0", national_prefix="0",
                                     country_code="225")


def test_bad_deck_settings_are_refused(actor):
    with pytest.raises(callshop.CallshopError):
        callshop.create_deck(actor, "x", rounding="sideways")
    with pytest.raises(callshop.CallshopError):
        callshop.create_deck(actor, "x", price_group="vip")
    with pytest.raises(callshop.CallshopError):
        callshop.create_deck(actor, "")
    callshop.create_deck(actor, "x")
    with pytest.raises(callshop.CallshopError):
        callshop.create_deck(actor, "x")


# --- the CLI ---------------------------------------------------------------------------
def test_cli_import_preview_quote_and_export(owner, tmp_path):
    path = tmp_path / "deck.csv"
    path.write_text(PLAIN, encoding="utf-8")
    out = io.StringIO()
    call_command("rates", "import", str(path), "--deck", "retail", "--preview", stdout=out,
                 stderr=io.StringIO())
    assert "Preview only: 3 rates would go to deck 'retail'" in out.getvalue()
    assert not Deck.objects.exists()

    out = io.StringIO()
    call_command("rates", "import", str(path), "--deck", "retail", stdout=out,
                 stderr=io.StringIO())
    assert "Deck 'retail': 3 rates imported (new deck)" in out.getvalue()

    out = io.StringIO()
    call_command("rates", "list", stdout=out)
    assert "retail: 3 rates" in out.getvalue()

    out = io.StringIO()
    call_command("rates", "export", "--deck", "retail", stdout=out)
    assert out.getvalue().splitlines()[1:] == [
        "225;Côte d'Ivoire;0.2;0;60;60;0;0;0;;;;", "33;France;0.05;0;60;60;0;0;0;;;;",
        "336;France mobile;0.12;0;60;60;0;0;0;;;;"]


def test_cli_import_with_errors_lists_them_and_fails(owner, tmp_path):
    path = tmp_path / "deck.csv"
    path.write_text("33;France;0,05\n44;UK;abc\n", encoding="utf-8")
    out = io.StringIO()
    with pytest.raises(CommandError, match="Nothing imported"):
        call_command("rates", "import", str(path), stdout=out, stderr=io.StringIO())
    assert "line 2, price: “abc” is not a price." in out.getvalue()
    assert not Rate.objects.exists()


def test_cli_quote_unknown_deck_and_missing_file_are_clear_errors(owner, tmp_path):
    with pytest.raises(CommandError, match="no deck named"):
        call_command("rates", "quote", "0033140000000", "60", "--deck", "nope")
    with pytest.raises(CommandError, match="Cannot read"):
        call_command("rates", "import", str(tmp_path / "missing.csv"))


def test_cli_quote_shows_the_steps_and_the_cost(owner, tmp_path):
    path = tmp_path / "deck.csv"
    path.write_text("prefix;description;price;billing\n33;France;120;30/6\n", encoding="utf-8")
    call_command("rates", "import", str(path), stdout=io.StringIO(), stderr=io.StringIO())
    out = io.StringIO()
    call_command("rates", "quote", "0033 1 40 00 00 00", "37", stdout=out)
    text = out.getvalue()
    # 30/6 at 120 XOF a minute: 37 s → 30 + ceil(7/6)*6 = 42 s → 120 * 42/60 = 84 XOF.
    assert "0033 1 40 00 00 00 → E.164 33140000000 (international)" in text
    assert "prefixes tried: 33 ✓" in text
    assert "= 42 s billed" in text
    assert text.strip().splitlines()[-1].startswith("42 s billed:")
    assert "84" in text.strip().splitlines()[-1]


def test_a_too_long_dialing_prefix_is_a_clear_error(actor):
    with pytest.raises(callshop.CallshopError, match="too long"):
        callshop.update_dialing_plan(actor, international_prefix="00000", national_prefix="0",
                                     country_code="33")
    plan = callshop.update_dialing_plan(actor, international_prefix="011",
                                        national_prefix="1", country_code="1")
    assert callshop.dial_plan().normalise("0114420") == "4420"
    assert plan.country_code == "1"


def test_cli_import_shows_a_progress_bar(owner, tmp_path, capsys):
    path = tmp_path / "deck.csv"
    path.write_text("".join(f"{33000 + n};Destination {n};0,05\n" for n in range(12_000)),
                    encoding="utf-8")
    call_command("rates", "import", str(path), "--deck", "big", stdout=io.StringIO())
    err = capsys.readouterr().err
    assert "Reading rows" in err and "Writing rates" in err
    assert "12000/12000" in err
    assert Rate.objects.filter(deck__name="big").count() == 12_000
