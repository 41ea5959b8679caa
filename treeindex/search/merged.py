"""Several node blocks evaluated as one: the engine's fixed cost is per block (Python's
overhead per array operation, about 1 ms), so a query over a superblock of 32 blocks costs
what one block did, plus the array work.

A `MergedBlock` offers the `Block` interface (search/block.py) over its parts, side by side:
elements renumbered by each part's offset (parents too), sentences likewise, and each
attribute column's ids mapped into one vocabulary for the whole superblock (deduplicated,
so equal values have equal ids, as within a block). Every axis is bounded by its sentence,
so a sentence is evaluated exactly as in its own block (a part is a slice of it).

`Superblocks` keeps merged blocks in memory, fully decoded, for a process that answers
many queries (`treeindex server`): built once from the index, handed to every query's
process by fork (shared copy-on-write), and used only for blocks whose row is still the
one it was built from (`fingerprint`), so a changed index is never answered from old
columns.
"""

from __future__ import annotations

import mmap
import os
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from .block import BLOCK_ERRORS, Block, read

# the superblock's derived arrays, computed once when it is kept (search/block.py)
DERIVED = ("iota", "sentence_of", "sent_end", "sib_key", "sib_order", "nchildren")
GROUP = 32  # blocks per superblock: about 500,000 elements


