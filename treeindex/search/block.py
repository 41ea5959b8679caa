"""A node block read for a search: the columns of search/nodestore.py as numpy arrays,
decompressed when first asked for, and the axis primitives the engine builds on.

Elements are numbered in document order within the block; `parent`, `size` and the sentence
bounds give every XPath axis as array operations over the whole block at once:
`back(axis, M)[i]` is true when some element on `axis` from element `i` is in the mask `M`.
"""

from __future__ import annotations

import sqlite3

import numpy as np
import zstandard

from ..store.codec import zstd_decompressor
from .nodestore import parse_header

# the numpy type of each section type a block's header names
TYPES = {"i4": "<i4", "u1": "u1", "u2": "<u2", "u4": "<u4"}
INVERSE = {"child": "parent", "parent": "child", "descendant": "ancestor",
           "ancestor": "descendant", "descendant-or-self": "ancestor-or-self",
           "ancestor-or-self": "descendant-or-self", "following-sibling": "preceding-sibling",
           "preceding-sibling": "following-sibling", "following": "preceding",
           "preceding": "following", "self": "self"}
MAX_SECTION = 1 << 30  # a section never inflates past this (a crafted blob cannot)
# what reading a damaged block raises (zstd, the header's JSON, a missing section, sizes)
BLOCK_ERRORS = (ValueError, KeyError, IndexError, TypeError, zstandard.ZstdError)


def read(conn: sqlite3.Connection, block_id: int) -> Block:
    """A stored block (node_blocks.data), its columns decompressed when first asked for."""
    (data,) = conn.execute("SELECT CAST(data AS BLOB) FROM node_blocks WHERE id = ?",
                           (block_id,)).fetchone()
    return Block(data)


