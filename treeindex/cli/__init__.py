"""The `treeindex` command: a thin click layer over the library.

One module per group of commands; what they share (options, error translation, the progress
line) is in `common`. Nothing below this package imports click. A command's module is
imported when the command runs (or its help is shown), so that `treeindex search` starts
without the ingest machinery.
"""

from __future__ import annotations

import importlib
from typing import Any

import click

from .. import __version__

# command name -> (module, attribute), in the order `treeindex --help` lists them
COMMANDS = {
    "ingest": ("ingest", "ingest_command"),
    "export": ("export", "export_command"),
    "search": ("search", "search_command"),
    "show": ("show", "show_command"),
    "serve": ("serve", "serve_command"),
    "server": ("server", "server_command"),
    "query": ("query", "query_command"),
    "schema": ("query", "schema_command"),
    "stats": ("query", "stats_command"),
    "errors": ("query", "errors_command"),
    "corpora": ("manage", "corpora_command"),
    "rm": ("manage", "rm_command"),
    "rename": ("manage", "rename_command"),
    "upgrade": ("manage", "upgrade_command"),
    "merge": ("manage", "merge_command"),
}


class LazyGroup(click.Group):
    """A group whose commands are imported when they are used (click's documented pattern)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module, attr = COMMANDS[name]
        command: click.Command = getattr(importlib.import_module(f".{module}", __name__), attr)
        return command


@click.group(cls=LazyGroup)
@click.version_option(__version__, prog_name="treeindex")
def cli() -> None:
    """Index the subtrees of Alpino treebanks in SQLite, and export them per category.

    \b
    Example:
        treeindex ingest corpus.xml
        treeindex export --cat np out/
    """


def __getattr__(name: str) -> Any:  # the tests' names for what the ingest command shows
    if name in ("ProgressLine", "_ProgressLine"):
        from .common import ProgressLine

        return ProgressLine
    if name == "_ingest_line":
        from .ingest import _ingest_line

        return _ingest_line
    raise AttributeError(name)


__all__ = ["cli"]
