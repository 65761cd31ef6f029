"""Tickets on the shop's ticket printer over the network (raw ESC/POS on port 9100), on the
browser's print page, and the settings page's test ticket: a real TCP listener receives
the exact bytes."""

from __future__ import annotations

import re
import socket
import threading

import pytest
from django.urls import reverse

from ficha.core import codes
from ficha.core import services as core_services
from ficha.core.models import AuditLog
from ficha.printing import cards as printing
from ficha.printing import network
from ficha.recharges import printouts
from ficha.recharges import services as rs

from .conftest import actor_for
from .ports import free_port


class Listener:
    """A pretend receipt printer: accepts one connection and keeps every byte until EOF."""

    def __init__(self, *, read: bool = True) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.sock.listen(1)
        self.read = read
        self.received = bytearray()
        self.jobs = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        self.sock.settimeout(10)
        try:
            conn, _ = self.sock.accept()
        except OSError:
            return
        with conn:
            self.jobs += 1
            if not self.read:
                self.stop.wait(20)
                return
            conn.settimeout(10)
            while chunk := conn.recv(65536):
                self.received += chunk

    def result(self) -> bytes:
        self.thread.join(10)
        return bytes(self.received)

    def close(self) -> None:
        self.stop.set()
        self.sock.close()
        self.thread.join(10)


@pytest.fixture
def printer():
    listener = Listener()
    yield listener
    listener.close()


@pytest.fixture
def batch(owner):
    return rs.generate(actor_for(owner), count=5, amount=500, label="NET")


def _settings(owner, **changes):
    core_services.update_settings(actor_for(owner), currency_locked=False, **changes)


# --- the transport ----------------------------------------------------------------------
def test_send_delivers_the_exact_bytes(printer):
    data = bytes(range(256)) * 400  # 100 kB: several TCP segments
    assert network.send("127.0.0.1", printer.port, data) == len(data)
    assert printer.result() == data


def test_an_unreachable_printer_is_a_clear_error():
    port = free_port()
    with pytest.raises(network.PrinterError) as err:
        network.send("127.0.0.1", port, b"x")
    assert f"127.0.0.1:{port} refused the connection" in str(err.value)
    assert "9100" in str(err.value)  # tells which port printers usually use
    with pytest.raises(network.PrinterError, match="unknown on this network"):
        network.send("printer.invalid", 9100, b"x")
    with pytest.raises(network.PrinterError, match="No ticket printer is set up"):
        network.send("", 9100, b"x")


def test_a_printer_that_stops_taking_bytes_times_out():
    stuck = Listener(read=False)
    try:
        with pytest.raises(network.PrinterError) as err:
            network.send("127.0.0.1", stuck.port, b"\0" * 64_000_000, stall_timeout=0.5)
        assert "stopped taking the job" in str(err.value)
        assert 0 < err.value.sent < 64_000_000
    finally:
        stuck.close()


# --- the service: tickets for recharge codes --------------------------------------------
def test_tickets_go_to_the_printer_set_in_settings_and_are_audited(owner, batch, printer):
    _settings(owner, printer_host="127.0.0.1", printer_port=printer.port, ticket_width=58,
              public_url="http://192.168.1.10:8000")
    rows = list(batch.recharges.order_by("id")[:2])
    sent = printouts.to_printer(actor_for(owner), rows, "http://192.168.1.10:8000")
    assert (sent.count, sent.printer) == (2, f"127.0.0.1:{printer.port}")
    received = printer.result()
    expected = printing.escpos_tickets(printouts.cards(rows, "http://192.168.1.10:8000"),
                                       venue=core_services.venue_settings().venue_name,
                                       width_mm=58)
    assert received == expected and sent.size == len(expected)
    assert b"http://192.168.1.10:8000/recharge?code=" + rows[0].code.encode() in received
    entry = AuditLog.objects.filter(action="recharges.print").latest("id")
    assert entry.after["count"] == 2
    assert entry.after["format"] == f"escpos 58 mm to 127.0.0.1:{printer.port}"


def test_without_a_reachable_printer_nothing_is_audited(owner, batch):
    rows = list(batch.recharges.all()[:1])
    with pytest.raises(network.PrinterError, match="No ticket printer is set up"):
        printouts.to_printer(actor_for(owner), rows, "http://x.example")
    _settings(owner, printer_host="127.0.0.1", printer_port=free_port())
    with pytest.raises(network.PrinterError, match="refused the connection"):
        printouts.to_printer(actor_for(owner), rows, "http://x.example")
    assert not AuditLog.objects.filter(action="recharges.print").exists()


# --- the console ------------------------------------------------------------------------
def test_console_sends_ticked_codes_to_the_ticket_printer(client, seller, owner, batch,
                                                          printer):
    _settings(owner, printer_host="127.0.0.1", printer_port=printer.port)
    client.force_login(seller)
    window = client.get(reverse("console:recharges")).content.decode()
    assert 'formaction="/console/recharges/print/send/"' in window
    picked = list(batch.recharges.order_by("id")[:3])
    response = client.post(reverse("console:recharge_print_send"),
                           {"ids": [r.pk for r in picked]}, follow=True)
    assert f"3 tickets sent to the ticket printer (127.0.0.1:{printer.port})." in \
        response.content.decode()
    received = printer.result()
    assert all(codes.group(r.code).encode() in received for r in picked)
    assert received.count(b"\x1dVB\x00") == 3  # one cut per ticket


