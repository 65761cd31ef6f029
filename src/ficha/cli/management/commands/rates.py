"""`ficha rates import | export | list | quote | plan`: call-shop rate decks."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from rich.console import Console

from ficha.callshop import services as callshop
from ficha.callshop.rating import format_micro
from ficha.cli.actors import cli_actor
from ficha.cli.progress import progress_bar, read_input
from ficha.core import audit, roles
from ficha.core.money import Money

DEFAULT_DECK = "default"
MAX_ERRORS_SHOWN = 50


class Command(BaseCommand):
    help = "Import, export, list and try call-shop rate decks."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

        i = sub.add_parser("import", help="replace a deck's rates with a CSV file (all or nothing)")
        i.add_argument("file", help="CSV file: prefix;description;price, or the full form")
        i.add_argument("--deck", default=DEFAULT_DECK,
                       help=f"deck name, created if new (default {DEFAULT_DECK!r})")
        i.add_argument("--preview", action="store_true",
                       help="check the file and show what would be imported; write nothing")
        i.add_argument("--user", help="staff username acting (default: the owner)")

        e = sub.add_parser("export", help="write a deck as CSV (the full form)")
        e.add_argument("--deck", default=DEFAULT_DECK)
        e.add_argument("--out", help="file to write (default: standard output)")

        sub.add_parser("list", help="list the decks")

        q = sub.add_parser("quote", help="which rate a number matches, and what a call costs")
        q.add_argument("number", help="the number as dialled")
        q.add_argument("seconds", type=int, help="answered duration in seconds")
        q.add_argument("--deck", default=DEFAULT_DECK)

        p = sub.add_parser("plan", help="show or change the venue's dialing plan "
                                        "(how dialled numbers become E.164)")
        p.add_argument("--international-prefix", help='e.g. "00" ("011" in North America)')
        p.add_argument("--national-prefix", help='the trunk prefix, e.g. "0"; "" for none')
        p.add_argument("--country-code", help='e.g. "33" for France, "225" for Côte d\'Ivoire')
        p.add_argument("--user", help="staff username acting (default: the owner)")

    def _actor(self, username: str | None) -> audit.Actor:
        return cli_actor(username)

    def _deck(self, name: str):
        deck = callshop.find_deck(name)
        if deck is None:
            raise CommandError(f"There is no deck named {name!r}.")
        return deck

    def handle(self, *args, action: str, **opts):
        self.err = Console(stderr=True)
        try:
            getattr(self, f"do_{action}")(**opts)
        except callshop.CallshopError as exc:
            raise CommandError(str(exc))

    def do_import(self, file, deck=DEFAULT_DECK, preview=False, user=None, **_):
        actor = self._actor(user)
        if not roles.can(actor.user, "manage_settings"):
            raise CommandError(f"{actor.user.username} may not change rate decks.")
        data = read_input(file)
        with progress_bar(self.err) as bar:
            tasks: dict[str, int] = {}

            def progress(stage: str, done: int, total: int) -> None:
                if stage not in tasks:
                    label = "Reading rows" if stage == "read" else "Writing rates"
                    tasks[stage] = bar.add_task(label, total=total)
                bar.update(tasks[stage], completed=done, total=total)

            result = callshop.import_deck(actor, data, deck, preview=preview, progress=progress)
        sep = {"\t": "tab"}.get(result.separator, result.separator)
        self.stdout.write(
            f"{result.lines} lines read ({'header, ' if result.header else ''}separator "
            f"{sep!r}, columns: {', '.join(result.columns)}): {result.rows} good rows, "
            f"{len(result.errors)} errors.")
        if result.errors:
            for error in result.errors[:MAX_ERRORS_SHOWN]:
                self.stdout.write(f"  {error}")
            if len(result.errors) > MAX_ERRORS_SHOWN:
                self.stdout.write(f"  ... and {len(result.errors) - MAX_ERRORS_SHOWN} more.")
            raise CommandError(f"Nothing imported: fix the {len(result.errors)} errors above.")
        if result.preview:
            for row in result.sample[:10]:
                self.stdout.write(f"  {row[0]:<12} {row[1][:30]:<30} {format_micro(row[2])}/min "
                                  f"{row[4]}/{row[5]}")
            what = "a new deck" if result.created else f"replacing {result.replaced} rates"
            self.stdout.write(f"Preview only: {result.rows} rates would go to deck "
                              f"{result.deck_name!r} ({what}). Nothing written.")
            return
        made = " (new deck)" if result.created else f", replacing {result.replaced} rates"
        self.stdout.write(f"Deck {result.deck_name!r}: {result.written} rates imported{made} "
                          f"in {result.seconds:.2f} s.")

    def do_export(self, deck=DEFAULT_DECK, out=None, **_):
        the_deck = self._deck(deck)
        if out:
            with open(out, "w", encoding="utf-8", newline="") as fh:
                callshop.export_deck(the_deck, fh)
            self.stdout.write(f"Wrote {the_deck.row_count} rates of {the_deck.name!r} to {out}.")
        else:
            self.stdout.write(callshop.export_deck(the_deck), ending="")

    def do_list(self, **_):
        decks = callshop.Deck.objects.all()
        if not decks:
            self.stdout.write("No rate decks yet: `ficha rates import FILE --deck NAME`.")
        for deck in decks:
            group = f", price group {deck.price_group}" if deck.price_group else ""
            convention = ", whole-duration rounding" if deck.whole_duration else ""
            self.stdout.write(f"{deck.name}: {deck.row_count} rates, {deck.currency}, "
                              f"rounding {deck.rounding}{convention}{group}")

    def do_quote(self, number, seconds, deck=DEFAULT_DECK, **_):
        result = callshop.quote(self._deck(deck), number, seconds)
        self.stdout.write(f"{result.dialled} → E.164 {result.digits} ({result.rule})")
        tried = [f"{c.prefix}{' ✓' if c.chosen else '' if c.rows else ' (none)'}"
                 for c in result.candidates]
        if tried:
            self.stdout.write(f"  prefixes tried: {', '.join(tried)}")
        if result.rated is None:
            raise CommandError(f"No rate in deck {deck!r} for {result.digits}.")
        for line in result.lines:
            self.stdout.write(f"  {line}")
        rated = result.rated
        self.stdout.write(f"{rated.billed_seconds} s billed: "
                          f"{Money(rated.cost, rated.currency).format('en')}")

    def do_plan(self, international_prefix=None, national_prefix=None, country_code=None,
                user=None, **_):
        row = callshop.dialing_plan()
        values = {"international_prefix": international_prefix,
                  "national_prefix": national_prefix, "country_code": country_code}
        if any(v is not None for v in values.values()):
            actor = self._actor(user)
            if not roles.can(actor.user, "manage_settings"):
                raise CommandError(f"{actor.user.username} may not change the dialing plan.")
            row = callshop.update_dialing_plan(
                actor, **{k: getattr(row, k) if v is None else v for k, v in values.items()})
        self.stdout.write(
            f"Dialing plan: international prefix {row.international_prefix or '—'}, national "
            f"trunk prefix {row.national_prefix or '—'}, country code {row.country_code or '—'}")
