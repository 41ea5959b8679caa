"""A search's hits, counts and statistics as text, CSV, JSON, JSON lines or a treebank: what
`treeindex search` prints and the web page's downloads stream (no click here)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any

from ..errors import visible
from ..query import (
    QueryResult,
    csv_line,
    format_csv,
    format_json,
    format_nl,
    json_array,
    json_line,
)
from .run import Hit

FIELDS = ("corpus", "sentid", "id", "cat", "pt", "rel", "begin", "end", "label", "words",
          "sentence")
MISSING = "[missing]"


def bracketed(hit: Hit) -> str:
    """The sentence with the hit's words in brackets (each run of adjacent words once); a
    hit without words (an empty, co-indexed node) as [∅ rel] after it."""
    marked = set(hit.positions)
    out = hit.sentence.split()
    for i in marked:  # (a run of marked words opens at its first and closes at its last)
        if 0 <= i < len(out):
            if i - 1 not in marked:
                out[i] = "[" + out[i]
            if i + 1 not in marked:
                out[i] += "]"
    if not hit.words:
        out.append(f"[∅ {hit.rel or hit.cat or 'node'}]")
    return " ".join(out)


def _row(hit: Hit, joined: bool) -> tuple:
    """A hit's record, FIELDS in order (`words` joined by spaces for csv)."""
    return (hit.corpus, hit.sentid, hit.id, hit.cat, hit.pt, hit.rel, hit.begin, hit.end,
            hit.label, " ".join(hit.words) if joined else hit.words, hit.sentence)


# the record formats are those of `treeindex query`
RECORDS = {"csv": format_csv, "json": format_json, "nl": format_nl}
FORMATS = ("text", *RECORDS, "xml")


def hit_lines(hits: Iterable[Hit], fmt: str) -> Iterator[str]:
    """What `treeindex search --format fmt` prints for these hits."""
    return framed(own_lines(hits, fmt), fmt)


def own_lines(hits: Iterable[Hit], fmt: str) -> Iterator[str]:
    """The hits' own lines (`hit_line`), those that have one."""
    return (line for h in hits if (line := hit_line(h, fmt)) is not None)


def hit_line(hit: Hit, fmt: str) -> str | None:
    """One hit's own line in `fmt` (JSON: its object, without the array's separator); None
    where it has none (xml: a sentence's hits after its first). Pure: workers make them."""
    if fmt == "text":
        return f"{visible(hit.corpus)}\t{visible(hit.sentid)}\t{visible(bracketed(hit))}"
    if fmt == "csv":
        return csv_line(_row(hit, True))
    if fmt in ("json", "nl"):
        return json_line(_row(hit, False), FIELDS)
    # xml: the matching sentences, as a treebank treeindex (and Dact) can read again
    return None if hit.xml is None else _with_id(hit.xml, hit.sentid).decode("utf-8")


def framed(lines: Iterable[str], fmt: str) -> Iterator[str]:
    """The hits' own lines (`hit_line`) with what the format puts around them: the CSV
    header, the JSON array, the treebank's start and end."""
    if fmt == "json":
        yield from json_array(lines)
        return
    if fmt == "csv":
        yield csv_line(FIELDS)
    elif fmt == "xml":
        yield '<?xml version="1.0" encoding="UTF-8"?>'
        yield "<treebank>"
    yield from lines
    if fmt == "xml":
        yield "</treebank>"


_HAS_ID = re.compile(rb"<alpino_ds\b[^>]*?\sid\s*=")


def _with_id(xml: bytes, sentid: str) -> bytes:
    """The sentence with its id on <alpino_ds> (a one-sentence file's has its file name for
    one): ingested again, the treebank gives every sentence the id it has here."""
    if _HAS_ID.match(xml):
        return xml
    from ..export import attribute_value

    return (b'<alpino_ds id="' + attribute_value(sentid).encode("utf-8") + b'"'
            + xml[len(b"<alpino_ds"):])


def table_lines(columns: list[str], rows: list[list[Any]], fmt: str) -> Iterator[str]:
    """A small table (counts, statistics) in any --format: as `treeindex query` prints
    records; the text table with thousands separated and percentages to two places."""
    if fmt in RECORDS:
        yield from RECORDS[fmt](QueryResult(columns, iter(map(tuple, rows))))
        return
    text = [[f"{v:,}" if isinstance(v, int) else
             (f"{v:.2f}" if isinstance(v, float) else visible(str(v))) for v in r] for r in rows]
    widths = [max([len(c)] + [len(r[i]) for r in text]) for i, c in enumerate(columns)]
    numeric = [bool(rows) and all(isinstance(r[i], (int, float)) for r in rows)
               for i in range(len(columns))]

    def line(values: list[str]) -> str:
        return "  ".join(v.rjust(w) if num else v.ljust(w)
                         for v, w, num in zip(values, widths, numeric)).rstrip()

    yield line(columns)
    yield "  ".join("-" * w for w in widths)
    yield from (line(r) for r in text)


def attribute_names(text: str | None) -> tuple[str, ...]:
    """Attribute names as a user writes them: comma-separated, `@` allowed ("lemma, @pt")."""
    return tuple(a.strip().lstrip("@") for a in (text or "").split(",") if a.strip())
