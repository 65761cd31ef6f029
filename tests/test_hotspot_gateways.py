"""Captive-portal glue on worked examples: what each gateway sends, what it wants back, and
that the RADIUS side accepts what the portal computed (domain notes §2a)."""

from __future__ import annotations

import base64
import hashlib

import pytest
from django.http import QueryDict
from hypothesis import given
from hypothesis import strategies as st

from ficha.hotspot import gateways as g
from ficha.hotspot.services import AuthRequest

CHALLENGE = "0123456789abcdef0123456789abcdef"
HID = hashlib.sha256(b"token123").hexdigest()
FAS = base64.b64encode(
    f"hid={HID}, clientip=192.168.8.20, clientmac=aa:bb:cc:00:00:02, gatewayname=hall, "
    "gatewayaddress=192.168.8.1:2050, originurl=http://example.com/, version=10.3.0"
    .encode()).decode()


# --- MikroTik -----------------------------------------------------------------------------
def test_octal_escaped_chap_strings_become_bytes():
    assert g.unescape_mikrotik(r"\371") == b"\xf9"
    assert g.unescape_mikrotik(r"\015a\\\000") == b"\ra\\\x00"
    assert g.unescape_mikrotik(r"\0") == b"\x00"
    with pytest.raises(g.GatewayError):
        g.unescape_mikrotik(r"\777")


def test_chap_response_worked_example():
    # hex(MD5(0xF9 ‖ "5f3a9c1e2b7d4a60" ‖ 0d8a…1d))
    assert g.chap_password(b"\xf9", "5f3a9c1e2b7d4a60",
                           bytes.fromhex("0d8a2b4c6e1f3a5b7c9d0e2f4a6b8c1d")
                           ) == "c751636315fc5232133d99ac34b82f3e"


def _mikrotik(**over):
    params = {"link-login-only": "http://10.5.50.1/login", "chap-id": r"\371",
              "chap-challenge": r"\015\212+Ln\037:[|\235\016/Jk\214\035",
              "mac": "aa-bb-cc-00-00-01", "ip": "10.5.50.7",
              "link-orig": "http://example.com/news", "link-logout": "http://10.5.50.1/logout",
              "server-name": "hall", "error": ""}
    params.update(over)
    return {k: v for k, v in params.items() if v is not None}


def test_mikrotik_visit_is_parsed_and_the_form_proves_the_ticket_to_radius():
    gw = g.parse(g.MIKROTIK, _mikrotik())
    assert gw.login_url == "http://10.5.50.1/login"
    assert gw.mac == "AA:BB:CC:00:00:01" and gw.ip == "10.5.50.7"
    assert gw.chap_id == "f9" and len(bytes.fromhex(gw.challenge)) == 16
    assert gw.hosts == ["10.5.50.1", "10.5.50.1"]
    form = g.mikrotik_form(gw, "ada", "ticket-secret", dst="http://portal.lan/hotspot/status")
    assert form["username"] == "ada" and form["dst"].endswith("/hotspot/status")
    # The router sends CHAP-Password = chap-id ‖ md5 and CHAP-Challenge = the challenge.
    req = AuthRequest(username="ada", chap_id=0xF9, chap_response=bytes.fromhex(
        form["password"]), chap_challenge=bytes.fromhex(gw.challenge))
    assert req.matches("ticket-secret") and not req.matches("other")


def test_mikrotik_without_chap_gets_pap():
    gw = g.parse(g.MIKROTIK, _mikrotik(**{"chap-id": None, "chap-challenge": None}))
    assert g.mikrotik_form(gw, "ada", "s3cret")["password"] == "s3cret"


@pytest.mark.parametrize("over", [
    {"link-login-only": "javascript:alert(1)"},
    {"link-login-only": "//evil.example/login"},
    {"link-login-only": "http://user:pw@10.5.50.1/login"},
    {"link-login-only": "http://10.5.50.1/login\r\nX: y"},
    {"link-login-only": "http://10.5.50.1:99999/login"},
    {"link-login-only": None},
    {"chap-id": r"\371\372"},
    {"chap-challenge": ""},
])
def test_hostile_or_broken_mikrotik_parameters_are_refused(over):
    with pytest.raises(g.GatewayError):
        g.parse(g.MIKROTIK, _mikrotik(**over))


