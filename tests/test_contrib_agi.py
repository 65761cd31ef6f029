"""The Asterisk AGI script in contrib/ talks to a real server as Asterisk would run it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ficha.accounts import services as accounts
from ficha.core import roles

from .pbx_support import give_credit, make_booth, make_deck

SCRIPT = Path(__file__).resolve().parent.parent / "contrib" / "asterisk" / "ficha-agi.py"
pytestmark = pytest.mark.slow


_uids = iter(range(1, 1000))


def run_agi(server: str, token: str, *args: str) -> dict[str, str]:
    env_lines = ("agi_request: ficha-agi.py\nagi_channel: PJSIP/booth1-00000001\n"
                 f"agi_uniqueid: 1733130000.{next(_uids)}\nagi_callerid: 100\n\n")
    answers = "200 result=1\n" * 10  # Asterisk's answer to each SET VARIABLE
    done = subprocess.run(
        [sys.executable, str(SCRIPT), *args], input=env_lines + answers, text=True,
        capture_output=True, timeout=30,
        env={"FICHA_URL": server, "FICHA_TOKEN": token, "FICHA_AGI_CONFIG": "/nonexistent"})
    assert done.returncode == 0, done.stderr
    out = {}
    for line in done.stdout.splitlines():
        if line.startswith("SET VARIABLE "):
            name, _sep, value = line[len("SET VARIABLE "):].partition(" ")
            out[name] = value.strip('"')
    return out


def test_authorize_then_end_through_the_agi_script(live_server, api_token, make_customer):
    make_deck()
    make_booth("booth1", endpoint="booth1")
    alice = make_customer("alice", password="")
    give_credit(alice, 1000)
    token = api_token(roles.PBX)[1]
    got = run_agi(live_server.url, token, "authorize", "PJSIP/booth1-00000001",
                  "0033140000000", "account=alice")
    assert got["FICHA_ALLOWED"] == "1" and got["FICHA_MAX_SECONDS"] == "600"
    assert got["FICHA_MAX_MS"] == "600000" and got["FICHA_CALL_ID"].isdigit()
    run_agi(live_server.url, token, "end", got["FICHA_CALL_ID"], "61")
    assert accounts.balance(alice) == 800
    refused = run_agi(live_server.url, token, "authorize", "booth1", "0033140000000")
    assert refused["FICHA_ALLOWED"] == "0" and refused["FICHA_REASON"] == "no_payer"
    unknown = run_agi(live_server.url, token, "authorize", "nowhere", "0033140000000")
    assert unknown["FICHA_ALLOWED"] == "0" and unknown["FICHA_REASON"] == "unknown_booth"
    wrong_token = run_agi(live_server.url, "nope", "authorize", "booth1", "0033")
    assert wrong_token["FICHA_ALLOWED"] == "0"
