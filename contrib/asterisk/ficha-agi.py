#!/usr/bin/env python3
"""Asterisk AGI script for Ficha's booth calls (Python 3 standard library only).

    AGI(ficha-agi.py,authorize,BOOTH,NUMBER[,account=NAME][,account_pin=1234][,pin=CODE])
    AGI(ficha-agi.py,end,CALL_ID,BILLSEC)

``authorize`` asks ``POST /api/v1/calls/authorize`` (the call's UNIQUEID is sent as the
PBX call id, so the CDR of the same call is never charged twice) and sets:

    FICHA_ALLOWED      1 or 0
    FICHA_REASON       "" or why not (credit, no_payer, pin, account, no_rate, ...)
    FICHA_MESSAGE      the reason in words, for people
    FICHA_CALL_ID      Ficha's call id (for "end")
    FICHA_MAX_SECONDS  the longest talk time the credit pays for
    FICHA_MAX_MS       the same in milliseconds, for Dial's L() option

``end`` sends the talk time (``${ANSWEREDTIME}``, 0 when not answered) to
``POST /api/v1/calls/CALL_ID/end``; on a network error, a 5xx or a 429 it tries again
(3 tries, 1 s apart); a retry is harmless (the call is debited once).

Configuration: the environment (FICHA_URL, FICHA_TOKEN) or /etc/asterisk/ficha.conf with
lines ``url = https://ficha.example`` and ``token = ...`` (an API token with the role
``pbx``: ``ficha token create asterisk --role pbx``). Any failure sets FICHA_ALLOWED=0
and FICHA_REASON=error: no answer from Ficha never means a free call.
"""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.error
import urllib.request

CONFIG = os.environ.get("FICHA_AGI_CONFIG", "/etc/asterisk/ficha.conf")
TIMEOUT = 5.0
RETRY_DELAY = float(os.environ.get("FICHA_AGI_RETRY_DELAY", "1"))


def read_env(stream) -> dict[str, str]:
    """The ``agi_*`` lines Asterisk sends first, up to the empty line."""
    env = {}
    for line in stream:
        line = line.strip()
        if not line:
            break
        key, _sep, value = line.partition(":")
        env[key.strip()] = value.strip()
    return env


def command(text: str) -> str:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()
    return sys.stdin.readline().strip()  # "200 result=1"


def set_var(name: str, value) -> None:
    value = str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ")
    command(f'SET VARIABLE {name} "{value}"')


def config() -> tuple[str, str]:
    url, token = os.environ.get("FICHA_URL", ""), os.environ.get("FICHA_TOKEN", "")
    try:
        with open(CONFIG, encoding="utf-8") as fh:
            for line in fh:
                key, sep, value = line.partition("=")
                if sep and key.strip() == "url" and not url:
                    url = value.strip()
                elif sep and key.strip() == "token" and not token:
                    token = value.strip()
    except OSError:
        pass
    return url.rstrip("/"), token


def post(path: str, body: dict, key: str | None = None) -> dict:
    url, token = config()
    if not url or not token:
        raise RuntimeError("FICHA_URL / FICHA_TOKEN not configured")
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    if key:
        headers["Idempotency-Key"] = key
    request = urllib.request.Request(url + path, json.dumps(body).encode(), headers,
                                     method="POST")
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            return json.load(response)
    except urllib.error.HTTPError as exc:  # 4xx with {"detail": ..., "code": ...}
        try:
            detail = json.load(exc)
        except ValueError:
            detail = {"detail": str(exc), "code": "error"}
        return {"allowed": False, "reason": detail.get("code", "error"),
                "message": detail.get("detail", ""), "error": exc.code}


def authorize(env: dict, booth: str, number: str, extra: list[str]) -> None:
    body = {"booth": booth, "number": number, "call_id": env.get("agi_uniqueid") or None,
            "caller": env.get("agi_callerid", "")[:80]}
    for item in extra:
        key, sep, value = item.partition("=")
        if sep and key in ("account", "account_pin", "pin") and value:
            body[key] = value
    answer = post("/api/v1/calls/authorize", body)
    allowed = bool(answer.get("allowed"))
    seconds = int(answer.get("max_seconds") or 0) if allowed else 0
    set_var("FICHA_ALLOWED", 1 if allowed and seconds > 0 else 0)
    set_var("FICHA_REASON", answer.get("reason", ""))
    set_var("FICHA_MESSAGE", answer.get("message", ""))
    set_var("FICHA_CALL_ID", answer.get("id") or "")
    set_var("FICHA_MAX_SECONDS", seconds)
    set_var("FICHA_MAX_MS", seconds * 1000)


def end(call_id: str, billsec: str) -> None:
    if not (call_id.isascii() and call_id.isdigit()):
        return
    billsec = billsec.strip()
    seconds = int(billsec) if billsec.isascii() and billsec.isdigit() else 0
    # Retried on a network error, a 5xx or a 429 (the end is idempotent); a 4xx is final.
    for attempt in range(3):
        if attempt:
            time.sleep(RETRY_DELAY)
        try:
            answer = post(f"/api/v1/calls/{call_id}/end", {"billsec": seconds})
        except (OSError, RuntimeError):
            continue
        status = answer.get("error")
        if status is None or (status < 500 and status != 429):
            return


def main(argv: list[str]) -> int:
    env = read_env(sys.stdin)
    action = argv[1] if len(argv) > 1 else ""
    try:
        if action == "authorize" and len(argv) >= 4:
            authorize(env, argv[2], argv[3], argv[4:])
        elif action == "end" and len(argv) >= 4:
            end(argv[2], argv[3])
        else:
            set_var("FICHA_ALLOWED", 0)
            set_var("FICHA_REASON", "usage")
    except Exception as exc:  # never leave the dialplan without an answer
        set_var("FICHA_ALLOWED", 0)
        set_var("FICHA_REASON", "error")
        set_var("FICHA_MESSAGE", str(exc)[:200])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
