"""`treeindex corpora`, `rm` and `rename`: the corpora of an index."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..cluster.merge import Merged, merge_indexes
from ..manage import corpora, remove, rename
from ..query import QueryResult, format_csv, format_table
from ..upgrade import Progress as UpgradeProgress
from ..upgrade import upgrade
from .common import db_option, echo_lines, handled, plural, workers_option


@click.command(name="corpora")
@db_option
@click.option("--csv", "as_csv", is_flag=True, help="Comma-separated values.")
def corpora_command(db_path: Path, as_csv: bool) -> None:
    """List the corpora of an index: name, kind, state, counts and source.

    \b
    Example:
        treeindex corpora --db lassy.db
    """
    with handled(db_path):
        rows = corpora(db_path)
    columns = ["corpus", "kind", "state", "sentences", "subtrees", "errors", "source"]
    result = QueryResult(columns, iter([(c.name, c.kind, c.state, c.sentences, c.subtrees,
                                         c.errors, c.source) for c in rows]))
    echo_lines((format_csv if as_csv else format_table)(result))


@click.command(name="rm")
@click.argument("names", nargs=-1, required=True)
@db_option
def rm_command(names: tuple[str, ...], db_path: Path) -> None:
    """Remove corpora and everything indexed for them, in one transaction.

    Refused while an ingest writes to the index.

    \b
    Example:
        treeindex rm --db lassy.db WR-P-P-H WR-P-P-I
    """
    with handled(db_path, interrupted="nothing was removed"):
        gone = remove(db_path, list(names))
    click.echo(f"removed {plural(len(names), 'corpus', 'corpora')} "
               f"({plural(gone, 'sentence')}) from {db_path}")


@click.command(name="rename")
@click.argument("old")
@click.argument("new")
@db_option
def rename_command(old: str, new: str, db_path: Path) -> None:
    """Rename a corpus (no other corpus may have the new name).

    Refused while an ingest writes to the index.

    \b
    Example:
        treeindex rename --db lassy.db cdb cdb-2024
    """
    with handled(db_path, interrupted="nothing was renamed"):
        rename(db_path, old, new)
    click.echo(f"renamed {old} to {new} in {db_path}")


@click.command(name="upgrade")
@db_option
@workers_option
@click.option("--quiet", "-q", is_flag=True, help="No progress line and no summary.")
def upgrade_command(db_path: Path, workers: int | None, quiet: bool) -> None:
    """Give an index made by an older treeindex the search terms and the node table, without
    ingesting again.

    Sentences indexed before search terms existed are always evaluated by `search`, and
    sentences from before the node table are parsed with lxml; after this, queries with
    conditions evaluate only their candidates, on the node table. Safe to interrupt and to
    run again.

    \b
    Example:
        treeindex upgrade --db lassy.db
    """
    with handled(db_path, None, "what was committed is kept: run it again to go on"):
        added = upgrade(db_path, workers=workers,
                        progress_callback=None if quiet else _upgrade_line)
    if not quiet:
        clear = "\r\033[K" if sys.stderr.isatty() else ""
        click.echo(f"{clear}{plural(added.terms, 'sentence')} got search terms, "
                   f"{plural(added.nodes, 'sentence')} got into the node table"
                   + (f", {plural(added.summarized, 'node block')} summarized"
                      if added.summarized else ""), err=True)


def _upgrade_line(p: UpgradeProgress) -> None:
    if sys.stderr.isatty():
        click.echo(f"\r\033[K{p.what}: {p.sentences_done:,} of {p.sentences_total:,} "
                   f"{p.unit}", nl=False, err=True)


@click.command(name="merge")
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("shards", nargs=-1, required=True,
                type=click.Path(dir_okay=False, path_type=Path))
@click.option("--quiet", "-q", is_flag=True, help="No line per corpus.")
def merge_command(out: Path, shards: tuple[Path, ...], quiet: bool) -> None:
    """Append the corpora of separately built indexes to one index, in argument order.

    Each shard's corpora must be complete, built with the same settings, and named apart
    from the index's. Safe to interrupt and to run again: corpora merged already are passed
    over.

    \b
    Example:
        treeindex merge lassy.db part-1.db part-2.db part-3.db
    """
    def line(m: Merged) -> None:
        if not quiet:
            click.echo(f"{m.corpus}: {plural(m.sentences, 'sentence')}, "
                       f"{plural(m.subtrees, 'subtree')} merged", err=True)

    with handled(out, None, "what was merged is kept: run the same command again to go on"):
        merge_indexes(out, list(shards), progress_callback=line)
