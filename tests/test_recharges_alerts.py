"""Alerts: fraud signals, the global brute-force alarm, dedupe and acknowledgement."""

from __future__ import annotations

import datetime as dt

import pytest

from ficha.core import alerts, clock
from ficha.core.models import Alert, AuditLog
from ficha.recharges import services as rs
from ficha.recharges.models import RedeemAttempt

from .conftest import actor_for

T0 = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)


def test_repeats_are_counted_not_added(db):
    with clock.frozen(T0):
        first = alerts.raise_alert("fraud", "code tried", source="station 3")
    with clock.frozen(T0 + dt.timedelta(minutes=4)):
        again = alerts.raise_alert("fraud", "code tried again", source="station 3")
        other = alerts.raise_alert("fraud", "code tried", source="station 4")
    assert again.pk == first.pk and again.count == 2
    assert again.message == "code tried again"
    assert again.last_seen_at == T0 + dt.timedelta(minutes=4)
    assert other.pk != first.pk
    # quiet for longer than the dedupe window: a new alert
    with clock.frozen(T0 + dt.timedelta(minutes=10)):
        later = alerts.raise_alert("fraud", "code tried", source="station 3")
    assert later.pk != first.pk
    assert Alert.objects.count() == 3
    # only new alerts go to the audit log, not every repeat
    assert AuditLog.objects.filter(action="alert.raise").count() == 3


def test_acknowledging_is_audited_and_closes_the_alert(db, manager):
    alert = alerts.raise_alert("bruteforce", "many failures", dedupe_key="bruteforce")
    assert list(alerts.open_alerts()) == [alert]
    acked = alerts.acknowledge(actor_for(manager), alert, note="checked the cameras")
    assert acked.acknowledged_by == manager and acked.acknowledged_at
    assert acked.note == "checked the cameras"
    assert not alerts.open_alerts().exists()
    log = AuditLog.objects.get(action="alert.acknowledge")
    assert log.actor == manager and "many failures" in log.summary
    # a second acknowledgement changes nothing and is not logged again
    alerts.acknowledge(actor_for(manager), alert.pk)
    assert AuditLog.objects.filter(action="alert.acknowledge").count() == 1
    # after acknowledgement, the same trouble opens a new alert
    fresh = alerts.raise_alert("bruteforce", "many failures", dedupe_key="bruteforce")
    assert fresh.pk != alert.pk and fresh.count == 1


def test_acknowledge_all(db, owner):
    for n in range(3):
        alerts.raise_alert("fraud", f"tried {n}", source=f"ip {n}")
    alerts.raise_alert("bruteforce", "x", dedupe_key="bruteforce")
    assert alerts.acknowledge_all(actor_for(owner), kind="fraud") == 3
    assert list(alerts.open_alerts().values_list("kind", flat=True)) == ["bruteforce"]
    assert alerts.kind_label("fraud") == "Fraud"


def test_same_unsold_code_from_the_same_source_is_one_alert(db, owner, make_customer):
    batch = rs.generate(actor_for(owner), count=2, amount=100)
    first, second = batch.recharges.order_by("id")
    cust = make_customer()
    src = rs.Source(station="PC-7", door="station")
    for code in (first.code, first.code, second.code):
        with pytest.raises(rs.RechargeError):
            rs.redeem(code, customer=cust, source=src)
    counts = sorted(Alert.objects.filter(kind="fraud").values_list("count", flat=True))
    assert counts == [1, 2]  # one alert per code, repeats counted
    assert all("PC-7" in a.source for a in Alert.objects.all())


def _guess(n: int, ip: str) -> None:
    RedeemAttempt.objects.bulk_create([
        RedeemAttempt(at=clock.now(), door="portal", outcome="unknown", ip=ip, code_hint="1234",
                      code_length=8)
        for _ in range(n)
    ])


def test_failure_rate_alarm(db, settings):
    settings.FICHA_RECHARGE_ALARM_FAILURES = 10
    settings.FICHA_RECHARGE_ALARM_WINDOW = 300
    with clock.frozen(T0):
        _guess(9, "10.0.0.66")
        RedeemAttempt.objects.create(at=T0, door="portal", outcome="expired", ip="10.0.0.1")
        RedeemAttempt.objects.create(at=T0, door="portal", outcome="success", ip="10.0.0.1")
        assert rs.check_failure_rate() == 0  # successes and expiries are not guesses
        assert not Alert.objects.exists()
        _guess(3, "10.0.0.77")
        assert rs.check_failure_rate() == 12
    alarm = Alert.objects.get(kind="bruteforce")
    assert "12 failed" in alarm.message and "ip:10.0.0.66 (9)" in alarm.message
    assert alarm.data["failures"] == 12
    with clock.frozen(T0 + dt.timedelta(minutes=1)):
        assert rs.check_failure_rate() == 12
    alarm.refresh_from_db()
    assert alarm.count == 2 and Alert.objects.count() == 1
    # the failures age out of the window: the alarm stops
    with clock.frozen(T0 + dt.timedelta(minutes=6)):
        assert rs.check_failure_rate() == 0


def test_default_threshold_and_pruning(db):
    assert rs.FAILURE_ALARM_COUNT == 30 and rs.FAILURE_ALARM_WINDOW == 600
    with clock.frozen(T0 - dt.timedelta(days=rs.ATTEMPT_RETENTION_DAYS + 1)):
        _guess(40, "10.0.0.9")
    with clock.frozen(T0):
        _guess(29, "10.0.0.9")
        assert rs.check_failure_rate() == 0
        assert RedeemAttempt.objects.count() == 29  # the old ones were pruned
        _guess(1, "10.0.0.9")
        assert rs.check_failure_rate() == 30


def test_source_description_names_everything_known(db):
    src = rs.Source(ip="10.0.0.7", mac="AA-BB-CC-DD-EE-FF", station="PC-3", account="alice",
                    door="station")
    text = src.describe()
    for part in ("PC-3", "10.0.0.7", "aa:bb:cc:dd:ee:ff", "alice", "station"):
        assert part in text
    assert src.keys() == ["ip:10.0.0.7", "mac:aa:bb:cc:dd:ee:ff", "station:PC-3",
                          "account:alice"]
    assert rs.Source(door="api").keys() == ["door:api"]
