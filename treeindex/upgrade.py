"""`upgrade`: give an index made by an older treeindex what this one adds, without ingesting
again: the secondary indexes an older ingest did not build (store/indexes.sql), the search
terms (search/terms.py) and the node table (search/nodestore.py) of the sentences indexed
before they existed, and the node table's summary (search/summary.py) of blocks written
before it existed. Each such sentence is decompressed and scanned once per structure, on
all workers, and written newest first, each batch in one transaction with the new
`settings.terms_from` / `settings.nodes_from`, so an interrupted upgrade goes on where it
stopped and searches stay exact all along (sentences without terms are always evaluated,
sentences without node blocks go through lxml).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from . import store
from .cores import workers_for
from .errors import DatabaseError
from .pool import ordered_map, owned_executor, stop_signals
from .search.summary import Summary
from .search.terms import xml_terms

IDS_PER_TASK = 2000
SENTENCES_PER_BLOCK = 2000
# What a worker takes over of each step (the search terms; the node table) of a sentence:
# about 16 us (an upgrade of both, 31,019 sentences, 100 MB: 2.38-2.64 s in this process
# against 2.12-2.17 s with 2 workers; 2,534 sentences: 0.63 s against 0.70 s, 5 rounds).
# Workers start only where they gain more than they cost (cores.workers_worth): from
# about 9,000 sentences on 2 cores.
SECONDS_PER_SENTENCE = 16e-6
BLOCKS_PER_BATCH = 64


@dataclass
class Progress:
    sentences_done: int  # (blocks, for the summary: see `unit`)
    sentences_total: int
    what: str = "search terms"
    unit: str = "sentences"


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
    n = workers_for(workers, None, total * SECONDS_PER_SENTENCE, len(tasks))
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


class _BlockTask(NamedTuple):
    db: str
    corpus_id: int
    first: int  # sentence ids first..last, all of the corpus, none missing
    last: int


def _block_task(task: _BlockTask) -> tuple[int, bytes]:
    """(sentences, node block) of the sentences with ids first..last (in a worker)."""
    from .search.nodestore import build_block

    index = store.Index.for_process(task.db)
    xmls = [index.decode(zxml) for (zxml,) in index.conn.execute(
        "SELECT xml FROM sentences WHERE id BETWEEN ? AND ? ORDER BY id",
        (task.first, task.last))]
    return len(xmls), build_block(xmls)


def _block_tasks(conn: sqlite3.Connection, db: str, first: int) -> Iterator[_BlockTask]:
    """Runs of consecutive ids of one corpus below `first`, newest first (streamed)."""
    run: list[int] = []
    corpus = None
    read = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        for sid, cid in read.execute(
                "SELECT id, corpus_id FROM sentences WHERE id < ? ORDER BY id DESC", (first,)):
            if run and (cid != corpus or sid != run[-1] - 1 or
                        len(run) >= SENTENCES_PER_BLOCK):
                yield _BlockTask(db, corpus, run[-1], run[0])  # type: ignore[arg-type]
                run = []
            corpus = cid
            run.append(sid)
        if run:
            yield _BlockTask(db, corpus, run[-1], run[0])  # type: ignore[arg-type]
    finally:
        read.close()


def _add_blocks(conn: sqlite3.Connection, db_path: Path, workers: int | None,
                progress_callback: Callable[[Progress], None] | None) -> int:
    first = store.nodes_from(conn) or 1
    (total,) = conn.execute("SELECT count(*) FROM sentences WHERE id < ?", (first,)).fetchone()
    if not total:
        return 0
    done = 0
    n = workers_for(workers, None, total * SECONDS_PER_SENTENCE,
                    -(-total // SENTENCES_PER_BLOCK))
    tasks = _block_tasks(conn, str(db_path.resolve()), first)
    summary = Summary(conn)
    with owned_executor(n) as pool:
        for task, (count, blob) in ordered_map(pool, _block_task, tasks, max(n, 1) + 2):
            with store.atomic(conn):
                conn.execute("INSERT INTO node_blocks (corpus_id, first_sentence, sentences, "
                             "data) VALUES (?, ?, ?, ?)", (task.corpus_id, task.first, count,
                                                           blob))
                summary.add_block(blob)  # (a new block's id is past settings.values_from)
                conn.execute("UPDATE settings SET value = ? WHERE key = 'nodes_from'",
                             (task.first,))
            done += count
            if progress_callback:
                progress_callback(Progress(done, total, "the node table"))
    return done


def _add_summary(conn: sqlite3.Connection,
                 progress_callback: Callable[[Progress], None] | None) -> int:
    """Summarize the node blocks an older treeindex wrote (search/summary.py), newest first,
    BLOCKS_PER_BATCH to a transaction with the new settings.values_from."""
    (first,) = conn.execute("SELECT value FROM settings WHERE key = 'values_from'").fetchone()
    ids = [i for i, in conn.execute("SELECT id FROM node_blocks WHERE id < ? ORDER BY id DESC",
                                    (int(first),))]
    summary = Summary(conn)
    for k in range(0, len(ids), BLOCKS_PER_BATCH):
        batch = ids[k:k + BLOCKS_PER_BATCH]
        with store.atomic(conn):
            for i in batch:
                (blob,) = conn.execute("SELECT data FROM node_blocks WHERE id = ?",
                                       (i,)).fetchone()
                summary.add_block(blob)
            conn.execute("UPDATE settings SET value = ? WHERE key = 'values_from'",
                         (batch[-1],))
        if progress_callback:
            progress_callback(Progress(k + len(batch), len(ids), "the node table's summary",
                                       "blocks"))
    return len(ids)


class Upgraded(NamedTuple):
    terms: int  # sentences that got search terms
    nodes: int  # sentences that got into the node table
    summarized: int = 0  # node blocks an older treeindex wrote, summarized


def upgrade(db_path: Path | str, *, workers: int | None = None,
            progress_callback: Callable[[Progress], None] | None = None) -> Upgraded:
    """Add the search terms and the node table of every sentence that lacks them, and the
    secondary indexes that are missing; say how many sentences got each. Refused while an
    ingest writes to the index."""
    db_path = Path(db_path)
    if not db_path.exists():
        raise DatabaseError(f"{db_path}: no such database")
    with stop_signals() as stop, store.IngestLock(
            db_path, "wait for it to finish, then run this again"), \
            store.translate_errors(db_path):
        conn = store.connect_write(db_path)  # (creates the table and settings.terms_from)
        conn.set_progress_handler(lambda: stop.received is not None, 1_000_000)
        try:
            terms = _add_terms(conn, db_path, workers, progress_callback)
            nodes = _add_blocks(conn, db_path, workers, progress_callback)
            summarized = _add_summary(conn, progress_callback)
            store.finish(conn)  # the missing secondary indexes; one file again (no WAL)
        finally:
            conn.close()
    return Upgraded(terms, nodes, summarized)
