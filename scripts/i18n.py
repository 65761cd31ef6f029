#!/usr/bin/env python3
"""Translation catalogs of Ficha.

    .venv/bin/python scripts/i18n.py extract   # update src/ficha/locale/*/django.po (needs GNU gettext)
    .venv/bin/python scripts/i18n.py compile   # .po -> .mo with Babel (pure Python)
    .venv/bin/python scripts/i18n.py status    # untranslated / fuzzy counts per language

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
    elif cmd == "compile":
        compile_all()
    elif cmd == "status":
        sys.exit(status())
    else:
        sys.exit(__doc__)
