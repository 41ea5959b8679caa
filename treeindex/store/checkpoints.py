"""Copying the WAL into the database file beside the writer, not in its way.

SQLite's own checkpoint runs inside the commit that fills the WAL: the single writer stops
while 256 MB are copied and the file is synced (on 1 GB of input, two such commits took 0.80
and 0.84 s against a median of 16 ms, and the workers waited for the writer meanwhile).
During an ingest the writer's connection checkpoints nothing itself; a thread of its own,
with its own connection, copies what was committed (a passive checkpoint, which never
blocks the writer) once the results written since its last copy reach `every` bytes. The
writer restarts the WAL from its beginning at its next commit when everything was copied,
as after its own checkpoints, so the WAL stays about as large as before.

Nothing depends on the copies: one that fails (busy, a read-only file, a stop) leaves its
frames to the next one, or to the final checkpoint when the ingest ends.
"""

from __future__ import annotations

import sqlite3
import threading
from types import TracebackType

from .connect import second_writer

# results' bytes written between two copies: the WAL holds about 1.3 x that (rows, their
# indexes and the search terms' segments); SQLite's checkpoint came every 256 MB of WAL
EVERY = 128 << 20


class BackgroundCheckpoints:
    """While open, the WAL of `conn` (the writer's connection, in WAL mode) is copied into
    the database file by a thread of its own; `written(n)` tells it of n more bytes
    committed. A no-op where the file is not in WAL mode (a scratch shard) or cannot be
    opened a second time."""

    def __init__(self, conn: sqlite3.Connection, every: int | None = None) -> None:
        self.conn = conn
        self.every = EVERY if every is None else every
        self.pending = 0
        self.copies = 0
        self._other = second_writer(conn)
        self._wake = threading.Event()
        self._copied = threading.Event()  # the thread's copy is done (set by the thread)
        self._copying = False  # a copy was asked for and the writer has not followed it up
        self._closing = False
        self._thread: threading.Thread | None = None
        self._autocheckpoint: int | None = None
        if self._other is None:
            return
        self._autocheckpoint = conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0]
        conn.execute("PRAGMA wal_autocheckpoint=0")
        self._thread = threading.Thread(target=self._run, name="treeindex-checkpoints",
                                        daemon=True)
        self._thread.start()

    def written(self, nbytes: int) -> None:
        """(In the writer's thread, after a commit.) `nbytes` more were committed."""
        if self._copied.is_set():
            # the thread copied the bulk; the few frames committed since are copied here,
            # so that the writer's next transaction finds the whole WAL in the file and
            # starts it again from its beginning (SQLite restarts a WAL only then: with the
            # thread's copies alone, which always trail a commit or two, it grew to 685 MB
            # on 1 GB of input, against 262 MB). The thread waits meanwhile: two copies at
            # once, one of them would find the other's lock and copy nothing.
            self._copied.clear()
            try:
                self.conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
            except sqlite3.Error:
                pass
            self._copying = False
        self.pending += nbytes
        if self.pending >= self.every and not self._copying and self._thread is not None:
            self.pending = 0
            self._copying = True
            self._wake.set()

    def _run(self) -> None:
        other = self._other
        assert other is not None
        while True:
            self._wake.wait()
            self._wake.clear()
            if self._closing:
                return
            try:
                other.execute("PRAGMA wal_checkpoint(PASSIVE)")
                self.copies += 1
            except sqlite3.Error:
                pass  # (the next copy, or the final checkpoint, does it)
            self._copied.set()

    def close(self) -> None:
        """Stop the thread (a copy under way is cut short: what it did not copy stays in
        the WAL) and give the writer's connection its own checkpoints back."""
        if self._thread is not None:
            self._closing = True
            assert self._other is not None
            self._other.interrupt()
            self._wake.set()
            self._thread.join()
            self._thread = None
        if self._other is not None:
            self._other.close()
            self._other = None
        if self._autocheckpoint is not None:
            self.conn.execute(f"PRAGMA wal_autocheckpoint={self._autocheckpoint}")
            self._autocheckpoint = None

    def __enter__(self) -> BackgroundCheckpoints:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
