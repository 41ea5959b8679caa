"""`upgrade`: give an index made by an older treeindex what this one adds, without ingesting
again: the secondary indexes an older ingest did not build (store/indexes.sql), and the
search terms (search/terms.py) of the sentences indexed before they existed. Each such
sentence is decompressed and scanned once, on all workers, and its terms are written newest
first, each batch in one transaction with the new `settings.terms_from`, so an interrupted
upgrade goes on where it stopped and searches stay exact all along (sentences without terms
are always evaluated).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from . import store
from .errors import DatabaseError
from .pool import available_cores, ordered_map, owned_executor, stop_signals
from .search.terms import xml_terms

IDS_PER_TASK = 2000


@dataclass
class Progress:
    sentences_done: int
    sentences_total: int


class _Task(NamedTuple):
    db: str
    first: int  # sentence ids first..last
    last: int


def _terms_task(task: _Task) -> list[tuple[int, str]]:
    """(sentence id, terms) of the sentences with ids first..last (in a worker)."""
    index = store.Index.for_process(task.db)
    return [(sid, xml_terms(index.decode(zxml))) for sid, zxml in index.conn.execute(
        "SELECT id, xml FROM sentences WHERE id BETWEEN ? AND ?", (task.first, task.last))]


def _add_terms(conn: sqlite3.Connection, db_path: Path, workers: int | None,
               progress_callback: Callable[[Progress], None] | None) -> int:
    first = store.terms_from(conn) or 1
    low, total = conn.execute("SELECT min(id), count(*) FROM sentences WHERE id < ?",
                              (first,)).fetchone()
    if not total:
        return 0
    done = 0
    tasks = [_Task(str(db_path), max(low, hi - IDS_PER_TASK + 1), hi)
             for hi in range(first - 1, low - 1, -IDS_PER_TASK)]
    n = available_cores() if workers is None else workers
    with owned_executor(n) as pool:
        for task, rows in ordered_map(pool, _terms_task, iter(tasks), max(n, 1) + 2):
            with store.atomic(conn):
                conn.executemany("INSERT INTO search_terms (rowid, terms) VALUES (?, ?)", rows)
                conn.execute("UPDATE settings SET value = ? WHERE key = 'terms_from'",
                             (task.first,))
            done += len(rows)
            if progress_callback:
                progress_callback(Progress(done, total))
    return done


def upgrade(db_path: Path | str, *, workers: int | None = None,
            progress_callback: Callable[[Progress], None] | None = None) -> int:
    """Add the search terms of every sentence that has none, and the secondary indexes that
    are missing; return how many sentences got terms. Refused while an ingest writes to the
    index."""
    db_path = Path(db_path)
    if not db_path.exists():
        raise DatabaseError(f"{db_path}: no such database")
    with stop_signals() as stop, store.IngestLock(
            db_path, "wait for it to finish, then run this again"), \
            store.translate_errors(db_path):
        conn = store.connect_write(db_path)  # (creates the table and settings.terms_from)
        conn.set_progress_handler(lambda: stop.received is not None, 1_000_000)
        try:
            done = _add_terms(conn, db_path, workers, progress_callback)
            store.finish(conn)  # the missing secondary indexes; one file again (no WAL)
        finally:
            conn.close()
    return done