def test_foreign_original_and_logout_urls_are_dropped_not_followed():
    gw = g.parse(g.MIKROTIK, _mikrotik(**{"link-orig": "javascript:alert(1)",
                                           "link-logout": "data:text/html,x"}))
    assert gw.orig_url == "" and gw.logout_url == ""


# --- CoovaChilli --------------------------------------------------------------------------
CHILLI_URL = ("http://portal.lan/hotspot/chilli?res=notyet&uamip=10.1.0.1&uamport=3990"
              f"&challenge={CHALLENGE}&called=AA-BB-CC-DD-EE-FF&mac=11-22-33-44-55-66"
              "&ip=10.1.0.5&nasid=hall&sessionid=5a0b&userurl=http%3A%2F%2Fexample.com%2F")


def test_chilli_md_worked_example():
    assert g.chilli_md(CHILLI_URL, "uam-secret") == "87BBEAF182762910B885C8936C80D53B"
    assert g.chilli_check_md(CHILLI_URL + "&md=87BBEAF182762910B885C8936C80D53B",
                             "uam-secret")
    assert not g.chilli_check_md(CHILLI_URL + "&md=87BBEAF182762910B885C8936C80D53B",
                                 "other-secret")
    tampered = CHILLI_URL.replace("10.1.0.1", "10.9.9.9")
    assert not g.chilli_check_md(tampered + "&md=87BBEAF182762910B885C8936C80D53B",
                                 "uam-secret")
    assert not g.chilli_check_md(CHILLI_URL, "uam-secret")  # no md at all


def test_chilli_md_refuses_parameters_appended_after_it():
    """Chilli signs the URL up to md and puts md last: values appended after it were not
    signed (the request's last userurl or uamport would win over the signed ones)."""
    signed = CHILLI_URL + "&md=87BBEAF182762910B885C8936C80D53B"
    for tail in ("&userurl=http%3A%2F%2Fevil.example%2F", "&uamport=8080", "&x", "&"):
        assert not g.chilli_check_md(signed + tail, "uam-secret"), tail
    assert g.chilli_check_md(signed.replace("&md=87BB", "&md=87bb"), "uam-secret")


def test_chilli_response_worked_example_and_radius_accepts_it():
    key = g.chilli_key(CHALLENGE, "uam-secret")
    assert key.hex() == "b3e2853e13d519b973eeb1caf8ac2272"
    response = g.chilli_response("ticket-secret", CHALLENGE, "uam-secret")
    assert response == "5033b2ca454cab0c962247cad16ddd8e"
    # chilli sends CHAP-Challenge = K and CHAP ident 0.
    req = AuthRequest(username="ada", chap_id=0, chap_response=bytes.fromhex(response),
                      chap_challenge=key)
    assert req.matches("ticket-secret")
    assert g.chilli_key(CHALLENGE, "") == bytes.fromhex(CHALLENGE)


def test_chilli_pap_password_xors_with_the_key():
    key = g.chilli_key(CHALLENGE, "uam-secret")
    hidden = bytes.fromhex(g.chilli_pap_password("secret", CHALLENGE, "uam-secret"))
    assert len(hidden) == 16
    assert bytes(b ^ key[i] for i, b in enumerate(hidden)).rstrip(b"\0") == b"secret"


def test_chilli_visit_and_logon_url():
    params = QueryDict(CHILLI_URL.split("?", 1)[1])
    gw = g.parse(g.COOVACHILLI, params)
    assert gw.login_url == "http://10.1.0.1:3990/logon"
    assert gw.logout_url == "http://10.1.0.1:3990/logoff"
    assert gw.mac == "11:22:33:44:55:66" and gw.nas_hint == "hall"
    assert gw.orig_url == "http://example.com/" and gw.extra == {"res": "notyet"}
    url = g.chilli_logon_url(gw, "0520 9252", "ticket-secret", "uam-secret")
    assert url == ("http://10.1.0.1:3990/logon?username=0520%209252"
                   "&response=5033b2ca454cab0c962247cad16ddd8e")


@pytest.mark.parametrize("query", [
    "res=notyet&uamip=evil.example&uamport=3990&challenge=" + CHALLENGE,
    "res=notyet&uamip=10.1.0.1&uamport=0&challenge=" + CHALLENGE,
    "res=notyet&uamip=10.1.0.1&uamport=3990&challenge=zz",
    "res=<script>&uamip=10.1.0.1&uamport=3990&challenge=" + CHALLENGE,
])
def test_hostile_chilli_parameters_are_refused(query):
    with pytest.raises(g.GatewayError):
        g.parse(g.COOVACHILLI, QueryDict(query))


