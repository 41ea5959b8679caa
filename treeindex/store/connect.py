"""Opening treeindex indexes: schema, settings, the ingest lock, read-only connections, and
SQLite's errors as one-line messages. A connection never crosses a fork."""

from __future__ import annotations

import errno
import fcntl
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import DatabaseError
from . import validate

SCHEMA_VERSION = "5"
# versions this treeindex reads; writing to an older index makes it the current version
# (version 2: sentences may be zstd frames, which the first treeindex cannot read; version 3:
# the search_terms table, which covers the sentences from settings.terms_from on; 4: the
# node table, from settings.nodes_from on; 5: its summary, from settings.values_from on: a
# treeindex that does not know a structure must not add rows it does not cover)
READABLE_VERSIONS = ("1", "2", "3", "4", "5")
SETTING_KEYS = ("max_children", "max_nodes")
# PRAGMA application_id of every treeindex index ("TrIx"): only treeindex writes it, so an
# index is recognised before anything in the file is changed.
APPLICATION_ID = 0x54724978
# The tables of an index made before application_id was set (adopted, and then marked).
_OUR_TABLES = {"settings", "corpora", "categories", "corpus_categories", "patterns",
               "sentences", "subtrees", "errors"}


def _sql(name: str) -> str:
    here = Path(__file__).with_name(name)
    if here.is_file():  # (installed as files: importlib.resources would add 30 ms a start)
        return here.read_text(encoding="utf-8")
    from importlib import resources  # (a zipped install)

    return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")


def schema_sql() -> str:
    """The tables and views (schema.sql, beside this module; a link at the project's top)."""
    return _sql("schema.sql")


def indexes_sql() -> str:
    """The indexes built when an ingest finishes (indexes.sql)."""
    return _sql("indexes.sql")


