"""What the commands that work through a file share: reading it, and the progress bar
long work shows (on standard error, so standard output stays the result)."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import CommandError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


def progress_bar(console: Console) -> Progress:
    """A bar a task: its label, the bar, done/total and the time so far."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


def read_input(file: str) -> bytes:
    """The whole file named on the command line; a file that cannot be read is a
    CommandError saying why."""
    try:
        return Path(file).read_bytes()
    except OSError as exc:
        raise CommandError(f"Cannot read {file}: {exc.strerror or exc}") from None
