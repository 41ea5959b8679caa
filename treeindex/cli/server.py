"""`treeindex server`: keep an index in memory for the `treeindex search` commands."""

from __future__ import annotations

import signal
from pathlib import Path

import click

from .common import db_option, handled, plural


@click.command(name="server")
@db_option
@click.option("--memory", "memory_mb", type=click.IntRange(min=0), default=2048,
              show_default=True,
              help="MB of decoded node table to keep (about 1.4 x the input it came from); "
                   "blocks past it are read from the file by each search, as without a "
                   "server.")
def server_command(db_path: Path, memory_mb: int) -> None:
    """Keep an index's node table in memory and answer its `treeindex search` commands.

    While it runs, every `treeindex search` of the same index file (any path to it) is
    run by the server, in a process of its own with your arguments, directory, environment
    and terminal, without the start-up and reading a command pays each time: the same
    results, the same output and exit status, in milliseconds instead of tenths of a
    second. It follows the file: blocks written, replaced or removed since are read from
    the file until it has caught up. Ctrl-C stops it. TREEINDEX_SERVER=off makes a search
    ignore it.

    \b
    Example:
        treeindex server --db lassy.db &
        treeindex search --db lassy.db --count '//node[@cat="whq"]'
    """
    from ..server import Server
    from ..store import Index

    stopping: list[int] = []

    def stop(signum: int, frame: object) -> None:
        # (recorded, never raised: an exception raised inside a fork's after-fork hooks is
        # "ignored" by Python, and the signal with it; the loop sees this within a moment)
        stopping.append(signum)

    with handled(db_path, interrupted="the server stopped."):
        with Index(db_path):  # (a treeindex index? said here, in one line)
            pass
        server = Server(db_path, memory_mb << 20)
        state = server.refresh()
        server.listen()
        click.echo(f"serving {db_path}: {plural(state.blocks, 'block')} of the node table in "
                   f"memory ({state.nbytes / 1e6:,.0f} MB, read in {state.seconds:.1f} s); "
                   f"socket {server.path}; Ctrl-C stops", err=True)
        for signum in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
            signal.signal(signum, stop)
        try:
            server.serve(stop=lambda: bool(stopping))
            click.echo("server stopped", err=True)
        finally:
            server.close()

