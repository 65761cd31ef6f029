"""A refusal from the first middleware (before LocaleMiddleware) speaks the request's
language in full: a French cashier uploading a 50 MB rate deck got an English title and
sentence with a French "Rien n'a été modifié", and a limit of "32.0625 MB" where the form
promises 32 MB."""

from __future__ import annotations

from ficha.callshop.models import Deck  # noqa: F401 (the callshop app registers its upload allowance)

MB = 1024 * 1024


def test_a_too_large_deck_upload_is_refused_in_french_with_the_limit_the_form_states(client):
    response = client.generic(
        "POST",
        "/console/rates/import/",
        b"x",
        CONTENT_LENGTH=str(50 * MB),
        content_type="multipart/form-data; boundary=x",
        HTTP_ACCEPT_LANGUAGE="fr",
    )
    assert response.status_code == 413
    page = response.content.decode()
    assert "Trop de données" in page
    assert "La requête dépasse 32 Mo" in page
    assert "Too much data" not in page and "larger than" not in page


def test_the_api_refusal_speaks_the_request_language(api_client):
    response = api_client().generic(
        "POST",
        "/api/v1/me",
        b"{}",
        content_type="application/json",
        CONTENT_LENGTH=str(50 * MB),
        HTTP_ACCEPT_LANGUAGE="fr",
    )
    assert response.status_code == 413
    assert response.json()["detail"] == (
        "La requête dépasse 4 Mo, le maximum accepté par cette adresse."
    )
