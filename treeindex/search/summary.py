"""The node table's summary: every attribute name its elements have, and per attribute the
values that hold an ASCII capital (tables `node_names`, `node_values`). The notes on a query's
mistakes (search/feedback.py) look these up instead of reading every block: the search terms
fold capitals, so only the stored values can tell `@cat="NP"` (no such node) from
`@postag="N(soort,ev,basis,zijd,stan)"` (many), and `@Cat` from `@cat`.

Written with the blocks, in the same transaction (ingest's writer, `upgrade`, `merge`), so it
is exact for every block from `settings.values_from` (a node_blocks id) on; `upgrade`
summarizes the blocks of an older index. An attribute with more than `CAP` such values (proper
names in `root` or `sense` on a large corpus) is marked `open` and not listed further: its
capitals are not checked. `word` and `lemma` are not listed: the notes try their case variants
through the search terms. `treeindex rm` leaves the summary as it is: a superset, which can
keep a note from being given but never gives a wrong one.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Collection

import zstandard

from ..store.codec import zstd_decompressor
from .nodestore import parse_header

CAP = 1000  # values with capitals listed per attribute; beyond, the attribute is `open`
UNLISTED = frozenset(("word", "lemma"))


def of_block(blob: bytes, skip: Collection[str] = ()) -> dict[str, list[str]]:
    """Each attribute name of the block, with its values that hold an ASCII capital (none
    listed for `word` and `lemma`, nor for the names in `skip`). ValueError if the blob is
    not a block."""
    header, start = parse_header(blob)
    out: dict[str, list[str]] = {}
    for name, offset, length, _ in header["sections"]:
        if name.startswith("a:"):
            out.setdefault(name[2:], [])
        elif name.startswith("v:") and name[2:] not in UNLISTED and name[2:] not in skip:
            raw = blob[start + offset:start + offset + length]
            data = zstd_decompressor().decompress(raw, max_output_size=1 << 30)
            if data.lower() != data:  # (bytes.lower folds ASCII only: fast, and exact)
                out[name[2:]] = [v.decode("utf-8", "replace") for v in data.split(b"\0")
                                 if v.lower() != v]
    return out


class Summary:
    """What is in the tables, kept in memory by one writer (at most CAP values per name), so
    that a block adds only what is new."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.reload()

    def reload(self) -> None:
        """Read what is committed (after a transaction was undone)."""
        self.open: dict[str, int] = dict(self.conn.execute(
            "SELECT name, open FROM node_names"))
        self.values: dict[str, set[str]] = {}
        for name, value in self.conn.execute("SELECT name, value FROM node_values"):
            self.values.setdefault(name, set()).add(value)

    def add(self, found: dict[str, list[str]]) -> None:
        """Record one block's names and values (inside the caller's transaction)."""
        conn = self.conn
        for name, values in found.items():
            if name not in self.open:
                conn.execute("INSERT OR IGNORE INTO node_names (name, open) VALUES (?, 0)",
                             (name,))
                self.open[name] = 0
            if self.open[name] or not values:
                continue
            have = self.values.setdefault(name, set())
            new = [v for v in dict.fromkeys(values) if v not in have]
            if not new:
                continue
            if len(have) + len(new) > CAP:  # (none kept: what is stored depends only on
                conn.execute("UPDATE node_names SET open = 1 WHERE name = ?", (name,))
                conn.execute("DELETE FROM node_values WHERE name = ?", (name,))  # the input)
                self.open[name] = 1
                have.clear()
                continue
            conn.executemany("INSERT OR IGNORE INTO node_values (name, value) VALUES (?, ?)",
                             [(name, v) for v in new])
            have.update(new)

    def add_block(self, blob: bytes) -> None:
        """Record a block (a damaged one, or a value that is not a blob, which only a
        crafted file can bring, adds nothing: it is searched through lxml)."""
        try:
            found = of_block(blob, skip={n for n, o in self.open.items() if o})
        except (ValueError, KeyError, TypeError, zstandard.ZstdError):
            return
        self.add(found)


def ready(conn: sqlite3.Connection) -> bool:
    """Whether the summary covers every node block (an older index's blocks wait for
    `treeindex upgrade`)."""
    try:
        row = conn.execute("SELECT value FROM settings WHERE key = 'values_from'").fetchone()
        if row is None:
            return False
        return conn.execute("SELECT NOT EXISTS (SELECT 1 FROM node_blocks WHERE id < ?)",
                            (int(row[0]),)).fetchone()[0] == 1
    except sqlite3.OperationalError:  # (an index without the tables)
        return False


def names(conn: sqlite3.Connection) -> set[str]:
    return {str(n) for n, in conn.execute("SELECT name FROM node_names")}


def has_value(conn: sqlite3.Connection, name: str, value: str) -> bool | None:
    """Whether some node has @name = value exactly, for a value with an ASCII capital; None
    where the summary cannot tell (word, lemma, an open attribute)."""
    if name in UNLISTED:
        return None
    row = conn.execute("SELECT open FROM node_names WHERE name = ?", (name,)).fetchone()
    if row is None:
        return False
    if row[0]:
        return None
    return conn.execute("SELECT 1 FROM node_values WHERE name = ? AND value = ?",
                        (name, value)).fetchone() is not None
