"""Who a command-line action is recorded as (audit log)."""

from __future__ import annotations

import getpass

from django.contrib.auth import get_user_model
from django.core.management.base import CommandError

from ficha.core import audit, roles


def cli_actor(username: str | None) -> audit.Actor:
    """The staff member named ``username``, else the first owner login (not an API token's
    user), as an actor labelled with the operating-system user running the command."""
    User = get_user_model()
    if username:
        user = User.objects.filter(username=username, is_active=True).first()
        if user is None:
            raise CommandError(f"No active staff member named {username!r}.")
    else:
        user = (User.objects.filter(groups__name=roles.OWNER, is_active=True,
                                    api_token__isnull=True).order_by("pk").first())
        if user is None:
            raise CommandError("No owner login yet: run `ficha init` once, or pass --user.")
    return audit.Actor(user=user, source="cli", label=f"cli {getpass.getuser()}")
