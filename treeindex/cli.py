"""The `treeindex` command: a thin click layer over the library."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from . import __version__
from .errors import Interrupted, TreeindexError
from .export import Progress as ExportProgress
from .export import export
from .ingest import Progress, ingest
from .query import errors, format_csv, format_json, format_nl, format_table, run_query, stats

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
    """One self-rewriting stderr line, at most 5 times a second, only on a terminal.

    `describe(progress, seconds)` returns (fraction done, text); the ETA is added here.
    """

    WIDTH = 100

    def __init__(self, enabled: bool, describe: Callable[[Any, float], tuple[float, str]]
                 ) -> None:
        self.enabled = enabled
        self.describe = describe
        self.start = time.perf_counter()
        self.last = 0.0

    def __call__(self, progress: Any) -> None:
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
        click.echo("\r" + line.ljust(self.WIDTH), nl=False, err=True)

    def done(self) -> None:
        if self.enabled and self.last:
            click.echo("\r" + " " * self.WIDTH + "\r", nl=False, err=True)


def _ingest_line(p: Progress, elapsed: float) -> tuple[float, str]:
    fraction = p.bytes_done / p.bytes_total if p.bytes_total else 1.0
    return fraction, (
        f"{p.corpus[:24]:<24} {100 * fraction:5.1f}%  "
        f"{p.bytes_done / 1e6:,.1f}/{p.bytes_total / 1e6:,.1f} MB"
        f"  {p.bytes_done / 1e6 / elapsed:.1f} MB/s  {p.sentences / elapsed:,.0f} sent/s"
    )


def _export_line(p: ExportProgress, elapsed: float) -> tuple[float, str]:
    fraction = p.subtrees_done / p.subtrees_total if p.subtrees_total else 1.0
    return fraction, (f"{p.corpus[:24]:<24} {100 * fraction:5.1f}%  {p.subtrees_done:,} trees"
                      f"  {p.subtrees_done / elapsed:,.0f} trees/s")


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
@click.option("--chunk-mb", type=click.FloatRange(min=0.01), default=2.0, show_default=True,
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
    progress = _ProgressLine(not quiet and sys.stderr.isatty(), _ingest_line)
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


@cli.command(name="export")
@click.argument("outdir", type=click.Path(file_okay=False, path_type=Path))
@DB_OPTION
@click.option("--cat", "cats", multiple=True, help="A category to export (repeatable).")
@click.option("--all", "all_cats", is_flag=True, help="Export every category.")
@click.option("--corpus", "corpora", multiple=True,
              help="Only this corpus (repeatable). [default: all corpora]")
@click.option("--with-sentence", is_flag=True,
              help="Add sentid and sentence attributes to every <tree>.")
@click.option("--force", is_flag=True, help="Replace output files that exist.")
@click.option("--workers", "-w", type=click.IntRange(min=0), default=None,
              help="Worker processes. [default: the cores available; 0 works in this process]")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar and no summary.")
def export_command(outdir: Path, db_path: Path, cats: tuple[str, ...], all_cats: bool,
                   corpora: tuple[str, ...], with_sentence: bool, force: bool,
                   workers: int | None, quiet: bool) -> None:
    """Write per-category tree files from the index: OUTDIR/<corpus>/<corpus>-<cat>-trees.xml.

    Each file holds <tree index="<cat>-<n>"> elements in document order, each with a copy of
    the subtree's <node> exactly as in the input. Works while an ingest is running (exports
    what was committed, and says so).

    \b
    Example:
        treeindex export --cat np --cat pp out/
        treeindex export --all --corpus cdb out/
    """
    if bool(cats) == all_cats:
        raise click.UsageError("give one or more --cat CAT, or --all")
    bar = _ProgressLine(not quiet and sys.stderr.isatty(), _export_line)
    try:
        report = export(db_path, outdir, cats=list(cats) or None, corpora=list(corpora) or None,
                        with_sentence=with_sentence, force=force, workers=workers,
                        progress_callback=bar)
    except KeyboardInterrupt:
        bar.done()
        click.echo("interrupted: no incomplete output file was left behind", err=True)
        sys.exit(EXIT_INTERRUPTED + 2)
    except TreeindexError as e:
        bar.done()
        raise click.ClickException(str(e)) from e
    bar.done()
    for name in report.incomplete:
        click.echo(f"note: corpus {name} is still being ingested (or was interrupted); "
                   "exported what was committed so far", err=True)
    if not quiet:
        click.echo(f"wrote {report.subtrees:,} trees to {len(report.files):,} files in {outdir}")


@cli.command(name="query")
@click.argument("sql")
@DB_OPTION
@click.option("--csv", "fmt", flag_value="csv", help="Comma-separated values, with a header.")
@click.option("--json", "fmt", flag_value="json", help="One JSON array of objects.")
@click.option("--nl", "fmt", flag_value="nl", help="One JSON object per line.")
@click.option("--table", "fmt", flag_value="table", default=True,
              help="An aligned table. [default]")
def query_command(sql: str, db_path: Path, fmt: str) -> None:
    """Run a read-only SQL query on the index and print the rows.

    Tables and views are described in docs/schema.md; writing statements are refused.

    \b
    Example:
        treeindex query "SELECT cat, sum(subtrees) FROM category_counts GROUP BY cat"
        treeindex query --csv "SELECT * FROM subtrees WHERE pattern = 'det:lid hd:n'"
    """
    try:
        result = run_query(db_path, sql)
        formatter = {"table": format_table, "csv": format_csv, "json": format_json,
                     "nl": format_nl}[fmt]
        for line in formatter(result):
            click.echo(line)
    except TreeindexError as e:
        raise click.ClickException(str(e)) from e


@cli.command(name="stats")
@DB_OPTION
@click.option("--top", type=click.IntRange(min=1), default=15, show_default=True,
              help="How many categories to show.")
def stats_command(db_path: Path, top: int) -> None:
    """Show corpora, sentence and subtree totals, the top categories and errors.

    \b
    Example:
        treeindex stats --db lassy.db --top 25
    """
    try:
        s = stats(db_path, top)
    except TreeindexError as e:
        raise click.ClickException(str(e)) from e
    rows = [(c[0], c[1], c[2], f"{c[3]:,}", f"{c[4]:,}", f"{c[5]:,}") for c in s.corpora]
    header = ("corpus", "kind", "state", "sentences", "subtrees", "errors")
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(6)]
    for r in [header, *rows]:
        click.echo("  ".join(str(v).ljust(w) if i < 3 else str(v).rjust(w)
                             for i, (v, w) in enumerate(zip(r, widths))).rstrip())
    click.echo(f"\n{len(s.corpora):,} corpora, {s.sentences:,} sentences, "
               f"{s.subtrees:,} subtrees, {s.errors:,} errors")
    if s.categories:
        click.echo(f"\ntop {len(s.categories)} categories (subtrees):")
        most = s.categories[0][1]
        width = max(len(c[0]) for c in s.categories)
        for cat, subtrees, _ in s.categories:
            bar = "#" * max(1, round(40 * subtrees / most))
            click.echo(f"  {cat.ljust(width)}  {subtrees:>12,}  {bar}")
    if s.errors:
        click.echo(f"\n{s.errors:,} malformed sentences were skipped: "
                   f"treeindex errors --db {db_path}")
    incomplete = [c[0] for c in s.corpora if c[2] != "complete"]
    if incomplete:
        click.echo(f"\nstill being ingested or interrupted: {', '.join(incomplete)} "
                   "(run the same ingest again to resume)")


@cli.command(name="errors")
@DB_OPTION
@click.option("--corpus", default=None, help="Only this corpus.")
@click.option("--csv", "as_csv", is_flag=True, help="Comma-separated values.")
def errors_command(db_path: Path, corpus: str | None, as_csv: bool) -> None:
    """List the malformed sentences that ingest recorded and skipped.

    \b
    Example:
        treeindex errors --db lassy.db --corpus WR-P-P-H
    """
    try:
        result = errors(db_path, corpus)
        for line in (format_csv if as_csv else format_table)(result):
            click.echo(line)
    except TreeindexError as e:
        raise click.ClickException(str(e)) from e