def test_console_says_when_the_printer_is_unreachable(client, seller, owner, batch):
    port = free_port()
    _settings(owner, printer_host="127.0.0.1", printer_port=port)
    client.force_login(seller)
    response = client.post(reverse("console:recharge_print_send"),
                           {"ids": [batch.recharges.first().pk]}, follow=True)
    assert response.status_code == 200
    assert f"The printer at 127.0.0.1:{port} refused the connection" in \
        response.content.decode()


def test_settings_test_ticket_uses_the_typed_printer_without_saving(client, owner, printer):
    client.force_login(owner)
    page = client.get(reverse("console:settings")).content.decode()
    for name in ("public_url", "date_format", "printer_host", "printer_port", "ticket_width"):
        assert f'name="{name}"' in page
    venue = core_services.venue_settings()
    form = {"venue_name": venue.venue_name, "currency": venue.currency,
            "time_zone": venue.time_zone, "language": venue.language, "code_length": 8,
            "breakage_enabled": "on", "public_url": "http://192.168.1.10:8000",
            "date_format": "dmy", "printer_host": "127.0.0.1", "printer_port": printer.port,
            "ticket_width": 80, "action": "test_printer"}
    response = client.post(reverse("console:settings"), form)
    assert f"Test ticket sent to 127.0.0.1:{printer.port}" in response.content.decode()
    received = printer.result()
    assert received.startswith(b"\x1b@") and b"Test ticket" in received
    assert b"http://192.168.1.10:8000" in received  # the QR code holds the portal address
    core_services.clear_cache()
    assert core_services.venue_settings().printer_host == ""  # not saved by a test
    assert AuditLog.objects.filter(action="printing.test").count() == 1
    # unreachable: the form stays, with the error
    form["printer_port"] = free_port()
    response = client.post(reverse("console:settings"), form)
    assert "refused the connection" in response.content.decode()
    # saving keeps the printer
    form.pop("action")
    client.post(reverse("console:settings"), form)
    core_services.clear_cache()
    venue = core_services.venue_settings()
    assert (venue.printer_host, venue.ticket_width) == ("127.0.0.1", 80)


@pytest.mark.parametrize(("field", "value", "error"), [
    ("printer_host", "http://192.168.1.50", "IP address or a host name"),
    ("printer_host", "192.168.1.50:9100", "IP address or a host name"),
    ("printer_port", "70000", "less than or equal to 65535"),
    ("ticket_width", "72", "Select a valid choice"),
])
def test_settings_refuse_a_bad_printer(client, owner, field, value, error):
    client.force_login(owner)
    venue = core_services.venue_settings()
    form = {"venue_name": venue.venue_name, "currency": venue.currency,
            "time_zone": venue.time_zone, "language": venue.language, "code_length": 8,
            "date_format": "dmy", "printer_port": 9100, "ticket_width": 80, field: value}
    response = client.post(reverse("console:settings"), form)
    assert response.status_code == 200 and error in response.content.decode()


# --- the browser's print page -----------------------------------------------------------
def test_print_page_is_sized_to_the_paper_and_audited(client, seller, owner, batch):
    client.force_login(seller)
    picked = list(batch.recharges.order_by("id")[:2])
    response = client.post(reverse("console:recharge_print_page"),
                           {"ids": [r.pk for r in picked]})
    page = response.content.decode()
    assert response.status_code == 200
    assert "ticket-page-80" in page  # the venue's default width
    assert page.count('<section class="ticket">') == 2
    assert all(codes.group(r.code) in page for r in picked)
    assert page.count("<svg") == 2  # a QR code each, drawn inline
    assert "/static/console/print-tickets.css" in page and "/static/console/print.js" in page
    assert "<script>" not in page and "onclick" not in page  # no inline script
    # 58 mm, for a whole batch, from a link
    response = client.get(reverse("console:recharge_print_page"),
                          {"batch": str(batch.pk), "width": "58"})
    page = response.content.decode()
    assert "ticket-page-58" in page and page.count('<section class="ticket">') == 5
    formats = list(AuditLog.objects.filter(action="recharges.print")
                   .order_by("id").values_list("after__format", flat=True))
    assert formats == ["browser page 80 mm", "browser page 58 mm"]


def test_print_page_css_sizes_the_page(settings):
    from pathlib import Path

    import ficha.console

    css = (Path(ficha.console.__file__).parent / "static/console/print-tickets.css").read_text()
    assert re.search(r"@page t58 \{ size: 58mm", css) and re.search(r"@page t80 \{ size: 80mm", css)


def test_test_ticket_with_fields_left_out_uses_the_saved_printer(client, owner, printer):
    _settings(owner, printer_port=printer.port, ticket_width=58)
    client.force_login(owner)
    venue = core_services.venue_settings()
    response = client.post(reverse("console:settings"), {
        "venue_name": venue.venue_name, "currency": venue.currency,
        "time_zone": venue.time_zone, "language": venue.language, "code_length": 8,
        "printer_host": "127.0.0.1", "action": "test_printer"})
    assert response.status_code == 200
    assert f"Test ticket sent to 127.0.0.1:{printer.port}" in response.content.decode()
    assert b"Paper: 58 mm" in printer.result()
