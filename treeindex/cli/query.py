"""`treeindex query`, `schema`, `stats` and `errors`: read-only questions to an index."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from .. import store
from ..errors import visible
from ..query import (
    QueryResult,
    errors,
    format_csv,
    format_json,
    format_nl,
    format_table,
    run_query,
    stats,
)
from .common import db_option, echo_lines, handled, plural


def _param(value: str) -> Any:
    """A command-line parameter: an integer when it is written as one, else text."""
    try:
        if str(int(value)) == value:
            return int(value)
    except ValueError:
        pass
    return value


@click.command(name="query")
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
    with handled(db_path):
        result = run_query(db_path, sql, [_param(p) for p in params])
        echo_lines(formatter(result))


@click.command(name="schema")
def schema_command() -> None:
    """Print the index's tables, views and columns, each with what it holds.

    \b
    Example:
        treeindex schema | less
    """
    echo_lines(store.schema_sql().splitlines())


@click.command(name="stats")
@db_option
@click.option("--top", type=click.IntRange(min=1), default=15, show_default=True,
              help="How many categories to show.")
def stats_command(db_path: Path, top: int) -> None:
    """Show corpora, sentence and subtree totals, the top categories and errors.

    \b
    Example:
        treeindex stats --db lassy.db --top 25
    """
    with handled(db_path):
        s = stats(db_path, top)
    echo_lines(_stats_lines(s, db_path))


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
    if s.limits is not None:
        children, nodes = s.limits
        rule = (f"nodes with a category, at most {children:,} children and {nodes:,} nodes "
                "(ingest's --max-children, --max-nodes)")
        if s.categorized is not None:
            left = s.categorized - s.subtrees
            yield (f"subtrees are the {rule}: {s.subtrees:,} of {s.categorized:,}; "
                   f"{plural(left, 'larger one is', 'larger ones are')} not kept")
        else:
            yield f"subtrees are the {rule}; larger ones are not kept"
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


@click.command(name="errors")
@db_option
@click.option("--corpus", default=None, help="Only this corpus.")
@click.option("--csv", "as_csv", is_flag=True, help="Comma-separated values.")
def errors_command(db_path: Path, corpus: str | None, as_csv: bool) -> None:
    """List the malformed sentences that ingest recorded and skipped.

    \b
    Example:
        treeindex errors --db lassy.db --corpus WR-P-P-H
    """
    with handled(db_path):
        result = errors(db_path, corpus)
        first = next(result.rows, None)
        if first is None and not as_csv:  # (a table of no rows would be only its header)
            where = f"corpus {corpus!r} of {db_path}" if corpus else str(db_path)
            click.echo(f"no malformed sentences: ingest recorded none in {visible(where)}")
            return
        rows = result.rows if first is None else itertools.chain([first], result.rows)
        echo_lines((format_csv if as_csv else format_table)(QueryResult(result.columns, rows)))