class Block:
    def __init__(self, blob: bytes) -> None:
        self.blob = blob
        header, self._start = parse_header(blob)
        self.sentences: int = header["sentences"]
        self.n: int = header["elements"]
        self._sections = {name: (off, ln, kind) for name, off, ln, kind in header["sections"]}
        self._cache: dict[str, object] = {}

    def _raw(self, name: str) -> bytes:
        off, ln, _ = self._sections[name]
        start = self._start + off
        return zstd_decompressor().decompress(self.blob[start:start + ln],
                                          max_output_size=MAX_SECTION)

    def _array(self, name: str) -> np.ndarray:
        a = self._cache.get(name)
        if a is None:
            kind = self._sections[name][2]
            a = self._cache[name] = np.frombuffer(self._raw(name), dtype=TYPES[kind])
        return a  # type: ignore[return-value]

    @property
    def sent(self) -> np.ndarray:
        return self._array("sent").astype(np.int64)

    @property
    def plain(self) -> np.ndarray:
        return self._array("plain").astype(bool)

    @property
    def kind(self) -> np.ndarray:
        return self._array("kind")

    @property
    def parent(self) -> np.ndarray:
        a = self._cache.get("#parent")
        if a is None:
            a = self._cache["#parent"] = self._array("parent").astype(np.int64)
        return a  # type: ignore[return-value]

    @property
    def size(self) -> np.ndarray:
        a = self._cache.get("#size")
        if a is None:
            a = self._cache["#size"] = self._array("size").astype(np.int64)
        return a  # type: ignore[return-value]

    def derived(self, name: str) -> np.ndarray:
        a = self._cache.get("#" + name)
        if a is None:
            a = self._cache["#" + name] = getattr(self, "_make_" + name)()
        return a  # type: ignore[return-value]

    def _make_iota(self) -> np.ndarray:
        """0, 1, ..., n - 1 (read-only: shared by every use)."""
        a = np.arange(self.n)
        a.flags.writeable = False
        return a

    def _make_sentence_of(self) -> np.ndarray:
        return np.repeat(np.arange(self.sentences), np.diff(self.sent))

    def _make_sent_end(self) -> np.ndarray:
        return self.sent[1:][self.derived("sentence_of")]

    def _make_sib_order(self) -> np.ndarray:
        """The elements grouped by parent, document order within each group."""
        return np.argsort(self.derived("sib_key"), kind="stable")

    def _make_sib_key(self) -> np.ndarray:
        """The parent; for the root (no parent) a group of its own."""
        return np.where(self.parent >= 0, self.parent, -1 - self.derived("iota"))

    def _make_nchildren(self) -> np.ndarray:
        p = self.parent
        return np.bincount(p[p >= 0], minlength=self.n)

    def ids(self, name: str) -> np.ndarray:
        """A column's ids per element (0: no such attribute), its vocabulary not read."""
        key = "#ids:" + name
        a = self._cache.get(key)
        if a is None:
            if "a:" + name not in self._sections:
                a = np.zeros(self.n, dtype=np.int64)
            else:
                a = self._array("a:" + name)
                if a.dtype == np.uint8:  # (the engine's arithmetic on ids assumes 16 bits
                    a = a.astype(np.uint16)  # at least, as blocks before stop 41 had them)
            self._cache[key] = a
        return a  # type: ignore[return-value]

    def value_id(self, name: str, value: str) -> int:
        """The id of a value in a column (0: no element has it), found in the stored
        vocabulary's bytes without decoding it."""
        key = "#raw:" + name
        raw = self._cache.get(key)
        if raw is None:
            raw = self._cache[key] = (b"\0" + self._raw("v:" + name) + b"\0"
                                      if "v:" + name in self._sections else b"")
        assert isinstance(raw, bytes)
        v = value.encode("utf-8")
        if b"\0" in v:
            return 0
        at = raw.find(b"\0" + v + b"\0")
        return 0 if at < 0 else raw.count(b"\0", 0, at) + 1

    @property
    def is_node(self) -> np.ndarray:
        a = self._cache.get("#is_node")
        if a is None:
            a = self._cache["#is_node"] = self.kind == 1
        return a  # type: ignore[return-value]

    def column(self, name: str) -> tuple[np.ndarray, list[str]]:
        """(ids per element, vocabulary with '' at 0: id 0 is 'no such attribute')."""
        key = "@" + name
        c = self._cache.get(key)
        if c is None:
            if "a:" + name not in self._sections:
                c = (np.zeros(self.n, dtype=np.int64), [""])
            else:
                ids = self.ids(name)
                vocab = [""] + self._raw("v:" + name).decode("utf-8").split("\0")
                if len(vocab) == 1 + 1 and vocab[1] == "" and not ids.any():
                    vocab = [""]
                c = (ids, vocab)
            self._cache[key] = c
        return c  # type: ignore[return-value]

    def joined(self, name: str) -> str | None:
        """The column's vocabulary joined by NUL, where kept (a superblock); None here."""
        return None

    def lowered(self, joined: str | None) -> str | None:
        """A kept joined vocabulary in lower case (lower-case() of a column, made once for
        all queries); None here."""
        return None

    # --- axes -----------------------------------------------------------------------------

    def back(self, axis: str, m: np.ndarray) -> np.ndarray:
        """Elements i with some element on `axis` from i in the mask m."""
        n = self.n
        p = self.parent
        if axis == "self":
            return m
        if axis == "child":  # i has a child in m
            out = np.zeros(n, dtype=bool)
            idx = np.flatnonzero(m)
            par = p[idx]
            out[par[par >= 0]] = True
            return out
        if axis == "parent":
            return np.where(p >= 0, m[np.maximum(p, 0)], False)
        if axis in ("descendant", "descendant-or-self"):
            cs = np.concatenate(([0], np.cumsum(m, dtype=np.int64)))
            i = self.derived("iota")
            out = cs[i + 1 + self.size] - cs[i + 1] > 0
            return out | m if axis == "descendant-or-self" else out
        if axis in ("ancestor", "ancestor-or-self"):
            d = np.zeros(n + 1, dtype=np.int64)
            idx = np.flatnonzero(m)
            np.add.at(d, idx + 1, 1)
            np.add.at(d, idx + 1 + self.size[idx], -1)
            out = np.cumsum(d)[:n] > 0
            return out | m if axis == "ancestor-or-self" else out
        if axis in ("following-sibling", "preceding-sibling"):
            order = self.derived("sib_order")
            key = self.derived("sib_key")[order]
            ms = m[order].astype(np.int64)
            cs = np.cumsum(ms)
            starts = np.concatenate(([True], key[1:] != key[:-1]))
            gid = np.cumsum(starts) - 1
            first = np.flatnonzero(starts)
            last = np.concatenate((first[1:], [len(order)])) - 1
            before = cs - ms - (cs[first] - ms[first])[gid]  # in m, earlier in the group
            after = cs[last][gid] - cs  # in m, later in the group
            res = after > 0 if axis == "following-sibling" else before > 0
            out = np.zeros(n, dtype=bool)
            out[order] = res
            return out
        if axis == "following":
            cs = np.concatenate(([0], np.cumsum(m, dtype=np.int64)))
            i = self.derived("iota")
            return cs[self.derived("sent_end")] - cs[i + 1 + self.size] > 0
        if axis == "preceding":
            so = self.derived("sentence_of")
            end = self.derived("iota") + self.size  # last element of each subtree
            big = np.iinfo(np.int64).max
            first_end = np.full(self.sentences, big, dtype=np.int64)
            idx = np.flatnonzero(m)
            np.minimum.at(first_end, so[idx], end[idx])
            return first_end[so] < self.derived("iota")
        raise KeyError(axis)

    def pairs(self, axis: str, src: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(i, j) for every element i of `src` (element numbers) and j on `axis` from i."""
        p = self.parent
        if axis == "self":
            return src, src
        if axis == "parent":
            keep = p[src] >= 0
            return src[keep], p[src][keep]
        if axis in ("child", "following-sibling", "preceding-sibling"):
            order = self.derived("sib_order")
            nch = self.derived("nchildren")
            # children of x sit at order[start[x] : start[x] + nch[x]]
            start = self._child_start()
            if axis == "child":
                base = src
            else:
                keep = p[src] >= 0
                src = src[keep]
                base = p[src]
            counts = nch[base]
            i = np.repeat(src, counts)
            offs = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
            j = order[np.repeat(start[base], counts) + offs]
            if axis == "following-sibling":
                keep = j > i
            elif axis == "preceding-sibling":
                keep = j < i
            else:
                return i, j
            return i[keep], j[keep]
        if axis in ("descendant", "descendant-or-self"):
            self_too = axis == "descendant-or-self"
            counts = self.size[src] + (1 if self_too else 0)
            i = np.repeat(src, counts)
            offs = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
            j = i + offs + (0 if self_too else 1)
            return i, j
        if axis in ("ancestor", "ancestor-or-self"):
            si, sj = [], []
            if axis == "ancestor-or-self":
                si.append(src)
                sj.append(src)
            cur_i, cur_j = src, p[src]
            while len(cur_i):
                keep = cur_j >= 0
                cur_i, cur_j = cur_i[keep], cur_j[keep]
                si.append(cur_i)
                sj.append(cur_j)
                cur_j = p[cur_j]
            if not si:
                return src[:0], src[:0]
            i = np.concatenate(si)
            j = np.concatenate(sj)
            order = np.lexsort((j, i))
            return i[order], j[order]
        if axis in ("following", "preceding"):
            sent = self.sent
            so = self.derived("sentence_of")[src]
            if axis == "following":
                lo = src + 1 + self.size[src]
                hi = sent[so + 1]
            else:
                lo = sent[so]
                hi = src
            counts = np.maximum(hi - lo, 0)
            i = np.repeat(src, counts)
            offs = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
            j = np.repeat(lo, counts) + offs
            if axis == "preceding":  # not an ancestor: its subtree ends before i
                keep = j + self.size[j] < i
                i, j = i[keep], j[keep]
            return i, j
        raise KeyError(axis)

    def _child_start(self) -> np.ndarray:
        c = self._cache.get("#child_start")
        if c is None:
            nch = self.derived("nchildren")
            order = self.derived("sib_order")
            key = self.derived("sib_key")[order]
            # the first position of each parent's group in sib_order
            start = np.zeros(self.n, dtype=np.int64)
            has_parent = key >= 0
            pos = np.arange(len(order))
            par = key[has_parent]
            ppos = pos[has_parent]
            first = np.concatenate(([True], par[1:] != par[:-1])) if len(par) else par
            start[par[first]] = ppos[first]
            c = self._cache["#child_start"] = np.where(nch > 0, start, 0)
        return c  # type: ignore[return-value]
