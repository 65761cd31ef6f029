"""CDR import: Asterisk and FreeSWITCH files into calls, rated, charged once, with every
problem reported; following a growing file through rotation."""

from __future__ import annotations

import os

import pytest

from ficha.accounts import services as accounts
from ficha.callshop import services as callshop
from ficha.callshop.cdr_import import Follower
from ficha.callshop.models import Call
from ficha.core.models import AuditLog
from ficha.ledger.models import Transaction

from .pbx_support import (
    SYSTEM,
    call_revenue,
    give_credit,
    ledger_sum,
    make_booth,
    make_deck,
    open_booth,
)


def ast(uid="1733130000.1", account="B1", channel="PJSIP/booth1-00000001",
        dst="0033140000000", start="2026-12-01 10:00:00", answer="2026-12-01 10:00:05",
        end="2026-12-01 10:02:10", duration=130, billsec=125, disposition="ANSWERED",
        width=18) -> str:
    fields = [f'"{account}"', '"100"', f'"{dst}"', '"booths"', '"""Booth 1"" <100>"',
              f'"{channel}"', '"PJSIP/trunk-00000002"', '"Dial"',
              f'"PJSIP/{dst}@trunk,60"', f'"{start}"', f'"{answer}"', f'"{end}"',
              str(duration), str(billsec), f'"{disposition}"', '"DOCUMENTATION"']
    if width >= 17:
        fields.append(f'"{uid}"')
    if width >= 18:
        fields.append('""')
    if width == 21:
        fields += ['""', f'"{uid}"', "7"]
    return ",".join(fields) + "\n"


def fs(uuid="a1b2c3d4-0000-0000-0000-000000000001", account="B1", dst="0033140000000",
       answer="2026-12-01 10:00:05", billsec=125, cause="NORMAL_CLEARING") -> str:
    return (f'"Booth","1001","{dst}","default","2026-12-01 10:00:00","{answer}",'
            f'"2026-12-01 10:02:10","130","{billsec}","{cause}","{uuid}","","{account}",'
            f'"PCMA","PCMA"\n')


@pytest.fixture
def shop(db):
    make_deck()
    booth = make_booth("booth1", accountcode="B1")
    return booth


def imp(text: str):
    return callshop.import_file(SYSTEM, text.encode(), name="Master.csv")


def test_asterisk_calls_of_an_open_booth_join_its_session(shop):
    session = open_booth(shop, since="2026-12-01 09:00")
    text = (ast() + ast(uid="1733130000.2", answer="", billsec=0, disposition="NO ANSWER")
            + ast(uid="1733130000.3", billsec=30))
    result = imp(text)
    assert (result.records, result.imported, result.answered) == (3, 3, 2)
    assert result.session_calls == 3 and result.problem_count == 0
    assert result.source == "asterisk"
    costs = sorted(session.calls.values_list("cost", flat=True))
    assert costs == [0, 100, 300]  # the unanswered call kept at zero cost
    call = Call.objects.get(external_id="1733130000.1")
    assert (call.billsec, call.billed_seconds, call.destination) == (125, 180, "France")
    assert call.source == "cdr" and call.state == "ended" and call.answered_at is not None
    assert Transaction.objects.filter(kind="callshop.cdr").count() == 0  # paid at checkout
    assert AuditLog.objects.filter(action="callshop.cdr_import").count() == 1


def test_reimporting_a_file_charges_nothing_twice(shop, make_customer):
    alice = make_customer("alice", password="")
    give_credit(alice, 5000)
    text = ast(account="alice") + ast(uid="u2", account="alice", billsec=61)
    first = imp(text)
    assert first.charged == 2 and first.charged_amount == 500
    assert accounts.balance(alice) == 4500 and call_revenue() == 500
    second = imp(text + text)
    assert second.imported == 0 and second.duplicates == 4 and second.charged == 0
    assert accounts.balance(alice) == 4500 and Call.objects.count() == 2
    assert ledger_sum() == 0


def test_duplicates_within_one_file_are_counted_once(shop):
    open_booth(shop)
    result = imp(ast() + ast())
    assert result.imported == 1 and result.duplicates == 1


