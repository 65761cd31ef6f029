"""The ``ficha`` command.

Every subcommand is a Django management command in this app (``serve``, ``web``,
``worker``, ``token``, ``recharges``, ``rates``, ``cdr``, ...); ``ficha manage ...``
reaches all of Django's.
"""

from __future__ import annotations

import os
import sys

USAGE = """usage: ficha COMMAND [options]

  serve [--demo]    migrate, make sure an owner login exists, run web server + worker
  init              migrate, make sure an owner login exists (before web and worker apart)
  web               run the web server only
  worker            run the periodic worker only
  radiusd           run the RADIUS server for hotspot gateways only
  token ...         create, list or revoke API tokens
  recharges ...     generate, sell, export and print recharge codes
  rates ...         import, export, list and try call-shop rate decks
  cdr ...           import or follow the PBX's call records (Asterisk, FreeSWITCH)
  manage ...        any Django management command (migrate, shell, ...)

Run `ficha COMMAND --help` for a command's options.
"""


def only_help(argv: list[str]) -> bool:
    """Whether Django will only print help or its version for ``argv`` (the words after
    ``ficha``, ``manage`` taken off) and run nothing: ``help ...``, or ``-h``, ``--help``
    (or an abbreviation of it) or ``--version`` before any ``--``."""
    words = argv[:argv.index("--")] if "--" in argv else argv
    if not words or words[0] == "help":
        return True
    return any(w == "-h" or w == "--version" or (len(w) > 2 and "--help".startswith(w))
               for w in words)


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ficha.settings")
    if not argv or argv[0] in {"-h", "--help", "help"}:
        sys.stdout.write(USAGE)
        return
    if argv[0] == "manage":
        argv = argv[1:] or ["help"]
    if only_help(argv):
        # Help needs the settings loaded but must not create the data directory, its
        # secret key or its static folder: only a command that runs does.
        from ficha.core import files

        files.HELP_ONLY = True
    from django.core.management import execute_from_command_line

    execute_from_command_line(["ficha", *argv])
