"""The WAL copied into the file beside the single writer (store/checkpoints.py): the index is
the one the writer's own checkpoints gave, the writer starts the WAL again from its
beginning as before, and a stop while a copy runs resumes to the same index."""

from __future__ import annotations

import sqlite3

import pytest
from conftest import ALPINO, dump, interrupt_after, repeat_treebank

import treeindex.indexer as indexer
from treeindex import Interrupted, ingest
from treeindex.store import checkpoints, connect_write
from treeindex.store.checkpoints import BackgroundCheckpoints


def blocks(db):
    conn = sqlite3.connect(db)
    try:
        return conn.execute("SELECT corpus_id, first_sentence, sentences, data FROM node_blocks "
                            "ORDER BY id").fetchall()
    finally:
        conn.close()


@pytest.fixture
def made(monkeypatch):
    """The BackgroundCheckpoints each ingest makes (to read how many copies they did)."""
    out: list[BackgroundCheckpoints] = []

    class Recorded(BackgroundCheckpoints):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            out.append(self)

    monkeypatch.setattr(indexer, "BackgroundCheckpoints", Recorded)
    return out


def test_copies_beside_the_writer_leave_the_index_as_the_writer_alone_did(tmp_path,
                                                                         monkeypatch, made):
    big = repeat_treebank(tmp_path / "big.xml", 3)
    monkeypatch.setattr(checkpoints, "EVERY", 1 << 40)  # never: the writer's own, at the end
    alone = tmp_path / "alone.db"
    ingest(alone, [big, ALPINO / "Titaantjes"], workers=2, chunk_bytes=20_000)
    assert made[-1].copies == 0
    monkeypatch.setattr(checkpoints, "EVERY", 1)  # after every result
    beside = tmp_path / "beside.db"
    ingest(beside, [big, ALPINO / "Titaantjes"], workers=2, chunk_bytes=20_000)
    assert made[-1].copies > 0
    assert dump(beside) == dump(alone)
    assert blocks(beside) == blocks(alone)
    conn = sqlite3.connect(beside)  # (one file again: the ingest left WAL mode)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()


def test_the_writer_starts_the_wal_again_after_a_copy(tmp_path):
    """SQLite starts a WAL again from its beginning only when a transaction begins with all of
    it in the file; the thread's copies trail the commits, so the writer copies the rest
    after its next commit. Without that the WAL only grew (to 685 MB on 1 GB of input)."""
    db = tmp_path / "t.db"
    conn = connect_write(db)
    conn.execute("CREATE TABLE t (x BLOB)")
    wal = tmp_path / "t.db-wal"
    starts = set()  # the WAL header's checkpoint sequence number: +1 at each new start
    largest = 0
    with BackgroundCheckpoints(conn, every=1) as cp:
        for i in range(100):  # commits back to back: the thread's copies trail them
            conn.execute("INSERT INTO t VALUES (zeroblob(200000))")
            cp.written(200_000)
            if i == 10:  # (one copy surely done before the next commits)
                assert cp.wait(10)
            with open(wal, "rb") as f:
                starts.add(f.read(16)[12:16])
            largest = max(largest, wal.stat().st_size)
    assert cp.copies > 0
    assert len(starts) > 1
    assert largest < 100 * 200_000 // 2  # (it only grew: 20 MB)
    assert conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] > 0  # given back
    conn.close()


def test_a_stop_while_copies_run_resumes_to_the_same_index(tmp_path, monkeypatch, made):
    big = repeat_treebank(tmp_path / "big.xml", 3)
    whole = tmp_path / "whole.db"
    ingest(whole, [big], workers=2, chunk_bytes=20_000)
    monkeypatch.setattr(checkpoints, "EVERY", 1)
    db = tmp_path / "resumed.db"
    for stop_after in (2, 9, 25):
        with pytest.raises(Interrupted):
            ingest(db, [big], workers=2, chunk_bytes=20_000,
                   progress_callback=interrupt_after(stop_after))
    assert sum(m.copies for m in made) > 0
    ingest(db, [big], workers=2, chunk_bytes=20_000)
    assert dump(db) == dump(whole)
    assert blocks(db) == blocks(whole)


def test_no_thread_without_wal_mode(tmp_path):
    """A cluster's shard (no journal) has nothing to copy: no thread, no second connection."""
    conn = connect_write(tmp_path / "shard.db", scratch=True)
    with BackgroundCheckpoints(conn, every=1) as cp:
        cp.written(10)
        assert cp._thread is None
    assert cp.copies == 0
    conn.close()
