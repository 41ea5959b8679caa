"""What the commands share: options declared once, the one place where library errors
become messages and exit codes, the progress line, and printing to a pipe."""

from __future__ import annotations

import os
import sqlite3
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
from lxml import etree

from .. import store
from ..errors import ExitCode, Interrupted, TreeindexError, visible

db_option = click.option(
    "--db", "db_path", type=click.Path(dir_okay=False, path_type=Path), default="treeindex.db",
    show_default=True, help="The index database.")
workers_option = click.option(
    "--workers", "-w", type=click.IntRange(min=0), default=None,
    help="Worker processes. [default: as many as the work is worth, at most the cores "
         "available; 0 works in this process]")
quiet_option = click.option("--quiet", "-q", is_flag=True, help="No progress bar and no summary.")


def plural(n: int, word: str, words: str | None = None) -> str:
    """'1 corpus', '2 corpora', '1,000 sentences'."""
    return f"{n:,} {word if n == 1 else (words or word + 's')}"


RESUME = "what was indexed so far is kept in {db}; run the same command again to resume."


@contextmanager
def handled(db_path: Path | None = None, progress: ProgressLine | None = None,
             interrupted: str = RESUME) -> Iterator[None]:
    """The one place where library errors become a message and an exit code."""
    try:
        yield
    except (Interrupted, KeyboardInterrupt) as e:
        if progress:
            progress.done()
        signum = getattr(e, "signum", 2)
        name = str(e) if isinstance(e, Interrupted) else "interrupted"
        click.echo(f"{name}: {interrupted.format(db=db_path)}", err=True)
        sys.exit(ExitCode.INTERRUPTED + signum)
    except TreeindexError as e:
        if progress:
            progress.done()
        raise click.ClickException(visible(str(e), newlines=True)) from e
    except sqlite3.Error as e:  # (the library translates these; a last resort)
        raise click.ClickException(str(store.database_error(e, db_path or Path("?")))) from e
    except etree.XMLSyntaxError as e:  # stored XML (input XML is the ingest's, per sentence)
        raise click.ClickException(
            f"{db_path or '?'}: not a valid treeindex index: a stored sentence is not "
            f"well-formed XML ({e}); build it again into a new --db") from e


def echo_lines(lines: Iterable[str]) -> None:
    """Print lines as they come; a reader that goes away (`| head`) ends it quietly."""
    try:
        for line in lines:
            click.echo(line)
        sys.stdout.flush()
    except BrokenPipeError:
        # Python would complain when it flushes stdout at exit: point it at nothing
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(0)


class ProgressLine:
    """One self-rewriting stderr line, at most 5 times a second, only on a terminal, never
    wider than the terminal (a wrapped line would leave a new line at every update).

    `describe(progress, seconds)` returns (fraction done, text); the ETA is added here.
    """

    def __init__(self, enabled: bool, describe: Callable[[Any, float], tuple[float, str]]
                 ) -> None:
        self.enabled = enabled
        self.describe = describe
        self.start = time.perf_counter()
        self.last = 0.0
        self.width = 0

    def __call__(self, progress: Any) -> None:
        note = getattr(progress, "note", None)
        if note:
            self.done()
            click.echo(note, err=True)
            return
        if not self.enabled:
            return
        now = time.perf_counter()
        elapsed = max(now - self.start, 1e-6)
        fraction, text = self.describe(progress, elapsed)
        if now - self.last < 0.2 and fraction < 1:
            return
        self.last = now
        eta = elapsed * (1 - fraction) / fraction if fraction > 0 else 0
        line = f"{text}  ETA {int(eta) // 60}:{int(eta) % 60:02d}"
        import shutil  # (here: a progress line is drawn; not every command's start)

        self.width = max(shutil.get_terminal_size((80, 24)).columns - 1, 10)
        click.echo("\r" + line[: self.width].ljust(self.width), nl=False, err=True)

    def done(self) -> None:
        if self.enabled and self.last:
            click.echo("\r" + " " * self.width + "\r", nl=False, err=True)
            self.last = 0.0


