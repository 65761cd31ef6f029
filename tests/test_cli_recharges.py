from __future__ import annotations

import csv
import io

import pytest
from django.core.management import CommandError, call_command

from ficha.core.models import AuditLog
from ficha.ledger import services as ledger
from ficha.recharges.models import Batch, Recharge


def run(*args) -> str:
    out, err = io.StringIO(), io.StringIO()
    call_command("recharges", *args, stdout=out, stderr=err)
    return out.getvalue()


def test_generate_sell_export_print(owner, tmp_path):
    out = run("generate", "--count", "25", "--amount", "500", "--valid-days", "30",
              "--batch", "Promo")
    assert "Batch Promo: 25 codes" in out
    batch = Batch.objects.get(label="Promo")
    assert batch.recharges.filter(status="unsold").count() == 25
    assert AuditLog.objects.filter(action__startswith="recharge", actor=owner).exists()

    with pytest.raises(CommandError, match="shift"):
        run("sell", "--batch", "Promo")
    assert "Sold 25 codes for" in run("sell", "--batch", "Promo", "--open-shift")
    assert ledger.balance(ledger.RECHARGE_LIABILITY) == 25 * 500

    text = run("export", "--status", "sold", "--batch", "Promo")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 25
    assert {r["code"] for r in rows} == set(batch.recharges.values_list("code", flat=True))
    assert rows[0]["sold_by"] == owner.username and rows[0]["amount"] == "500"
    # the CLI's export is audited like the console's and the API's
    log = AuditLog.objects.get(action="recharges.export")
    assert log.actor == owner and log.after["count"] == 25
    assert log.after["filters"] == {"status": "sold", "batch": "Promo", "order": "id"}

    pdf = tmp_path / "promo.pdf"
    assert "Wrote 25 cards" in run("print", "--batch", "Promo", "--out", str(pdf))
    assert pdf.read_bytes().startswith(b"%PDF")
    tickets = tmp_path / "promo.bin"
    run("print", "--batch", "Promo", "--out", str(tickets), "--escpos", "--width", "80")
    data = tickets.read_bytes()
    assert data.startswith(b"\x1b@")
    assert batch.recharges.first().code.encode() in data


def test_selling_without_a_shift_points_to_open_shift(owner, cashier):
    run("generate", "--count", "3", "--amount", "100", "--batch", "NoShift")
    codes = list(Recharge.objects.order_by("pk").values_list("code", flat=True))
    hint = (f"Open a shift before moving cash. Add --open-shift to open a shift (no float) "
            f"for {owner.username}.")
    with pytest.raises(CommandError) as refused:
        run("sell", "--batch", "NoShift")
    assert str(refused.value) == hint
    with pytest.raises(CommandError) as refused:
        run("sell", "--from", codes[0], "--to", codes[1], "--user", cashier.username)
    assert str(refused.value) == hint.replace(owner.username, cashier.username)
    assert not Recharge.objects.filter(status="sold").exists()
    assert "Sold 3 codes" in run("sell", "--batch", "NoShift", "--open-shift")


def test_sell_a_range_and_export_to_file(owner, tmp_path):
    run("generate", "--count", "10", "--amount", "200", "--batch", "R")
    # a range is the printed sequence of a batch (generation order), not numeric order
    codes = list(Recharge.objects.order_by("pk").values_list("code", flat=True))
    run("sell", "--from", codes[2], "--to", codes[5], "--open-shift")
    assert Recharge.objects.filter(status="sold").count() == 4
    target = tmp_path / "all.csv"
    assert "Wrote 10 recharges" in run("export", "--out", str(target))
    assert len(target.read_text().splitlines()) == 11


def test_clear_errors_for_bad_input(owner, cashier):
    with pytest.raises(CommandError):
        run("generate", "--count", "5", "--amount", "abc")
    with pytest.raises(CommandError):
        run("generate", "--count", "0", "--amount", "100")
    with pytest.raises(CommandError, match="may not"):
        run("generate", "--count", "5", "--amount", "100", "--user", cashier.username)
    with pytest.raises(CommandError):
        run("sell", "--batch", "no-such-batch", "--open-shift")


def test_every_printout_is_audited(owner, tmp_path):
    run("generate", "--count", "3", "--amount", "100", "--batch", "Audited")
    run("print", "--batch", "Audited", "--out", str(tmp_path / "a.pdf"))
    run("print", "--batch", "Audited", "--out", str(tmp_path / "a.bin"), "--escpos")
    prints = list(AuditLog.objects.filter(action="recharges.print").order_by("pk"))
    assert [p.after["format"] for p in prints] == ["pdf A4", "escpos 58 mm"]
    assert prints[0].actor == owner and prints[0].after["count"] == 3
    assert set(prints[0].after["codes"]) == set(
        Recharge.objects.filter(batch__label="Audited").values_list("code", flat=True))


def test_big_batches_print_into_several_files(owner, tmp_path):
    run("generate", "--count", "7", "--amount", "100", "--batch", "Big")
    out = run("print", "--batch", "Big", "--out", str(tmp_path / "big.pdf"), "--per-file", "3")
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["big-part001.pdf", "big-part002.pdf", "big-part003.pdf"]
    assert out.count("Wrote") == 3 and "Wrote 1 cards" in out
    assert (tmp_path / "big-part003.pdf").read_bytes().startswith(b"%PDF")
