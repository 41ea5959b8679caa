"""`treeindex search`: XPath queries over the index, as Dact and PaQu ask them."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import click

from ..errors import QueryError, visible
from ..search import ENGINES, Counts, Hit, Progress, count, notes, plan, search, stats
from ..search import macros as macro_files
from ..search.formats import MISSING, attribute_names, hit_lines, table_lines
from ..search.listing import search_lines
from .common import ProgressLine, db_option, echo_lines, handled, plural, workers_option
from .output import file_error, written


def _search_line(p: Progress, elapsed: float) -> tuple[float, str]:
    fraction = p.sentences_done / p.sentences_total if p.sentences_total else 1.0
    return fraction, (f"{p.corpus[:24]:<24} {100 * fraction:5.1f}%  "
                      f"{p.sentences_done:,}/{p.sentences_total:,} sentences  "
                      f"{plural(p.hits, 'hit')}  {p.sentences_done / elapsed:,.0f} sent/s")


@contextmanager
def _output(path: Path | None) -> Iterator[IO[str] | None]:
    if path is None:
        yield None
        return
    with written(path) as f:
        yield f


@click.command(name="search")
@click.argument("xpath", required=False)
@db_option
@click.option("--corpus", "corpora", multiple=True,
              help="Only this corpus (repeatable). [default: all corpora]")
@click.option("--macros", "macros_file", type=click.Path(dir_okay=False, path_type=Path),
              envvar=macro_files.ENVIRONMENT, show_envvar=True,
              help="A macros file (Dact/PaQu syntax: name = \"\"\"xpath\"\"\"); %name% in "
                   "XPATH uses one.")
@workers_option
@click.option("--limit", type=click.IntRange(min=1), default=None,
              help="Stop after this many hits (not with --count or --stats, which count "
                   "every hit).")
@click.option("--format", "fmt", type=click.Choice(["text", "csv", "json", "nl", "xml"]),
              default=None,
              help="text: a line per hit, the hit's words in [brackets]; csv, json, nl: a "
                   "record per hit; xml: the matching sentences as a <treebank>. [default: "
                   "from -o's extension (.csv, .json, .jsonl/.nl, .xml), else text]")
@click.option("--count", "counting", is_flag=True,
              help="Only count hits and matching sentences, per corpus and in all.")
@click.option("--stats", "stats_attrs", metavar="ATTR[,ATTR...]", default=None,
              help="A frequency table of these attributes of the hits (e.g. lemma,pt).")
@click.option("--engine", type=click.Choice(ENGINES), default="auto", show_default=True,
              help="nodes: evaluate on the node table (no XML parsed) wherever it can; lxml: "
                   "parse every candidate sentence; auto: the node table unless there are "
                   "few candidates.")
@click.option("--explain", is_flag=True,
              help="Say how the query will run (engine, sentences to evaluate) and stop.")
@click.option("--output", "-o", "output_name", type=click.Path(), default=None,
              help="Write to this file (complete, or not at all); with --format xml, a "
                   "folder (FOLDER/) gets a treebank per corpus, FOLDER/<corpus>.xml.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@click.option("--like", "like", default=None, metavar="WHAT",
              help="Search by example: the shape of subtree WHAT (a label, np-17, or "
                   "SENTID:NODEID) as the query, printed on stderr.")
@click.option("--depth", type=click.IntRange(min=0), default=1, show_default=True,
              help="With --like: the levels of children the shape takes.")
@click.option("--keep", default="", metavar="ATTRS",
              help="With --like: the word attributes kept (word, lemma, pt, postag, pos; "
                   "comma-separated). [default: none]")
@click.option("--strict", is_flag=True,
              help="Make it an error when the query (or --stats) names an attribute, value "
                   "or element no node of the index has (otherwise a note on stderr).")
def search_command(xpath: str | None, db_path: Path, corpora: tuple[str, ...],
                   macros_file: Path | None, workers: int | None, limit: int | None, fmt: str,
                   counting: bool, stats_attrs: str | None, engine: str, explain: bool,
                   output_name: str | None, quiet: bool, like: str | None, depth: int,
                   keep: str, strict: bool) -> None:
    """Find the nodes an XPath query selects in every sentence of the index.

    The query is evaluated on each sentence as its own document, as in Dact and PaQu:
    every <node> it selects is a hit, exactly as lxml (XPath 1.0) or elementpath (XPath
    2.0: sequences, some/every, matches(), ends-with(), ...) would select it. It runs on
    the index's node table, without parsing XML, wherever it can (--explain says which
    engine runs and why). Hits come in document order.

    \b
    Example:
        treeindex search '//node[@cat="np" and node[@rel="det" and @lemma="de"]]'
        treeindex search --stats lemma '//node[@rel="hd" and ../@cat="np"]'
        treeindex search --format xml -o whq.xml '//node[@cat="whq"]'
        treeindex search --like np-17 --keep lemma --corpus cdb-sample
    """
    from ..store.index import remembered_checks

    # one command opens its index four times (plan, notes, search, the check that nothing
    # was replaced): its schema is checked once, and one connection serves them all, as in a
    # command run by `treeindex server` (any write to the file in between checks it again);
    # until the command ends
    click.get_current_context().with_resource(remembered_checks())
    output = Path(output_name) if output_name is not None else None
    # (a name that ends in / is a folder, as Path would forget)
    to_folder = output_name is not None and (output_name.endswith(("/", os.sep))
                                             or Path(output_name).is_dir())
    if (xpath is None) == (like is None):
        raise click.UsageError("give an XPATH, or --like WHAT (one of them)")
    fmt = "xml" if to_folder and fmt is None else _format(fmt, output)
    if to_folder and fmt != "xml":
        raise click.UsageError(f"-o {output_name} is a folder: only --format xml writes to "
                               "a folder (a treebank per corpus)")
    if counting and stats_attrs:
        raise click.UsageError("--count and --stats exclude each other: give one of them")
    if limit is not None and (counting or stats_attrs):
        # (it once stopped a count after N hits where lxml evaluated the query, and was
        # ignored where the node table did: the answer depended on the engine)
        raise click.UsageError("--limit stops the list of hits; --count and --stats count "
                               "every hit: leave --limit out")
    if fmt == "xml" and (counting or stats_attrs):
        raise click.UsageError("--format xml writes sentences: it goes with neither --count "
                               "nor --stats")
    attrs = attribute_names(stats_attrs)
    if stats_attrs is not None and not attrs:
        raise click.UsageError("--stats needs attribute names, e.g. --stats lemma,pt")
    bar = ProgressLine(not quiet and sys.stderr.isatty(), _search_line)
    with handled(db_path, bar, "nothing more was searched"):
        macros = macro_files.load(macros_file) if macros_file else {}
        if like is not None:
            from ..search.like import example, like_xpath

            keeps = attribute_names(keep)
            xpath = like_xpath(example(str(db_path), like, corpora[0] if len(corpora) == 1
                                       else None), depth, keeps)
            click.echo(f"xpath: {xpath}", err=True)
        assert xpath is not None
        found = notes(db_path, xpath, macros, attrs)
        if found and strict:
            raise QueryError("; ".join(found) + " (--strict)")
        for note in found:
            click.echo(f"note: {visible(note)}", err=True)
        if explain:
            echo_lines(_explain(db_path, xpath, macros, list(corpora), engine))
            return
        common: dict[str, Any] = dict(corpora=list(corpora) or None, macros=macros,
                                      workers=workers, limit=limit, engine=engine,
                                      progress_callback=bar)
        if to_folder and output is not None:
            _per_corpus(search(db_path, xpath, with_xml=True, **common), output)
            bar.done()
            return
        if counting:
            lines = _count_lines(count(db_path, xpath, **common), fmt)
        elif attrs:
            lines = _stats_lines(stats(db_path, xpath, attrs, **common), attrs, fmt)
        else:  # (records and lines made by the workers)
            lines = search_lines(db_path, xpath, fmt, **common)
        with _output(output) as f:
            if f is None:
                echo_lines(_after(lines, bar))
            else:
                for line in lines:
                    f.write(line + "\n")
    bar.done()


def _per_corpus(hits: Iterable[Hit], folder: Path) -> None:
    """--format xml -o FOLDER/: a treebank per corpus, FOLDER/<corpus>.xml, so that an
    ingest of the folder gives each sentence its corpus and its id again."""
    import itertools

    from ..export import safe_name

    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise file_error(folder, e) from None
    for corpus, group in itertools.groupby(hits, key=lambda h: h.corpus):
        with written(folder / f"{safe_name(corpus)}.xml") as f:
            for line in hit_lines(group, "xml"):
                f.write(line + "\n")


_EXTENSIONS = {".csv": "csv", ".json": "json", ".jsonl": "nl", ".ndjson": "nl", ".nl": "nl",
               ".xml": "xml", ".txt": "text", ".tsv": "text"}


def _format(fmt: str | None, output: Path | None) -> str:
    """--format, or the one -o's extension names (a clash between the two is refused)."""
    implied = _EXTENSIONS.get(output.suffix.lower()) if output is not None else None
    if fmt is not None and output is not None and implied is not None and fmt != implied:
        raise click.UsageError(f"-o {output.name} is {implied}, --format says {fmt}: give one "
                               "of them, or another extension")
    return fmt or implied or "text"


def _after(lines: Iterable[str], bar: ProgressLine) -> Iterator[str]:
    for line in lines:
        bar.done()
        yield line


def _count_lines(counts: Counts, fmt: str) -> Iterator[str]:
    rows: list[list[Any]] = [[name, n, sents] for name, (n, sents) in counts.corpora.items()]
    rows.append(["(all)", counts.hits, counts.sentences])
    return table_lines(["corpus", "hits", "sentences"], rows, fmt)


def _stats_lines(table: list[tuple[tuple[str | None, ...], int]], attrs: tuple[str, ...],
                 fmt: str) -> Iterator[str]:
    total = sum(n for _, n in table)
    rows: list[list[Any]] = [[*(MISSING if v is None else v for v in values), n,
                              round(100 * n / total, 2)] for values, n in table]
    return table_lines([*attrs, "count", "percent"], rows, fmt)


def _explain(db_path: Path, xpath: str, macros: dict[str, str], corpora: list[str],
             engine: str) -> list[str]:
    return plan(db_path, xpath, corpora=corpora or None, macros=macros,
                engine=engine).explain()
