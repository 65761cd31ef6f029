"""No input can make the API answer 5xx: random JSON, garbage bytes, random query strings
and path parameters are sent to every operation listed in the OpenAPI document."""

from __future__ import annotations

import json
from urllib.parse import quote, urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ficha.accounts import services as accounts
from ficha.core import audit
from ficha.ledger import services as ledger

from .conftest import actor_for

V1 = "/api/v1"

NASTY = ["", " ", "\x00", "a\x00b", "\ud800", "é", "-1", "0", "1e309", "NaN", "9" * 40,
         "12.50", "12,50", "1 000", "../..", "%00", "<script>", "null", "true", "[]", "{}",
         "x" * 6000, "active", "disabled", "member", "XOF", "EUR", "fch_abc"]
FIELDS = ["amount", "amount_minor", "currency", "memo", "reason", "username", "password",
          "pin", "full_name", "phone", "email", "notes", "price_group", "card_uid", "status",
          "opening_float", "opening_float_minor", "counted", "counted_minor", "note",
          "custom_group", "id_doc_type", "id_doc_number"]
QUERY = ["q", "page", "page_size", "status", "open", "staff"]

texts = st.one_of(st.sampled_from(NASTY), st.text(max_size=30))
ints = st.one_of(st.integers(), st.sampled_from([0, -1, 1, 2**31, 2**63, 2**64, 10**15,
                                                  -(10**15), 10**400]))
scalars = st.one_of(st.none(), st.booleans(), ints,
                    st.floats(allow_nan=True, allow_infinity=True), texts)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.one_of(st.sampled_from(FIELDS), texts), inner,
                                            max_size=5)),
    max_leaves=12,
)
field_dicts = st.dictionaries(st.sampled_from(FIELDS), scalars, max_size=6)


def _encode(value) -> bytes:
    try:
        return json.dumps(value, allow_nan=True).encode()
    except (ValueError, OverflowError):
        return b"{}"


bodies = st.one_of(
    field_dicts.map(_encode),
    json_values.map(_encode),
    st.binary(max_size=60),
    st.sampled_from([b"", b"{", b"null", b"[]", b'{"amount_minor": 1e400}', b"\xff\xfe",
                     b'{"amount": "1", "amount": 2}', b'{"username": "\\ud800"}',
                     b'{"username": "a\\u0000"}', b'"just a string"', b"[" * 5000]),
)
# a valid body per operation, to be bent one field at a time (reaches deep into handlers)
VALID = {
    ("POST", "/customers"): {"username": "fuzzer", "full_name": "F"},
    ("PATCH", "/customers/{customer_id}"): {"full_name": "x", "phone": "1"},
    ("POST", "/deposits"): {"amount_minor": 100, "memo": "m"},
    ("POST", "/refunds"): {"amount": "1"},
    ("POST", "/adjustments"): {"amount_minor": 5, "reason": "r"},
    ("POST", "/credentials"): {"password": "pass1", "pin": "1234"},
    ("POST", "/shifts"): {"opening_float_minor": 0},
    ("POST", "/close"): {"counted_minor": 0, "note": ""},
}


def valid_body(method: str, template: str) -> dict:
    for (m, suffix), body in VALID.items():
        if m == method and template.endswith(suffix):
            return dict(body)
    return {}


def bent(valid: dict):
    def apply(changes):
        body = dict(valid)
        for key, value, drop in changes:
            if drop:
                body.pop(key, None)
            else:
                body[key] = value
        return _encode(body)

    return st.lists(st.tuples(st.sampled_from(FIELDS + list(valid)), scalars, st.booleans()),
                    max_size=2).map(apply)


queries = st.lists(st.tuples(st.one_of(st.sampled_from(QUERY), texts), texts), max_size=4)


def _quote(text: str) -> str:
    return quote(text.encode("utf-8", "surrogatepass"), safe="")


def _operations(client) -> list[tuple[str, str]]:
    schema = client.get(f"{V1}/openapi.json").json()
    return sorted((method.upper(), path) for path, ops in schema["paths"].items()
                  for method in ops)


@pytest.mark.slow
def test_no_request_makes_the_api_fail(api_client, owner, make_customer, db):
    ledger.open_shift(actor_for(owner), 50_000)
    customers = [make_customer("fuzz-a"), make_customer("fuzz-b")]
    accounts.adjust(audit.SYSTEM, customers[0], 5_000, "seed")
    client = api_client(user=owner)
    operations = _operations(client)
    assert len(operations) >= 15
    ids = st.one_of(st.sampled_from([str(c.pk) for c in customers] + ["1"]),
                    ints.map(str), texts)

    @settings(max_examples=400, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture,
                                     HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(op=st.sampled_from(operations), customer_id=ids, shift_id=ids, query=queries,
           data=st.data(), content_type=st.sampled_from(["application/json", "text/plain",
                                                           "application/x-www-form-urlencoded"]))
    def run(op, customer_id, shift_id, query, data, content_type):
        method, template = op
        body = data.draw(st.one_of(bodies, bent(valid_body(method, template))))
        path = (template.replace("{customer_id}", _quote(customer_id))
                .replace("{shift_id}", _quote(shift_id)))
        qs = urlencode([(k.encode("utf-8", "surrogatepass"), v.encode("utf-8", "surrogatepass"))
                        for k, v in query])
        url = f"{path}?{qs}" if qs else path
        response = client.generic(method, url, body, content_type=content_type)
        assert response.status_code < 500, (method, url, body, response.content[:300])
        if response.status_code >= 400:
            payload = response.json()
            assert isinstance(payload["detail"], str) and payload["detail"], payload

    run()


@pytest.mark.slow
def test_no_authorization_header_makes_the_api_fail(api_client, db):
    operations = _operations(api_client())

    @settings(max_examples=100, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(op=st.sampled_from(operations),
           header=st.one_of(texts, st.text(max_size=80).map(lambda t: "Bearer " + t)))
    def run(op, header):
        method, template = op
        path = template.replace("{customer_id}", "1").replace("{shift_id}", "1")
        header = header.encode("latin-1", "ignore").decode("latin-1")
        client = api_client(HTTP_AUTHORIZATION=header)
        response = client.generic(method, path, b"{}", content_type="application/json",
                                  headers={"Idempotency-Key": header[:300]})
        assert response.status_code in (400, 401), (header, response.content[:200])

    run()
