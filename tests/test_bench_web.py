"""The web benchmark's own logic (bench/ measures by hand; nothing here is timed)."""

from __future__ import annotations

import pytest

from bench.benchmarks.web import PAGES, Server, measurements, parse_wrk, servers
from bench.runner import discover

WRK = """Running 5s test @ http://127.0.0.1:8000/login
  2 threads and 32 connections
  Latency Distribution
     50%   40.10ms
     75%   52.00ms
     90%   70.31ms
     99%  {p99}
  2800 requests in 5.00s, 10.00MB read
{extra}Requests/sec:    560.12
Transfer/sec:      2.00MB
"""


def test_the_web_benchmark_is_registered():
    assert "web.servers" in discover()


@pytest.mark.parametrize(("p99", "ms"), [("143.20ms", 143.2), ("1.13s", 1130.0),
                                         ("950.00us", 0.95)])
def test_wrk_output_is_read_with_its_units(p99, ms):
    rate, got, failed = parse_wrk(WRK.format(p99=p99, extra=""))
    assert rate == 560.12 and got == pytest.approx(ms) and failed == 0


def test_failed_requests_are_counted():
    text = WRK.format(p99="10ms", extra="  Socket errors: connect 0, read 2, write 1, "
                                        "timeout 7\n  Non-2xx or 3xx responses: 5\n")
    rate, p99, failed = parse_wrk(text)
    assert failed == 8  # timeouts are not failures: they count in the latency
    assert rate == pytest.approx(560.12 * 2795 / 2800)  # the 5 error pages do not count
    assert p99 == 10.0  # 7 timeouts out of 2,807 requests: under 1 %


def test_many_timeouts_put_p99_at_the_timeout():
    text = WRK.format(p99="40ms", extra="  Socket errors: connect 0, read 0, write 0, "
                                        "timeout 300\n")
    assert parse_wrk(text)[1] == 5000.0


def test_unreadable_output_is_an_error():
    with pytest.raises(ValueError):
        parse_wrk("wrk: unable to connect")


def test_ratio_is_against_the_best_alternative_per_page():
    def server(name, rate, p99):
        s = Server(name, name, [])
        s.rates = {page: [rate, rate * 1.1] for page in PAGES}
        s.p99s = {page: [p99, p99] for page in PAGES}
        return s

    rows = measurements([server("ficha", 500, 80), server("waitress", 200, 300),
                         server("gunicorn", 250, 250)])
    assert len(rows) == 2 * len(PAGES)
    rate_row, p99_row = rows[0], rows[1]
    assert rate_row.ratio == pytest.approx(2.0) and "gunicorn" in rate_row.baseline_label
    assert rate_row.passed
    assert p99_row.ratio == pytest.approx(1000 / 80 / 10) and p99_row.passed
    slow = measurements([server("ficha", 500, 150), server("waitress", 600, 100)])
    assert not slow[0].passed and not slow[1].passed


def test_every_server_gets_the_same_processes_and_threads():
    chosen, _missing = servers(3, 5)
    assert chosen[0].name == "ficha"
    assert chosen[0].argv[-4:] == ["--workers", "3", "--threads", "5"]
    expected = {"waitress": ["--threads=5"], "gunicorn": ["-w 3", "--threads 5"],
                "uvicorn": ["--workers 3"]}
    for s in chosen[1:]:
        text = " ".join(s.argv)
        assert all(part in text for part in expected[s.name]), text
    # Waitress has one process: never fewer than its default 4 threads
    waitress = [s for s in servers(2, 1)[0] if s.name == "waitress"]
    assert not waitress or "--threads=4" in waitress[0].argv
