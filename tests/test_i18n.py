"""Every user-facing string is translated in all six catalogs (en fr es it pt de)."""

from __future__ import annotations

import io
import re
import shutil
import sys
from pathlib import Path

import pytest
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import i18n  # noqa: E402

PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]|\{(\w*)\}")


def _catalog(lang: str):
    with open(i18n.po_path(lang), "rb") as fh:
        return read_po(fh, locale=lang)


@pytest.mark.parametrize("lang", i18n.LANGS)
def test_catalog_is_complete_and_not_fuzzy(lang):
    catalog = _catalog(lang)
    missing = []
    for msg in catalog:
        if not msg.id:
            continue
        strings = msg.string if isinstance(msg.string, tuple) else (msg.string,)
        if msg.fuzzy or not all(s.strip() for s in strings):
            missing.append(msg.id if isinstance(msg.id, str) else msg.id[0])
    assert not missing, f"{lang}: {len(missing)} untranslated or fuzzy: {missing[:10]}"


@pytest.mark.parametrize("lang", i18n.LANGS)
def test_translations_keep_their_placeholders(lang):
    bad = []
    for msg in _catalog(lang):
        if not msg.id:
            continue
        ids = msg.id if isinstance(msg.id, tuple) else (msg.id,)
        strings = msg.string if isinstance(msg.string, tuple) else (msg.string,)
        wanted = {m for i in ids for m in PLACEHOLDER.findall(i)}
        for s in strings:
            if s and {m for m in PLACEHOLDER.findall(s)} - wanted:
                bad.append((ids[0], s))
            if s and not isinstance(msg.id, tuple) and set(PLACEHOLDER.findall(s)) != wanted:
                bad.append((ids[0], s))
    assert not bad, bad[:5]


def _messages(mo_bytes: bytes) -> dict:
    """What a compiled catalog says: each (context, msgid) with its translation(s) and the
    plural rule. Byte details that vary between Babel releases (the ``Generated-By`` header,
    hash table layout) do not matter to a reader, so they are left out."""
    catalog = read_mo(io.BytesIO(mo_bytes))
    messages = {(m.context, tuple(m.id) if isinstance(m.id, (list, tuple)) else m.id):
                tuple(m.string) if isinstance(m.string, (list, tuple)) else m.string
                for m in catalog if m.id}
    return {"plural": catalog.plural_forms, "messages": messages}


@pytest.mark.parametrize("lang", i18n.LANGS)
def test_compiled_catalog_is_up_to_date(lang):
    mo = i18n.po_path(lang).with_suffix(".mo")
    assert mo.exists(), f"run scripts/i18n.py compile ({mo} missing)"
    committed = _messages(mo.read_bytes())
    fresh = _messages(i18n.compile_mo(lang))
    assert committed["plural"] == fresh["plural"], "run scripts/i18n.py compile"
    stale = sorted(str(k) for k in fresh["messages"].keys() ^ committed["messages"].keys())
    changed = sorted(str(k) for k in fresh["messages"].keys() & committed["messages"].keys()
                     if fresh["messages"][k] != committed["messages"][k])
    assert not stale and not changed, (
        f"{lang}: the .mo differs from the .po ({len(stale)} added/removed, {len(changed)} "
        f"changed, e.g. {(stale + changed)[:3]}): run scripts/i18n.py compile")


def test_catalog_comparison_ignores_the_babel_version_but_not_a_translation():
    """A catalog compiled by another Babel release is still up to date; a changed
    translation is not."""
    from babel.messages.catalog import Catalog
    from babel.messages.mofile import write_mo

    def compiled(generator: str, text: str) -> bytes:
        catalog = Catalog(locale="fr")
        catalog.add("Balance", text)
        buf = io.BytesIO()
        write_mo(buf, catalog)
        return buf.getvalue().replace(b"Babel", generator.encode(), 1)

    assert compiled("Babel", "Solde") != compiled("Babex", "Solde")
    assert _messages(compiled("Babel", "Solde")) == _messages(compiled("Babex", "Solde"))
    assert _messages(compiled("Babel", "Solde")) != _messages(compiled("Babel", "Crédit"))


@pytest.mark.skipif(shutil.which("xgettext") is None,
                    reason="GNU gettext (xgettext) is not installed: cannot extract strings")
def test_every_string_in_the_code_is_in_the_catalogs(tmp_path):
    copy = tmp_path / "ficha"
    shutil.copytree(i18n.PKG, copy, ignore=shutil.ignore_patterns("locale", "__pycache__"))
    i18n.extract(copy, ["fr"])
    with open(copy / "locale" / "fr" / "LC_MESSAGES" / "django.po", "rb") as fh:
        extracted = {m.id for m in read_po(fh) if m.id}
    known = {m.id for m in _catalog("fr") if m.id}
    missing = sorted(str(m) for m in extracted - known)
    assert not missing, f"{len(missing)} strings not in the catalogs (scripts/i18n.py extract): "\
        f"{missing[:10]}"


def test_console_speaks_french(client, db):
    from django.utils import translation

    with translation.override("fr"):
        from django.utils.translation import gettext

        assert gettext("Owner") != "Owner"
