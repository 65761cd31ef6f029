"""`ficha cdr import FILE | follow FILE`: the PBX's call records into booth calls."""

from __future__ import annotations

import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, connection
from rich.console import Console

from ficha.callshop import services as callshop
from ficha.cli.actors import cli_actor
from ficha.cli.progress import progress_bar, read_input
from ficha.core import audit, roles
from ficha.core.money import Money

MAX_PROBLEMS_SHOWN = 50


class Command(BaseCommand):
    help = "Import Asterisk (cdr_csv Master.csv) or FreeSWITCH (mod_cdr_csv) call records."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        i = sub.add_parser("import", help="import a CDR file (re-importing charges nothing "
                                          "twice)")
        i.add_argument("file")
        i.add_argument("--user", help="staff username acting (default: the owner)")
        f = sub.add_parser("follow", help="import a growing CDR file as the PBX writes it "
                                          "(survives log rotation); Ctrl-C stops")
        f.add_argument("file")
        f.add_argument("--interval", type=float, default=2.0,
                       help="seconds between looks at the file (default 2)")
        f.add_argument("--from-end", action="store_true",
                       help="skip what the file holds now (default: read it all; known "
                            "calls are skipped)")
        f.add_argument("--user", help="staff username acting (default: the owner)")

    def _actor(self, username: str | None) -> audit.Actor:
        actor = cli_actor(username)
        if not roles.can(actor.user, "import_cdrs"):
            raise CommandError(f"{actor.user.username} may not import call records.")
        return actor

    def handle(self, *args, action: str, **opts):
        self.err = Console(stderr=True)
        getattr(self, f"do_{action}")(**opts)

    def do_import(self, file, user=None, **_):
        actor = self._actor(user)
        data = read_input(file)
        with progress_bar(self.err) as bar:
            task = bar.add_task("Importing call records", total=None)

            def progress(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            result = callshop.import_file(actor, data, name=Path(file).name,
                                          progress=progress)
        self._report(result)
        rate = result.records / result.seconds if result.seconds else 0
        self.stdout.write(f"{result.records} records in {result.seconds:.2f} s "
                          f"({rate:,.0f}/s).")

    def _report(self, result, quiet_if_empty: bool = False) -> None:
        if quiet_if_empty and not result.records:
            return
        kind = f" ({result.source})" if result.source else ""
        money = Money(result.charged_amount, _currency()).format("en")
        self.stdout.write(
            f"{result.records} records{kind}: {result.imported} new calls "
            f"({result.answered} answered), {result.duplicates} already known, "
            f"{result.ended} live calls ended, {result.charged} prepaid calls charged "
            f"({money}), {result.session_calls} added to open booth sessions, "
            f"{result.unbilled} not charged (booth not open), "
            f"{result.problem_count} problems.")
        for problem in result.problems[:MAX_PROBLEMS_SHOWN]:
            self.stdout.write(f"  {problem}")
        if result.problem_count > MAX_PROBLEMS_SHOWN:
            self.stdout.write(f"  ... and {result.problem_count - MAX_PROBLEMS_SHOWN} more.")

    def do_follow(self, file, interval=2.0, from_end=False, user=None, **_):
        self._actor(user)
        follower = callshop.Follower(file, from_end=from_end)
        self.err.print(f"Following {file} (Ctrl-C stops).")
        try:
            while True:
                try:
                    self._report(follower.poll(), quiet_if_empty=True)
                except DatabaseError as exc:  # the database restarted: try again later
                    self.err.print(f"Database error, retrying: {exc}")
                    connection.close()
                time.sleep(max(0.1, interval))
        except KeyboardInterrupt:
            pass
        finally:
            follower.close()


def _currency() -> str:
    from ficha.core.services import currency

    return currency()
