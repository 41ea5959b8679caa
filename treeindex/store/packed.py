"""The packed-row format: how a worker hands its rows to the writer.

A worker's rows travel as one small SQLite database image: tables `s`
(sentences), `t` (subtrees) and `p` (the distinct children patterns, in order of first
appearance; `t.pattern` is a row of `p`, so the writer maps each pattern to its id once, not
once per subtree), rows in document order. The writer attaches the image and
copies from it in bulk with `INSERT ... SELECT` (store/writer.py reads these columns), so no
row passes through Python twice and nothing is pickled row by row.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from itertools import chain
from typing import Any

try:  # the image written page by page (store/_pack.c), built where a C compiler was
    from . import _pack  # type: ignore[attr-defined,unused-ignore]
except ImportError:  # pragma: no cover - exercised where the extension was not built
    _pack = None

# i: sentence index in the image, k: subtree index. Created in this order, so that their
# root pages are 2, 3 and 4 in every image, whoever makes it: the writer attaches image after
# image under one name, and SQLite keeps the schema (root pages included) it read from the
# first while the schema cookie stays the same (store/_pack.c writes its images so).
TABLES = (
    "CREATE TABLE s (i INTEGER PRIMARY KEY, sentid, file, offset, text, xml, nsub, first, terms)",
    "CREATE TABLE t (k INTEGER PRIMARY KEY, i, cat, local_n, node, rel, begin, end, children,\n"
    "                nodes, depth, level, parent_cat, pattern, xml_start, xml_end)",
    "CREATE TABLE p (i INTEGER PRIMARY KEY, pattern TEXT)",
)
CHUNK_SCHEMA = "PRAGMA journal_mode = OFF;\n" + "".join(f"{sql};\n" for sql in TABLES)

_INSERT_T = ("INSERT INTO t (i, cat, local_n, node, rel, begin, end, children, nodes, depth, "
             "level, parent_cat, pattern, xml_start, xml_end) VALUES ")
_ROWS_PER_INSERT = 64
_ONE_ROW = "(" + ", ".join("?" * 15) + ")"
_INSERT_T_MANY = _INSERT_T + ", ".join([_ONE_ROW] * _ROWS_PER_INSERT)
_INSERT_T += _ONE_ROW
_INSERT_S = ("INSERT INTO s (sentid, file, offset, text, xml, nsub, first, terms) "
             "VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
_INSERT_P = "INSERT INTO p (i, pattern) VALUES (?, ?)"


def packer() -> Any:
    """A packer for one task (store/_pack.c): the scanner adds its subtree rows to it as it
    finds them, without a Python tuple per row, and `finish` makes an image with the same
    rows as `pack`'s, its pages written directly. None where the extension was not built:
    then `pack` does it all, through SQLite."""
    if _pack is None:
        return None
    return _pack.Packer(*TABLES)


def finish(packer: Any, sentences: Sequence[tuple], patterns: dict[str, int]) -> bytes:
    """The image of a packer's subtrees, with `sentences` and `patterns` as `pack` takes
    them."""
    packer.patterns((i, text) for text, i in patterns.items())
    packer.sentences(sentences)
    return packer.serialize()


def pack(sentences: Sequence[tuple], subtrees: Sequence[tuple],
         patterns: dict[str, int]) -> bytes:
    """The image of `sentences` (sentid, file, offset, text, compressed xml, number of
    subtrees, subtrees of the task before it, search terms) and
    `subtrees` (sentence index, cat, local n, node, rel, begin, end, children, nodes, depth,
    level, parent_cat, pattern, xml_start, xml_end), whose patterns are numbers in
    `patterns` (text -> 1, 2, ... in order of first appearance: the worker numbers them as
    it scans)."""
    conn = sqlite3.connect(":memory:")
    try:
        conn.executescript(CHUNK_SCHEMA)
        conn.executemany(_INSERT_P, ((i, text) for text, i in patterns.items()))
        conn.executemany(_INSERT_S, sentences)
        # 64 rows a statement: a quarter less time than one (64 x 15 values stay under the
        # 999 variables every SQLite build allows)
        full = len(subtrees) - len(subtrees) % _ROWS_PER_INSERT
        it = iter(subtrees[:full])
        conn.executemany(_INSERT_T_MANY, (tuple(chain.from_iterable(group))
                                          for group in zip(*[it] * _ROWS_PER_INSERT)))
        conn.executemany(_INSERT_T, subtrees[full:])
        conn.commit()
        return conn.serialize()
    finally:
        conn.close()
