"""Where `ficha radiusd`, `ficha stationd` and `ficha serve` listen: one reading of an
address for every door, and the text a parent hands to its child processes."""

from __future__ import annotations

import pytest

from ficha.cli import doors


@pytest.mark.parametrize(
    ("text", "default", "expected"),
    [
        ("0.0.0.0:8765", 8765, ("0.0.0.0", 8765)),
        ("10.0.0.5", 8765, ("10.0.0.5", 8765)),
        (":9000", 8765, ("0.0.0.0", 9000)),
        ("[::1]:1812", 1812, ("::1", 1812)),
        ("[::1]", 1813, ("::1", 1813)),
        ("::1", 8765, ("::1", 8765)),  # a bare IPv6 address is a host, not host ":" port 1
        ("off", 1812, None),
        ("OFF", 1812, None),
        ("", 1812, None),
        (None, 1812, None),
    ],
)
def test_every_door_reads_an_address_the_same_way(text, default, expected):
    assert doors.listen_addr(text, default) == expected


@pytest.mark.parametrize("addr", [("127.0.0.1", 1812), ("::1", 1813), ("0.0.0.0", 8765), None])
def test_a_child_process_reads_back_the_parents_address(addr):
    assert doors.listen_addr(doors.addr_text(addr), 1) == addr


def test_options_win_over_settings_and_off_turns_a_socket_off(settings):
    settings.RADIUS_AUTH_ADDR, settings.RADIUS_ACCT_ADDR = "127.0.0.1:11812", "off"
    settings.STATION_ADDR = "127.0.0.1"
    assert doors.radius_addrs() == (("127.0.0.1", 11812), None)
    assert doors.radius_addrs("off", "10.0.0.1") == (None, ("10.0.0.1", 1813))
    assert doors.station_addr() == ("127.0.0.1", 8765)
    assert doors.station_addr("[::1]:9999") == ("::1", 9999)


def test_database_threads_follow_the_database(db):
    from django.db import connection

    assert doors.db_threads(7) == 7
    assert doors.db_threads() == (1 if connection.vendor == "sqlite" else 4)
