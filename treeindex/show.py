"""`show`: find the trees to draw: a sentence by its id, a subtree by its label (`np-17`), or
the hits of a search (its `nl` records), each with the nodes to highlight."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree

from .errors import InputError, QueryError, suggest
from .store import Index, translate_errors

_LABEL = re.compile(r"^(.+)-(\d+)$")
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)


@dataclass
class Tree:
    corpus: str
    sentid: str
    xml: bytes  # the sentence's, or the subtree's <node> element, as stored
    label: str | None = None  # the subtree's label, when one was asked for
    highlight: set[str] = field(default_factory=set)  # node ids
    text: str | None = None  # the sentence (its <sentence> element)

    def root(self) -> etree._Element:
        return etree.fromstring(self.xml, _PARSER)


def _corpus_ids(index: Index, corpus: str | None) -> dict[int, str]:
    rows = {r.id: r.name for r in index.corpora()}
    if corpus is None:
        return rows
    found = {i: n for i, n in rows.items() if n == corpus}
    if not found:
        raise QueryError(suggest(corpus, list(rows.values()), "corpus", "corpora"))
    return found


def find(db: Path | str, what: str, corpus: str | None = None) -> Tree:
    """The tree of sentence id `what`, or of subtree label `what` (`np-17`)."""
    db = Path(db)
    with Index(db) as index, translate_errors(db):
        return find_in(index, what, corpus)


def find_in(index: Index, what: str, corpus: str | None = None) -> Tree:
    """`find` in an open index."""
    names = _corpus_ids(index, corpus)
    m = _LABEL.match(what)
    if m:
        rows = [r for r in index.conn.execute(
            "SELECT corpus_id, sentence_id, xml_start, xml_end FROM subtrees "
            "WHERE cat = ? AND n = ?", (m.group(1), int(m.group(2)))) if r[0] in names]
        if len(rows) > 1:
            raise QueryError(f"{what} is a subtree of {len(rows)} corpora "
                             f"({', '.join(sorted(names[r[0]] for r in rows))}); say "
                             "which with --corpus")
        if rows:
            cid, sid, start, end = rows[0]
            s = index.sentence(sid)
            return Tree(names[cid], s.sentid, index.cut(s.xml, start, end, what), label=what,
                        text=s.text)
    rows = [r for r in index.conn.execute(
        "SELECT corpus_id, id FROM sentences WHERE sentid = ?", (what,)) if r[0] in names]
    if len(rows) > 1:
        raise QueryError(f"sentence {what!r} is in {len(rows)} corpora "
                         f"({', '.join(sorted(names[r[0]] for r in rows))}); say which "
                         "with --corpus")
    if not rows and corpus is None:  # CORPUS/SENTID (an id may hold a / itself: tried first)
        for name in sorted(set(names.values()), key=len, reverse=True):
            if what.startswith(name + "/") and len(what) > len(name) + 1:
                return find_in(index, what[len(name) + 1:], name)
    if not rows:
        raise QueryError(f"no sentence with id {what!r} and no subtree labelled {what!r}"
                         + (f" in corpus {corpus!r}" if corpus else "") +
                         "; `treeindex search` or `treeindex query` find them")
    cid, sid = rows[0]
    s = index.sentence(sid)
    return Tree(names[cid], s.sentid, s.xml, text=s.text)


def from_hits(db: Path | str, lines: Iterable[str]) -> Iterator[Tree]:
    """The sentences of `treeindex search --format nl` records, one tree per sentence with
    its hits highlighted (consecutive hits of a sentence together)."""
    db = Path(db)
    with Index(db) as index, translate_errors(db):
        current: Tree | None = None
        for n, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                hit = json.loads(line)
                corpus, sentid, node = hit["corpus"], hit["sentid"], hit.get("id")
                if not (isinstance(corpus, str) and isinstance(sentid, str)
                        and (node is None or isinstance(node, str))):
                    raise TypeError("corpus, sentid and id are strings")
            except (ValueError, KeyError, TypeError, AttributeError):
                raise InputError(f"standard input, line {n}: not a search hit; give the "
                                 "output of treeindex search --format nl") from None
            if current is None or (current.corpus, current.sentid) != (corpus, sentid):
                if current is not None:
                    yield current
                current = find_in(index, sentid, corpus)
            if node is not None:
                current.highlight.add(node)
        if current is not None:
            yield current


def highlight_query(tree: Tree, xpath: str, macros: dict[str, str] | None = None) -> None:
    """Add the nodes an XPath query (its %macros% expanded) selects in the tree's sentence
    to its highlights."""
    from .search import compile_query

    query = compile_query(xpath, macros)
    tree.highlight |= {i for el in query.select(tree.root()) if (i := el.get("id")) is not None}
