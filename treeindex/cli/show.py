"""`treeindex show`: draw trees."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from .. import draw
from ..errors import visible
from ..export import safe_name
from ..search import macros as macro_files
from ..show import Tree, find, from_hits, highlight_query
from .common import db_option, handled
from .output import file_error, write_bytes


@click.command(name="show")
@click.argument("what")
@db_option
@click.option("--corpus", default=None, help="The corpus, where WHAT is in several.")
@click.option("--format", "fmt", type=click.Choice(["tree", "xml", "svg", "png"]),
              default="tree", show_default=True,
              help="tree: box-drawing characters; xml: as stored; svg, png: a diagram.")
@click.option("--highlight", default=None, metavar="XPATH",
              help="Also highlight the nodes this query selects.")
@click.option("--macros", "macros_file", type=click.Path(dir_okay=False, path_type=Path),
              envvar=macro_files.ENVIRONMENT, show_envvar=True,
              help="A macros file for --highlight (as search's).")
@click.option("--output", "-o", type=click.Path(path_type=Path), default=None,
              help="Write here (for several trees as svg or png: a directory).")
def show_command(what: str, db_path: Path, corpus: str | None, fmt: str,
                 highlight: str | None, macros_file: Path | None, output: Path | None) -> None:
    """Draw a sentence's tree, a subtree, or the hits of a search.

    WHAT is a sentence id (or CORPUS/SENTID), a subtree label (np-17; --corpus where
    several corpora have one), or - for the records of `treeindex search --format nl` on
    standard input (one tree per sentence, its hits highlighted).

    \b
    Example:
        treeindex show --db lassy.db np-17
        treeindex show --format svg -o s.svg 'WR-P-P-H-0000000001.p.1.s.1'
        treeindex search --format nl '//node[@cat="whq"]' | treeindex show -
    """
    with handled(db_path):
        trees = list(from_hits(db_path, sys.stdin)) if what == "-" else [
            find(db_path, what, corpus)]
        if highlight:
            macros = macro_files.load(macros_file) if macros_file else {}
            for t in trees:
                highlight_query(t, highlight, macros)
        if fmt in ("svg", "png") and len(trees) > 1:
            if output is None:
                raise click.UsageError("several trees as svg or png need -o DIRECTORY")
            try:
                output.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise file_error(output, e) from None
            for t in trees:
                write_bytes(output / f"{safe_name(t.corpus)}-{safe_name(t.sentid)}.{fmt}",
                            _render(t, fmt, False))
            return
        color = output is None and sys.stdout.isatty()
        data = b"\n".join(_render(t, fmt, color) for t in trees)
        if output is not None:
            write_bytes(output, data)
        elif fmt == "png" and sys.stdout.isatty():
            raise click.UsageError("a PNG is not for a terminal: give -o FILE")
        else:
            sys.stdout.buffer.write(data if data.endswith(b"\n") or fmt == "png"
                                    else data + b"\n")


def _render(t: Tree, fmt: str, color: bool) -> bytes:
    if fmt == "xml":
        return t.xml
    root = t.root()
    caption = f"{t.corpus} {t.sentid}" + (f" {t.label}" if t.label else "") + (
        f": {t.text}" if t.text else "")
    if fmt == "svg":
        return draw.svg(root, t.highlight, caption=caption).encode("utf-8")
    if fmt == "png":
        return draw.png(root, t.highlight, caption=caption)
    head = f"{t.corpus} {t.sentid}" + (f" {t.label}" if t.label else "")
    if t.text:
        head += f"\n{t.text}"
    return (visible(head, newlines=True) + "\n" + draw.text(root, t.highlight, color) + "\n"
            ).encode("utf-8")
