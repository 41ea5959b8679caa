"""Opening treeindex databases: schema, settings, the ingest lock, read-only connections."""

from __future__ import annotations

import fcntl
import os
import sqlite3
from importlib import resources
from pathlib import Path

from .errors import DatabaseError

SCHEMA_VERSION = "1"
SETTING_KEYS = ("max_children", "max_nodes")


AFTER_INGEST = "-- @after-ingest"


def schema_sql() -> str:
    """The text of schema.sql (packaged in the wheel; at the project root in a checkout)."""
    packaged = resources.files("treeindex").joinpath("schema.sql")
    if packaged.is_file():
        return packaged.read_text(encoding="utf-8")
    return (Path(__file__).resolve().parent.parent / "schema.sql").read_text(encoding="utf-8")


def build_indexes(conn: sqlite3.Connection) -> None:
    """Create the indexes schema.sql lists after its @after-ingest marker, if missing."""
    conn.executescript("--" + schema_sql().split(AFTER_INGEST, 1)[1])


def connect_write(path: Path) -> sqlite3.Connection:
    """Open (creating if needed) a database for the single writer, in WAL mode."""
    try:
        conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA page_size=16384")  # no effect once the file exists
        conn.execute("PRAGMA journal_mode=WAL")
    except sqlite3.DatabaseError as e:
        raise DatabaseError(f"{path}: cannot be opened as an SQLite database: {e}") from e
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA busy_timeout=10000")
    conn.execute("PRAGMA cache_size=-16384")  # 16 MiB
    _check_is_ours(conn, path)
    _check_version(conn, path)
    conn.executescript(schema_sql().split(AFTER_INGEST, 1)[0])
    conn.execute(
        "INSERT OR IGNORE INTO settings (key, value) VALUES ('schema_version', ?)",
        (SCHEMA_VERSION,),
    )
    return conn


def _check_is_ours(conn: sqlite3.Connection, path: Path) -> None:
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    except sqlite3.DatabaseError as e:
        raise DatabaseError(f"{path}: is not an SQLite database ({e}); give another --db") from e
    if tables and "settings" not in tables:
        raise DatabaseError(
            f"{path}: is an SQLite database but not a treeindex index; give another --db"
        )


def _check_version(conn: sqlite3.Connection, path: Path) -> None:
    try:
        row = conn.execute("SELECT value FROM settings WHERE key = 'schema_version'").fetchone()
    except sqlite3.OperationalError:  # a new database: no settings table yet
        return
    if row is not None and row[0] != SCHEMA_VERSION:
        raise DatabaseError(
            f"{path}: was built by a treeindex with schema version {row[0]}, this one reads "
            f"version {SCHEMA_VERSION}; ingest again into a new --db"
        )


def connect_read(path: Path) -> sqlite3.Connection:
    """Open an existing index read-only (works while an ingest is writing to it)."""
    if not path.exists():
        raise DatabaseError(f"{path}: no such database; build one with `treeindex ingest`")
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
        conn.execute("PRAGMA busy_timeout=10000")
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    except sqlite3.DatabaseError as e:
        raise DatabaseError(f"{path}: cannot be read as an SQLite database: {e}") from e
    if "subtrees" not in tables or "settings" not in tables:
        raise DatabaseError(f"{path}: is not a treeindex index; build one with `treeindex ingest`")
    _check_version(conn, path)
    return conn


def check_settings(conn: sqlite3.Connection, path: Path, wanted: dict[str, int]) -> None:
    """Store the settings on first use; refuse different ones later."""
    stored = dict(conn.execute("SELECT key, value FROM settings"))
    have = {k: int(stored[k]) for k in SETTING_KEYS if k in stored}
    if not have:
        conn.executemany(
            "INSERT INTO settings (key, value) VALUES (?, ?)",
            [(k, str(wanted[k])) for k in SETTING_KEYS],
        )
        return
    if have != {k: wanted[k] for k in SETTING_KEYS}:
        flags = " ".join(f"--{k.replace('_', '-')} {v}" for k, v in have.items())
        asked = " ".join(f"--{k.replace('_', '-')} {wanted[k]}" for k in SETTING_KEYS)
        raise DatabaseError(
            f"{path}: was built with {flags}, not {asked}; ingest with {flags}, "
            "or into another --db"
        )


class IngestLock:
    """An exclusive lock on `<db>.ingest-lock`, held for a whole ingest (released by the OS if
    the process dies), so that a second ingest fails clearly instead of interleaving."""

    def __init__(self, db_path: Path) -> None:
        self.path = Path(str(db_path) + ".ingest-lock")
        self.fd: int | None = None

    def acquire(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 64).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            db = str(self.path)[: -len(".ingest-lock")]
            raise DatabaseError(
                f"{db}: another treeindex ingest (pid {holder}) is writing to this database; "
                "wait for it to finish, or ingest into another --db"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self.fd = fd

    def release(self) -> None:
        # The file stays: unlinking it would let two later ingests lock different inodes.
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def __enter__(self) -> IngestLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