def test_records_without_a_uniqueid_are_deduplicated_by_their_content(shop):
    open_booth(shop)
    line = ast(width=16, start="2026-12-02 10:00:00", answer="2026-12-02 10:00:05",
               end="2026-12-02 10:02:10")
    assert imp(line).imported == 1
    assert imp(line).duplicates == 1
    assert Call.objects.get().external_id.startswith("cdr:")


@pytest.mark.parametrize("width", [16, 17, 18, 21])
def test_every_asterisk_width_is_read(shop, width):
    result = imp(ast(width=width, uid=f"w{width}"))
    assert result.imported == 1 and result.problem_count == 0


def test_freeswitch_files_are_detected_and_imported(shop):
    text = fs() + fs(uuid="u-2", answer="", billsec=0, cause="NO_ANSWER")
    result = imp(text)
    assert result.source == "freeswitch" and result.imported == 2 and result.answered == 1
    assert Call.objects.get(external_id="u-2").disposition == "NO ANSWER"


def test_problems_are_reported_with_line_and_reason_and_not_stored(shop):
    text = (ast(uid="ok") + "garbage line\n" + ast(uid="nobooth", account="ZZ",
                                                     channel="PJSIP/ghost-00000001")
            + ast(uid="norate", dst="0049301234567")
            + ast(uid="badnumber", dst="*97")
            + ast(uid="trunc").rstrip("\n"))
    result = imp(text)
    assert result.imported == 1 and result.problem_count == 5
    by_line = {p.line: p.message for p in result.problems}
    assert "columns" in by_line[2]
    assert "ZZ" in by_line[3] and "ghost" in by_line[3]
    assert "4930" in by_line[4]
    assert "not a phone number" in by_line[5]
    assert "Truncated" in by_line[6]
    assert not Call.objects.filter(external_id__in=["nobooth", "norate", "badnumber"]).exists()


def test_a_booth_without_an_open_session_keeps_its_calls_unbilled(shop):
    result = imp(ast())
    assert result.unbilled == 1 and result.imported == 1
    call = Call.objects.get()
    assert call.session is None and call.cost == 300 and "not charged" in call.reason


def test_booth_found_from_the_channel_name_when_the_accountcode_is_empty(db):
    make_deck()
    booth = make_booth("Booth 3", endpoint="booth3")
    imp(ast(account="", channel="PJSIP/booth3-0000001a"))
    assert Call.objects.get().booth == booth


def test_a_cdr_ends_an_api_call_whose_end_never_came_and_skips_ended_ones(shop,
                                                                        make_customer):
    alice = make_customer("alice", password="")
    give_credit(alice, 1000)
    done = callshop.authorize("booth1", "0033140000000", account="alice", external_id="done")
    callshop.end_call(done.call.pk, 125)
    lost = callshop.authorize("booth1", "0033140000000", account="alice", external_id="lost")
    assert accounts.balance(alice) == 700 and lost.allowed
    result = imp(ast(uid="lost", billsec=61) + ast(uid="done", billsec=125))
    assert result.ended == 1 and result.duplicates == 1 and result.imported == 0
    assert accounts.balance(alice) == 500  # 300 via the API + 200 via the CDR, once each
    lost.call.refresh_from_db()
    assert lost.call.state == "ended" and lost.call.cost == 200 and lost.call.reserved == 0
    imp(ast(uid="lost", billsec=61))
    assert accounts.balance(alice) == 500


