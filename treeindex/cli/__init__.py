"""The `treeindex` command: a thin click layer over the library.

One module per group of commands; what they share (options, error translation, the progress
line) is in `common`. Nothing below this package imports click.
"""

from __future__ import annotations

import click

from .. import __version__
from .common import ProgressLine
from .export import export_command
from .ingest import _ingest_line, ingest_command
from .manage import corpora_command, rename_command, rm_command
from .query import errors_command, query_command, schema_command, stats_command
from .search import search_command

_ProgressLine = ProgressLine  # (the tests' name)


@click.group()
@click.version_option(__version__, prog_name="treeindex")
def cli() -> None:
    """Index the subtrees of Alpino treebanks in SQLite, and export them per category.

    \b
    Example:
        treeindex ingest corpus.xml
        treeindex export --cat np out/
    """



for command in (ingest_command, export_command, search_command, query_command, schema_command,
                stats_command, errors_command, corpora_command, rm_command, rename_command):
    cli.add_command(command)

__all__ = ["ProgressLine", "_ingest_line", "cli"]
