"""Is a file that carries treeindex's mark a whole index? Checked each time one is opened,
in a few milliseconds whatever its size, so that a crafted or damaged file is one line
("not a valid treeindex index: ...") instead of a traceback or an endless loop later.

What is checked: every table the schema has (those a version added may be absent in an
index of an older version) is a table with at least the schema's columns; settings that are
numbers are numbers; the corpora's counts are integers, not negative, and bounded by the
rows there are (the sentences of all corpora are at most the highest sentence id, as ids
are unique; the same for subtrees; a category's count at most its corpus's). Rows read one
by one later (a sentence's stored XML, a node block) are checked where they are read.
"""

from __future__ import annotations

import sqlite3
from functools import lru_cache
from pathlib import Path

from ..errors import DatabaseError

# tables a later schema version added: an older index may lack them
_OPTIONAL = {"dictionaries", "search_terms", "node_blocks", "node_names", "node_values"}
_NUMERIC_SETTINGS = ("schema_version", "max_children", "max_nodes", "terms_from",
                     "nodes_from", "values_from")
_COUNTS = ("input_bytes", "input_files", "done_bytes", "done_files", "done_lines",
           "sentences", "subtrees", "errors", "positional_ids", "complete")


@lru_cache(maxsize=1)
def _expected() -> dict[str, set[str]]:
    """The tables of schema.sql and their columns (read from an in-memory copy)."""
    from .connect import schema_sql

    mem = sqlite3.connect(":memory:")
    try:
        mem.executescript(schema_sql())
        names = [r[0] for r in mem.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND sql NOT LIKE "
            "'CREATE TABLE ''%'")]  # (not FTS5's shadow tables)
        return {name: {r[1] for r in mem.execute(f"PRAGMA table_info([{name}])")}
                for name in names if not name.startswith("search_terms_")}
    finally:
        mem.close()


def invalid(path: Path, what: str) -> DatabaseError:
    return DatabaseError(f"{path}: not a valid treeindex index: {what}; it was changed by "
                         "something other than treeindex: build it again into a new --db")


def check(conn: sqlite3.Connection, path: Path) -> None:
    """DatabaseError if the index at `conn` is not whole (see the module's text)."""
    try:
        _check(conn, path)
    except sqlite3.DatabaseError as e:
        if "malformed" in str(e) or "not a database" in str(e):
            raise  # (damage SQLite itself sees: the caller's message for it)
        raise invalid(path, f"reading it failed ({e})") from None


def _check(conn: sqlite3.Connection, path: Path) -> None:
    present = {name: (kind, sql or "") for name, kind, sql in conn.execute(
        "SELECT name, type, sql FROM sqlite_master WHERE type IN ('table', 'view')")}
    for table, columns in _expected().items():
        if table not in present:
            if table in _OPTIONAL:
                continue
            raise invalid(path, f"the table {table} is missing")
        kind, sql = present[table]
        if kind != "table":
            raise invalid(path, f"{table} is a {kind}, not a table")
        if sql.upper().startswith("CREATE VIRTUAL"):
            continue
        have = {r[1] for r in conn.execute(f"PRAGMA table_info([{table}])")}
        missing = sorted(columns - have)
        if missing:
            raise invalid(path, f"the table {table} lacks the columns {', '.join(missing)}")
    marks = ", ".join("?" * len(_NUMERIC_SETTINGS))
    for key, value in conn.execute(
            f"SELECT key, value FROM settings WHERE key IN ({marks})", _NUMERIC_SETTINGS):
        if not isinstance(value, (int, str)) or not str(value).isdigit():
            raise invalid(path, f"the setting {key} is {value!r}, not a number")
    bad = conn.execute(
        "SELECT name FROM corpora WHERE " + " OR ".join(
            f"typeof({c}) != 'integer' OR {c} < 0" for c in _COUNTS) + " LIMIT 1").fetchone()
    if bad is not None:
        raise invalid(path, f"corpus {bad[0]!r} has counts that are not whole numbers")
    sentences, subtrees = conn.execute(
        "SELECT coalesce(sum(sentences), 0), coalesce(sum(subtrees), 0) FROM corpora"
    ).fetchone()
    top_sentence = conn.execute("SELECT coalesce(max(id), 0) FROM sentences").fetchone()[0]
    top_subtree = conn.execute("SELECT coalesce(max(id), 0) FROM subtrees").fetchone()[0]
    if sentences > top_sentence:
        raise invalid(path, f"the corpora count {sentences:,} sentences, but the highest "
                      f"sentence id is {top_sentence:,}")
    if subtrees > top_subtree:
        raise invalid(path, f"the corpora count {subtrees:,} subtrees, but the highest "
                      f"subtree id is {top_subtree:,}")
    over = conn.execute(
        "SELECT c.name, k.cat FROM corpus_categories AS k JOIN corpora AS c "
        "ON c.id = k.corpus_id WHERE typeof(k.subtrees) != 'integer' OR "
        "typeof(k.sentences) != 'integer' OR k.subtrees > c.subtrees OR k.subtrees < 0 OR "
        "k.sentences > c.sentences OR k.sentences < 0 LIMIT 1").fetchone()
    if over is not None:
        raise invalid(path, f"the count of {over[1]!r} in corpus {over[0]!r} is not a whole "
                      "number within its corpus's")
