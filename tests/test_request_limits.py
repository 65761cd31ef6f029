"""Requests that cost the shop, not the stranger: large bodies, too many fields, unknown
query parameters, the OpenAPI document, /healthz — each answered with a clear 4xx (or
only what a stranger may see), never a 500, on every door."""

from __future__ import annotations

import re

import pytest
from django.db import connection

from ficha.core import middleware, roles

V1 = "/api/v1"
MB = 1024 * 1024
FIELDS = 1001  # one more than DATA_UPLOAD_MAX_NUMBER_FIELDS


def _many(name: str, n: int = FIELDS) -> str:
    return "&".join(f"{name}={i}" for i in range(n))


@pytest.fixture
def owner_api(api_client, api_token):
    return api_client(token=api_token(roles.OWNER)[1])


# --- bodies -------------------------------------------------------------------------------
def test_a_50_mb_body_to_the_api_is_refused_413_from_its_length(api_client):
    response = api_client().generic("POST", f"{V1}/me", b"{}", content_type="application/json",
                                    CONTENT_LENGTH=str(50 * MB))
    assert response.status_code == 413
    assert response.json()["code"] == "request_too_large"
    assert "4 MB" in response.json()["detail"]


def test_a_large_body_to_the_console_gets_a_plain_page(client):
    response = client.generic("POST", "/console/login/", b"x", CONTENT_LENGTH=str(20 * MB),
                              content_type="application/x-www-form-urlencoded")
    assert response.status_code == 413
    assert response["Content-Type"].startswith("text/html")
    assert "larger than 4 MB" in response.content.decode()


def test_a_body_within_the_limit_reaches_the_api(owner_api):
    response = owner_api.post(f"{V1}/me", {"note": "x" * 1000})
    assert response.status_code == 405  # /me takes GET only: the body was not refused


def test_a_path_allowed_a_larger_body_takes_it(api_client, monkeypatch):
    monkeypatch.setattr(middleware, "_BODY_ALLOWANCES", {})
    middleware.allow_body(f"{V1}/me", 60 * MB)
    assert middleware.max_body_for(f"{V1}/me") == 60 * MB
    assert middleware.max_body_for(f"{V1}/customers") == 4 * MB
    response = api_client().generic("POST", f"{V1}/me", b"{}", content_type="application/json",
                                    CONTENT_LENGTH=str(50 * MB))
    assert response.status_code != 413


def test_a_nonsense_content_length_is_a_400(api_client):
    response = api_client().generic("POST", f"{V1}/me", b"{}", content_type="application/json",
                                    CONTENT_LENGTH="-5")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_request"


def test_a_chunked_body_is_refused_with_411_not_read_as_empty(api_client, client, db):
    # Django reads no body without Content-Length: acting on an empty one would answer
    # "field required" to a request that sent the field
    response = api_client().generic("POST", f"{V1}/recharges/redeem", b"{}",
                                    content_type="application/json", CONTENT_LENGTH="",
                                    HTTP_TRANSFER_ENCODING="chunked")
    assert response.status_code == 411
    assert response.json()["code"] == "length_required"
    page = client.generic("POST", "/login", b"code=12345678",
                          content_type="application/x-www-form-urlencoded", CONTENT_LENGTH="",
                          HTTP_TRANSFER_ENCODING="chunked")
    assert page.status_code == 411 and "Content-Length" in page.content.decode()


# --- too many fields ----------------------------------------------------------------------
@pytest.mark.parametrize("path", [
    f"{V1}/recharges?status=sold&" + _many("status"),
    f"{V1}/recharges/cards.pdf?" + _many("id"),
    f"{V1}/recharges/tickets.escpos?" + _many("id"),
    f"{V1}/customers?" + _many("q"),
])
def test_api_query_with_too_many_fields_is_a_400_json(owner_api, path):
    response = owner_api.get(path)
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "too_many_fields"
    assert "more than 1000 fields" in body["detail"]


@pytest.mark.parametrize("path", ["/console/recharges/", "/console/customers/", "/login",
                                  "/recharge", "/console/login/"])
def test_pages_with_too_many_query_fields_get_a_plain_400_page(client, owner, path):
    client.force_login(owner)
    response = client.get(f"{path}?" + _many("status"))
    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/html")
    text = response.content.decode()
    assert "more than 1000 fields" in text and "<h1>Too many fields</h1>" in text


