"""``ficha init``: prepare the database for production (migrate, make sure an owner exists).

Run it once before starting ``ficha web`` and ``ficha worker`` as separate services (and
after each upgrade); running it again changes nothing. ``ficha serve`` does the same at
every start.
"""

from __future__ import annotations

import os

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from ficha.accounts import services as accounts


def initialise(command: BaseCommand) -> tuple[object, str | None]:
    """Migrate, then create the owner login if there is none (its password printed once,
    or taken from FICHA_OWNER_PASSWORD)."""
    call_command("migrate", interactive=False, verbosity=0)
    user, generated = accounts.ensure_owner(os.environ.get("FICHA_OWNER_PASSWORD") or None)
    if generated:
        command.stdout.write(command.style.WARNING(
            "\n  Owner login created — this password is shown only once:\n"
            f"    username: {user.get_username()}\n    password: {generated}\n"
        ))
    return user, generated


class Command(BaseCommand):
    help = ("Migrate the database and make sure an owner login exists (prints a new "
            "owner's password once, or uses FICHA_OWNER_PASSWORD); safe to run again.")

    def handle(self, *args, **opts):
        self.stdout.write(f"Data directory: {settings.DATA_DIR}")
        user, generated = initialise(self)
        if not generated:
            self.stdout.write(f"Owner login: {user.get_username()}")
        self.stdout.write(self.style.SUCCESS(
            "Database ready. Start the services: `ficha web` and `ficha worker`."
        ))
