"""The real agent's lock screen under Xvfb: started against a live link door, it shows
the login form (read back by OCR from a screenshot), keeps it through Alt+F4 and Escape,
and after a login typed with xdotool shows the session bar instead."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
from django.test import override_settings

from ficha.stations import services as st
from ficha.stations.link import ServerThread
from ficha_agent.cli import main as agent_main
from tests.stations_support import OWNER, give_credit, make_station

TOOLS = ("Xvfb", "xdotool", "xwd", "convert", "tesseract")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        any(shutil.which(t) is None for t in TOOLS), reason="needs " + ", ".join(TOOLS)
    ),
]


def _has_tk() -> bool:
    return (
        subprocess.run([sys.executable, "-c", "import tkinter"], capture_output=True).returncode
        == 0
    )


@pytest.fixture
def display():
    if not _has_tk():
        pytest.skip("this Python has no tkinter")
    # a display number of our own (Xvfb -displayfd starts at :0, which parallel runs share)
    for number in range(210, 300):
        if os.path.exists(f"/tmp/.X{number}-lock"):
            continue
        xvfb = subprocess.Popen(
            ["Xvfb", f":{number}", "-screen", "0", "1024x768x24", "-nolisten", "tcp"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _n in range(100):
            if xvfb.poll() is not None:
                break
            if x(f":{number}", "xdotool", "getdisplaygeometry", check=False).returncode == 0:
                break
            time.sleep(0.1)
        if xvfb.poll() is None:
            break
    else:
        pytest.skip("no free X display for Xvfb")
    try:
        yield f":{number}"
    finally:
        xvfb.terminate()
        xvfb.wait(10)


def x(display, *argv, check=True):
    return subprocess.run(
        argv,
        env={**os.environ, "DISPLAY": display},
        capture_output=True,
        text=True,
        timeout=30,
        check=check,
    )


def screen_text(display, path) -> str:
    # xwd, not `import`: import grabs the pointer, which the lock screen holds
    with open(f"{path}.xwd", "wb") as fh:
        done = subprocess.run(
            ["xwd", "-root", "-silent"],
            stdout=fh,
            stderr=subprocess.PIPE,
            env={**os.environ, "DISPLAY": display},
            timeout=30,
        )
    if done.returncode:
        return f"(xwd failed: {done.stderr.decode()})"
    x(display, "convert", f"xwd:{path}.xwd", str(path))
    # OCR reads dark-on-light best: the screens are light-on-dark, their buttons are not
    x(display, "convert", str(path), "-resize", "200%", f"{path}.big.png")
    x(display, "convert", f"{path}.big.png", "-negate", f"{path}.neg.png")
    # Tesseract's automatic page layout may skip a label beside a white entry box (seen
    # with 5.3 on one machine: "Password or PIN" missing); a uniform-block reading (--psm 6)
    # of the negated shot finds it, so both readings count.
    readings = [("neg", "3"), ("big", "3"), ("neg", "6")]
    return "\n".join(
        x(display, "tesseract", f"{path}.{name}.png", "-", "--psm", psm).stdout
        for name, psm in readings
    )


def wait_text(display, path, *words, timeout=30.0) -> str:
    end, text = time.monotonic() + timeout, ""
    while time.monotonic() < end:
        text = screen_text(display, path)
        # a phrase may wrap in a box ("600 XOF an\nhour"): words are matched across lines
        flat = " ".join(text.lower().split())
        if all(" ".join(w.lower().split()) in flat for w in words):
            return text
        time.sleep(0.5)
    raise AssertionError(f"{words} not on screen; OCR read: {text!r}")


def rss_kb(pid: int) -> int:
    return int(
        subprocess.run(
            ["ps", "-o", "rss=", "-p", str(pid)], capture_output=True, text=True, check=True
        ).stdout
    )


@override_settings(FICHA_CAFE_PRICE_PER_HOUR=600, VENUE_NAME="Cafe Lumiere")
def test_the_lock_screen_survives_alt_f4_and_a_typed_login_shows_the_session_bar(
    transactional_db, make_customer, display, tmp_path
):
    alice = make_customer("alice")
    give_credit(alice, 600)
    pc = make_station(name="PC-X")
    door = ServerThread(("127.0.0.1", 0)).start()
    agent = None
    try:
        cfg = tmp_path / "agent.toml"
        assert (
            agent_main(
                [
                    "--config",
                    str(cfg),
                    "pair",
                    f"127.0.0.1:{door.address[1]}",
                    st.issue_pairing_code(OWNER, pc),
                ]
            )
            == 0
        )
        agent = subprocess.Popen(
            [sys.executable, "-m", "ficha_agent", "--config", str(cfg), "run"],
            env={**os.environ, "DISPLAY": display},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        shot = tmp_path / "shot.png"
        wait_text(display, shot, "locked", "Password")
        assert agent.poll() is None
        locked_rss = rss_kb(agent.pid)
        # the keys that close windows do nothing to the lock screen
        for key in ("alt+F4", "Escape", "ctrl+w"):
            x(display, "xdotool", "key", key)
        time.sleep(1)
        assert agent.poll() is None
        wait_text(display, shot, "locked", "Password")
        # a wrong password is refused on screen
        x(display, "xdotool", "type", "--delay", "30", "alice")
        x(display, "xdotool", "key", "Return")
        x(display, "xdotool", "type", "--delay", "30", "wrong")
        x(display, "xdotool", "key", "Return")
        wait_text(display, shot, "locked", "Password", "wrong")
        # the username stays; the real password logs in
        x(display, "xdotool", "type", "--delay", "30", "pw-alice")
        x(display, "xdotool", "key", "Return")
        text = wait_text(display, shot, "Time remaining", "Balance")
        assert "password" not in text.lower()  # the lock screen is gone
        session_rss = rss_kb(agent.pid)
        print(f"agent RSS: locked {locked_rss // 1024} MB, in session {session_rss // 1024} MB")
        # a message from the console shows in the bar; stopping the session locks the PC
        st.run(OWNER, pc, "message", text="Closing at ten")
        wait_text(display, shot, "Time remaining", "Closing at")
        st.run(OWNER, pc, "stop")
        # the lock screen is back, with the final bill: line by line, then the total
        text = wait_text(display, shot, "locked", "Password", "final bill", "an hour", "Total")
        assert "time remaining" not in text.lower()
        assert agent.poll() is None
        agent.send_signal(signal.SIGTERM)  # a service stop: the agent says bye and exits
        assert agent.wait(10) == 0
    finally:
        if agent is not None:
            agent.send_signal(signal.SIGTERM)
            try:
                agent.wait(10)
            except subprocess.TimeoutExpired:
                agent.kill()
        door.stop()
