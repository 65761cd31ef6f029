from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.translation import gettext as _

from ficha.accounts import tokens
from ficha.core import audit, roles

CLI_ACTOR = audit.Actor(source="cli", label="ficha token")


def _when(value) -> str:
    if value is None:
        return "-"
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M")


class Command(BaseCommand):
    help = "Create, list or revoke API tokens for integrations."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", metavar="{create,list,revoke}")
        sub.required = True
        create = sub.add_parser("create", help="create a token and print it once")
        create.add_argument("name", help="a name for the integration, e.g. website")
        create.add_argument(
            "--role", required=True,
            help=f"the token's role: {', '.join(roles.TOKEN_ROLES)}",
        )
        create.add_argument("--quiet", action="store_true",
                            help="print only the token (for scripts)")
        listing = sub.add_parser("list", help="list tokens")
        listing.add_argument("--active", action="store_true", help="hide revoked tokens")
        revoke = sub.add_parser("revoke", help="revoke a token; it stops working at once")
        revoke.add_argument("name")

    def handle(self, *args, action: str, **opts):
        return getattr(self, f"_{action}")(**opts)

    def _create(self, name: str, role: str, quiet: bool = False, **opts):
        roles.sync_roles()
        try:
            token, plaintext = tokens.create_token(CLI_ACTOR, name, role)
        except tokens.TokenError as exc:
            raise CommandError(str(exc))
        if quiet:
            self.stdout.write(plaintext)
            return
        self.stdout.write(
            _("Token “%(name)s” created with role %(role)s.") % {"name": token.name,
                                                                  "role": token.role}
            + "\n" + _("Copy it now: it is shown only this once and cannot be recovered.")
            + "\n"
        )
        self.stdout.write(self.style.SUCCESS(f"    {plaintext}\n"))
        self.stdout.write(_("Send it as the header:  Authorization: Bearer <token>"))

    def _list(self, active: bool = False, **opts):
        rows = list(tokens.list_tokens(include_revoked=not active))
        if not rows:
            self.stdout.write(_("No API tokens."))
            return
        header = (_("NAME"), _("ROLE"), _("PREFIX"), _("CREATED"), _("LAST USED"),
                  _("STATUS"))
        table = [header] + [
            (t.name, t.role, t.prefix + "…", _when(t.created_at), _when(t.last_used_at),
             _("active") if t.is_active
             else _("revoked %(when)s") % {"when": _when(t.revoked_at)})
            for t in rows
        ]
        widths = [max(len(row[i]) for row in table) for i in range(len(header))]
        for row in table:
            cells = (cell.ljust(w) for cell, w in zip(row, widths, strict=True))
            self.stdout.write("  ".join(cells).rstrip())

    def _revoke(self, name: str, **opts):
        token = tokens.find_token(name)
        if token is None:
            raise CommandError(_("No active token named “%(name)s”.") % {"name": name})
        try:
            tokens.revoke_token(CLI_ACTOR, token)
        except tokens.TokenError as exc:
            raise CommandError(str(exc))
        self.stdout.write(_("Token “%(name)s” (%(prefix)s…) revoked.")
                          % {"name": token.name, "prefix": token.prefix})
