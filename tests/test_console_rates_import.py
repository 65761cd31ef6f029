"""Importing a rate file in the console: a preview first (format, separator, decimal
comma, counts, the first rows, every bad row with its line, column and reason), nothing
written until confirmed; then all or nothing, audited; size limits; roles."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from ficha.callshop.models import Deck, Rate
from ficha.core.models import AuditLog

from .rates_support import make_deck

URL = "/console/rates/import/"
PLAIN = "33;France;0,12\n44;United Kingdom;0,08\n225;Cote d'Ivoire;0,30\n"
BAD = "33;France;0,12\n44;United Kingdom;cheap\n0225;Cote d'Ivoire;0,30\n"


def upload(client, text: str, deck: str = "retail", name: str = "deck.csv"):
    return client.post(URL, {"deck": deck, "file": SimpleUploadedFile(name, text.encode())})


def test_the_preview_shows_what_was_detected_and_writes_nothing(client, manager):
    client.force_login(manager)
    r = upload(client, PLAIN)
    text = r.content.decode()
    assert r.status_code == 200 and "Preview: nothing is written yet" in text
    assert "plain form" in text and "semicolon" in text
    assert '<td id="preview-comma">yes' in text and '<td id="preview-rows">3<' in text
    assert "United Kingdom" in text and ">0.08<" in text  # the first rows, as parsed
    assert not Deck.objects.exists() and not Rate.objects.exists()
    assert 'name="token"' in text


def test_every_bad_row_is_listed_with_line_column_and_reason_and_nothing_can_be_imported(
    client, manager
):
    client.force_login(manager)
    r = upload(client, BAD)
    text = r.content.decode()
    assert r.status_code == 400 and "nothing was written" in text
    assert "<td>2</td><td>price</td>" in text and "is not a price" in text
    assert "<td>3</td><td>prefix</td>" in text and "starts with 0" in text
    assert 'name="token"' not in text and not Rate.objects.exists()


def test_confirming_the_preview_imports_all_rows_and_audits(client, manager):
    make_deck("retail")  # four rates, replaced
    client.force_login(manager)
    preview = upload(client, PLAIN)
    token = preview.context["token"]
    r = client.post(URL, {"token": token})
    deck = Deck.objects.get(name="retail")
    assert r.status_code == 302 and r["Location"] == f"/console/rates/{deck.pk}/"
    assert sorted(Rate.objects.filter(deck=deck).values_list("prefix", "price")) == [
        ("225", 300_000),
        ("33", 120_000),
        ("44", 80_000),
    ]
    log = AuditLog.objects.filter(action="callshop.deck_import").latest("pk")
    assert log.actor == manager and log.after == {"rows": 3, "replaced": 4}
    # the staged file is gone: confirming twice does nothing more
    again = client.post(URL, {"token": token}, follow=True)
    assert "That preview has expired" in again.content.decode()
    assert AuditLog.objects.filter(action="callshop.deck_import").count() == 2


def test_a_new_deck_name_creates_the_deck_on_import(client, owner):
    client.force_login(owner)
    token = upload(client, PLAIN, deck="promo").context["token"]
    client.post(URL, {"token": token})
    assert Deck.objects.get(name="promo").row_count == 3


def test_a_token_from_another_session_is_refused(client, manager, owner):
    client.force_login(manager)
    token = upload(client, PLAIN).context["token"]
    other = client.__class__()
    other.force_login(owner)
    r = other.post(URL, {"token": token}, follow=True)
    assert "That preview has expired" in r.content.decode() and not Rate.objects.exists()


def test_files_over_the_limit_are_refused_before_reading(client, manager, settings):
    client.force_login(manager)
    from ficha.console.views import rates

    r = client.post(
        URL,
        {"deck": "x", "file": SimpleUploadedFile("d.csv", b"1")},
        CONTENT_LENGTH=str(rates.MAX_UPLOAD_BYTES + 1),
    )
    assert r.status_code == 413


def test_a_deck_larger_than_the_site_wide_body_limit_is_accepted(client, manager):
    client.force_login(manager)
    name = "with a rather long name here"
    lines = "".join(
        f"{100000 + n};Destination {n:06d} {name};0.{n % 97:02d}\n" for n in range(100_000)
    )
    assert len(lines) > 5 * 1024 * 1024  # over the 4 MB default
    r = upload(client, lines)
    assert r.status_code == 200 and '<td id="preview-rows">100000<' in r.content.decode()


@pytest.mark.parametrize("who", ["cashier", "seller"])
def test_cashiers_and_sellers_may_not_import(client, request, who):
    client.force_login(request.getfixturevalue(who))
    assert client.get(URL).status_code == 403
    assert upload(client, PLAIN).status_code == 403
    assert not Rate.objects.exists()