class MergedBlock(Block):
    def __init__(self, parts: Sequence[Block]) -> None:
        self.parts: list[Any] = list(parts)
        self.blob = b""
        sizes = [p.n for p in self.parts]
        self.offsets = np.concatenate(([0], np.cumsum(sizes, dtype=np.int64)))
        self.sentence_offsets = np.concatenate(
            ([0], np.cumsum([p.sentences for p in self.parts], dtype=np.int64)))
        self.n = int(self.offsets[-1])
        self.sentences = int(self.sentence_offsets[-1])
        self._sections = {}
        self._cache: dict[str, object] = {}
        self._names = sorted({k[2:] for p in self.parts for k in p._sections
                              if k.startswith("a:")})

    # the structure, concatenated once and kept ------------------------------------------

    def _kept(self, key: str, make: Callable[[], np.ndarray]) -> np.ndarray:
        a = self._cache.get(key)
        if a is None:
            a = self._cache[key] = make()
        return a  # type: ignore[return-value]

    @property
    def sent(self) -> np.ndarray:
        return self._kept("#sent", lambda: np.concatenate(
            [p.sent[:-1] + off for p, off in zip(self.parts, self.offsets.tolist())]
            + [np.array([self.n], dtype=np.int64)]))

    @property
    def plain(self) -> np.ndarray:
        return self._kept("#plain", lambda: np.concatenate([p.plain for p in self.parts]))

    @property
    def kind(self) -> np.ndarray:
        return self._kept("#kind", lambda: np.concatenate([p.kind for p in self.parts]))

    @property
    def parent(self) -> np.ndarray:
        def make() -> np.ndarray:
            out = []
            for p, off in zip(self.parts, self.offsets.tolist()):
                par = p.parent
                out.append(np.where(par >= 0, par + off, -1))
            return np.concatenate(out)
        return self._kept("#parent", make)

    @property
    def size(self) -> np.ndarray:
        return self._kept("#size", lambda: np.concatenate([p.size for p in self.parts]))

    # columns: one vocabulary for the superblock ---------------------------------------

    def column(self, name: str) -> tuple[np.ndarray, list[str]]:
        key = "@" + name
        c = self._cache.get(key)
        if c is None and name not in self._names:
            c = self._cache[key] = (np.zeros(self.n, dtype=np.int32), [""])
            self._cache["#index:" + name] = {}
        if c is None:
            index: dict[str, int] = {}
            vocab = [""]
            pieces = []
            for p in self.parts:
                ids, local = p.column(name)
                if len(local) == 1:
                    pieces.append(np.zeros(p.n, dtype=np.int32))
                    continue
                table = np.zeros(len(local), dtype=np.int32)
                for k, v in enumerate(local[1:], 1):
                    g = index.get(v)
                    if g is None:
                        g = index[v] = len(vocab)
                        vocab.append(v)
                    table[k] = g
                pieces.append(table[ids])
            ids = np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.int32)
            if len(vocab) <= 1 << 16:  # (half the memory, and comparisons twice as fast)
                ids = ids.astype(np.uint16)
            c = self._cache[key] = (ids, vocab)
            self._cache["#index:" + name] = index
        return c  # type: ignore[return-value]

    def ids(self, name: str) -> np.ndarray:
        return self.column(name)[0]

    def lowered(self, joined: str | None) -> str | None:
        table = self._cache.get("#lowered")
        if joined is None or not isinstance(table, dict):
            return None
        # (by identity: the keys are the kept joined strings themselves, alive as long as
        # the superblock, so no other string can have their id)
        return table.get(id(joined))

    def joined(self, name: str) -> str | None:
        """"\0".join of the column's vocabulary: kept by `decode_all` (for case mappings
        and `positions`, 2.6 ms a superblock for the words)."""
        j = self._cache.get("#joined:" + name)
        return j if isinstance(j, str) else None

    def value_id(self, name: str, value: str) -> int:
        self.column(name)
        index = self._cache["#index:" + name]
        assert isinstance(index, dict)
        return index.get(value, 0)

    # keeping and splitting ------------------------------------------------------------

    def decode_all(self) -> None:
        """Every column and derived array made now (a superblock kept for many queries);
        the parts' own copies are let go."""
        for prop in ("sent", "plain", "kind", "parent", "size", "is_node"):
            getattr(self, prop)
        lowered = {}
        for name in self._names:
            joined = self._cache["#joined:" + name] = "\0".join(self.column(name)[1])
            lowered[id(joined)] = joined.lower()
        self._cache["#lowered"] = lowered
        for name in DERIVED:
            self.derived(name)
        self._child_start()
        self.parts_plain()
        self.parts = [_Shape(p) for p in self.parts]
        self._share()

    def _share(self) -> None:
        """Move the arrays into one mapping, read-only, that a fork copies in no time: a
        fork of a process holding 450 MB of arrays in ordinary pages takes 12 ms (the page
        tables are copied), and its child's exit as long. In transparent huge pages (a
        private mapping with MADV_HUGEPAGE, where the kernel allows them) it takes 2 ms,
        and the child reads them as fast as the parent; else a shared mapping (2 ms too,
        but the child faults each page in on first reading: 7 ms per 100 MB read)."""
        arrays = [(k, v) for k, v in self._cache.items() if isinstance(v, np.ndarray)]
        arrays += [(k, v[0]) for k, v in self._cache.items() if isinstance(v, tuple)]
        total = sum(-(-a.nbytes // 64) * 64 for _, a in arrays)
        if not total:
            return
        self._map = _mapping(total)
        at = 0
        for key, a in arrays:
            view = np.frombuffer(self._map, dtype=a.dtype, count=a.size, offset=at)
            view = view.reshape(a.shape)
            view[...] = a
            view.flags.writeable = False
            at += -(-a.nbytes // 64) * 64
            old = self._cache[key]
            self._cache[key] = (view, old[1]) if isinstance(old, tuple) else view

    def nbytes(self) -> int:
        total = 0
        for key, v in self._cache.items():
            if isinstance(v, np.ndarray):
                total += v.nbytes
            elif isinstance(v, tuple):
                total += v[0].nbytes + sum(len(s) + 50 for s in v[1])
            elif isinstance(v, str):
                total += len(v)
            elif isinstance(v, dict) and key == "#lowered":
                total += sum(len(s) for s in v.values())
        return total

    def parts_plain(self) -> list[bool]:
        """Per part: are all its sentences plain (evaluated from the columns alone)?"""
        c = self._cache.get("#parts_plain")
        if c is None:
            so = self.sentence_offsets.tolist()
            plain = self.plain
            c = self._cache["#parts_plain"] = [bool(plain[so[k]:so[k + 1]].all())
                                               for k in range(len(self.parts))]
        return c  # type: ignore[return-value]



def _huge_pages() -> bool:
    try:
        with open("/sys/kernel/mm/transparent_hugepage/enabled") as f:
            setting = f.read()
    except OSError:
        return False
    return "[always]" in setting or "[madvise]" in setting


def _mapping(size: int) -> mmap.mmap:
    if _huge_pages() and hasattr(mmap, "MADV_HUGEPAGE"):
        m = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
        m.madvise(mmap.MADV_HUGEPAGE)
        return m
    return mmap.mmap(-1, size)


class PartView:
    """One part of a kept superblock, read as its own block (for the records of its hits
    and its statistics): slices of the superblock's arrays, no copy."""

    def __init__(self, m: MergedBlock, part: int) -> None:
        self.m = m
        self.lo, self.hi = int(m.offsets[part]), int(m.offsets[part + 1])
        self.s_lo = int(m.sentence_offsets[part])
        self.sentences = int(m.sentence_offsets[part + 1]) - self.s_lo
        self.n = self.hi - self.lo
        self.sent = m.sent[self.s_lo:self.s_lo + self.sentences + 1] - self.lo


    @property
    def size(self) -> np.ndarray:
        return self.m.size[self.lo:self.hi]

    @property
    def plain(self) -> np.ndarray:
        return self.m.plain[self.s_lo:self.s_lo + self.sentences]

    def sentence_of(self) -> np.ndarray:
        return self.m.derived("sentence_of")[self.lo:self.hi] - self.s_lo

    def column(self, name: str) -> tuple[np.ndarray, list[str]]:
        ids, vocab = self.m.column(name)
        return ids[self.lo:self.hi], vocab


class _Shape:
    """What a kept superblock remembers of a part: its sizes (the columns are merged)."""

    def __init__(self, b: Block) -> None:
        self.n = b.n
        self.sentences = b.sentences
        self._sections: dict[str, Any] = {}


Fingerprint = tuple[int, int, int, int, int]  # (id, corpus id, first sentence, count, bytes)


class Superblocks:
    """Merged blocks kept in memory for the queries of one long-lived process: which block
    (by its row as it was read) is which part of which superblock."""

    def __init__(self, db: str) -> None:
        self.db = db
        st = os.stat(db)
        self._file = (st.st_dev, st.st_ino)
        self._serves: dict[str, bool] = {}
        self.kept: dict[int, tuple[tuple[Fingerprint, ...], MergedBlock]] = {}
        self.where: dict[int, tuple[int, int]] = {}  # block id -> (superblock, part)
        self.prints: dict[int, Fingerprint] = {}
        self.nbytes = 0
        self._next = 0

    def serves(self, db: str) -> bool:
        """Is `db` (a path as a command was given it) the file these blocks came from?"""
        ok = self._serves.get(db)
        if ok is None:
            try:
                st = os.stat(db)
                ok = (st.st_dev, st.st_ino) == self._file
            except OSError:
                ok = False
            self._serves[db] = ok
        return ok

    def add(self, prints: Sequence[Fingerprint], blocks: Iterable[Block]) -> MergedBlock:
        m = MergedBlock(list(blocks))
        m.decode_all()
        k = self._next
        self._next += 1
        self.kept[k] = (tuple(prints), m)
        for part, fp in enumerate(prints):
            self.where[fp[0]] = (k, part)
            self.prints[fp[0]] = fp
        self.nbytes += m.nbytes()
        return m

    def drop(self, k: int) -> None:
        prints, m = self.kept.pop(k)
        for fp in prints:
            if self.where.get(fp[0], (None,))[0] == k:
                del self.where[fp[0]], self.prints[fp[0]]
        self.nbytes -= m.nbytes()

    def find(self, fp: Fingerprint) -> tuple[int, int] | None:
        """(superblock, part) holding this block as its row is now, or None."""
        return self.where.get(fp[0]) if self.prints.get(fp[0]) == fp else None

    def refresh(self, budget: int, group: int = GROUP,
                stop: Callable[[], bool] = lambda: False) -> int:
        """Keep up with the index file, read in one snapshot (no connection left open):
        superblocks with a block that changed or went are dropped; blocks in none are
        merged, a corpus's consecutive blocks `group` at a time, while the kept bytes stay
        under `budget`; `stop()` ends it early. Returns how many blocks were added. A block
        that cannot be read or does not hold its row's sentences is left out (queries
        evaluate it on its own, as in any command)."""
        from ..store import Index

        with Index(self.db) as index, index.snapshot():
            return self._refresh(index.conn, budget, group, stop)

    def _refresh(self, conn: sqlite3.Connection, budget: int, group: int,
                 stop: Callable[[], bool]) -> int:
        rows = [tuple(r) for r in conn.execute(
            "SELECT id, corpus_id, first_sentence, sentences, length(data) FROM node_blocks "
            "ORDER BY corpus_id, first_sentence")]
        now = {r[0]: r for r in rows}
        for k, (prints, _) in list(self.kept.items()):
            if any(now.get(fp[0]) != fp for fp in prints):
                self.drop(k)
        added = 0
        run: list[tuple[Fingerprint, Block]] = []

        def flush() -> None:
            nonlocal added
            if run:
                self.add([fp for fp, _ in run], [b for _, b in run])
                added += len(run)
                run.clear()

        for fp in rows:
            if self.nbytes >= budget or stop():
                break
            if self.find(fp) is not None or (run and run[-1][0][1] != fp[1]):
                flush()
                if self.find(fp) is not None:
                    continue
            try:
                b = read(conn, fp[0])
                if b.sentences != fp[3] or len(b.sent) != fp[3] + 1:
                    raise ValueError("the block does not hold its row's sentences")
            except BLOCK_ERRORS:
                flush()
                continue
            run.append((fp, b))
            if len(run) == group:
                flush()
        flush()
        return added