def test_chilli_success_needs_no_challenge():
    gw = g.parse(g.COOVACHILLI, QueryDict("res=success&uamip=10.1.0.1&uamport=3990"))
    assert gw.extra["res"] == "success" and gw.challenge == ""


# --- openNDS ------------------------------------------------------------------------------
def test_fas_level1_decode_and_auth_url_worked_example():
    fields = g.fas_decode(FAS)
    assert fields["hid"] == HID and fields["gatewayaddress"] == "192.168.8.1:2050"
    assert g.fas_rhid(HID, "fas-key-1") == (
        "08b8f99456ed80e7ef48b328423c1b13362a3ea8f07df4643963ab03b8f4e298")
    gw = g.parse(g.OPENNDS, {"fas": FAS})
    assert gw.login_url == "http://192.168.8.1:2050/opennds_auth/"
    assert gw.mac == "AA:BB:CC:00:00:02" and gw.nas_hint == "hall"
    assert g.opennds_auth_url(gw, "fas-key-1", redir="http://portal.lan/hotspot/status") == (
        "http://192.168.8.1:2050/opennds_auth/?tok="
        "08b8f99456ed80e7ef48b328423c1b13362a3ea8f07df4643963ab03b8f4e298"
        "&redir=http%3A%2F%2Fportal.lan%2Fhotspot%2Fstatus")


def test_fas_with_a_plus_and_an_encoded_origin_url_as_opennds_sends_them():
    """openNDS puts standard base64 in the query unescaped (a "+" reaches Django as a
    space) and URL-encodes the page the phone asked for inside it."""
    origin = "http%3a%2f%2fexample.com%2f~user%2f~a~b~c%3fq%3d1"
    fas = ""
    for extra in range(64):  # a hid whose encoding has a "+" (~ and padding vary it)
        hid = hashlib.sha256(f"token{extra}".encode()).hexdigest()
        fas = base64.b64encode(
            f"hid={hid}, clientip=192.168.8.20, clientmac=aa:bb:cc:00:00:02, "
            f"gatewayname=hall, gatewayaddress=192.168.8.1:2050, originurl={origin}"
            .encode()).decode()
        if "+" in fas:
            break
    assert "+" in fas
    gw = g.parse(g.OPENNDS, QueryDict(f"fas={fas}"))  # the "+" decoded as a space
    assert gw.hid == hid
    assert gw.orig_url == "http://example.com/~user/~a~b~c?q=1"


@pytest.mark.parametrize("fas", [
    "", "not base64 !!", base64.b64encode(b"hid=short").decode(),
    base64.b64encode(f"hid={HID}, gatewayaddress=evil.example/x?y=".encode()).decode(),
    base64.b64encode(f"hid={HID}".encode()).decode(),  # no gateway address
    base64.b64encode(b"\xff\xfe").decode(),
])
def test_bad_fas_is_refused(fas):
    with pytest.raises(g.GatewayError):
        g.parse(g.OPENNDS, {"fas": fas})


# --- the registry's allowances ------------------------------------------------------------
def test_host_allowances():
    assert g.host_allowed("10.5.50.1", ["10.5.50.1"])
    assert g.host_allowed("10.5.50.1", ["10.5.50.0/24"])
    assert g.host_allowed("Hotspot.LAN.", ["hotspot.lan"])
    assert not g.host_allowed("evil.example", ["10.5.50.0/24", "hotspot.lan"])
    assert not g.host_allowed("10.5.51.1", ["10.5.50.0/24"])
    assert not g.host_allowed("", ["10.5.50.1"])
    assert g.allowed_hosts("", "192.168.88.1") == ["192.168.88.1"]
    assert g.allowed_hosts("10.5.50.1, hotspot.lan", "x") == ["10.5.50.1", "hotspot.lan"]


@given(st.text(max_size=300))
def test_parsers_never_crash_on_any_text(text):
    for vendor, params in ((g.MIKROTIK, {"link-login-only": text, "chap-id": text,
                                         "chap-challenge": text, "mac": text}),
                           (g.COOVACHILLI, {"uamip": text, "challenge": text, "res": text}),
                           (g.OPENNDS, {"fas": text})):
        try:
            gw = g.parse(vendor, params)
        except g.GatewayError:
            continue
        for url in (gw.login_url, gw.logout_url, gw.orig_url):
            assert url == "" or url.startswith(("http://", "https://"))
