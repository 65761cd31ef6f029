"""What customers and cashiers see: the public address in printed QR codes (and the
warning while phones cannot open it), and dates in the venue's unambiguous format."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import formats, translation

from ficha.core import public_url
from ficha.core import services as core_services
from ficha.recharges import printouts
from ficha.recharges import services as rs

from .conftest import actor_for


def _settings(owner, **changes):
    core_services.update_settings(actor_for(owner), currency_locked=False, **changes)


@pytest.mark.parametrize(("typed", "kept"), [
    ("http://192.168.1.10:8000", "http://192.168.1.10:8000"),
    ("  HTTPS://Wifi.Example.SN/  ", "https://wifi.example.sn"),
    ("http://[fe80::1]:8000", "http://[fe80::1]:8000"),
    ("", ""),
])
def test_public_address_is_normalised(typed, kept):
    assert public_url.clean(typed) == kept


@pytest.mark.parametrize(("typed", "error"), [
    ("192.168.1.10:8000", "starts with http:// or https://"),
    ("ftp://wifi.example", "starts with http:// or https://"),
    ("http://wifi.example/recharge", "no path"),
    ("http://wifi.example/?code=1", "no path"),
    ("http://wifi.example#top", "no path"),
    ("http://user:pw@wifi.example", "user name or password"),
    ("http://wi fi.example", "spaces"),
    ("http://wifi.example:99999", "not a web address"),
    ("http://wifi_example.com", "not a valid host name"),
    ("http://" + "a" * 200 + ".com", "too long"),
])
def test_public_address_refuses_junk(typed, error):
    with pytest.raises(public_url.PublicURLError, match=error):
        public_url.clean(typed)


def test_settings_win_over_the_environment_which_wins_over_the_request(
        owner, settings, rf):
    request = rf.get("/", HTTP_HOST="10.0.0.7:8000")
    settings.PUBLIC_URL = ""
    settings.HTTP_ADDR = "0.0.0.0:8000"
    assert public_url.public_address() == public_url.PublicAddress(
        "http://127.0.0.1:8000", public_url.LISTEN)
    got = public_url.public_address(request)
    assert (got.url, got.source, got.loopback, got.needs_attention) == (
        "http://10.0.0.7:8000", "request", False, True)
    settings.PUBLIC_URL = "http://localhost:8000"
    got = public_url.public_address(request)
    assert (got.source, got.loopback, got.needs_attention) == ("environment", True, True)
    _settings(owner, public_url="http://wifi.example:8000/")
    got = public_url.public_address(request)
    assert (got.url, got.source, got.needs_attention) == (
        "http://wifi.example:8000", "settings", False)
    # the printers use the same rule
    assert printouts.base_url(request) == "http://wifi.example:8000"


def test_settings_page_saves_and_refuses_the_public_address(client, owner):
    client.force_login(owner)
    venue = core_services.venue_settings()
    form = {"venue_name": venue.venue_name, "currency": venue.currency,
            "time_zone": venue.time_zone, "language": venue.language, "code_length": 8,
            "date_format": "dmy", "printer_port": 9100, "ticket_width": 80,
            "public_url": "http://127.0.0.1:8000/recharge?code=1"}
    response = client.post(reverse("console:settings"), form)
    assert "no path after it" in response.content.decode()
    form["public_url"] = "http://192.168.1.10:8000/"
    assert client.post(reverse("console:settings"), form).status_code == 302
    core_services.clear_cache()
    assert core_services.venue_settings().public_url == "http://192.168.1.10:8000"


WARNING = 'id="public-address-warning"'


def test_dashboard_and_print_pages_warn_while_qr_codes_point_to_a_loopback(
        client, owner, seller, settings):
    settings.PUBLIC_URL = ""
    settings.EXTRA_ALLOWED_HOSTS = ["10.0.0.7"]  # the shop's LAN name, added by the owner
    batch = rs.generate(actor_for(owner), count=2, amount=500, label="W")
    client.force_login(owner)
    page = client.get(reverse("console:dashboard"), HTTP_HOST="127.0.0.1:8000")
    html = page.content.decode()
    assert WARNING in html and "http://127.0.0.1:8000" in html
    assert "only this computer can open" in html
    assert 'href="/console/settings/#id_public_url"' in html  # the owner can fix it
    window = client.get(reverse("console:recharges"), HTTP_HOST="127.0.0.1:8000")
    assert WARNING in window.content.decode()
    page = client.get(reverse("console:recharge_print_page"), {"batch": batch.pk},
                      HTTP_HOST="localhost:8000")
    assert WARNING in page.content.decode()
    # a seller is told whom to ask instead of a link they cannot open
    client.force_login(seller)
    html = client.get(reverse("console:dashboard"), HTTP_HOST="127.0.0.1:8000").content.decode()
    assert WARNING in html and "Ask the owner" in html
    # a LAN address that nobody set: still said, more gently
    client.force_login(owner)
    html = client.get(reverse("console:dashboard"), HTTP_HOST="10.0.0.7:8000").content.decode()
    assert WARNING in html and "The public address is not set" in html
    # once set, no warning, and the printed QR codes use it
    _settings(owner, public_url="http://10.0.0.7:8000")
    html = client.get(reverse("console:dashboard"), HTTP_HOST="127.0.0.1:8000").content.decode()
    assert WARNING not in html
    page = client.get(reverse("console:recharge_print_page"), {"batch": batch.pk},
                      HTTP_HOST="127.0.0.1:8000").content.decode()
    assert WARNING not in page and "http://10.0.0.7:8000/recharge?code=" in page


# --- dates ------------------------------------------------------------------------------
WHEN = dt.datetime(2026, 12, 9, 15, 4, tzinfo=dt.UTC)


@pytest.mark.parametrize(("chosen", "language", "short", "long"), [
    ("dmy", "en", "09/12/2026 15:04", "09/12/2026"),
    ("dmy", "de", "09.12.2026 15:04", "09.12.2026"),
    ("ymd", "en", "2026-12-09 15:04", "2026-12-09"),
    ("ymd", "fr", "2026-12-09 15:04", "2026-12-09"),
    ("d_mon_y", "en", "9 Dec 2026 15:04", "9 Dec 2026"),
    ("d_mon_y", "es", "9 Dic 2026 15:04", "9 Dic 2026"),
])
def test_dates_follow_the_venue_format_in_every_language(owner, chosen, language, short, long):
    _settings(owner, date_format=chosen)
    with translation.override(language):
        assert formats.date_format(WHEN, "SHORT_DATETIME_FORMAT") == short
        assert formats.date_format(WHEN, "DATETIME_FORMAT") == short
        assert formats.date_format(WHEN.date(), "SHORT_DATE_FORMAT") == long
        assert formats.date_format(WHEN.date(), "DATE_FORMAT") == long


def test_day_first_by_default_and_applied_to_console_pages_and_cards(client, owner):
    assert core_services.venue_settings().date_format == "dmy"
    batch = rs.generate(actor_for(owner), count=1, amount=500,
                        expires_at=dt.datetime(2026, 12, 9, 12, 0, tzinfo=dt.UTC))
    client.force_login(owner)
    html = client.get(reverse("console:recharges")).content.decode()
    assert "09/12/2026" in html and "12/09/2026" not in html
    card = printouts.cards(batch.recharges.all(), "http://x.example")[0]
    assert card.expires == "09/12/2026"
    _settings(owner, date_format="ymd")
    html = client.get(reverse("console:recharges")).content.decode()
    assert "2026-12-09" in html
    # the settings page offers the formats with an example that cannot be misread
    page = client.get(reverse("console:settings")).content.decode()
    assert "31/12/2026" in page and "2026-12-31" in page and "31 Dec 2026" in page
    with pytest.raises(core_services.SettingsError):
        _settings(owner, date_format="mdy")
