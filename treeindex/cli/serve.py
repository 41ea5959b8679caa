"""`treeindex serve`: datasette with the treeindex plugin, read-only, on 127.0.0.1."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from ..search import macros as macro_files
from ..store import Index
from .common import handled


@click.command(name="serve")
@click.argument("db", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--port", "-p", type=click.IntRange(0, 65535), default=8001, show_default=True)
@click.option("--macros", "macros_file", type=click.Path(dir_okay=False, path_type=Path),
              default=None, envvar=macro_files.ENVIRONMENT, show_envvar=True,
              help="The macros file the search page uses.")
@click.option("--time-limit", type=click.FloatRange(min=0.1), default=30.0, show_default=True,
              help="Seconds a search, count, statistics or highlight may take; then it is "
                   "stopped and the page says so.")
@click.option("--search-workers", type=click.IntRange(min=1), default=None,
              help="Processes that run searches (at most this many at once; more wait). "
                   "[default: the cores, at most 4]")
@click.option("--keep-memory", type=click.IntRange(min=0), default=0, show_default=True,
              help="MB of the node table each search worker keeps in memory, decoded, as "
                   "`treeindex server` does (about 1.4 x the input; times the workers): "
                   "counts and statistics of broad queries several times faster. 0: none.")
def serve_command(db: Path, port: int, macros_file: Path | None, time_limit: float,
                  search_workers: int | None, keep_memory: int) -> None:
    """Browse an index in datasette: trees, and an XPath search page (read-only).

    Needs the web extra: pip install 'treeindex[web]'. The database is at /<name>/ as in
    any datasette, its sentences at /<name>/sentences; the search page at
    /-/treeindex/search.

    \b
    Example:
        treeindex serve lassy.db --port 8001
    """
    try:
        import datasette  # type: ignore[import-untyped]  # noqa: F401
    except ImportError:
        raise click.ClickException("serve needs datasette: pip install 'treeindex[web]'") from None
    from ..web import runner

    env = dict(os.environ)
    env[runner.TIME_LIMIT_ENV] = str(time_limit)
    env[runner.KEEP_ENV] = str(keep_memory)
    if search_workers is not None:
        env[runner.WORKERS_ENV] = str(search_workers)
    with handled(db):
        with Index(db):  # a treeindex index? (refused here, in one line, not by datasette)
            pass
        if macros_file is not None:
            macro_files.load(macros_file)  # a bad file is an error here, not on a search
            env[macro_files.ENVIRONMENT] = str(macros_file.resolve())
    # read-only but not immutable: pages show what is committed while an ingest writes, and
    # after rm or rename (an immutable file is read as it was at start, and a change made
    # meanwhile read as "malformed")
    args = [sys.executable, "-m", "datasette", "serve", str(db), "-h", "127.0.0.1",
            "-p", str(port), "--setting", "sql_time_limit_ms", "5000"]
    os.execvpe(args[0], args, env)