def test_a_form_with_too_many_fields_is_a_400_page_not_a_500(client, db):
    data = "&".join(f"f{i}=1" for i in range(FIELDS))
    response = client.generic("POST", "/console/login/", data,
                              content_type="application/x-www-form-urlencoded")
    assert response.status_code == 400
    assert "more than 1000 fields" in response.content.decode()


def test_the_refusal_page_speaks_the_browsers_language(client):
    response = client.get("/login?" + _many("a"), HTTP_ACCEPT_LANGUAGE="fr")
    assert response.status_code == 400
    assert 'lang="fr"' in response.content.decode()


# --- unknown query parameters -------------------------------------------------------------
def _operations():
    from ficha.api.api import api

    for bound in api._get_bound_routers():
        for path, view in bound.path_operations.items():
            for op in view.operations:
                for method in op.methods:
                    yield method, path, op


def test_every_api_operation_refuses_an_unknown_query_parameter(owner_api, make_customer):
    customer = make_customer()
    checked = 0
    for method, path, _op in _operations():
        url = V1 + path.replace("{customer_id}", str(customer.pk))
        url = re.sub(r"\{[^}]+\}", "1", url)
        response = owner_api.generic(method, url + "?surely_not_a_param=1", "{}",
                                     content_type="application/json")
        assert response.status_code == 422, (method, path, response.content[:300])
        body = response.json()
        assert body["code"] == "unknown_parameter", (method, path)
        assert "surely_not_a_param" in body["detail"]
        assert body["errors"][0]["loc"] == ["query", "surely_not_a_param"]
        checked += 1
    assert checked >= 25


def test_per_page_and_limit_are_named_and_refused(owner_api):
    response = owner_api.get(f"{V1}/recharges?per_page=1000000&limit=abc")
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert "per_page" in detail and "limit" in detail and "page_size" in detail


def test_declared_query_parameters_still_work(owner_api, make_customer):
    make_customer(username="zoe")
    response = owner_api.get(f"{V1}/customers?q=zoe&page=1&page_size=5")
    assert response.status_code == 200
    assert [c["username"] for c in response.json()["items"]] == ["zoe"]
    assert owner_api.get(f"{V1}/recharges?status=sold&page_size=5").status_code == 200


def test_unknown_parameters_are_refused_before_authentication_answers(api_client):
    # the parameter list is public (OpenAPI); the answer names what is accepted
    response = api_client().get(f"{V1}/shifts?bogus=1")
    assert response.status_code == 422
    assert "page_size" in response.json()["detail"]


# --- OpenAPI, /healthz --------------------------------------------------------------------
def test_openapi_is_built_once(api_client, monkeypatch):
    from ficha.api import api as api_module

    built = []

    class Counting(api_module._Schema):
        def __init__(self, *args, **kwargs):
            built.append(1)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(api_module, "_Schema", Counting)
    monkeypatch.setitem(api_module.api.__dict__, "_ficha_schemas", {})
    client = api_client()
    first = client.get(f"{V1}/openapi.json")
    second = client.get(f"{V1}/openapi.json")
    assert first.status_code == second.status_code == 200
    assert first.content == second.content
    assert "/api/v1/customers" in first.json()["paths"]
    assert len(built) == 1


def test_healthz_tells_strangers_the_status_only(client, db):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_healthz_tells_staff_the_details(client, cashier):
    client.force_login(cashier)
    body = client.get("/healthz").json()
    assert body["status"] == "ok"
    assert body["database"]["status"] == "ok"
    assert body["database"]["vendor"] == connection.vendor
    assert body["version"]


def test_healthz_degraded_is_503_without_the_error_text(client, db, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("secret detail of the database")

    with monkeypatch.context() as patched:
        patched.setattr(connection, "cursor", broken)
        response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {"status": "degraded"}
    assert b"secret detail" not in response.content


def test_a_400_page_for_other_bad_requests(rf):
    from ficha.core.views import bad_request

    response = bad_request(rf.get("/console/"), exception=None)
    assert response.status_code == 400
    api = bad_request(rf.get(f"{V1}/customers"), exception=None)
    assert api.status_code == 400 and b'"code": "bad_request"' in api.content


def test_the_site_wide_limit_comes_from_settings(settings, api_client):
    settings.MAX_BODY_BYTES = 1 * MB
    response = api_client().generic("POST", f"{V1}/me", b"{}", content_type="application/json",
                                    CONTENT_LENGTH=str(2 * MB))
    assert response.status_code == 413
    assert "1 MB" in response.json()["detail"]
