"""The station API: the room with the room map's states, sessions and commands, role
checks, 4xx with a message, audit through the services."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import override_settings

from ficha.core import clock, roles
from ficha.core.models import AuditLog
from ficha.stations import services as st
from ficha.stations.models import CafeSession, StationCommand
from tests.stations_support import OWNER, T0, balance, door_up, give_credit, make_station

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("_price")]


@pytest.fixture
def _price():
    with override_settings(FICHA_CAFE_PRICE_PER_HOUR=600):  # 10 a minute
        yield


@pytest.fixture
def cashier_api(api_client, api_token):
    return api_client(token=api_token(roles.CASHIER)[1])


def at(minutes: int) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


def test_the_room_lists_every_station_with_the_room_maps_state(cashier_api, make_customer):
    alice = make_customer("alice")
    give_credit(alice, 300)
    pc, console, locked = make_station(), make_station(kind="device"), make_station(kind="device")
    with clock.frozen(at(0)):
        door_up(at(0))
        st.start_prepaid(OWNER, pc, alice)
        st.run(OWNER, locked, "start", text="Pool")
    with clock.frozen(at(12)):
        door_up(at(12))
        st.run(OWNER, locked, "pause")
        response = cashier_api.get("/api/v1/stations")
        cells = {c.station.pk: c for c in st.room()}
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["count"] == 3
    by_id = {item["id"]: item for item in body["items"]}
    for pk, cell in cells.items():  # the same rule as the room map
        assert by_id[pk]["state"] == cell.state
    # the PC never heartbeat: its agent is offline, whatever its session
    assert by_id[pc.pk]["state"] == "offline"
    assert by_id[pc.pk]["session"]["customer"] == "alice"
    assert by_id[pc.pk]["session"]["elapsed"] == 720
    assert by_id[pc.pk]["session"]["remaining"] == 1800 - 720
    assert by_id[console.pk]["state"] == "free" and by_id[console.pk]["session"] is None
    assert by_id[locked.pk]["state"] == "paused"
    assert by_id[locked.pk]["session"]["due"]["amount_minor"] == 120
    with clock.frozen(at(12)):
        only = cashier_api.get("/api/v1/stations?state=paused").json()
    assert [i["id"] for i in only["items"]] == [locked.pk]


def test_start_pause_resume_stop_a_postpaid_session_and_read_its_bill(cashier_api):
    pool = make_station(kind="device")
    url = f"/api/v1/stations/{pool.pk}/session"
    with clock.frozen(at(0)):
        started = cashier_api.post(url, {"label": "Table 2"}, key="s1")
    assert started.status_code == 201, started.content
    sid = started.json()["id"]
    assert started.json()["kind"] == "postpaid" and started.json()["label"] == "Table 2"
    with clock.frozen(at(10)):
        assert cashier_api.post(f"{url}/pause").json()["status"] == "paused"
    with clock.frozen(at(40)):
        assert cashier_api.post(f"{url}/resume").json()["status"] == "running"
    with clock.frozen(at(45)):
        stopped = cashier_api.post(f"{url}/stop")
    assert stopped.status_code == 200
    body = stopped.json()
    assert body["status"] == "ended" and body["seconds"] == 15 * 60
    assert body["charged"]["amount_minor"] == 150  # 15 used minutes, the pause is free
    bill = cashier_api.get(f"/api/v1/stations/sessions/{sid}/bill").json()
    assert bill["total"]["amount_minor"] == 150
    assert [line["kind"] for line in bill["lines"]].count("time") == 2  # split by the pause
    actions = set(
        AuditLog.objects.filter(action__startswith="station.session").values_list(
            "action", flat=True
        )
    )
    assert {
        "station.session_start",
        "station.session_pause",
        "station.session_resume",
        "station.session_end",
    } <= actions


def test_a_prepaid_start_for_a_customer_and_a_move(cashier_api, make_customer):
    bob = make_customer("bob")
    give_credit(bob, 100)
    a, b = make_station(kind="device"), make_station(kind="device")
    with clock.frozen(at(0)):
        r = cashier_api.post(f"/api/v1/stations/{a.pk}/session", {"customer": "bob"})
        assert r.status_code == 201 and r.json()["kind"] == "prepaid"
        moved = cashier_api.post(f"/api/v1/stations/{a.pk}/session/move", {"target": b.pk})
    assert moved.status_code == 200 and moved.json()["station_id"] == b.pk
    with clock.frozen(at(3)):
        cashier_api.post(f"/api/v1/stations/{b.pk}/session/stop")
    assert balance(bob) == 70


def test_refusals_are_4xx_with_a_message(cashier_api, make_customer):
    poor = make_customer("poor")
    pc = make_station(kind="device")
    base = f"/api/v1/stations/{pc.pk}"
    cases = [
        (cashier_api.post(f"{base}/session", {"customer": "poor"}), 409, "no_credit"),
        (cashier_api.post(f"{base}/session", {"customer": "nobody"}), 404, "unknown_customer"),
        (cashier_api.post(f"{base}/session/stop"), 409, "no_session"),
        (cashier_api.post("/api/v1/stations/999999/session/stop"), 404, "unknown_station"),
        (cashier_api.post(f"{base}/commands", {"action": "lock"}), 409, "station_error"),
        (cashier_api.post(f"{base}/commands", {"action": "format_c"}), 422, None),
        (cashier_api.post(f"{base}/session", {"label": "x", "price": 0}), 422, None),
        (cashier_api.get("/api/v1/stations?per_page=5"), 422, "unknown_parameter"),
        (cashier_api.get("/api/v1/stations?state=dancing"), 422, None),
        (cashier_api.get("/api/v1/stations/sessions/424242/bill"), 404, "unknown_session"),
    ]
    assert poor.pk
    for response, status, code in cases:
        assert response.status_code == status, response.content
        body = response.json()
        assert body["detail"]
        if code:
            assert body["code"] == code
    st.run(OWNER, pc, "start", text="x")
    busy = cashier_api.post(f"{base}/session", {})
    assert busy.status_code == 409 and busy.json()["code"] == "busy"


def test_commands_reach_the_agents_queue_and_are_audited(cashier_api, make_customer):
    pc = make_station()
    r = cashier_api.post(
        f"/api/v1/stations/{pc.pk}/commands", {"action": "message", "text": "Closing in 10 minutes"}
    )
    assert r.status_code == 202, r.content
    assert r.json()["action"] == "message" and r.json()["delivered"] is False
    assert [c.text for c in st.pending_for(pc.pk)] == ["Closing in 10 minutes"]
    empty = cashier_api.post(f"/api/v1/stations/{pc.pk}/commands", {"action": "message"})
    assert empty.status_code == 409
    lock = cashier_api.post(f"/api/v1/stations/{pc.pk}/commands", {"action": "lock"})
    assert lock.status_code == 202
    assert cashier_api.get(f"/api/v1/stations/{pc.pk}").json()["state"] in ("locked", "offline")
    assert AuditLog.objects.filter(action="station.lock").count() == 1
    assert StationCommand.objects.filter(station=pc, action="lock").count() == 1


@pytest.mark.parametrize("role, status", [(roles.CASHIER, 200), (roles.OWNER, 200)])
def test_operators_may_use_it(api_client, api_token, role, status):
    make_station()
    assert api_client(token=api_token(role)[1]).get("/api/v1/stations").status_code == status


def test_roles_without_the_capability_and_strangers_are_refused(api_client, api_token):
    pc = make_station(kind="device")
    denied = [
        r for r in (*roles.ROLES, roles.PBX) if r not in roles.CAPABILITIES["operate_stations"][1]
    ]
    assert denied, "some role must lack operate_stations"
    for role in denied:
        client = api_client(token=api_token(role)[1])
        assert client.get("/api/v1/stations").status_code == 403
        assert client.post(f"/api/v1/stations/{pc.pk}/session", {}).status_code == 403
    assert api_client().get("/api/v1/stations").status_code == 401
    assert not CafeSession.objects.exists()


def test_the_openapi_schema_lists_the_station_operations_with_their_capability(api_client):
    schema = api_client().get("/api/v1/openapi.json").json()
    op = schema["paths"]["/api/v1/stations/{station_id}/commands"]["post"]
    assert op["x-capability"] == "operate_stations"
    assert "/api/v1/stations/{station_id}/session/pause" in schema["paths"]


def test_unpaid_postpaid_sessions_are_listed_and_checked_out_into_the_shift(
    api_client, cashier, open_shift
):
    from ficha.ledger import services as ledger

    till = api_client(user=cashier)
    pool = make_station(kind="device")
    with clock.frozen(at(0)):
        sid = till.post(f"/api/v1/stations/{pool.pk}/session", {"label": "Ana"}).json()["id"]
    with clock.frozen(at(30)):
        till.post(f"/api/v1/stations/{pool.pk}/session/stop")
    unpaid = till.get("/api/v1/stations/sessions/unpaid").json()
    assert [i["id"] for i in unpaid["items"]] == [sid]
    cash_before = ledger.shift_cash(open_shift)
    r = till.post(f"/api/v1/stations/sessions/{sid}/checkout", key="pay-1")
    assert r.status_code == 200, r.content
    assert r.json()["paid"]["amount_minor"] == 300 and r.json()["shift_id"] == open_shift.pk
    assert ledger.shift_cash(open_shift) == cash_before + 300
    again = till.post(f"/api/v1/stations/sessions/{sid}/checkout")
    assert again.status_code == 409 and again.json()["code"] == "paid"
    assert till.get("/api/v1/stations/sessions/unpaid").json()["count"] == 0
    assert till.post("/api/v1/stations/sessions/99999/checkout").status_code == 404
    assert AuditLog.objects.filter(action="station.checkout").count() == 1


def test_checkout_needs_an_open_shift(cashier_api):
    pool = make_station(kind="device")
    sid = cashier_api.post(f"/api/v1/stations/{pool.pk}/session", {}).json()["id"]
    r = cashier_api.post(f"/api/v1/stations/sessions/{sid}/checkout")
    assert r.status_code == 409 and r.json()["code"] == "no_open_shift"
    assert CafeSession.objects.get(pk=sid).settled_at is None
