"""`treeindex ingest`."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..errors import ExitCode, visible
from ..indexer import Progress, Status, ingest
from .common import ProgressLine, db_option, handled, plural, quiet_option, workers_option


def _ingest_line(p: Progress, elapsed: float) -> tuple[float, str]:
    fraction = p.bytes_done / p.bytes_total if p.bytes_total else 1.0
    return fraction, (
        f"{p.corpus[:24]:<24} {100 * fraction:5.1f}%  "
        f"{p.bytes_done / 1e6:,.1f}/{p.bytes_total / 1e6:,.1f} MB"
        f"  {p.bytes_done / 1e6 / elapsed:.1f} MB/s  {p.sentences / elapsed:,.0f} sent/s"
    )


@click.command(name="ingest")
@click.argument(
    "paths", nargs=-1, required=True, type=click.Path(path_type=Path)
)
@db_option
@workers_option
@click.option("--max-children", type=click.IntRange(min=1), default=7, show_default=True,
              help="Keep nodes with at most this many node children.")
@click.option("--max-nodes", type=click.IntRange(min=1), default=1000, show_default=True,
              help="Keep subtrees of at most this many nodes.")
@click.option("--replace", is_flag=True,
              help="Index the given corpora again from scratch, dropping what was indexed.")
@click.option("--name", default=None, metavar="NAME",
              help="Make everything given one corpus called NAME (one input, or one-sentence "
                   "files from anywhere). [default: named after each file or directory]")
@click.option("--chunk-mb", type=click.FloatRange(min=0.01), default=2.0, show_default=True,
              help="Size of the byte ranges handed to workers.")
@click.option("--scheduler", default=None, metavar="ADDRESS|FILE",
              help="Ingest on this Dask cluster (a scheduler address, tcp://host:8786, or a "
                   "scheduler file): shards on the workers, merged here. Needs "
                   "'treeindex[cluster]'.")
@click.option("--shard-mb", type=click.FloatRange(min=0.1), default=1024.0, show_default=True,
              help="With --scheduler: cut treebank files larger than this into shards.")
@click.option("--shard-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="With --scheduler: where workers publish finished shards, a directory "
                   "this machine and every worker see. [default: DB.shards beside the "
                   "index]")
@quiet_option
def ingest_command(paths: tuple[Path, ...], db_path: Path, workers: int | None,
                   max_children: int, max_nodes: int, replace: bool, name: str | None,
                   chunk_mb: float, scheduler: str | None, shard_mb: float,
                   shard_dir: Path | None, quiet: bool) -> None:
    """Index treebank files or directories of them into an SQLite database.

    PATHS are <treebank> files of <alpino_ds> sentences (.xml or .xml.gz), one-sentence
    files (given one by one, they form their directory's corpus), compact corpora
    (X.data.dz + X.index), or directories of these. An interrupted ingest continues where
    it stopped when run again with the same arguments; a complete corpus is skipped.

    Exit codes: 0 all indexed; 3 indexed, but malformed sentences or files were skipped
    (see `treeindex errors`); 1 an error (bad input or database, a worker died: what was
    committed is kept); 130, 143, 129 interrupted by SIGINT, SIGTERM, SIGHUP.

    With --scheduler, the same index is built on a Dask cluster (see the README).

    \b
    Example:
        treeindex ingest --db lassy.db Lassy-Large.xml.gz
        treeindex ingest --scheduler tcp://head:8786 --db sonar.db /shared/SoNaR/
    """
    progress = ProgressLine(not quiet and sys.stderr.isatty(), _ingest_line)
    with handled(db_path, progress):
        if scheduler is not None:
            try:
                from ..cluster.client import cluster_ingest
            except ImportError:  # pragma: no cover - the extra is not installed
                raise click.ClickException(
                    "--scheduler needs Dask: pip install 'treeindex[cluster]'") from None
            report = cluster_ingest(
                db_path, list(paths), scheduler=scheduler, shard_mb=shard_mb,
                shard_dir=shard_dir, max_children=max_children, max_nodes=max_nodes,
                replace=replace, name=name, chunk_bytes=int(chunk_mb * (1 << 20)),
                progress_callback=progress)
        else:
            report = ingest(
                db_path, list(paths), max_children=max_children, max_nodes=max_nodes,
                workers=workers, replace=replace, name=name,
                chunk_bytes=int(chunk_mb * (1 << 20)), progress_callback=progress,
            )
    progress.done()
    if not quiet:
        for _, reason in report.skipped:
            click.echo(f"skipped {visible(reason)}", err=True)
        for c in report.corpora:
            if c.status is Status.COMPLETE:
                click.echo(f"{visible(c.name)}: already complete "
                           f"({plural(c.total_sentences, 'sentence')}), nothing to do")
            else:
                click.echo(
                    f"{visible(c.name)}: {c.status}, {plural(c.sentences, 'sentence')} and "
                    f"{plural(c.subtrees, 'subtree')} added "
                    f"({plural(c.total_sentences, 'sentence')} in all)"
                    + (f", {plural(c.errors, 'malformed sentence')} skipped" if c.errors else "")
                )
        click.echo(f"done in {report.seconds:.1f} s, index: {visible(str(db_path))}")
    if report.exit_code:
        if report.errors:
            click.echo(
                f"{plural(report.errors, 'malformed sentence was', 'malformed sentences were')} "
                f"skipped; `treeindex errors --db {db_path}` lists them", err=True,
            )
        sys.exit(ExitCode.SKIPPED)


