"""A block's hit records (search/run.py `Hit`), made for the hits a search prints: from the
block's columns, for the sentences with hits only where those are few in the block; by
parsing the hit sentences with lxml where they are at most LXML_RECORDS_MAX; through lxml
where a column the records need is damaged. Equal to the lxml path's records either way
(tests/test_search_engine.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from ..store import Index
from .block import BLOCK_ERRORS
from .run import Hit, SearchTask, run_search_task
from .xpath import Query

if TYPE_CHECKING:
    from .fast import Selected


def sentences_of(sel: Selected) -> set[int]:
    """The block sentences (0-based) with hits."""
    return set(np.unique(sel.sentence).tolist()) | set(sel.other)


def node_positions(sel: Selected) -> list[tuple[int, list[int]]]:
    """(block sentence, node positions) of the hits, in document order."""
    assert sel.block is not None
    b = sel.block
    pos = sel.elements - b.sent[sel.sentence] - 2  # root and alpino_ds come first
    out: dict[int, list[int]] = {}
    for k, p in zip(sel.sentence.tolist(), pos.tolist()):
        out.setdefault(k, []).append(p)
    out.update(sel.other)
    return sorted(out.items())


# a block whose hits are in at most this many of its sentences has its records made by
# parsing those sentences with lxml (about 0.17 ms each) rather than from the block's
# columns (reading the block again and decoding the columns the records need: 1.3-2.8 ms,
# measured on 200 MB; the first page of `@cat="whq"` spans 15 such blocks): XPath 1.0 only
# (elementpath takes about 2 ms a sentence), and not from superblocks kept decoded
LXML_RECORDS_MAX = 8
_xpath1: dict[str, bool] = {}


def hits(index: Index, sel: Selected, corpus: str, details: bool, attrs: tuple[str, ...],
         with_xml: bool, query: str) -> Iterator[Hit]:
    """The hits of a block, as records (made by lxml where they are in few of its sentences,
    or if a column the records need is damaged: the selection itself came from columns
    that could be read)."""
    few = sorted(sentences_of(sel))
    if 0 < len(few) <= LXML_RECORDS_MAX and _is_xpath1(query) \
            and not _kept(str(index.path)):
        seqs = tuple(sel.row.first_seq + k for k in few)
        return iter(run_search_task(SearchTask(
            str(index.path), query, sel.corpus_id, corpus, seqs[0], seqs[-1], with_xml,
            attrs, details, seqs)).hits)
    try:
        made = _records(index, sel, corpus, details, attrs, with_xml)
    except BLOCK_ERRORS:
        task = SearchTask(str(index.path), query, sel.corpus_id, corpus, sel.row.first_seq,
                          sel.row.first_seq + sel.row.count - 1, with_xml, attrs, details)
        return iter(run_search_task(task).hits)
    return made


def _kept(db: str) -> bool:
    from .fast import kept_superblocks  # (fast imports this module)

    return kept_superblocks(db) > 0


def _is_xpath1(query: str) -> bool:
    known = _xpath1.get(query)
    if known is None:
        known = _xpath1[query] = Query(query, lazy=True).engine == "lxml"
    return known


# a block whose hits are in at most this share of its sentences has only those sentences'
# columns and labels read (a first page of a common category: 12 blocks of 400-500
# sentences with 1-8 hits each took 12 ms a block when every column of every sentence was
# made a list; the whole block's lists pay off when hits are dense)
SPARSE_SHARE = 4
# a dense block's labels are read for its hits' (sentence id << NODE_BITS | node) only
NODE_BITS = 32


def _records(index: Index, sel: Selected, corpus: str, details: bool,
             attrs: tuple[str, ...], with_xml: bool) -> Iterator[Hit]:
    """What `hits` yields; everything that reads the block happens before the first."""
    b = sel.load(index)
    first, count = sel.row.first, sel.row.count
    positions_of = node_positions(sel)
    if not positions_of:  # (a block without hits: nothing to read)
        return iter(())
    # the sentences whose rows, labels and element ranges are read: those with hits, or all
    sparse = len(positions_of) * SPARSE_SHARE <= count
    params: tuple = ()
    if sparse:
        # (ids written in: a superblock's hit sentences may pass SQLite's bound-variable limit)
        where = f"id IN ({','.join(str(int(first) + k) for k, _ in positions_of)})"
        spans = [(int(b.sent[k]), int(b.sent[k + 1])) for k, _ in positions_of]
    else:
        where, params = "id BETWEEN ? AND ?", (first, first + count - 1)
    info = {sid - first: row for sid, *row in index.conn.execute(
        "SELECT id, seq, sentid, text, first_subtree, subtree_count FROM sentences WHERE "
        + where, params)}
    labels: dict[tuple[int, int], str] = {}
    if details and info and sparse:  # the hit sentences' subtrees, in one query
        at = {info[k][3]: k for k, _ in positions_of if info[k][4]}  # first subtree -> k
        labels = {(at[f], node): label for (f, node), label in index.labels_of(
            [(f, f + info[k][4] - 1) for f, k in at.items()]).items()}
    elif details and info:
        rows = info.values()
        bounds = (min(r[3] for r in rows), max(r[3] + r[4] for r in rows) - 1)
        label_sql = "SELECT sentence_id, node, cat, n FROM subtrees WHERE id BETWEEN ? AND ?"
        keys: tuple = ()
        if all(0 <= p < 1 << NODE_BITS for _, ps in positions_of for p in ps):
            # only the hits' own rows come to Python: a dense block's range holds about ten
            # subtrees for each hit (460,000 rows for 43,590 hits on 200 MB; their listing
            # 0.75 x); the key (sentence, node) is exact for nodes below 2**NODE_BITS
            label_sql += (f" AND (sentence_id << {NODE_BITS}) | node IN "
                          "(SELECT value FROM json_each(?))")
            keys = (json.dumps([((first + k) << NODE_BITS) | p for k, ps in positions_of
                                for p in ps]),)
        labels = {(sid - first, node): f"{cat}-{n}" for sid, node, cat, n in
                  index.conn.execute(label_sql, (*bounds, *keys))}

    def values(name: str, convert: Any = None) -> list:
        """A column as a Python list over the block's elements (None where absent, and
        outside `spans`; each distinct value converted once): one pass per block, not array
        lookups per hit."""
        ids, vocab = b.column(name)
        table = np.empty(len(vocab), dtype=object)  # (gathered by numpy, not one by one)
        table[1:] = vocab[1:] if convert is None else [convert(v) for v in vocab[1:]]
        if not sparse:
            return table[ids].tolist()
        out: list = [None] * len(ids)
        for lo, hi in spans:
            out[lo:hi] = table[ids[lo:hi]].tolist()
        return out

    ident, cat, pt, rel = (values(n) for n in ("id", "cat", "pt", "rel"))
    begin, end = values("begin", _int), values("end", _int)
    asked = [values(a) for a in attrs]
    word = values("word") if details else []
    size = b.size.tolist()

    def leaves(lo: int, hi: int) -> list[tuple[int, str]]:
        """(begin, word) of the words among elements lo..hi-1, in sentence order."""
        return sorted((g, w) for w, g in zip(word[lo:hi], begin[lo:hi])
                      if w is not None and g is not None)

    def made() -> Iterator[Hit]:
        first = sel.row.first
        for k, positions in positions_of:
            seq, sentid, text, _, _ = info[k]
            base = int(b.sent[k]) + 2
            if text is None and details:  # no <sentence>: its words, from the leaves
                text = " ".join(w for _, w in leaves(int(b.sent[k]), int(b.sent[k + 1])))
            xml = None
            if with_xml:
                (zxml,) = index.conn.execute("SELECT xml FROM sentences WHERE id = ?",
                                             (first + k,)).fetchone()
                xml = index.decode(zxml)
            for p in positions:
                el = base + p
                words: list[str] = []
                places: list[int] = []
                if details:
                    under = leaves(el, el + size[el] + 1)
                    words = [w for _, w in under]
                    places = [g for g, _ in under]
                yield Hit(corpus, sentid, ident[el], cat[el], pt[el], rel[el], begin[el], end[el],
                          words, places, text or "", labels.get((k, p)), seq,
                          tuple(a[el] for a in asked), xml)
                xml = None

    return made()


def _int(v: str | None) -> int | None:
    try:
        return int(v) if v is not None else None
    except ValueError:
        return None
