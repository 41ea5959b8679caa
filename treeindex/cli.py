"""The `treeindex` command: a thin click layer over the library.

Options shared by several commands are declared once; library errors become messages and
exit codes in one place (`_handled`).
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from . import __version__, db
from .errors import Interrupted, TreeindexError
from .export import Progress as ExportProgress
from .export import export
from .ingest import Progress, ingest
from .query import errors, format_csv, format_json, format_nl, format_table, run_query, stats

EXIT_SKIPPED = 3  # indexed, but malformed sentences or files were skipped
EXIT_INTERRUPTED = 128  # plus the signal number: 130 for Ctrl-C, 143 for SIGTERM

db_option = click.option(
    "--db", "db_path", type=click.Path(dir_okay=False, path_type=Path), default="treeindex.db",
    show_default=True, help="The index database.")
workers_option = click.option(
    "--workers", "-w", type=click.IntRange(min=0), default=None,
    help="Worker processes. [default: the cores available; 0 works in this process]")
quiet_option = click.option("--quiet", "-q", is_flag=True, help="No progress bar and no summary.")


def plural(n: int, word: str, words: str | None = None) -> str:
    """'1 corpus', '2 corpora', '1,000 sentences'."""
    return f"{n:,} {word if n == 1 else (words or word + 's')}"


RESUME = "what was indexed so far is kept in {db}; run the same command again to resume."


@contextmanager
def _handled(db_path: Path | None = None, progress: _ProgressLine | None = None,
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
        sys.exit(EXIT_INTERRUPTED + signum)
    except TreeindexError as e:
        if progress:
            progress.done()
        raise click.ClickException(str(e)) from e
    except sqlite3.Error as e:  # (the library translates these; a last resort)
        raise click.ClickException(str(db.database_error(e, db_path or Path("?")))) from e


def _echo_lines(lines: Iterable[str]) -> None:
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
        self.width = max(shutil.get_terminal_size((80, 24)).columns - 1, 10)
        click.echo("\r" + line[: self.width].ljust(self.width), nl=False, err=True)

    def done(self) -> None:
        if self.enabled and self.last:
            click.echo("\r" + " " * self.width + "\r", nl=False, err=True)
            self.last = 0.0


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
@db_option
@workers_option
@click.option("--max-children", type=click.IntRange(min=1), default=7, show_default=True,
              help="Keep nodes with at most this many node children.")
@click.option("--max-nodes", type=click.IntRange(min=1), default=1000, show_default=True,
              help="Keep subtrees of at most this many nodes.")
@click.option("--replace", is_flag=True,
              help="Index the given corpora again from scratch, dropping what was indexed.")
@click.option("--chunk-mb", type=click.FloatRange(min=0.01), default=2.0, show_default=True,
              help="Size of the byte ranges handed to workers.")
@quiet_option
def ingest_command(paths: tuple[Path, ...], db_path: Path, workers: int | None,
                   max_children: int, max_nodes: int, replace: bool, chunk_mb: float,
                   quiet: bool) -> None:
    """Index treebank files or directories of them into an SQLite database.

    PATHS are <treebank> files of <alpino_ds> sentences (.xml or .xml.gz), one-sentence
    files, or directories of either. An interrupted ingest continues where it stopped when
    run again with the same arguments; a corpus that is complete is skipped.

    Exit codes: 0 all indexed; 3 indexed, but malformed sentences or files were skipped
    (see `treeindex errors`); 1 an error (bad input or database, a worker died: what was
    committed is kept); 130, 143, 129 interrupted by SIGINT, SIGTERM, SIGHUP.

    \b
    Example:
        treeindex ingest --db lassy.db Lassy-Large.xml.gz
    """
    progress = _ProgressLine(not quiet and sys.stderr.isatty(), _ingest_line)
    with _handled(db_path, progress):
        report = ingest(
            db_path, list(paths), max_children=max_children, max_nodes=max_nodes,
            workers=workers, replace=replace, chunk_bytes=int(chunk_mb * (1 << 20)),
            progress_callback=progress,
        )
    progress.done()
    if not quiet:
        for _, reason in report.skipped:
            click.echo(f"skipped {reason}", err=True)
        for c in report.corpora:
            if c.status == "complete":
                click.echo(f"{c.name}: already complete ({plural(c.total_sentences, 'sentence')})"
                           ", nothing to do")
            else:
                click.echo(
                    f"{c.name}: {c.status}, {plural(c.sentences, 'sentence')} and "
                    f"{plural(c.subtrees, 'subtree')} added "
                    f"({plural(c.total_sentences, 'sentence')} in all)"
                    + (f", {plural(c.errors, 'malformed sentence')} skipped" if c.errors else "")
                )
        click.echo(f"done in {report.seconds:.1f} s, index: {db_path}")
    if report.exit_code:
        if report.errors:
            click.echo(
                f"{plural(report.errors, 'malformed sentence was', 'malformed sentences were')} "
                f"skipped; `treeindex errors --db {db_path}` lists them", err=True,
            )
        sys.exit(EXIT_SKIPPED)


@cli.command(name="export")
@click.argument("outdir", type=click.Path(file_okay=False, path_type=Path))
@db_option
@click.option("--cat", "cats", multiple=True, help="A category to export (repeatable).")
@click.option("--all", "all_cats", is_flag=True, help="Export every category.")
@click.option("--corpus", "corpora", multiple=True,
              help="Only this corpus (repeatable). [default: all corpora]")
@click.option("--with-sentence", is_flag=True,
              help="Add sentid and sentence attributes to every <tree>.")
@click.option("--force", is_flag=True, help="Replace output files that exist.")
@workers_option
@quiet_option
def export_command(outdir: Path, db_path: Path, cats: tuple[str, ...], all_cats: bool,
                   corpora: tuple[str, ...], with_sentence: bool, force: bool,
                   workers: int | None, quiet: bool) -> None:
    """Write per-category tree files from the index: OUTDIR/<corpus>/<corpus>-<cat>-trees.xml.

    Each file holds <tree index="<cat>-<n>"> elements in document order, each with a copy of
    the subtree's <node> exactly as in the input. Works while an ingest is running (exports
    what was committed, and says so). Names that are not plain file names get a stable
    safe form (see the README).

    \b
    Example:
        treeindex export --cat np --cat pp out/
        treeindex export --all --corpus cdb out/
    """
    if cats and all_cats:
        raise click.UsageError("--cat and --all exclude each other: give one of them")
    if not cats and not all_cats:
        raise click.UsageError("give one or more --cat CAT, or --all")
    bar = _ProgressLine(not quiet and sys.stderr.isatty(), _export_line)
    with _handled(db_path, bar, "no incomplete output file was left behind"):
        report = export(db_path, outdir, cats=list(cats) or None,
                        corpora=list(corpora) or None, with_sentence=with_sentence,
                        force=force, workers=workers, progress_callback=bar)
    bar.done()
    for name in report.incomplete:
        click.echo(f"note: corpus {name} is still being ingested (or was interrupted); "
                   "exported what was committed so far", err=True)
    if not quiet:
        click.echo(f"wrote {plural(report.subtrees, 'tree')} to "
                   f"{plural(len(report.files), 'file')} in {outdir}")


def _param(value: str) -> Any:
    """A command-line parameter: an integer when it is written as one, else text."""
    try:
        if str(int(value)) == value:
            return int(value)
    except ValueError:
        pass
    return value


@cli.command(name="query")
@click.argument("sql")
@db_option
@click.option("--param", "-p", "params", multiple=True, metavar="VALUE",
              help="A value for the next ? in SQL (repeatable, in order).")
@click.option("--csv", "as_csv", is_flag=True, help="Comma-separated values, with a header.")
@click.option("--json", "as_json", is_flag=True, help="One JSON array of objects.")
@click.option("--nl", "as_nl", is_flag=True, help="One JSON object per line.")
@click.option("--table", "as_table", is_flag=True, help="An aligned table. [default]")
def query_command(sql: str, db_path: Path, params: tuple[str, ...], as_csv: bool,
                  as_json: bool, as_nl: bool, as_table: bool) -> None:
    """Run a read-only SQL query on the index and print the rows as they come.

    `treeindex schema` prints the tables, views and columns; writing statements are
    refused.

    \b
    Example:
        treeindex query "SELECT cat, sum(subtrees) FROM category_counts GROUP BY cat"
        treeindex query --csv "SELECT * FROM subtree_info WHERE pattern = ?" -p "det:lid hd:n"
    """
    chosen = [f for f, on in (("csv", as_csv), ("json", as_json), ("nl", as_nl),
                              ("table", as_table)) if on]
    if len(chosen) > 1:
        raise click.UsageError(
            f"--{' and --'.join(chosen)} exclude each other: give one output format")
    formatter = {"table": format_table, "csv": format_csv, "json": format_json,
                 "nl": format_nl}[chosen[0] if chosen else "table"]
    with _handled(db_path):
        result = run_query(db_path, sql, [_param(p) for p in params])
        _echo_lines(formatter(result))


@cli.command(name="schema")
def schema_command() -> None:
    """Print the index's tables, views and columns, each with what it holds.

    \b
    Example:
        treeindex schema | less
    """
    _echo_lines(db.schema_sql().splitlines())


@cli.command(name="stats")
@db_option
@click.option("--top", type=click.IntRange(min=1), default=15, show_default=True,
              help="How many categories to show.")
def stats_command(db_path: Path, top: int) -> None:
    """Show corpora, sentence and subtree totals, the top categories and errors.

    \b
    Example:
        treeindex stats --db lassy.db --top 25
    """
    with _handled(db_path):
        s = stats(db_path, top)
    _echo_lines(_stats_lines(s, db_path))


def _stats_lines(s: Any, db_path: Path) -> Iterator[str]:
    rows = [(c[0], c[1], c[2], f"{c[3]:,}", f"{c[4]:,}", f"{c[5]:,}") for c in s.corpora]
    header = ("corpus", "kind", "state", "sentences", "subtrees", "errors")
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(6)]
    for r in [header, *rows]:
        yield "  ".join(str(v).ljust(w) if i < 3 else str(v).rjust(w)
                        for i, (v, w) in enumerate(zip(r, widths))).rstrip()
    yield (f"\n{plural(len(s.corpora), 'corpus', 'corpora')}, "
           f"{plural(s.sentences, 'sentence')}, {plural(s.subtrees, 'subtree')}, "
           f"{plural(s.errors, 'error')}")
    if s.categories:
        yield f"\ntop {plural(len(s.categories), 'category', 'categories')} (subtrees):"
        most = s.categories[0][1]
        width = max(len(c[0]) for c in s.categories)
        for cat, subtrees, _ in s.categories:
            bar = "#" * max(1, round(40 * subtrees / most))
            yield f"  {cat.ljust(width)}  {subtrees:>12,}  {bar}"
    if s.errors:
        yield (f"\n{plural(s.errors, 'malformed sentence was', 'malformed sentences were')} "
               f"skipped: treeindex errors --db {db_path}")
    incomplete = [c[0] for c in s.corpora if c[2] != "complete"]
    if incomplete:
        yield (f"\nstill being ingested or interrupted: {', '.join(incomplete)} "
               "(run the same ingest again to resume)")


@cli.command(name="errors")
@db_option
@click.option("--corpus", default=None, help="Only this corpus.")
@click.option("--csv", "as_csv", is_flag=True, help="Comma-separated values.")
def errors_command(db_path: Path, corpus: str | None, as_csv: bool) -> None:
    """List the malformed sentences that ingest recorded and skipped.

    \b
    Example:
        treeindex errors --db lassy.db --corpus WR-P-P-H
    """
    with _handled(db_path):
        result = errors(db_path, corpus)
        _echo_lines((format_csv if as_csv else format_table)(result))
