"""Posing as the shop: foreign Host names refused, HTTPS settings, the Content-Security-Policy
and templates without inline script."""

from __future__ import annotations

import re
import runpy
import shutil
import socket
import subprocess
from pathlib import Path

import pytest
from django.test import Client, override_settings

from ficha.core import security
from ficha.core import services as core_services
from ficha.core.models import VenueSettings

SRC = Path(__file__).resolve().parent.parent / "src" / "ficha"
PASSWORD = "correct-horse-9"


# --- Host names --------------------------------------------------------------------------
@pytest.mark.django_db
def test_a_foreign_host_is_refused_with_a_message(client):
    response = client.get("/console/login/", HTTP_HOST="evil.example")
    assert response.status_code == 400
    assert "evil.example" in response.content.decode()
    assert "FICHA_ALLOWED_HOSTS" in response.content.decode()
    # the printed cards' QR base could otherwise come from the stranger's name
    assert client.get("/", HTTP_HOST="evil.example:8000").status_code == 400


@pytest.mark.django_db
def test_a_foreign_host_gets_the_apis_json_error_under_the_api(client):
    response = client.get("/api/v1/me", HTTP_HOST="evil.example")
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "unknown_host" and "evil.example" in body["detail"]


@pytest.mark.django_db
@pytest.mark.parametrize("host", ["localhost", "localhost:8000", "127.0.0.1:8000", "[::1]:8000",
                                  "127.0.0.5"])
def test_loopback_names_are_served(client, host):
    assert client.get("/console/login/", HTTP_HOST=host).status_code == 200


@pytest.mark.django_db
def test_the_machines_own_name_and_addresses_are_served(client):
    name = socket.gethostname()
    assert client.get("/console/login/", HTTP_HOST=f"{name}:8000").status_code == 200
    if not shutil.which("ip"):
        pytest.skip("no `ip` command to list this machine's addresses")
    listing = subprocess.run(["ip", "-o", "addr"], capture_output=True, text=True).stdout
    own = {m.group(2) for m in re.finditer(r"\binet(6?) ([0-9a-f.:]+)/", listing)}
    own = {ip for ip in own if not ip.startswith(("127.", "fe80:")) and ip != "::1"}
    if not own:
        pytest.skip("this machine has no non-loopback address")
    for ip in own:
        host = f"[{ip}]:8000" if ":" in ip else f"{ip}:8000"
        assert client.get("/console/login/", HTTP_HOST=host).status_code == 200, host
    # an address of another machine is not this shop
    assert client.get("/console/login/", HTTP_HOST="192.0.2.7").status_code == 400


@pytest.mark.django_db
def test_names_from_the_settings_are_served(client):
    with override_settings(EXTRA_ALLOWED_HOSTS=["wifi.cafe.example", ".shop.example"],
                           PUBLIC_URL="https://portal.example:8443"):
        for host in ("wifi.cafe.example", "a.shop.example", "portal.example:8443"):
            assert client.get("/console/login/", HTTP_HOST=host).status_code == 200, host
        assert client.get("/console/login/", HTTP_HOST="cafe.example").status_code == 400


@pytest.mark.django_db
def test_a_public_address_set_in_the_console_is_served_without_restart(client):
    assert client.get("/", HTTP_HOST="hotspot.example").status_code == 400
    core_services.venue_settings()
    VenueSettings.objects.filter(pk=1).update(public_url="http://hotspot.example:8000/")
    core_services.clear_cache()  # what saving the settings does; other processes: ≤ 5 s
    assert client.get("/", HTTP_HOST="hotspot.example").status_code != 400
    assert client.get("/", HTTP_HOST="other.example").status_code == 400


def test_host_of_a_url():
    assert security.host_of("http://10.0.0.1:8000/x") == "10.0.0.1"
    assert security.host_of("https://[fe80::1]/") == "fe80::1"
    assert security.host_of("Shop.Example.") == ""  # not a URL
    assert security.host_of("http://Shop.Example./") == "shop.example"


# --- HTTPS ---------------------------------------------------------------------------------
HTTPS_NAMES = ["SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE", "SECURE_SSL_REDIRECT",
               "SECURE_REDIRECT_EXEMPT", "SECURE_HSTS_SECONDS", "SECURE_HSTS_INCLUDE_SUBDOMAINS",
               "SECURE_PROXY_SSL_HEADER"]


def _settings_with(monkeypatch, **env) -> dict:
    """ficha/settings.py evaluated with these FICHA_* variables (as a fresh start would)."""
    for name, value in env.items():
        monkeypatch.setenv(f"FICHA_{name}", value)
    ns = runpy.run_path(str(SRC / "settings.py"))
    return {name: ns[name] for name in HTTPS_NAMES if name in ns}


def test_without_https_nothing_changes(monkeypatch):
    monkeypatch.delenv("FICHA_HTTPS", raising=False)
    assert _settings_with(monkeypatch) == {}


@pytest.mark.django_db
def test_with_https_cookies_are_secure_http_redirects_and_hsts_is_sent(monkeypatch, owner):
    https = _settings_with(monkeypatch, HTTPS="1", PROXY_SSL_HEADER="X-Forwarded-Proto: https")
    assert https["SECURE_PROXY_SSL_HEADER"] == ("HTTP_X_FORWARDED_PROTO", "https")
    with override_settings(**https):
        client = Client()
        plain = client.get("/console/login/")
        assert plain.status_code == 301 and plain["Location"].startswith("https://")
        assert client.get("/healthz").status_code == 200  # `ficha serve` polls it locally
        proxied = {"HTTP_X_FORWARDED_PROTO": "https"}
        page = client.get("/console/login/", **proxied)
        assert page.status_code == 200
        assert page["Strict-Transport-Security"].startswith("max-age=31536000")
        assert page.cookies["csrftoken"]["secure"]
        login = client.post("/console/login/", {"username": "olga", "password": PASSWORD},
                            **proxied)
        assert login.status_code == 302
        assert login.cookies["sessionid"]["secure"]
        assert login.cookies["sessionid"]["httponly"]


# --- Content-Security-Policy ---------------------------------------------------------------
@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/console/login/", "/login", "/"])
def test_pages_carry_a_policy_without_inline_script(client, path):
    policy = client.get(path)["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["script-src"] == "'self'"
    assert "unsafe" not in policy
    assert directives["frame-ancestors"] == "'none'"


INLINE = [
    (re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>", re.I),
     "inline <script>"),
    (re.compile(r"<[a-z][^>]*\son[a-z]+\s*=", re.I), "on*= event handler"),
    (re.compile(r"javascript:", re.I), "javascript: URL"),
    (re.compile(r"<style", re.I), "inline <style>"),
    (re.compile(r"\sstyle\s*=", re.I), "style= attribute"),
]


def test_templates_have_no_inline_script_or_style():
    found = []
    for path in sorted(SRC.rglob("templates/**/*.html")):
        text = path.read_text(encoding="utf-8")
        for pattern, what in INLINE:
            for m in pattern.finditer(text):
                line = text.count("\n", 0, m.start()) + 1
                found.append(f"{path.relative_to(SRC)}:{line}: {what}")
    assert not found, found
