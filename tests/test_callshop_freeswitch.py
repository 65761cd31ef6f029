"""The FreeSWITCH script in contrib/ runs under a real Lua against a live Ficha server.

FreeSWITCH itself is not installed: tests/freeswitch_stub.lua stands in for the part of
mod_lua the script uses (argv, freeswitch.getGlobalVariable/consoleLog and the session's
getVariable/setVariable/get_uuid/answered/execute/hangup) and prints what the script did
to the channel. The script's HTTP goes through the real curl command, wrapped so the
test can count the requests. The hangup hook the script sets is expanded as FreeSWITCH
would and run as the hook would run it.
"""

from __future__ import annotations

import itertools
import re
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from ficha.accounts import services as accounts
from ficha.callshop.models import Call
from ficha.core import roles
from ficha.recharges import services as rs

from .pbx_support import give_credit, make_booth, make_deck

HERE = Path(__file__).resolve().parent
SCRIPT = HERE.parent / "contrib" / "freeswitch" / "ficha.lua"
STUB = HERE / "freeswitch_stub.lua"
LUA = next((found for name in ("lua5.4", "lua5.3", "lua") if (found := shutil.which(name))), None)
CURL = shutil.which("curl")
DIAL = "sofia/gateway/trunk/0033140000000"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(LUA is None or CURL is None, reason="needs lua5.4 (or 5.3) and curl"),
]
_uuids = itertools.count(1)


class FreeSwitch:
    """Runs the script as mod_lua would; counts the curl requests."""

    def __init__(self, tmp_path: Path, url: str, token: str):
        self.url, self.token = url, token
        self.requests = tmp_path / "requests.log"
        bin_dir = tmp_path / "bin"
        bin_dir.mkdir()
        wrapper = bin_dir / "curl"
        wrapper.write_text(
            f'#!/bin/sh\nfor a in "$@"; do case "$a" in http*) '
            f'echo "$a" >> {self.requests};; esac; done\nexec {CURL} "$@"\n'
        )
        wrapper.chmod(0o755)
        self.path = f"{bin_dir}:/usr/bin:/bin"

    def run(
        self, *args: str, channel: dict[str, str] | None = None, url: str | None = None
    ) -> dict:
        pairs = [f"{name}={value}" for name, value in (channel or {}).items()]
        done = subprocess.run(
            [LUA, str(STUB), str(SCRIPT), url or self.url, self.token, *pairs, "--", *args],
            capture_output=True,
            text=True,
            timeout=60,
            env={"PATH": self.path},
        )
        assert done.returncode == 0, done.stderr
        got = {"set": {}, "execute": [], "hangup": None, "log": []}
        for line in done.stdout.splitlines():
            kind, *fields = line.split("\t")
            if kind == "set":
                got["set"][fields[0]] = fields[1]
            elif kind == "execute":
                got["execute"].append((fields[0], fields[1]))
            elif kind == "hangup":
                got["hangup"] = fields[0]
            elif kind == "log":
                got["log"].append(fields[1])
        return got

    def authorize(
        self,
        number: str = "0033140000000",
        *,
        answered: bool = False,
        url: str | None = None,
        **channel: str,
    ) -> dict:
        channel = {
            "accountcode": "booth1",
            "destination_number": number,
            "uuid": f"a1b2c3d4-{next(_uuids):04d}",
            "answered": str(answered).lower(),
            **channel,
        }
        got = self.run("authorize", number, DIAL, channel=channel, url=url)
        got["channel"] = channel
        return got

    def hang_up(
        self, got: dict, billsec: int, bridge_epoch: int, end_epoch: int, url: str | None = None
    ) -> None:
        """FreeSWITCH at hangup: expand the api_hangup_hook and run it (no session)."""
        values = {
            **got["channel"],
            **got["set"],
            "billsec": str(billsec),
            "bridge_epoch": str(bridge_epoch),
            "end_epoch": str(end_epoch),
        }
        hook = re.sub(
            r"\$\{(\w+)\}", lambda m: values.get(m.group(1), ""), got["set"]["api_hangup_hook"]
        )
        api, script, *args = hook.split()
        assert (api, script) == ("lua", "ficha.lua")
        self.run(*args, url=url)

    def posts(self, path: str) -> int:
        if not self.requests.exists():
            return 0
        return sum(line.rstrip().endswith(path) for line in self.requests.read_text().splitlines())


@pytest.fixture
def fs(live_server, api_token, tmp_path):
    make_deck()  # France 100 XOF a minute, per started minute
    make_booth("booth1", endpoint="booth1")
    return FreeSwitch(tmp_path, live_server.url, api_token(roles.PBX)[1])


def free_port() -> int:
    for port in range(33900, 34000):
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) != 0:
                return port
    pytest.skip("no free port in 33900-33999")


