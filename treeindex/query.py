"""Read-only questions to an index: SQL queries, statistics, recorded errors.

Nothing here can change a database: connections are opened read-only and an authorizer
refuses any statement other than reading.
"""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import store
from .errors import QueryError, TreeindexError, suggest, visible

_ALLOWED = {
    sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION,
    getattr(sqlite3, "SQLITE_RECURSIVE", 33),
}
# PRAGMAs that only read: those that take a table or index name, and those that only read
# without an argument (with one, journal_mode, user_version, ... would write)
_TABLE_PRAGMAS = {"table_info", "table_xinfo", "index_list", "index_info", "index_xinfo",
                  "foreign_key_list"}
_READ_ONLY_PRAGMAS = _TABLE_PRAGMAS | {
    "database_list", "compile_options", "page_count", "page_size", "freelist_count",
    "journal_mode", "user_version", "application_id", "function_list", "table_list",
    "data_version"}  # (data_version: what FTS5 reads to open search_terms)
# functions that hand out memory addresses or load code
_DENIED_FUNCTIONS = {"fts3_tokenizer", "load_extension"}
_READ_ONLY = ("the query must only read: treeindex query runs SELECT statements (and "
              "read-only PRAGMAs); change the index with treeindex ingest")
_DATABASE_CODES = {sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_IOERR,
                   sqlite3.SQLITE_FULL, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_BUSY}


def _authorizer(action: int, arg1: Any, arg2: Any, dbname: Any, source: Any) -> int:
    if action in _ALLOWED:
        if action == sqlite3.SQLITE_FUNCTION and str(arg2).lower() in _DENIED_FUNCTIONS:
            return sqlite3.SQLITE_DENY
        return sqlite3.SQLITE_OK
    if action == sqlite3.SQLITE_PRAGMA and arg1 in _READ_ONLY_PRAGMAS and (
            arg2 is None or arg1 in _TABLE_PRAGMAS):
        return sqlite3.SQLITE_OK
    if action == sqlite3.SQLITE_UPDATE and arg1 == "sqlite_master":
        return sqlite3.SQLITE_OK  # how SQLite reads the schema for pragma_table_info()
    return sqlite3.SQLITE_DENY


@dataclass
class QueryResult:
    columns: list[str]
    rows: Iterator[tuple]


def _query_error(e: sqlite3.Error, path: Path) -> TreeindexError:
    message = str(e)
    if "not authorized" in message or "readonly" in message or "prohibited" in message:
        return QueryError(_READ_ONLY)
    if getattr(e, "sqlite_errorcode", None) in _DATABASE_CODES or "malformed" in message:
        return store.database_error(e, path)
    return QueryError(f"bad SQL: {message}")


def run_query(db_path: Path | str, sql: str, params: Iterable[Any] = ()) -> QueryResult:
    """Run one read-only SQL statement with `params` for its `?` placeholders; rows are
    streamed (errors SQLite raises on a later row become QueryError or DatabaseError too)."""
    path = Path(db_path)
    conn = store.connect_read(path)
    conn.set_authorizer(_authorizer)
    try:
        cursor = conn.execute(sql, tuple(params))
    except sqlite3.Error as e:
        conn.close()
        raise _query_error(e, path) from None
    except sqlite3.Warning as e:  # e.g. more than one statement
        conn.close()
        raise QueryError(f"bad SQL: {e}") from None
    except (OverflowError, ValueError) as e:  # a parameter SQLite cannot take
        conn.close()
        raise QueryError(f"bad parameter: {e}") from None
    columns = [d[0] for d in cursor.description or []]

    def rows() -> Iterator[tuple]:
        try:
            while True:
                try:
                    row = cursor.fetchone()
                except sqlite3.Error as e:
                    raise _query_error(e, path) from None
                if row is None:
                    return
                yield row
        finally:
            conn.close()

    return QueryResult(columns, rows())


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    if isinstance(value, float):
        return f"{value:g}"
    return visible(str(value))


TABLE_SAMPLE = 1000


def format_table(result: QueryResult, sample: int = TABLE_SAMPLE) -> Iterator[str]:
    """An aligned text table (numbers right-aligned), as `treeindex query` prints it.

    Streams: column widths and alignment come from the first `sample` rows (a wider value
    later just widens its own line), so memory stays flat and the first lines come at once.
    """
    rows_iter = iter(result.rows)
    head: list[tuple] = []
    for row in rows_iter:
        head.append(tuple(_text(v) for v in row))
        if len(head) >= sample:
            break
    numeric = [all(not v or _is_number(v) for v in column) and any(column)
               for column in zip(*head)] if head else [False] * len(result.columns)
    widths = [max([len(c)] + [len(row[i]) for row in head]) for i, c in enumerate(result.columns)]

    def line(values: tuple) -> str:
        cells = [v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric)]
        return "  ".join(cells).rstrip()

    yield line(tuple(result.columns))
    yield "  ".join("-" * w for w in widths)
    for row in head:
        yield line(row)
    for raw in rows_iter:
        yield line(tuple(_text(v) for v in raw))


