"""A flood is noticed: refused (throttled) attempts are counted, aggregated, and alarm."""

from __future__ import annotations

import datetime as dt

from django.test import Client

from ficha.core import alerts, clock, throttle
from ficha.core.models import Alert, Throttle, ThrottleTally
from ficha.recharges import services as rs
from ficha.recharges.models import RedeemAttempt

T0 = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)


def guess_code(client, n, ip):
    return client.post("/login", {"action": "code", "code": f"{n:08d}"}, REMOTE_ADDR=ip)


def test_a_flood_from_one_source_alarms_within_the_minute(db):
    client = Client()
    with clock.frozen(T0):
        for n in range(200):
            guess_code(client, n, "10.6.6.6")
    evaluated = RedeemAttempt.objects.count()
    assert evaluated <= 10
    # refused guesses are counted although each refused redemption rolled back ...
    assert ThrottleTally.objects.get(scope="redeem").refused == 200 - evaluated
    # ... in one row a minute and on the source's own row, not a row per guess
    assert ThrottleTally.objects.count() == 1
    row = Throttle.objects.get(scope="redeem", key="ip:10.6.6.6")
    assert row.refused == 200 - evaluated
    alarm = Alert.objects.get(kind=alerts.BRUTEFORCE)
    assert alarm.dedupe_key == "bruteforce"  # the same alert as the failure-rate alarm
    assert "ip:10.6.6.6" in alarm.message
    assert alarm.created_at == T0  # at the moment of counting, not at the next sweep


def test_no_alarm_for_a_few_refusals(db):
    client = Client()
    with clock.frozen(T0):
        for n in range(8):
            guess_code(client, n, "10.6.6.7")
    assert ThrottleTally.objects.get(scope="redeem").refused > 0
    assert not Alert.objects.exists()


def test_the_failure_rate_alarm_counts_refused_guesses(db, settings):
    settings.FICHA_RECHARGE_ALARM_FAILURES = 30
    settings.FICHA_RECHARGE_ALARM_WINDOW = 600
    settings.FICHA_FLOOD_REFUSED_PER_MINUTE = 10_000  # only the periodic alarm here
    client = Client()
    for minute in range(5):  # a slow flood: 10 a minute, never 60 in one minute
        with clock.frozen(T0 + dt.timedelta(minutes=minute)):
            for n in range(10):
                guess_code(client, n, "10.6.6.8")
    assert RedeemAttempt.objects.count() < 30  # evaluated failures alone stay quiet
    with clock.frozen(T0 + dt.timedelta(minutes=5)):
        total = rs.check_failure_rate()
    assert total >= 40
    alarm = Alert.objects.get(kind=alerts.BRUTEFORCE)
    assert alarm.data["failures"] == total
    # the source whose guesses the throttle refused unchecked is named with their count
    refused = Throttle.objects.get(scope="redeem", key="ip:10.6.6.8").refused
    assert refused >= 20
    assert f"Held back by the throttle (guesses refused unchecked): ip:10.6.6.8 ({refused})" \
        in alarm.message
    assert [list(row) for row in alarm.data["held_back"]] == [["ip:10.6.6.8", refused]]


def test_a_flood_from_many_sources_alarms(db, make_customer):
    make_customer("ada", password="ada-secret")
    with clock.frozen(T0):
        for i in range(120):  # every guess from a new address, all at one account
            Client().post("/login", {"action": "password", "username": "ada",
                                     "password": f"guess-{i}"},
                          REMOTE_ADDR=f"127.0.{i // 250}.{i % 250 + 1}")
    assert ThrottleTally.objects.get(scope="portal_login").refused >= 100
    alarm = Alert.objects.get(kind=alerts.BRUTEFORCE, dedupe_key="flood:portal_login")
    assert "login:ada" in alarm.message


def test_counting_outside_a_request_and_pruning(db):
    keys = ["ip:10.7.7.7"]
    with clock.frozen(T0):
        for _ in range(30):
            throttle.claim("redeem", keys)
        assert throttle.refused_count("redeem", 60) > 0
    with clock.frozen(T0 + dt.timedelta(days=40)):
        assert throttle.refused_count("redeem", 60) == 0
    assert not ThrottleTally.objects.exists()