def test_allowed_call_is_limited_bridged_and_ended_once(fs, make_customer):
    alice = make_customer("alice", password="")
    give_credit(alice, 1000)
    got = fs.authorize(ficha_account="alice")
    assert got["hangup"] is None
    assert got["set"]["ficha_max_seconds"] == "600"
    assert got["set"]["execute_on_answer"] == "sched_hangup +600 ALLOTTED_TIMEOUT"
    assert got["execute"] == [("bridge", DIAL)]  # dialled by the script, after the limit
    call = Call.objects.get(pk=int(got["set"]["ficha_call_id"]))
    assert call.external_id == got["channel"]["uuid"]
    # Talked 61 s: two started minutes, debited once, through the hook FreeSWITCH runs.
    fs.hang_up(got, billsec=61, bridge_epoch=1_764_000_000, end_epoch=1_764_000_061)
    assert accounts.balance(alice) == 800
    assert fs.posts(f"/api/v1/calls/{call.pk}/end") == 1
    fs.hang_up(got, billsec=61, bridge_epoch=1_764_000_000, end_epoch=1_764_000_061)
    assert accounts.balance(alice) == 800  # a repeated hook changes nothing


def test_refused_call_plays_the_refusal_and_hangs_up_with_the_reason(fs, make_customer):
    got = fs.authorize()  # booth not open, no account, no PIN
    assert got["set"]["ficha_reason"] == "no_payer" and got["set"]["ficha_message"]
    assert got["execute"][0][0] == "playback"
    assert "bridge" not in [app for app, _data in got["execute"]]
    assert got["hangup"] == "CALL_REJECTED"
    assert "api_hangup_hook" not in got["set"]
    poor = make_customer("poor", password="")
    give_credit(poor, 40)
    broke = fs.authorize(ficha_account="poor")
    assert broke["set"]["ficha_reason"] == "credit" and broke["hangup"] == "CALL_REJECTED"
    unknown = fs.authorize(accountcode="nowhere", sip_from_user="nowhere")
    assert unknown["set"]["ficha_reason"] == "unknown_booth"
    assert unknown["hangup"] == "CALL_REJECTED"


def test_calling_card_pin_read_on_an_answered_channel(fs, office, desk):
    row = rs.generate(office, count=1, amount=1000).recharges.get()
    rs.sell(desk, [row])
    # The PIN was read with play_and_get_digits: the channel is answered already, so the
    # limit starts now and the talk time is from the bridge, not the channel's answer.
    got = fs.authorize(answered=True, ficha_pin=row.code)
    assert got["set"]["ficha_max_seconds"] == "600" and got["hangup"] is None
    assert got["execute"] == [("sched_hangup", "+600 ALLOTTED_TIMEOUT"), ("bridge", DIAL)]
    assert "execute_on_answer" not in got["set"]
    call = Call.objects.get(pk=int(got["set"]["ficha_call_id"]))
    assert call.recharge.code == row.code
    # 40 s on the prompts, then 50 s talked: one minute, not two.
    fs.hang_up(got, billsec=90, bridge_epoch=1_764_000_040, end_epoch=1_764_000_090)
    assert accounts.balance(call.customer) == 900
    # The callee never answered (no bridge): nothing is charged, the hold is released.
    again = fs.authorize(answered=True, ficha_pin=row.code)
    assert again["set"]["ficha_max_seconds"] == "540"
    fs.hang_up(again, billsec=30, bridge_epoch=0, end_epoch=1_764_000_200)
    assert accounts.balance(call.customer) == 900
    assert Call.objects.get(pk=int(again["set"]["ficha_call_id"])).reserved == 0


def test_server_down_refuses_safely_and_the_end_is_retried(fs, make_customer):
    alice = make_customer("alice", password="")
    give_credit(alice, 1000)
    down = f"http://127.0.0.1:{free_port()}"
    got = fs.authorize(ficha_account="alice", url=down)
    assert got["set"]["ficha_reason"] == "error" and got["hangup"] == "CALL_REJECTED"
    assert "bridge" not in [app for app, _data in got["execute"]]
    token, fs.token = fs.token, "nope"  # a wrong token: 401, refused as well
    refused = fs.authorize(ficha_account="alice")
    fs.token = token
    assert refused["hangup"] == "CALL_REJECTED" and refused["execute"][-1][0] == "playback"
    # Ficha went away during the call: the hook tries three times, then gives up quietly
    # (the CDR import ends the call later); nothing was debited.
    allowed = fs.authorize(ficha_account="alice")
    call_id = allowed["set"]["ficha_call_id"]
    fs.hang_up(allowed, billsec=61, bridge_epoch=1_764_000_000, end_epoch=1_764_000_061, url=down)
    assert fs.posts(f"/api/v1/calls/{call_id}/end") == 3
    assert accounts.balance(alice) == 1000
