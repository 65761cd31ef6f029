"""The console's call-record upload page: role check, import, audit, problems listed."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from ficha.callshop.models import Call
from ficha.core.models import AuditLog

from .pbx_support import make_booth, make_deck, open_booth
from .test_callshop_cdr_import import ast

URL = "/console/calls/records/"


@pytest.fixture
def shop(db):
    make_deck()
    booth = make_booth("booth1", accountcode="B1")
    open_booth(booth, since="2026-12-01 09:00")
    return booth


def test_a_manager_uploads_a_file_and_sees_what_was_imported(client, manager, shop):
    client.force_login(manager)
    page = client.get(URL)
    assert page.status_code == 200 and b"Call records" in page.content
    upload = SimpleUploadedFile("Master.csv", (ast() + "junk\n" + ast()).encode())
    r = client.post(URL, {"file": upload})
    assert r.status_code == 200
    text = r.content.decode()
    assert "New calls" in text and "1 answered" in text
    assert "Records not imported" in text and "Asterisk writes 16, 17, 18 or 21" in text
    assert Call.objects.count() == 1
    log = AuditLog.objects.get(action="callshop.cdr_import")
    assert log.actor == manager and log.after["imported"] == 1 and log.after["file"] == \
        "Master.csv"


def test_a_missing_file_is_a_form_error(client, manager, shop):
    client.force_login(manager)
    r = client.post(URL, {})
    assert r.status_code == 400 and Call.objects.count() == 0


@pytest.mark.parametrize("who", ["cashier", "seller"])
def test_cashiers_and_sellers_may_not_import(client, request, shop, who):
    client.force_login(request.getfixturevalue(who))
    assert client.get(URL).status_code == 403
    upload = SimpleUploadedFile("Master.csv", ast().encode())
    assert client.post(URL, {"file": upload}).status_code == 403
    assert Call.objects.count() == 0


def test_the_page_is_in_the_navigation_of_those_who_may_use_it(client, manager, cashier):
    client.force_login(manager)
    assert URL.encode() in client.get("/console/").content
    client.force_login(cashier)
    assert URL.encode() not in client.get("/console/").content


def test_uploads_larger_than_the_site_wide_body_limit_are_accepted_here(client, manager,
                                                                       shop):
    client.force_login(manager)
    big = ast() + "x" * (5 * 1024 * 1024) + "\n"  # over the 4 MB default, one bad line
    r = client.post(URL, {"file": SimpleUploadedFile("Master.csv", big.encode())})
    assert r.status_code == 200 and Call.objects.count() == 1
