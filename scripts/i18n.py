#!/usr/bin/env python3
"""Translation catalogs of Ficha.

    scripts/i18n.py extract          # update locale/*/django.po from the code (needs gettext)
    scripts/i18n.py todo LANG        # untranslated or fuzzy messages of LANG as JSON
    scripts/i18n.py apply LANG FILE  # set translations from JSON {msgid: msgstr | [one, many]}
    scripts/i18n.py compile          # .po -> .mo with Babel (pure Python)
    scripts/i18n.py status           # untranslated / fuzzy counts per language

Run them with .venv/bin/python from the repository root.

The .mo files are committed so that a fresh install needs no gettext tools.
"""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PKG = ROOT / "src" / "ficha"
LOCALE = PKG / "locale"
LANGS = ["en", "fr", "es", "it", "pt", "de"]
IGNORE = ["tests/*", "*/migrations/*", "settings_test.py", "locale/*"]


def po_path(lang: str) -> Path:
    return LOCALE / lang / "LC_MESSAGES" / "django.po"


def extract(target_dir: Path | None = None, langs: list[str] | None = None) -> None:
    """Run Django's makemessages over the package (into ``target_dir``'s locale if given)."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ficha.settings")
    import django
    from django.core.management import call_command

    django.setup()
    cwd = os.getcwd()
    os.chdir(target_dir or PKG)
    try:
        (Path.cwd() / "locale").mkdir(exist_ok=True)
        call_command("makemessages", locale=langs or LANGS, ignore_patterns=IGNORE,
                     no_obsolete=True, verbosity=0, add_location="file")
    finally:
        os.chdir(cwd)


def compile_mo(lang: str) -> bytes:
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    with open(po_path(lang), "rb") as fh:
        catalog = read_po(fh, locale=lang)
    buf = io.BytesIO()
    write_mo(buf, catalog, use_fuzzy=False)
    return buf.getvalue()


def compile_all() -> None:
    for lang in LANGS:
        data = compile_mo(lang)
        po_path(lang).with_suffix(".mo").write_bytes(data)
        print(f"{lang}: {len(data)} bytes")


PLURAL_FORMS = {
    "en": "nplurals=2; plural=(n != 1);",
    "fr": "nplurals=2; plural=(n > 1);",
    "es": "nplurals=2; plural=(n != 1);",
    "it": "nplurals=2; plural=(n != 1);",
    "pt": "nplurals=2; plural=(n != 1);",
    "de": "nplurals=2; plural=(n != 1);",
}


def fix_headers() -> None:
    """Set each catalog's language and plural forms (makemessages leaves placeholders)."""
    for lang in LANGS:
        path = po_path(lang)
        out: list[str] = []
        lines = iter(path.read_text(encoding="utf-8").split("\n"))
        for line in lines:
            for key, value in (("Plural-Forms", PLURAL_FORMS[lang]), ("Language", lang)):
                if line.startswith(f'"{key}:'):
                    while not line.endswith('\\n"'):  # a header value continued on more lines
                        line = next(lines)
                    line = f'"{key}: {value}\\n"'
            if line == '"Content-Type: text/plain; charset=CHARSET\\n"':
                line = '"Content-Type: text/plain; charset=UTF-8\\n"'
            out.append(line)
        text = "\n".join(out).replace('#, fuzzy\nmsgid ""\nmsgstr ""', 'msgid ""\nmsgstr ""', 1)
        path.write_text(text, encoding="utf-8")


def fill_english() -> None:
    """English is the source language: each msgstr is its msgid."""
    from babel.messages.pofile import read_po, write_po

    path = po_path("en")
    with open(path, "rb") as fh:
        catalog = read_po(fh, locale="en")
    for msg in catalog:
        if not msg.id:
            continue
        msg.string = msg.id if not isinstance(msg.id, tuple) else tuple(msg.id)
        msg.flags.discard("fuzzy")
    with open(path, "wb") as fh:
        write_po(fh, catalog, width=100, include_previous=False)


def _read(lang: str):
    from babel.messages.pofile import read_po

    with open(po_path(lang), "rb") as fh:
        return read_po(fh, locale=lang)


def _write(lang: str, catalog) -> None:
    from babel.messages.pofile import write_po

    with open(po_path(lang), "wb") as fh:
        write_po(fh, catalog, width=100, include_previous=False)


def _key(msg) -> str:
    """A message's key in the JSON files: its msgid, after "context\x04" when it has one."""
    msgid = msg.id if isinstance(msg.id, str) else msg.id[0]
    return f"{msg.context}\x04{msgid}" if msg.context else msgid


def todo(lang: str) -> dict:
    out = {}
    for msg in _read(lang):
        if not msg.id:
            continue
        strings = msg.string if isinstance(msg.string, tuple) else (msg.string,)
        if msg.fuzzy or not all(strings):
            out[_key(msg)] = list(msg.id) if isinstance(msg.id, tuple) else ""
    return out


def apply(lang: str, path: str) -> int:
    import json

    wanted = json.loads(Path(path).read_text(encoding="utf-8"))
    catalog = _read(lang)
    done = 0
    for msg in catalog:
        if not msg.id:
            continue
        key = _key(msg)
        if key not in wanted or not wanted[key]:
            continue
        value = wanted[key]
        if isinstance(msg.id, tuple):
            if isinstance(value, str):
                value = [value, value]
            msg.string = tuple(value)
        else:
            msg.string = value if isinstance(value, str) else value[0]
        msg.flags.discard("fuzzy")
        done += 1
    _write(lang, catalog)
    return done


def status() -> int:
    from babel.messages.pofile import read_po

    bad = 0
    for lang in LANGS:
        with open(po_path(lang), "rb") as fh:
            catalog = read_po(fh, locale=lang)
        msgs = [m for m in catalog if m.id]
        untranslated = [m for m in msgs if not all(m.string if isinstance(m.string, tuple)
                                                   else [m.string])]
        fuzzy = [m for m in msgs if m.fuzzy]
        bad += len(untranslated) + len(fuzzy)
        print(f"{lang}: {len(msgs)} messages, {len(untranslated)} untranslated, "
              f"{len(fuzzy)} fuzzy")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "src"))
    cmd = sys.argv[1] if len(sys.argv) > 1 else "status"
    if cmd == "extract":
        extract()
        fix_headers()
        fill_english()
    elif cmd == "todo":
        import json

        print(json.dumps(todo(sys.argv[2]), ensure_ascii=False, indent=1))
    elif cmd == "apply":
        print(f"{apply(sys.argv[2], sys.argv[3])} messages set")
    elif cmd == "compile":
        compile_all()
    elif cmd == "status":
        sys.exit(status())
    else:
        sys.exit(__doc__)