def test_big_files_are_imported_in_batches_with_progress(shop, make_customer, monkeypatch):
    from ficha.callshop.cdr_import import pipeline

    monkeypatch.setattr(pipeline, "BATCH", 7)
    alice = make_customer("alice", password="")
    give_credit(alice, 100_000)
    text = "".join(ast(uid=f"u{n}", account="alice", billsec=n) for n in range(1, 51))
    seen = []
    result = callshop.import_file(SYSTEM, text, progress=lambda d, t: seen.append((d, t)))
    assert result.imported == 50 and seen[-1] == (50, 50) and len(seen) > 3
    expected = sum(100 * -(-n // 60) for n in range(1, 51))
    assert result.charged_amount == expected == 100_000 - accounts.balance(alice)
    assert Transaction.objects.filter(kind="callshop.cdr").count() == 8


# --- following a growing file ------------------------------------------------------------
def test_follow_reads_complete_lines_and_survives_rotation(shop, tmp_path):
    open_booth(shop, since="2026-12-01 09:00")
    path = tmp_path / "Master.csv"
    path.write_text(ast(uid="f1"))
    follower = Follower(str(path))
    assert follower.poll().imported == 1
    with path.open("a") as fh:  # the PBX is half-way through a line
        fh.write(ast(uid="f2").rstrip("\n")[:40])
    assert follower.poll().imported == 0
    with path.open("a") as fh:
        fh.write(ast(uid="f2")[40:])
    assert follower.poll().imported == 1
    # logrotate: the file moves away after one more line; a new one starts
    with path.open("a") as fh:
        fh.write(ast(uid="f3"))
    os.rename(path, tmp_path / "Master.csv.1")
    path.write_text(ast(uid="f4") + ast(uid="f5"))
    result = follower.poll()
    assert result.imported == 3 and follower.rotations == 1
    # copytruncate: the same file emptied and written again
    path.write_text("")
    assert follower.poll().imported == 0
    path.write_text(ast(uid="f6"))
    result = follower.poll()
    assert result.imported == 1 and follower.rotations == 2
    assert result.problems == []
    follower.close()
    # a restarted follower reads the file again: nothing is charged twice
    again = Follower(str(path))
    assert again.poll().duplicates == 1
    again.close()
    assert Call.objects.count() == 6


def test_follow_waits_for_a_missing_file(shop, tmp_path):
    follower = Follower(str(tmp_path / "later.csv"))
    assert follower.poll().records == 0
    (tmp_path / "later.csv").write_text(fs(uuid="late"))
    assert follower.poll().imported == 1
    follower.close()


# --- the command line -------------------------------------------------------------------
def test_cli_import_reports_what_it_did(shop, owner, tmp_path):
    import io

    from django.core.management import call_command

    open_booth(shop, since="2026-12-01 09:00")
    path = tmp_path / "Master.csv"
    path.write_text(ast() + "bad\n" + ast())
    out = io.StringIO()
    call_command("cdr", "import", str(path), stdout=out, stderr=io.StringIO())
    text = out.getvalue()
    assert "3 records (asterisk): 1 new calls" in text and "1 already known" in text
    assert "1 added to open booth sessions" in text and "line 2:" in text


def test_cli_import_needs_the_capability(shop, owner, cashier, tmp_path):
    import io

    from django.core.management import call_command
    from django.core.management.base import CommandError

    path = tmp_path / "Master.csv"
    path.write_text(ast())
    with pytest.raises(CommandError, match="may not import"):
        call_command("cdr", "import", str(path), "--user", "cass", stdout=io.StringIO(),
                     stderr=io.StringIO())
    with pytest.raises(CommandError, match="Cannot read"):
        call_command("cdr", "import", str(tmp_path / "none.csv"), stdout=io.StringIO(),
                     stderr=io.StringIO())


# --- PostgreSQL: batches written by a second thread --------------------------------------
@pytest.mark.slow
def test_pipelined_import_charges_once_and_redoes_a_batch_it_could_not_write(
        transactional_db, make_customer, monkeypatch):
    import gc
    import sys

    from django.db import IntegrityError, connection

    from ficha.callshop.cdr_import import pipeline

    if connection.vendor != "postgresql":
        pytest.skip("the second writing thread is used on PostgreSQL only")
    make_deck()
    open_booth(make_booth("booth1", accountcode="B1"), since="2026-12-01 09:00")
    alice = make_customer("alice", password="")
    give_credit(alice, 100_000)
    lost = callshop.authorize("booth1", "0033140000000", account="alice", external_id="u3")
    monkeypatch.setattr(pipeline, "BATCH", 4)
    real_write, calls = pipeline._write, {"n": 0}

    def flaky_write(ctx, prepared, out, **kw):  # the second batch meets a conflict once
        calls["n"] += 1
        if calls["n"] == 2:
            raise IntegrityError("duplicate key (simulated)")
        return real_write(ctx, prepared, out, **kw)

    monkeypatch.setattr(pipeline, "_write", flaky_write)
    lines = [ast(uid=f"u{n}", account="alice" if n % 2 else "B1", billsec=61)
             for n in range(1, 15)]
    text = "".join(lines) + lines[0] + lines[5]  # two repeats in later batches
    interval, thresholds = sys.getswitchinterval(), gc.get_threshold()
    result = callshop.import_file(SYSTEM, text)
    assert (sys.getswitchinterval(), gc.get_threshold()) == (interval, thresholds)
    assert result.records == 16 and result.duplicates == 2
    assert result.imported == 13 and result.ended == 1  # u3 was a live API call
    assert result.charged == 7 and result.charged_amount == 1400
    assert accounts.balance(alice) == 100_000 - 1400
    assert result.session_calls == 7 and Call.objects.count() == 14
    lost.call.refresh_from_db()
    assert lost.call.state == "ended" and lost.call.cost == 200
    again = callshop.import_file(SYSTEM, text)
    assert again.imported == 0 and again.duplicates == 16
    assert accounts.balance(alice) == 100_000 - 1400 and ledger_sum() == 0


def test_an_import_leaves_the_process_as_it_found_it(shop, monkeypatch):
    """The import pauses Python's full cycle collections (and, with a writer thread,
    shortens the thread switch interval) while it runs: both are back afterwards, also
    after a failure."""
    import gc
    import sys

    from ficha.callshop.cdr_import import pipeline

    interval, thresholds = sys.getswitchinterval(), gc.get_threshold()
    assert imp(ast(uid="p1") + ast(uid="p2")).imported == 2
    assert gc.get_threshold() == thresholds and sys.getswitchinterval() == interval

    def broken(*args, **kwargs):
        raise RuntimeError("simulated")

    monkeypatch.setattr(pipeline, "_prepare", broken)
    with pytest.raises(RuntimeError):
        imp(ast(uid="p3"))
    assert gc.get_threshold() == thresholds and sys.getswitchinterval() == interval


def test_pbx_times_are_the_venues_local_times(db):
    import datetime as dt

    from ficha.core import services as core_services

    settings_row = core_services.venue_settings()
    settings_row.time_zone = "Europe/Paris"  # UTC+1 in December
    settings_row.save()
    core_services.clear_cache()
    make_deck()
    booth = make_booth("booth1", accountcode="B1")
    open_booth(booth, since="2026-12-01 09:30")  # 10:30 in Paris
    imp(ast(uid="before", start="2026-12-01 10:00:00", answer="2026-12-01 10:00:05",
            end="2026-12-01 10:02:10")
        + ast(uid="after", start="2026-12-01 11:00:00", answer="2026-12-01 11:00:05",
              end="2026-12-01 11:02:10"))
    before, after = Call.objects.get(external_id="before"), Call.objects.get(external_id="after")
    assert before.started_at == dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)
    assert before.answered_at == dt.datetime(2026, 12, 1, 9, 0, 5, tzinfo=dt.UTC)
    assert after.ended_at == dt.datetime(2026, 12, 1, 10, 2, 10, tzinfo=dt.UTC)
    assert before.session is None and after.session is not None


def test_follow_reads_the_lines_again_after_a_failed_import(shop, tmp_path, monkeypatch):
    from django.db import OperationalError

    from ficha.callshop.cdr_import import follower as following

    path = tmp_path / "Master.csv"
    path.write_text(ast(uid="r1") + ast(uid="r2"))
    follower = Follower(str(path))
    real = following.import_lines

    def broken(*args, **kwargs):
        raise OperationalError("the database went away (simulated)")

    monkeypatch.setattr(following, "import_lines", broken)
    with pytest.raises(OperationalError):
        follower.poll()
    monkeypatch.setattr(following, "import_lines", real)
    assert follower.poll().imported == 2
    assert follower.poll().records == 0
    follower.close()


def test_a_line_with_a_nul_byte_is_reported_and_the_rest_imported(shop):
    """A damaged file (a NUL in a field) loses that line only, with a reason: PostgreSQL
    refuses NUL in text, which used to fail the whole import."""
    open_booth(shop, since="2026-12-01 09:00")
    damaged = ast(uid="1733130000.2").replace('"100"', '"1\x0000"', 1)
    result = imp(ast() + damaged + ast(uid="1733130000.3"))
    assert (result.records, result.imported, result.problem_count) == (3, 2, 1)
    problem = result.problems[0]
    assert problem.line == 2 and "NUL" in problem.message and "\x00" not in problem.text
    assert Call.objects.filter(external_id="1733130000.2").count() == 0
