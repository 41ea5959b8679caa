"""The read side of an index: what export, query and everything after read, through one
read-only connection (opened in the process that uses it: never across a fork)."""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

from . import connect
from .codec import Decoder
from .connect import connect_read, terms_from, translate_errors


class CorpusRow(NamedTuple):
    id: int
    name: str
    kind: str
    source: str
    sentences: int  # committed
    complete: bool
    stamp: tuple  # (name, fingerprint, started_at): differs once the corpus was replaced


class Sentence(NamedTuple):
    sentid: str
    text: str | None
    xml: bytes  # the <alpino_ds> element, UTF-8, decompressed


_per_process: dict[tuple[int, int, str], Index] = {}
# FTS5's ascii tokenizer folds ASCII capitals (and nothing else): the vocabulary has them so
_FOLD = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


# A process that opens its index many times (connect.remember_checks: a command run by
# `treeindex server` opens it four times: plan, notes, search, the check that nothing was
# replaced; a web search worker as often in every search, closing it after each with
# release_idle) keeps the connection of each Index closed for the next one its thread opens
# of the same file (device and inode), so that SQLite reads the schema and the pages they
# share once. One per process and thread: the one kept of a file since replaced is closed
# when the next is opened.
_idle: dict[tuple[int, int], tuple[tuple[int, int], sqlite3.Connection]] = {}


def _reuse_key(path: Path) -> tuple[int, int] | None:
    """The file's (device, inode), where connections are kept; None where not."""
    if not connect.remember_checks:
        return None
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


def release_idle() -> None:
    """Close the connections this process keeps (a long-lived process, between two jobs: a
    statement some caller left unfinished would keep the old state of the file in view)."""
    for slot in [k for k in _idle if k[0] == os.getpid()]:
        _idle.pop(slot)[1].close()


@contextmanager
def remembered_checks() -> Iterator[None]:
    """Within: each open of an unchanged index skips its checks, and one connection serves
    the opens of a thread (a command opens its index four times). After it: checks as
    before, and the connection kept is closed, so that a process that goes on (a test's, a
    library user's) never hands it to a file since replaced at the same inode."""
    if connect.remember_checks:  # (a process that remembers for its whole life: a server's)
        yield
        return
    connect.remember_checks = True
    try:
        yield
    finally:
        connect.remember_checks = False
        connect.forget_checks()
        release_idle()


def _take_idle(key: tuple[int, int]) -> sqlite3.Connection | None:
    kept = _idle.pop((os.getpid(), threading.get_ident()), None)
    if kept is None:
        return None
    if kept[0] != key:
        kept[1].close()
        return None
    return kept[1]


_RANGES_PER_QUERY = 500  # (labels_of: ranges of subtree ids a query)


