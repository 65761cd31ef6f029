"""The station agent speaks the console's six languages: every string of ``ficha_agent``
written ``_("...")`` or ``N_("...")`` (found by parsing the sources, not by a list kept by
hand) has a translation with the same placeholders in fr, es, it, pt and de; the language
is picked from whatever the server or the PC says (pt_BR, de-CH, Windows' names...), and
the language the server sends in ``welcome`` is always one the agent has."""

from __future__ import annotations

import ast
import re
from collections import Counter
from pathlib import Path

import pytest
from django.conf import settings
from django.test import override_settings

import ficha_agent
from ficha.core import audit
from ficha.core import services as core_services
from ficha.stations.services import link as link_services
from ficha_agent import catalog, i18n

AGENT_DIR = Path(ficha_agent.__file__).parent
LANGUAGES = ["fr", "es", "it", "pt", "de"]
PLACEHOLDER = re.compile(r"\{[^{}]*\}|%(?:\([^)]*\))?[-#0 +]*\d*(?:\.\d+)?[sdifrx%]")


def _calls(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
            yield name, node


def agent_messages() -> dict[str, list[str]]:
    """Every literal passed to ``_()``/``N_()`` in src/ficha_agent/*.py → where it is."""
    found: dict[str, list[str]] = {}
    for path in sorted(AGENT_DIR.glob("*.py")):
        for name, call in _calls(ast.parse(path.read_text(encoding="utf-8"))):
            if name in ("_", "N_") and call.args and isinstance(call.args[0], ast.Constant):
                found.setdefault(call.args[0].value, []).append(f"{path.name}:{call.lineno}")
    return found


MESSAGES = agent_messages()


def test_the_sources_are_read():
    # both kinds of marks are found: a label (N_, translated when shown) and a message (_)
    assert "Username" in MESSAGES and "Log out" in MESSAGES
    assert "Your time is up." in MESSAGES and len(MESSAGES) >= 30


def test_translated_strings_are_literals_and_labels_are_marked():
    """``_(variable)`` would escape extraction; only the relabelling path may do it, and
    every label it relabels is given to ``_t`` as ``N_("...")``."""
    problems = []
    for path in sorted(AGENT_DIR.glob("*.py")):
        for name, call in _calls(ast.parse(path.read_text(encoding="utf-8"))):
            where = f"{path.name}:{call.lineno}"
            if name in ("_", "N_") and call.args:
                arg = call.args[0]
                literal = isinstance(arg, ast.Constant) and isinstance(arg.value, str)
                if not literal and not (isinstance(arg, ast.Name) and arg.id == "msgid"):
                    problems.append(f"{where}: {name}() of {ast.unparse(arg)}")
            if name == "_t" and len(call.args) == 2:
                label = call.args[1]
                marked = (
                    isinstance(label, ast.Call)
                    and getattr(label.func, "id", "") == "N_"
                    and isinstance(label.args[0], ast.Constant)
                )
                if not marked:
                    problems.append(f'{where}: label {ast.unparse(label)} is not N_("...")')
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_agent_string_is_translated_with_the_same_placeholders(language):
    table = catalog.TABLES[language]
    problems = []
    for msgid, where in sorted(MESSAGES.items()):
        text = table.get(msgid)
        if not text or not text.strip():
            problems.append(f"{language}: no translation for {msgid!r} ({', '.join(where)})")
        elif Counter(PLACEHOLDER.findall(text)) != Counter(PLACEHOLDER.findall(msgid)):
            problems.append(
                f"{language}: placeholders differ in {msgid!r}: "
                f"{PLACEHOLDER.findall(msgid)} vs {PLACEHOLDER.findall(text)} in {text!r}"
            )
    stale = sorted(set(table) - set(MESSAGES))
    problems += [f"{language}: {msgid!r} is translated but no longer used" for msgid in stale]
    assert not problems, "\n".join(problems)


def test_the_placeholder_check_sees_the_usual_forms():
    assert PLACEHOLDER.findall("{name} has %s and %(n)d, 100%%") == ["{name}", "%s", "%(n)d", "%%"]


@pytest.mark.parametrize(
    ("asked", "used", "log_out"),
    [
        ("pt_BR", "pt", "Sair"),
        ("pt-br", "pt", "Sair"),
        ("pt_BR.UTF-8", "pt", "Sair"),
        ("Portuguese_Brazil", "pt", "Sair"),
        ("de-CH", "de", "Abmelden"),
        ("es", "es", "Cerrar sesión"),
        ("it_IT", "it", "Esci"),
        ("fr-FR", "fr", "Se déconnecter"),
        ("en_GB", "en", "Log out"),
        ("xx", "en", "Log out"),
        ("C", "en", "Log out"),
        ("sw", "en", "Log out"),
    ],
)
def test_activate_picks_the_language(asked, used, log_out):
    try:
        assert i18n.activate(asked) == used and i18n.current() == used
        assert i18n._("Log out") == log_out
        # a label marked N_ is translated when shown, like the GUI's relabel does
        assert i18n._(i18n.N_("Time remaining")) == (
            catalog.TABLES[used]["Time remaining"] if used != "en" else "Time remaining"
        )
    finally:
        i18n.activate("en")


def test_without_a_language_the_pcs_own_is_used(monkeypatch):
    monkeypatch.setattr(i18n.locale, "getlocale", lambda: ("German_Switzerland", "1252"))
    try:
        assert i18n.activate(None) == "de"
        assert i18n._("This computer is locked") == "Dieser Computer ist gesperrt"
    finally:
        i18n.activate("en")


def test_every_language_the_venue_can_have_is_one_the_agent_speaks():
    for code, _name in settings.LANGUAGES:
        try:
            assert i18n.activate(code) == code
            if code != "en":
                assert i18n._("Log out") != "Log out", code
        finally:
            i18n.activate("en")


@pytest.mark.django_db
def test_the_language_sent_in_welcome_is_the_venues_and_the_agent_speaks_it():
    core_services.clear_cache()
    # the first venue settings take FICHA_LANGUAGE as written, e.g. a region
    with override_settings(LANGUAGE_CODE="pt-br"):
        sent = link_services.venue()["language"]
    assert i18n.normalize(sent)[1] == "pt"
    core_services.update_settings(audit.SYSTEM, currency_locked=False, language="de")
    core_services.clear_cache()
    sent = link_services.venue()["language"]
    assert sent == "de"
    try:
        assert i18n.activate(sent) == "de"
        assert i18n._("Balance") == "Kontostand"
    finally:
        i18n.activate("en")
