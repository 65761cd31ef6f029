"""`ficha recharges generate | sell | export | print`."""

from __future__ import annotations

import datetime as dt
import os

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext
from rich.console import Console

from ficha.accounts import services as accounts
from ficha.cli.actors import cli_actor
from ficha.cli.progress import progress_bar
from ficha.core import audit, roles
from ficha.core.money import Money, MoneyError
from ficha.core.services import currency
from ficha.ledger import services as ledger
from ficha.recharges import printouts
from ficha.recharges import services as recharges

# A PDF keeps every page in memory until it is written (~8.5 KB a card): big batches are
# split into files of this many cards (238 A4 sheets each).
PDF_PER_FILE = 5000


class Command(BaseCommand):
    help = "Generate, sell, export and print recharge codes."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        user_help = "staff username acting (default: the owner)"

        g = sub.add_parser("generate", help="generate a batch of unsold codes")
        g.add_argument("--count", type=int, required=True, help="how many codes (1-100000)")
        g.add_argument("--amount", required=True, help="face value in major units, e.g. 500")
        exp = g.add_mutually_exclusive_group()
        exp.add_argument("--expires", help="last valid day, YYYY-MM-DD")
        exp.add_argument("--valid-days", type=int, help="valid for D days from today")
        g.add_argument("--batch", default="", help="batch label (default: generated)")
        g.add_argument("--user", help=user_help)

        s = sub.add_parser("sell", help="sell a whole batch or a range of codes")
        s.add_argument("--batch", help="batch label or id")
        s.add_argument("--from", dest="first", help="first code of a range")
        s.add_argument("--to", dest="last", help="last code of a range")
        s.add_argument("--price", help="price per code in major units (default: face value)")
        s.add_argument("--payment-method", default="cash",
                       choices=sorted(recharges.PAYMENT_METHODS))
        s.add_argument("--user", help=user_help)
        s.add_argument("--open-shift", action="store_true",
                       help="open a shift (no float) for the user if none is open")

        e = sub.add_parser("export", help="write recharges as CSV")
        e.add_argument("--status", choices=[c for c, _ in recharges.Recharge.Status.choices])
        e.add_argument("--batch", help="batch label or id")
        e.add_argument("--out", help="file to write (default: standard output)")
        e.add_argument("--user", help=user_help)

        p = sub.add_parser("print", help="print a batch as an A4 PDF or ESC/POS tickets")
        p.add_argument("--batch", required=True, help="batch label or id")
        p.add_argument("--status", choices=["unsold", "sold"],
                       help="only codes in this status (default: unsold and sold)")
        p.add_argument("--out", required=True, help="output file (.pdf, or raw bytes)")
        p.add_argument("--escpos", action="store_true", help="ESC/POS receipt tickets")
        p.add_argument("--width", type=int, choices=[58, 80], default=58,
                       help="ticket paper width in mm")
        p.add_argument("--user", help=user_help)
        p.add_argument("--per-file", type=int, default=None,
                       help=f"cards per file; more go to FILE-part001.pdf, ... "
                            f"(default {PDF_PER_FILE} for PDF, 0 = one file)")
        p.add_argument("--page-size", choices=["A4", "Letter"], default="A4",
                       help="PDF paper size")
        p.add_argument("--no-cut", action="store_true",
                       help="ESC/POS: feed past the tear bar instead of cutting")
        p.add_argument("--no-qr", action="store_true",
                       help="ESC/POS: print the address as text (printers without QR)")

    # --- helpers ----------------------------------------------------------------------
    def _actor(self, username: str | None) -> audit.Actor:
        return cli_actor(username)

    def _need(self, actor: audit.Actor, capability: str) -> None:
        if not roles.can(actor.user, capability):
            raise CommandError(f"{actor.user.username} may not do this ({capability}).")

    def _money(self, text: str) -> int:
        try:
            return Money.parse(text, currency()).minor
        except MoneyError as exc:
            raise CommandError(str(exc))

    def handle(self, *args, action: str, **opts):
        self.err = Console(stderr=True)
        try:
            getattr(self, f"do_{action}")(**opts)
        except (recharges.RechargeError, ledger.LedgerError, accounts.AccountError) as exc:
            raise CommandError(str(exc))

    # --- actions ----------------------------------------------------------------------
    def do_generate(self, count, amount, expires=None, valid_days=None, batch="", user=None,
                    **_):
        actor = self._actor(user)
        self._need(actor, "generate_recharges")
        minor = self._money(amount)
        expires_at = None
        if expires:
            try:
                expires_at = dt.date.fromisoformat(expires)
            except ValueError:
                raise CommandError(f"--expires must be YYYY-MM-DD, not {expires!r}")
        with progress_bar(self.err) as progress:
            task = progress.add_task("Generating codes", total=max(count, 0))
            made = recharges.generate(
                actor, count=count, amount=minor, expires_at=expires_at, valid_days=valid_days,
                label=batch, progress=lambda n: progress.update(task, completed=n),
            )
        expiry = f", valid until {recharges.format_time(made.expires_at)}" if made.expires_at \
            else ", no expiry"
        self.stdout.write(f"Batch {made.label}: {made.count} codes of "
                          f"{Money(made.amount, made.currency).format()}{expiry}.")

    def do_sell(self, batch=None, first=None, last=None, price=None, payment_method="cash",
                user=None, open_shift=False, **_):
        actor = self._actor(user)
        self._need(actor, "sell_recharges")
        if bool(batch) == bool(first or last):
            raise CommandError("Give either --batch or --from and --to.")
        if open_shift and ledger.current_shift(actor.user) is None:
            ledger.open_shift(actor, 0)
            self.stdout.write(f"Opened a shift for {actor.user.username}.")
        kw = {"payment_method": payment_method}
        if price:
            kw["price"] = self._money(price)
        if not batch and not (first and last):
            raise CommandError("A range needs both --from and --to.")
        try:
            if batch:
                sold = recharges.sell_batch(actor, recharges.get_batch(batch), **kw)
            else:
                sold = recharges.sell_range(actor, first, last, **kw)
        except recharges.RechargeError as exc:
            if exc.reason != "shift":
                raise
            # the service's words, and how to get past them from here (gettext: `_` is
            # the keyword arguments here)
            raise CommandError(
                f"{exc} "
                + gettext("Add --open-shift to open a shift (no float) for %(username)s.")
                % {"username": actor.user.username}) from None
        self.stdout.write(f"Sold {sold.count} codes for {Money(sold.paid, currency()).format()} "
                          f"({sold.method}).")

    def do_export(self, status=None, batch=None, out=None, user=None, **_):
        actor = self._actor(user)
        self._need(actor, "export_recharges")
        done = recharges.export(actor, recharges.RechargeQuery(status=status, batch=batch,
                                                               order="id"))
        lines = iter(done.lines)
        if out:
            fh = open(out, "w", newline="", encoding="utf-8")
        else:
            fh = self.stdout
            fh.ending = ""
        try:
            fh.write(next(lines))
            with progress_bar(self.err) as progress:
                task = progress.add_task("Exporting", total=done.count, visible=bool(out))
                for n, line in enumerate(lines, 1):
                    fh.write(line)
                    if n % 1000 == 0 or n == done.count:
                        progress.update(task, completed=n)
        finally:
            if out:
                fh.close()
        if out:
            self.stdout.write(f"Wrote {done.count} recharges to {out}.")

    def do_print(self, batch, out, status=None, escpos=False, width=58, page_size="A4",
                 no_cut=False, no_qr=False, user=None, per_file=None, **_):
        actor = self._actor(user)
        self._need(actor, "print_recharges")
        found = recharges.get_batch(batch)
        qs = recharges.search(batch=found, order="id").printable()
        rows = list(qs.filter(status=status) if status else qs)
        if not rows:
            raise CommandError("No printable codes (unsold or sold, not expired) in this "
                               "batch.")
        url = printouts.base_url()
        per = per_file if per_file is not None else (0 if escpos else PDF_PER_FILE)
        if per < 0:
            raise CommandError("--per-file must be 0 (one file) or more.")
        parts = [rows[i:i + per] for i in range(0, len(rows), per)] if per else [rows]
        stem, suffix = os.path.splitext(out)
        with progress_bar(self.err) as progress:
            task = progress.add_task("Printing", total=len(rows), visible=len(parts) > 1)
            for n, part in enumerate(parts, 1):
                if escpos:
                    data = printouts.escpos(actor, part, url, width_mm=width, cut=not no_cut,
                                            with_qr=not no_qr)
                else:
                    data = printouts.pdf(actor, part, url, title=found.label,
                                         page_size=page_size)
                path = out if len(parts) == 1 else f"{stem}-part{n:03d}{suffix}"
                with open(path, "wb") as fh:
                    fh.write(data)
                progress.advance(task, len(part))
                self.stdout.write(f"Wrote {len(part)} cards to {path} ({len(data)} bytes).")