@contextmanager
def atomic(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One write transaction (as sqlite-utils' Database.atomic): committed when the block
    ends, rolled back when it raises."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def build_indexes(conn: sqlite3.Connection) -> None:
    """Create the indexes of indexes.sql, if missing.

    SQLite sorts for each in worker threads when the sort runs in pieces: a small cache
    (4 MB) makes the pieces, one thread per core sorts them (at most 8, SQLite's limit).
    Measured on 2 cores, 250,000 subtrees: 0.67 s -> 0.45 s."""
    from ..cores import available_cores

    cache = conn.execute("PRAGMA cache_size").fetchone()[0]
    # SQLite's sorter uses no threads while temporary files are kept in memory (the
    # writer's setting during an ingest, writer.prepare): they are files again here, which
    # drops the writer's temporary tables (nothing writes after the build)
    conn.execute("PRAGMA temp_store=DEFAULT")
    conn.execute(f"PRAGMA threads={min(available_cores(), 8)}")
    conn.execute("PRAGMA cache_size=-4096")
    try:
        conn.executescript(indexes_sql())
    finally:
        conn.execute(f"PRAGMA cache_size={cache}")
        conn.execute("PRAGMA threads=0")


def uri(path: Path, mode: str = "ro") -> str:
    """A `file:` URI for `path` (characters such as '#', '?' and '%' escaped)."""
    return f"{Path(os.path.abspath(path)).as_uri()}?mode={mode}"


def database_error(e: sqlite3.Error, path: Path) -> DatabaseError:
    """The one-line message, naming the database and the fix, for an error SQLite raised."""
    text = str(e)
    code = getattr(e, "sqlite_errorcode", None)
    if code == sqlite3.SQLITE_FULL or "disk is full" in text:
        fix = ("the disk is full (or a size limit was reached); what was committed is kept: "
               "free space, then run the same command again")
    elif code == sqlite3.SQLITE_CORRUPT or "malformed" in text or "not a database" in text:
        fix = (f"is damaged ({text}); build the index again into a new --db "
               f"(`sqlite3 {path} .recover` may save what is left)")
    elif code == sqlite3.SQLITE_READONLY or "readonly" in text:
        fix = ("cannot be written (the file or its directory is read-only); make both "
               "writable, or give another --db")
    elif code == sqlite3.SQLITE_CANTOPEN or "unable to open" in text:
        fix = ("cannot be opened (does its directory exist, and may it be written? an index "
               "that is still in WAL mode needs a writable directory even to be read)")
    elif code == sqlite3.SQLITE_BUSY or "locked" in text:
        fix = "is locked by another program; try again when it is done"
    elif code == sqlite3.SQLITE_IOERR or "I/O error" in text:
        fix = f"could not be read or written ({text}); check the disk, then run again"
    else:
        fix = f"failed: {text}"
    return DatabaseError(f"{path}: {fix}")


@contextmanager
def translate_errors(path: Path) -> Iterator[None]:
    """Raise SQLite's errors as DatabaseError with a message that names `path` and the fix."""
    try:
        yield
    except sqlite3.Error as e:
        raise database_error(e, path) from e


WAL_CHECKPOINT_BYTES = 256 << 20


def connect_write(path: Path, scratch: bool = False) -> sqlite3.Connection:
    """Open (creating if needed) a treeindex index for the single writer, in WAL mode.
    `scratch`: a file that is thrown away if anything goes wrong (a cluster's shard): no
    journal and no syncing, which writes every page once instead of twice.

    Anything that is not a treeindex index is refused before a byte of it changes."""
    _check_is_ours(path)
    try:
        conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA page_size=16384")  # no effect once the file exists
        conn.execute("PRAGMA journal_mode=OFF" if scratch else "PRAGMA journal_mode=WAL")
    except sqlite3.Error as e:
        raise database_error(e, path) from e
    conn.execute("PRAGMA synchronous=OFF" if scratch else "PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA busy_timeout=10000")
    conn.execute("PRAGMA cache_size=-16384")  # 16 MiB
    # a checkpoint every 256 MB of WAL instead of SQLite's 16 MB (1000 pages): each syncs the
    # file, and pages written again and again (B-tree interiors, the search terms' segments)
    # reach the file once per checkpoint (measured: a 100 MB ingest's commits 0.34 s -> 0.08 s)
    page = conn.execute("PRAGMA page_size").fetchone()[0]
    conn.execute(f"PRAGMA wal_autocheckpoint={WAL_CHECKPOINT_BYTES // page}")
    try:
        _check_version(conn, path)
        if _has_table(conn, "settings") or _has_table(conn, "corpora"):  # (not a new file)
            validate.check(conn, path)
    except DatabaseError:
        conn.close()
        raise
    had_terms = _has_table(conn, "search_terms")
    had_nodes = _has_table(conn, "node_blocks")
    # the table and the mark of which sentences it covers come together, or not at all: the
    # sentences already there (an older index) have no terms until `treeindex upgrade`
    try:
        conn.executescript("BEGIN IMMEDIATE;\n" + schema_sql() + (
            "" if had_terms else
            "\nINSERT OR IGNORE INTO settings (key, value) "
            "SELECT 'terms_from', coalesce(max(id), 0) + 1 FROM sentences;"
            "\nINSERT INTO search_terms (search_terms, rank) VALUES ('automerge', 0);"
            "\nINSERT INTO search_terms (search_terms, rank) VALUES ('crisismerge', 64);"
            ) + ("" if had_nodes else
                 "\nINSERT OR IGNORE INTO settings (key, value) "
                 "SELECT 'nodes_from', coalesce(max(id), 0) + 1 FROM sentences;"
                 # the mark and the version in the same transaction as the tables: a stop in
                 # between once left a file every command refused
                 # (the summary covers no block written before it existed, or before its
                 # mark was lost)
                 ) + "\nINSERT OR IGNORE INTO settings (key, value) SELECT 'values_from', "
                 "coalesce(max(id), 0) + 1 FROM node_blocks;"
                 f"\nPRAGMA application_id={APPLICATION_ID};"
            "\nINSERT OR REPLACE INTO settings (key, value) VALUES ('schema_version', "
            f"'{SCHEMA_VERSION}');\nCOMMIT;")
    except sqlite3.Error as e:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        conn.close()
        if "no such module: fts5" in str(e):
            raise DatabaseError(
                f"{path}: this Python's SQLite ({sqlite3.sqlite_version}) has no FTS5, which "
                "the search index needs; use a Python whose sqlite3 has it (python.org, "
                "Debian and conda builds do)") from None
        raise database_error(e, path) from e
    _drop_kind_check(conn)
    return conn


_KIND_CHECK = " CHECK (kind IN ('treebank', 'directory'))"


def _has_table(conn: sqlite3.Connection, name: str) -> bool:
    return conn.execute("SELECT count(*) FROM sqlite_master WHERE name = ?",
                        (name,)).fetchone()[0] > 0


def terms_from(conn: sqlite3.Connection) -> int | None:
    """The first sentence id from which on every sentence has its search terms (older ones
    have none until `treeindex upgrade`); None: the index has no search terms at all."""
    if not _has_table(conn, "search_terms"):
        return None
    row = conn.execute("SELECT value FROM settings WHERE key = 'terms_from'").fetchone()
    return int(row[0]) if row is not None else None


def nodes_from(conn: sqlite3.Connection) -> int | None:
    """The first sentence id from which on every sentence is in a node block (older ones are
    not until `treeindex upgrade`); None: the index has no node blocks at all."""
    if not _has_table(conn, "node_blocks"):
        return None
    row = conn.execute("SELECT value FROM settings WHERE key = 'nodes_from'").fetchone()
    return int(row[0]) if row is not None else None


def _drop_kind_check(conn: sqlite3.Connection) -> None:
    """Indexes of the first version constrain corpora.kind to two formats; drop that CHECK
    (the one change SQLite allows through the schema text: no row changes)."""
    (sql,) = conn.execute(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'corpora'").fetchone()
    if _KIND_CHECK not in sql:
        return
    version = conn.execute("PRAGMA schema_version").fetchone()[0]
    with atomic(conn):
        conn.execute("PRAGMA writable_schema = ON")
        conn.execute("UPDATE sqlite_master SET sql = ? WHERE type = 'table' AND name = 'corpora'",
                     (sql.replace(_KIND_CHECK, ""),))
        conn.execute(f"PRAGMA schema_version = {version + 1}")
        conn.execute("PRAGMA writable_schema = OFF")


def _is_ours(conn: sqlite3.Connection, empty_too: bool = False) -> bool:
    """Whether a database is a treeindex index: marked with our application_id, or one from
    before the mark (all our tables and a schema version); `empty_too`: or empty."""
    app = conn.execute("PRAGMA application_id").fetchone()[0]
    if app == APPLICATION_ID:
        return True
    if app != 0:
        return False
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    if not tables:
        return empty_too
    if not _OUR_TABLES <= tables:
        return False
    if conn.execute("SELECT count(*) FROM settings WHERE key = 'schema_version'"
                    ).fetchone()[0] > 0:
        return True
    # our tables, no mark and not one corpus: an index whose first ingest was stopped
    # before an older treeindex marked it (it is finished by the next ingest)
    return conn.execute("SELECT count(*) FROM corpora").fetchone()[0] == 0


def _roll_back(path: Path) -> bool:
    """Roll back a write that was stopped midway (kill -9 in the switch to WAL mode, or in a
    rename) and left a hot journal beside the file, which a read-only connection cannot
    roll back: any read through a writable connection does it. Whether there was one."""
    journal = Path(f"{path}-journal")
    try:
        if journal.stat().st_size == 0:
            return False
    except OSError:
        return False
    try:
        conn = sqlite3.connect(str(path))
        try:
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        finally:
            conn.close()
    except sqlite3.Error as e:
        if getattr(e, "sqlite_errorcode", None) not in (sqlite3.SQLITE_READONLY,
                                                         sqlite3.SQLITE_CANTOPEN) and \
                "readonly" not in str(e) and "unable to open" not in str(e):
            return False  # (a live writer's journal: busy; the usual open waits for it)
        raise DatabaseError(
            f"{path}: a write to it was stopped midway and must be rolled back from "
            f"{journal}, which needs write access to the file and its directory ({e}); "
            "give it, then run the command again") from None
    return True


def _check_is_ours(path: Path) -> None:
    """Refuse a file that is not a treeindex index (an empty or new file is fine), reading
    it only."""
    try:
        with open(path, "rb") as f:
            head = f.read(100)
    except FileNotFoundError:
        return
    except IsADirectoryError:
        raise DatabaseError(f"{path}: is a directory; give a file as --db") from None
    except OSError as e:
        raise DatabaseError(f"{path}: cannot be read ({e.strerror}); give another --db") from None
    if not head:
        return
    if not head.startswith(b"SQLite format 3\0"):
        raise DatabaseError(f"{path}: is not an SQLite database; give another --db")
    _roll_back(path)
    try:
        conn = sqlite3.connect(uri(path), uri=True)
        try:
            ours = _is_ours(conn, empty_too=True)
        finally:
            conn.close()
    except sqlite3.Error as e:
        raise database_error(e, path) from e
    if ours:
        return
    raise DatabaseError(
        f"{path}: is an SQLite database but not a treeindex index; give another --db"
    )


def dictionary(conn: sqlite3.Connection) -> bytes | None:
    """The zstd dictionary new sentences are compressed with (the newest), if any."""
    row = conn.execute("SELECT data FROM dictionaries ORDER BY rowid DESC LIMIT 1").fetchone()
    return row[0] if row else None


def save_dictionary(conn: sqlite3.Connection, data: bytes) -> None:
    from .codec import dictionary_id

    with atomic(conn):
        conn.execute("INSERT OR IGNORE INTO dictionaries (id, data) VALUES (?, ?)",
                     (dictionary_id(data), data))


def finish(conn: sqlite3.Connection, build: bool = True) -> None:
    """After an ingest: build the indexes, gather statistics for the query planner, and
    leave WAL mode, so that the finished index is one self-contained file that can be read
    from a read-only directory. (While another program reads it, it stays in WAL mode.)"""
    from .checkpoints import copying_committed

    if build:  # (a cluster's shard, which is only merged, needs neither)
        with copying_committed(conn):
            build_indexes(conn)
            # statistics for the query planner (e.g. skip-scans of (corpus_id, cat, n) when
            # a query filters on cat alone); analysis_limit keeps this fast on huge indexes
            conn.execute("PRAGMA analysis_limit=2000")
            conn.execute("ANALYZE")
    leave_wal(conn)


def leave_wal(conn: sqlite3.Connection) -> None:
    """Back to one self-contained file (rollback journal), unless another program reads the
    index (`treeindex serve`, a search): then it stays in WAL mode, which is as good."""
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.execute("PRAGMA busy_timeout=0")
    try:
        conn.execute("PRAGMA journal_mode=DELETE")
    except sqlite3.OperationalError:  # a reader has it open: it stays in WAL mode
        pass


def _check_version(conn: sqlite3.Connection, path: Path) -> None:
    try:
        row = conn.execute("SELECT value FROM settings WHERE key = 'schema_version'").fetchone()
    except sqlite3.OperationalError:  # a new database: no settings table yet
        return
    if row is not None and row[0] not in READABLE_VERSIONS:
        raise DatabaseError(
            f"{path}: was built by a treeindex with schema version {row[0]}, this one reads "
            f"versions {', '.join(READABLE_VERSIONS[:-1])} and {READABLE_VERSIONS[-1]}; "
            "ingest again into a new --db"
        )


# Set by a process that opens one index many times within one command (a command run by
# `treeindex server`: five opens in a search): an open skips the checks when the file and
# its WAL are unchanged (device, inode, size, modification time) since they passed here.
remember_checks = False
_checked: set[tuple] = set()
# SQLite's page cache of a read connection, in KiB (None: SQLite's 2,000 KiB, 125 of the
# index's 16 KiB pages). A command run by `treeindex server` sets more: its search reads
# each block's row and the row of the block's first sentence in turn, which 125 pages do not
# hold at 200 MB (1.0 ms against 0.12 ms with 16 MiB). Not by default: a long process (the
# web view's download of every hit) would keep that much per connection.
read_cache_kib: int | None = None


def forget_checks() -> None:
    """Forget which file states passed the checks (see remember_checks)."""
    _checked.clear()


def file_state(path: Path) -> tuple:
    """The state of an index file and its WAL (device, inode, size, modification time of
    each, None where missing): what any write (ingest, rm, rename) changes."""
    out: list[tuple | None] = []
    for p in (str(path), str(path) + "-wal"):
        try:
            st = os.stat(p)
            out.append((st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns))
        except OSError:
            out.append(None)
    return tuple(out)


def connect_read(path: Path) -> sqlite3.Connection:
    """Open an existing index read-only (works while an ingest is writing to it)."""
    if not path.exists():
        raise DatabaseError(f"{path}: no such database; build one with `treeindex ingest`")
    if path.is_dir():
        raise DatabaseError(f"{path}: is a directory; give a file as --db")
    _roll_back(path)
    try:
        conn = sqlite3.connect(uri(path), uri=True, check_same_thread=False)
        conn.execute("PRAGMA busy_timeout=10000")
        if read_cache_kib is not None:
            conn.execute(f"PRAGMA cache_size=-{int(read_cache_kib)}")
        ours = _is_ours(conn)
    except sqlite3.Error as e:
        if "not a database" in str(e):
            raise DatabaseError(f"{path}: is not an SQLite database; give another --db") from e
        raise database_error(e, path) from e
    if not ours:
        conn.close()
        raise DatabaseError(f"{path}: is not a treeindex index; build one with `treeindex ingest`")
    state = file_state(path) if remember_checks else None
    if state is not None and state in _checked:
        return conn
    try:
        _check_version(conn, path)
        validate.check(conn, path)
    except sqlite3.Error as e:
        conn.close()
        raise database_error(e, path) from e
    except DatabaseError:
        conn.close()
        raise
    if state is not None:
        _checked.add(state)
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

    def __init__(self, db_path: Path,
                 fix: str = "wait for it to finish, or ingest into another --db") -> None:
        # next to the real file: two paths to one database (a link) share one lock
        self.db = Path(db_path)
        self.fix = fix
        self.path = Path(os.path.realpath(db_path) + ".ingest-lock")
        self.fd: int | None = None

    def acquire(self) -> None:
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            hint = ("free space" if e.errno == errno.ENOSPC else
                    "make the directory writable, or give another --db")
            raise DatabaseError(
                f"{self.db}: cannot create its lock file {self.path} ({e.strerror}); {hint}"
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 64).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise DatabaseError(
                f"{self.db}: another treeindex ingest (pid {holder}) is writing to this database; "
                f"{self.fix}"
            ) from None
        try:
            os.ftruncate(fd, 0)
            os.write(fd, str(os.getpid()).encode())
        except OSError as e:  # (the lock holds without the pid, which only says who holds it)
            if e.errno != errno.ENOSPC:
                os.close(fd)
                raise DatabaseError(f"{self.db}: cannot write its lock file {self.path} "
                                    f"({e.strerror}); make the directory writable, or give "
                                    "another --db") from None
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