def _is_number(v: str) -> bool:
    try:
        float(v)
    except ValueError:
        return False
    return True


def csv_line(values: Iterable[Any]) -> str:
    """One CSV record (bytes as text), without its line end."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="").writerow(
        _text(v) if isinstance(v, bytes) else v for v in values)
    return buf.getvalue()


def json_line(row: tuple, columns: Sequence[str]) -> str:
    """One record as a JSON object on one line (bytes as text)."""
    return json.dumps({c: (_text(v) if isinstance(v, bytes) else v)
                       for c, v in zip(columns, row)}, ensure_ascii=False)


def format_csv(result: QueryResult) -> Iterator[str]:
    yield csv_line(result.columns)
    for row in result.rows:
        yield csv_line(row)


def json_array(objects: Iterable[str]) -> Iterator[str]:
    """JSON objects, one a line, as one JSON array."""
    first = True
    yield "["
    for text in objects:
        yield ("  " if first else ", ") + text
        first = False
    yield "]"


def format_json(result: QueryResult) -> Iterator[str]:
    """One JSON array, one object a line."""
    return json_array(json_line(row, result.columns) for row in result.rows)


def format_nl(result: QueryResult) -> Iterator[str]:
    for row in result.rows:
        yield json_line(row, result.columns)


@dataclass
class Stats:
    corpora: list[tuple]  # (corpus, kind, state, sentences, subtrees, errors)
    sentences: int
    subtrees: int
    errors: int
    categories: list[tuple[str, int, int]]  # (cat, subtrees, sentences), most frequent first
    limits: tuple[int, int] | None = None  # (max_children, max_nodes) the index was built with
    # nodes with a category, counted on the node table (None: it does not hold every sentence)
    categorized: int | None = None


def stats(db_path: Path | str, top: int = 15) -> Stats:
    conn = store.connect_read(Path(db_path))
    try:
        corpora = conn.execute(
            "SELECT corpus, kind, state, sentences, subtrees, errors FROM corpus_totals "
            "ORDER BY corpus").fetchall()
        cats = conn.execute(
            "SELECT cat, sum(subtrees), sum(sentences) FROM category_counts GROUP BY cat "
            "ORDER BY sum(subtrees) DESC, cat LIMIT ?", (top,)).fetchall()
        settings = dict(conn.execute("SELECT key, value FROM settings WHERE key IN "
                                     "('max_children', 'max_nodes')"))
        limits = ((int(settings["max_children"]), int(settings["max_nodes"]))
                  if len(settings) == 2 else None)
        sentences = sum(c[3] for c in corpora)
        categorized = _categorized(conn, sentences)
    finally:
        conn.close()
    return Stats(corpora, sentences, sum(c[4] for c in corpora), sum(c[5] for c in corpora),
                 cats, limits, categorized)


def _categorized(conn: sqlite3.Connection, sentences: int) -> int | None:
    """The nodes with a category in every sentence, from the node table's cat columns (only
    that section of each block is read); None where the table does not hold every sentence
    or a block cannot be read."""
    has = conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 'node_blocks'"
                       ).fetchone()[0]
    if not has:
        return None
    blocks, covered = conn.execute(
        "SELECT count(*), coalesce(sum(sentences), 0) FROM node_blocks").fetchone()
    if covered != sentences:
        return None
    import numpy as np

    from .search.block import TYPES
    from .search.nodestore import stored_sections

    total = read = 0
    for data, kind in stored_sections(conn, "a:cat"):
        if kind not in ("u1", "u2", "u4"):  # (a damaged header: not counted, so None)
            continue
        total += int(np.count_nonzero(np.frombuffer(data, dtype=TYPES[kind])))
        read += 1
    # (every block has a cat column, the top nodes' at least: one not read is damaged)
    return total if read == blocks else None


def errors(db_path: Path | str, corpus: str | None = None) -> QueryResult:
    """The recorded malformed sentences (of `corpus`: an unknown name is an error)."""
    sql = ("SELECT c.name AS corpus, e.file, e.line, e.offset, e.sentid, e.message "
           "FROM errors e JOIN corpora c ON c.id = e.corpus_id")
    params: tuple = ()
    if corpus is not None:
        with store.Index(db_path) as index:
            names = [c.name for c in index.corpora()]
        if corpus not in names:
            raise QueryError(suggest(corpus, names, "corpus", "corpora") if names else
                             "the index holds no corpora yet; run `treeindex ingest` first")
        sql += " WHERE c.name = ?"
        params = (corpus,)
    return run_query(db_path, sql + " ORDER BY e.corpus_id, e.id", params)
