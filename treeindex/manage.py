"""Managing the corpora of an index: list them, remove them, rename them.

Each change is one transaction, taken under the ingest lock (so never while an ingest writes)
and stopped cleanly by a signal (what was not committed did not happen).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from . import store
from .errors import DatabaseError, InputError, suggest
from .pool import stop_signals
from .store.writer import delete_corpus

_WAIT = "wait for it to finish, then run this again"


@dataclass
class CorpusSummary:
    name: str
    kind: str
    source: str
    state: str  # 'complete' or 'in progress'
    sentences: int
    subtrees: int
    errors: int
    started_at: str | None
    finished_at: str | None


def corpora(db_path: Path | str) -> list[CorpusSummary]:
    """The corpora of an index, in the order they were first ingested."""
    with store.Index(db_path) as index, store.translate_errors(Path(db_path)):
        return [CorpusSummary(*row) for row in index.conn.execute(
            "SELECT name, kind, source, CASE WHEN complete THEN 'complete' "
            "ELSE 'in progress' END, sentences, subtrees, errors, started_at, finished_at "
            "FROM corpora ORDER BY id")]


def _ids(conn: sqlite3.Connection, names: list[str]) -> dict[str, int]:
    have = dict(conn.execute("SELECT name, id FROM corpora"))
    for name in names:
        if name not in have:
            raise InputError(suggest(name, list(have), "corpus", "corpora") if have else
                             "the index holds no corpora")
    return {name: have[name] for name in names}


def remove(db_path: Path | str, names: list[str]) -> int:
    """Remove the corpora `names` and everything indexed for them, all in one transaction;
    return how many sentences went. Refused while an ingest writes to the index."""
    db_path = Path(db_path)
    if not db_path.exists():
        raise DatabaseError(f"{db_path}: no such database")
    with stop_signals() as stop, store.IngestLock(db_path, _WAIT), store.translate_errors(db_path):
        conn = store.connect_write(db_path)
        conn.set_progress_handler(lambda: stop.received is not None, 1_000_000)
        try:
            ids = _ids(conn, names)
            gone = sum(conn.execute("SELECT sentences FROM corpora WHERE id = ?",
                                    (i,)).fetchone()[0] for i in ids.values())
            with store.atomic(conn):
                for corpus_id in ids.values():
                    delete_corpus(conn, corpus_id, transaction=False)
            store.leave_wal(conn)
        finally:
            conn.close()
    return gone


def rename(db_path: Path | str, old: str, new: str) -> None:
    """Give corpus `old` the name `new` (which no corpus may have). Refused while an ingest
    writes. (A later ingest of the same input names its corpus after the input again: it is
    then a new corpus called `old`.)"""
    db_path = Path(db_path)
    if not new.strip():
        raise InputError("a corpus needs a name that is not empty")
    if not db_path.exists():
        raise DatabaseError(f"{db_path}: no such database")
    with stop_signals(), store.IngestLock(db_path, _WAIT), store.translate_errors(db_path):
        conn = store.connect_write(db_path)
        try:
            (corpus_id,) = _ids(conn, [old]).values()
            if conn.execute("SELECT 1 FROM corpora WHERE name = ?", (new,)).fetchone():
                raise InputError(f"a corpus is called {new!r} already; remove it first "
                                 f"(treeindex rm --db {db_path} {new}) or choose another name")
            with store.atomic(conn):
                conn.execute("UPDATE corpora SET name = ? WHERE id = ?", (new, corpus_id))
            store.leave_wal(conn)
        finally:
            conn.close()
