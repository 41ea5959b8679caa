"""The `treeindex` command: a thin click layer over the library."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from . import __version__
from .errors import Interrupted, TreeindexError
from .ingest import Progress, ingest

DB_OPTION = click.option(
    "--db",
    "db_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default="treeindex.db",
    show_default=True,
    help="The index database.",
)

EXIT_SKIPPED = 3
EXIT_INTERRUPTED = 128  # plus the signal number: 130 for Ctrl-C, 143 for SIGTERM


@click.group()
@click.version_option(__version__, prog_name="treeindex")
def cli() -> None:
    """Index the subtrees of Alpino treebanks in SQLite, and export them per category.

    \b
    Example:
        treeindex ingest corpus.xml
        treeindex export --cat np out/
    """


class _ProgressLine:
    """One self-rewriting stderr line: bytes, MB/s, sentences/s, ETA (only on a terminal)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.start = time.perf_counter()
        self.last = 0.0

    def __call__(self, p: Progress) -> None:
        if not self.enabled:
            return
        now = time.perf_counter()
        if now - self.last < 0.2 and p.bytes_done < p.bytes_total:
            return
        self.last = now
        elapsed = max(now - self.start, 1e-6)
        rate = p.bytes_done / elapsed
        eta = (p.bytes_total - p.bytes_done) / rate if rate > 0 else 0
        pct = 100.0 * p.bytes_done / p.bytes_total if p.bytes_total else 100.0
        line = (
            f"{p.corpus[:24]:<24} {pct:5.1f}%  "
            f"{p.bytes_done / 1e6:,.1f}/{p.bytes_total / 1e6:,.1f} MB"
            f"  {rate / 1e6:.1f} MB/s  {p.sentences / elapsed:,.0f} sent/s"
            f"  ETA {int(eta) // 60}:{int(eta) % 60:02d}"
        )
        click.echo("\r" + line.ljust(100), nl=False, err=True)

    def done(self) -> None:
        if self.enabled and self.last:
            click.echo("\r" + " " * 100 + "\r", nl=False, err=True)


@cli.command(name="ingest")
@click.argument(
    "paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path)
)
@DB_OPTION
@click.option("--workers", "-w", type=click.IntRange(min=0), default=None,
              help="Worker processes. [default: the cores available; 0 parses in this process]")
@click.option("--max-children", type=click.IntRange(min=1), default=7, show_default=True,
              help="Keep nodes with at most this many node children.")
@click.option("--max-nodes", type=click.IntRange(min=1), default=1000, show_default=True,
              help="Keep subtrees of at most this many nodes.")
@click.option("--replace", is_flag=True,
              help="Index the given corpora again from scratch, dropping what was indexed.")
@click.option("--chunk-mb", type=click.FloatRange(min=0.01), default=1.0, show_default=True,
              help="Size of the byte ranges handed to workers.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar and no summary.")
def ingest_command(paths: tuple[Path, ...], db_path: Path, workers: int | None,
                   max_children: int, max_nodes: int, replace: bool, chunk_mb: float,
                   quiet: bool) -> None:
    """Index treebank files or directories of them into an SQLite database.

    PATHS are <treebank> files of <alpino_ds> sentences (.xml or .xml.gz), one-sentence
    files, or directories of either. An interrupted ingest continues where it stopped when
    run again with the same arguments; a corpus that is complete is skipped.

    Exit codes: 0 all indexed; 3 indexed, but malformed sentences or files were skipped
    (see `treeindex errors`); 1 nothing done (bad input or database); 130 interrupted.

    \b
    Example:
        treeindex ingest --db lassy.db Lassy-Large.xml.gz
    """
    progress = _ProgressLine(enabled=not quiet and sys.stderr.isatty())
    try:
        report = ingest(
            db_path, list(paths), max_children=max_children, max_nodes=max_nodes,
            workers=workers, replace=replace, chunk_bytes=int(chunk_mb * (1 << 20)),
            progress_callback=progress,
        )
    except Interrupted as e:
        progress.done()
        click.echo(
            f"{e}: what was indexed so far is kept in {db_path}; run the same command again "
            "to resume.",
            err=True,
        )
        sys.exit(EXIT_INTERRUPTED + e.signum)
    except TreeindexError as e:
        progress.done()
        raise click.ClickException(str(e)) from e
    progress.done()
    if not quiet:
        for path, reason in report.skipped:
            click.echo(f"skipped {path}: {reason}", err=True)
        for c in report.corpora:
            if c.status == "complete":
                click.echo(f"{c.name}: already complete ({c.total_sentences:,} sentences), "
                           "nothing to do")
            else:
                click.echo(
                    f"{c.name}: {c.status}, {c.sentences:,} sentences and {c.subtrees:,} "
                    f"subtrees added ({c.total_sentences:,} sentences in all)"
                    + (f", {c.errors:,} malformed sentences skipped" if c.errors else "")
                )
        click.echo(f"done in {report.seconds:.1f} s, index: {db_path}")
    if report.exit_code:
        if report.errors:
            click.echo(
                f"{report.errors:,} malformed sentences were skipped; "
                f"`treeindex errors --db {db_path}` lists them", err=True,
            )
        sys.exit(EXIT_SKIPPED)


def main() -> None:  # pragma: no cover
    cli()