class Index:
    """An index opened for reading (works while an ingest writes to it)."""

    @classmethod
    def for_process(cls, path: Path | str) -> Index:
        """One Index per process, thread and path, kept open for the tasks a worker runs
        (keyed by pid, so that a connection never crosses a fork, and by thread: the threads
        that evaluate kept superblocks each have their own)."""
        key = (os.getpid(), threading.get_ident(), str(path))
        index = _per_process.get(key)
        if index is None:
            index = _per_process[key] = cls(path)
        return index

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._key = _reuse_key(self.path)
        conn = _take_idle(self._key) if self._key is not None else None
        if conn is None:
            with translate_errors(self.path):
                conn = connect_read(self.path)
        self.conn = conn
        self.decode = Decoder(self.conn, self.path)  # a sentences.xml blob -> the sentence's XML
        self._vocab = False

    def terms_from(self) -> int | None:
        """The first sentence id from which on sentences have search terms (None: none)."""
        return terms_from(self.conn)

    def close(self) -> None:
        slot = (os.getpid(), threading.get_ident())
        if self._key is not None and not self.conn.in_transaction and slot not in _idle:
            _idle[slot] = (self._key, self.conn)  # (the next Index of this file in this thread)
            return
        self.conn.close()

    def __enter__(self) -> Index:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def snapshot(self) -> Iterator[Index]:
        """Everything read inside sees one state of the index, even while an ingest writes."""
        self.conn.execute("BEGIN")
        try:
            yield self
        finally:
            self.conn.execute("COMMIT")

    def corpora(self) -> list[CorpusRow]:
        return [CorpusRow(cid, name, kind, source, sentences, bool(complete),
                          (name, fingerprint, started))
                for cid, name, kind, source, sentences, complete, fingerprint, started
                in self.conn.execute(
                    "SELECT id, name, kind, source, sentences, complete, fingerprint, "
                    "started_at FROM corpora ORDER BY id")]

    def corpus_stamp(self, corpus_id: int) -> tuple | None:
        """(name, fingerprint, started_at) of a corpus, None if it is gone."""
        return self.conn.execute(
            "SELECT name, fingerprint, started_at FROM corpora WHERE id = ?",
            (corpus_id,)).fetchone()

    def categories(self) -> list[str]:
        """Every category, most subtrees first."""
        return [r[0] for r in self.conn.execute(
            "SELECT cat FROM corpus_categories GROUP BY cat ORDER BY sum(subtrees) DESC, cat")]

    def corpus_categories(self, corpus_id: int) -> list[tuple[str, int]]:
        """(cat, subtrees) of one corpus, by name."""
        return self.conn.execute(
            "SELECT cat, subtrees FROM corpus_categories WHERE corpus_id = ? AND subtrees > 0 "
            "ORDER BY cat", (corpus_id,)).fetchall()

    def sentence(self, sentence_id: int) -> Sentence:
        sentid, text, zxml = self.conn.execute(
            "SELECT sentid, text, xml FROM sentences WHERE id = ?", (sentence_id,)).fetchone()
        return Sentence(sentid, text, self.decode(zxml))

    def sentences(self, corpus_id: int, first_seq: int, last_seq: int) -> sqlite3.Cursor:
        """(seq, sentid, text, compressed xml (see `decode`), first_subtree, subtree_count)
        of the corpus's sentences first_seq..last_seq, in document order."""
        return self.conn.execute(
            "SELECT seq, sentid, text, xml, first_subtree, subtree_count FROM sentences "
            "WHERE corpus_id = ? AND seq BETWEEN ? AND ? ORDER BY seq",
            (corpus_id, first_seq, last_seq))

    def sentences_at(self, corpus_id: int, seqs: list[int]) -> sqlite3.Cursor:
        """As `sentences`, for the sentences at these positions (ascending)."""
        return self.conn.execute(
            "SELECT seq, sentid, text, xml, first_subtree, subtree_count FROM sentences "
            "WHERE corpus_id = ? AND seq IN (SELECT value FROM json_each(?)) ORDER BY seq",
            (corpus_id, json.dumps(seqs)))

    def candidates(self, match: str, terms_from: int) -> dict[int, list[int]]:
        """corpus id -> the positions (ascending) of the sentences the search terms MATCH
        expression selects, and of every sentence older than the terms (id < terms_from).
        Ids of sentences since removed (`treeindex rm`) may still be in the terms; they
        find no sentence and drop out here."""
        found: dict[int, set[int]] = {}
        rows = self.conn.execute(
            "SELECT s.corpus_id, s.seq FROM (SELECT rowid AS id FROM search_terms "
            "WHERE search_terms MATCH ?) AS c JOIN sentences AS s ON s.id = c.id "
            "UNION ALL SELECT corpus_id, seq FROM sentences WHERE id < ?",
            (match, terms_from))
        for corpus_id, seq in rows:
            found.setdefault(corpus_id, set()).add(seq)
        return {c: sorted(seqs) for c, seqs in found.items()}

    def term_sentences(self, term: str, cap: int | None = None) -> int:
        """In how many sentences a search term occurs: all of them (from the FTS5
        vocabulary, which reads the term's whole list: 10 ms for a frequent term at 1 GB,
        and growing with the index), or counted up to `cap` + 1 (the list's start only)."""
        if cap is not None:
            return int(self.conn.execute(
                "SELECT count(*) FROM (SELECT 1 FROM search_terms WHERE search_terms MATCH ? "
                "LIMIT ?)", (f'"{term}"', cap + 1)).fetchone()[0])
        if not self._vocab:
            self.conn.execute("CREATE VIRTUAL TABLE IF NOT EXISTS temp.search_vocab USING "
                              "fts5vocab(main, search_terms, 'row')")
            self._vocab = True
        row = self.conn.execute("SELECT doc FROM temp.search_vocab WHERE term = ?",
                                (term.translate(_FOLD),)).fetchone()
        return int(row[0]) if row else 0

    def has_term(self, term: str) -> bool:
        """Whether some sentence has this search term (the first of its list only)."""
        return self.term_sentences(term, cap=0) > 0

    def terms_from_prefix(self, prefix: str, limit: int) -> list[tuple[str, int]]:
        """(term, sentences) of the search terms that start with `prefix` (ASCII: the
        vocabulary's order), at most `limit` of them."""
        self.term_sentences("")  # (the vocabulary table)
        prefix = prefix.translate(_FOLD)
        end = prefix[:-1] + chr(ord(prefix[-1]) + 1)
        return [(t, int(n)) for t, n in self.conn.execute(
            "SELECT term, doc FROM temp.search_vocab WHERE term >= ? AND term < ? LIMIT ?",
            (prefix, end, limit))]

    def labels_of(self, ranges: list[tuple[int, int]]) -> dict[tuple[int, int], str]:
        """(first, node position) -> 'cat-n' for the subtrees of the ranges (first, last)
        (each one sentence's): one query for up to _RANGES_PER_QUERY ranges."""
        out: dict[tuple[int, int], str] = {}
        for k in range(0, len(ranges), _RANGES_PER_QUERY):
            part = json.dumps(ranges[k:k + _RANGES_PER_QUERY])
            out.update(((first, node), f"{cat}-{n}") for first, node, cat, n in self.conn.execute(
                "SELECT json_extract(r.value, '$[0]'), t.node, t.cat, t.n FROM json_each(?) AS r "
                "CROSS JOIN subtrees AS t ON t.id BETWEEN json_extract(r.value, '$[0]') "
                "AND json_extract(r.value, '$[1]')", (part,)))  # (r outer: rowid ranges)
        return out

    def subtree_range(self, corpus_id: int, first_seq: int, last_seq: int
                      ) -> tuple[int, int] | None:
        """The subtree ids (first, last) of the corpus's sentences first_seq..last_seq."""
        first, last = self.conn.execute(
            "SELECT min(first_subtree), max(first_subtree + subtree_count) - 1 FROM sentences "
            "WHERE corpus_id = ? AND seq BETWEEN ? AND ?",
            (corpus_id, first_seq, last_seq)).fetchone()
        if first is None or last < first:
            return None
        return first, last

    def cut(self, xml: bytes, start: object, end: object, label: str) -> bytes:
        """The `<node>` element at xml[start:end] of subtree `label`; DatabaseError if the
        stored span is not one (a crafted or damaged index)."""
        if not (isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= len(xml)
                and xml.startswith(b"<node", start)):
            from .validate import invalid

            raise invalid(self.path, f"subtree {label} spans bytes {start!r}..{end!r}, which "
                          f"are not a <node> of its sentence ({len(xml):,} bytes)")
        return xml[start:end]

    def spans(self, corpus_id: int, first: int, last: int
              ) -> sqlite3.Cursor:
        """(sentence id, cat, n, xml_start, xml_end) of subtrees first..last, in order."""
        return self.conn.execute(
            "SELECT sentence_id, cat, n, xml_start, xml_end FROM subtrees "
            "WHERE id BETWEEN ? AND ? AND +corpus_id = ? ORDER BY id",  # + : the rowid range
            (first, last, corpus_id))
