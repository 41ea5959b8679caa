"""`treeindex export`."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..export import Progress, export
from .common import ProgressLine, db_option, handled, plural, quiet_option, workers_option


def _export_line(p: Progress, elapsed: float) -> tuple[float, str]:
    fraction = p.subtrees_done / p.subtrees_total if p.subtrees_total else 1.0
    return fraction, (f"{p.corpus[:24]:<24} {100 * fraction:5.1f}%  {p.subtrees_done:,} trees"
                      f"  {p.subtrees_done / elapsed:,.0f} trees/s")


@click.command(name="export")
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
    bar = ProgressLine(not quiet and sys.stderr.isatty(), _export_line)
    with handled(db_path, bar, "no incomplete output file was left behind"):
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


