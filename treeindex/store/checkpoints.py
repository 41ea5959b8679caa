"""Copying the WAL into the database file beside the writer, not in its way.

SQLite's own checkpoint runs inside the commit that fills the WAL: the single writer stops
while 256 MB are copied and the file is synced (on 1 GB of input, two such commits took 0.80
and 0.84 s against a median of 16 ms, and the workers waited for the writer meanwhile).
During an ingest the writer's connection checkpoints nothing itself; a thread of its own,
with its own connection, copies what was committed (a passive checkpoint, which never
blocks the writer) once the results written since its last copy reach `every` bytes. The
writer restarts the WAL from its beginning at its next commit when everything was copied,
as after its own checkpoints, so the WAL stays about as large as before. The same thread
copies the WAL beside the index build when an ingest ends (`copying_committed`).

Nothing depends on the copies: one that fails (busy, a read-only file, a stop) leaves its
frames to the next one, or to the final checkpoint when the ingest ends.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType

from .connect import uri

# results' bytes written between two copies: the WAL holds about 1.3 x that (rows, their
# indexes and the search terms' segments); SQLite's checkpoint came every 256 MB of WAL
EVERY = 128 << 20


def second_writer(conn: sqlite3.Connection) -> sqlite3.Connection | None:
    """Another connection to `conn`'s file in WAL mode, for a thread; None when the file is
    not in WAL mode or cannot be opened for writing."""
    mode = conn.execute("PRAGMA journal_mode").fetchone()
    path = next((r[2] for r in conn.execute("PRAGMA database_list") if r[1] == "main"), "")
    if mode is None or str(mode[0]).lower() != "wal" or not path:
        return None
    try:
        return sqlite3.connect(uri(Path(path), "rw"), uri=True, check_same_thread=False)
    except sqlite3.Error:
        return None


class BackgroundCheckpoints:
    """While open, the WAL of `conn` (the writer's connection, in WAL mode) is copied into
    the database file by a thread of its own; `written(n)` tells it of n more bytes
    committed, `copy()` asks for a copy now. A no-op where the file is not in WAL mode (a
    scratch shard) or cannot be opened a second time."""

    def __init__(self, conn: sqlite3.Connection, every: int | None = None) -> None:
        self.conn = conn
        self.every = EVERY if every is None else every
        self.copies = 0
        self._pending = 0
        self._other = second_writer(conn)
        self._wake = threading.Event()
        self._copied = threading.Event()  # the thread's copy is done (set by the thread)
        self._copying = False  # a copy was asked for and the writer has not followed it up
        self._asked = False  # a copy was asked for and the thread has not begun it
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
        self._pending += nbytes
        if self._pending >= self.every and not self._copying:
            self.copy()

    def copy(self) -> None:
        """Have the thread copy what is committed, now (unless a copy is under way)."""
        if self._thread is not None and not self._copying:
            self._pending = 0
            self._copying = self._asked = True
            self._wake.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Until the copy last asked for is done (False if `timeout` seconds pass first)."""
        return self._copied.wait(timeout)

    def _run(self) -> None:
        other = self._other
        assert other is not None
        while True:
            self._wake.wait()
            self._wake.clear()
            if self._asked:
                self._asked = False
                try:
                    other.execute("PRAGMA wal_checkpoint(PASSIVE)")
                    self.copies += 1
                except sqlite3.Error:
                    pass  # (the next copy, or the final checkpoint, does it)
                self._copied.set()
            if self._closing:
                return

    def close(self, finish_copy: bool = False) -> None:
        """Stop the thread and give the writer's connection its own checkpoints back. A
        copy under way is cut short (what it did not copy stays in the WAL), unless
        `finish_copy`: then it ends first (bounded: at most what the WAL holds)."""
        if self._thread is not None:
            assert self._other is not None
            if not finish_copy:
                self._asked = False  # (a copy asked for and not begun is not begun)
                self._other.interrupt()
            self._closing = True
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


@contextmanager
def copying_committed(conn: sqlite3.Connection) -> Iterator[BackgroundCheckpoints]:
    """While the block runs, the thread copies what the WAL holds so far into the database
    file, and the block's writing is never blocked. The final checkpoint then copies only
    what the block wrote. The copy and its sync wait on the disk while the block (the index
    build) works the CPU: on 100 MB the final checkpoint took 0.5 s after the build, most of
    it waiting for the disk. A stop cuts the copy short at its next page."""
    copies = BackgroundCheckpoints(conn)
    copies.copy()
    try:
        yield copies
    except BaseException:
        copies.close()
        raise
    copies.close(finish_copy=True)
