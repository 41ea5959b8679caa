"""Only treeindex indexes are written to, whatever --db is called, and every database problem
(foreign, damaged, read-only, full) is a one-line message that keeps what was indexed."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import CDB, WRPEE, dump, repeat_treebank

from treeindex import DatabaseError, ingest
from treeindex.cli import cli
from treeindex.store import IngestLock


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def foreign(path: Path, sql: str) -> Path:
    conn = sqlite3.connect(path)
    conn.executescript(sql)
    conn.close()
    return path


@pytest.mark.parametrize("sql", [
    "CREATE TABLE settings (key, value); INSERT INTO settings VALUES ('a', 'b');",
    "CREATE TABLE settings (name TEXT, other INTEGER);",
    "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT); INSERT INTO notes VALUES (1, 'x');",
    "CREATE TABLE subtrees (x); CREATE TABLE settings (key, value);",
])
def test_foreign_databases_are_refused_before_a_byte_changes(tmp_path, sql):
    db = foreign(tmp_path / "theirs.db", sql)
    before = digest(db)
    result = run("ingest", "--db", db, CDB)
    assert result.exit_code == 1
    assert result.output == (f"Error: {db}: is an SQLite database but not a treeindex index; "
                             "give another --db\n")
    assert digest(db) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["theirs.db", "theirs.db.ingest-lock"]
    assert sqlite3.connect(db).execute("PRAGMA journal_mode").fetchone() == ("delete",)
    for command in (["query", "SELECT 1"], ["stats"], ["export", "--all", tmp_path / "o"]):
        result = run(*command, "--db", db)
        assert result.exit_code == 1
        assert result.output == (f"Error: {db}: is not a treeindex index; build one with "
                                 "`treeindex ingest`\n")
    assert digest(db) == before


def test_a_file_that_is_not_sqlite_is_refused_untouched(tmp_path):
    db = tmp_path / "notes.db"
    db.write_bytes(b"just some text, not a database\n" * 100)
    before = digest(db)
    result = run("ingest", "--db", db, CDB)
    assert result.output == f"Error: {db}: is not an SQLite database; give another --db\n"
    assert run("query", "--db", db, "SELECT 1").output == (
        f"Error: {db}: is not an SQLite database; give another --db\n")
    assert digest(db) == before


def test_an_index_is_marked_and_an_older_unmarked_index_is_adopted(tmp_path):
    db = tmp_path / "t.db"
    ingest(db, [WRPEE], workers=0)
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA application_id").fetchone() == (0x54724978,)
    conn.execute("PRAGMA application_id = 0")  # as the first treeindex left its indexes
    conn.commit()
    conn.close()
    report = ingest(db, [CDB], workers=0)
    assert [c.status for c in report.corpora] == ["indexed"]
    assert sqlite3.connect(db).execute("PRAGMA application_id").fetchone() == (0x54724978,)


@pytest.mark.parametrize("name", ["run#1.db", "what?.db", "100%.db", "a b.db"])
def test_database_names_with_uri_characters(tmp_path, name):
    db = tmp_path / name
    assert run("ingest", "-q", "--db", db, WRPEE).exit_code == 0
    result = run("query", "--db", db, "SELECT count(*) AS n FROM sentences")
    assert result.exit_code == 0, result.output
    assert result.output.split() == ["n", "--", "11"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [name, name + ".ingest-lock"]


def test_the_lock_follows_links_to_the_database(tmp_path):
    db = tmp_path / "t.db"
    ingest(db, [WRPEE], workers=0)
    link = tmp_path / "link.db"
    link.symlink_to(db)
    with IngestLock(db), pytest.raises(DatabaseError) as e:
        ingest(link, [CDB], workers=0)
    assert str(e.value) == (
        f"{link}: another treeindex ingest (pid {os.getpid()}) is writing to this database; "
        "wait for it to finish, or ingest into another --db")


def test_a_damaged_index_is_one_line(tmp_path):
    db = tmp_path / "t.db"
    ingest(db, [repeat_treebank(tmp_path / "big.xml", 2)], workers=0)
    size = db.stat().st_size
    with open(db, "r+b") as f:  # garbage over most pages
        f.seek(4 * 16384)
        f.write(os.urandom(size - 8 * 16384))
    for command in (["query", "SELECT count(*), sum(length(xml)) FROM sentences"],
                    ["export", "--all", tmp_path / "out"],
                    ["ingest", CDB]):
        result = run(*command, "--db", db)
        assert result.exit_code == 1, (command, result.output)
        assert result.output.startswith(f"Error: {db}: ")
        assert result.output.count("\n") == 1 and "Traceback" not in result.output
        assert ("is damaged" in result.output or "bad SQL" in result.output
                or "malformed" in result.output), result.output


@pytest.fixture
def small_fs(tmp_path):
    """A real tmpfs (needs root, as CI has); remount(options) changes it."""
    mnt = tmp_path / "fs"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mnt)],
                      capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here")

    def remount(options: str) -> None:
        subprocess.run(["mount", "-o", f"remount,{options}", str(mnt)], check=True)

    yield mnt, remount
    subprocess.run(["umount", "-l", str(mnt)])


def treeindex(*args):
    return subprocess.run([sys.executable, "-m", "treeindex", *map(str, args)],
                          capture_output=True, text=True, timeout=120)


def test_a_full_disk_keeps_what_was_committed_and_resumes(tmp_path, small_fs):
    mnt, remount = small_fs
    src = repeat_treebank(tmp_path / "big.xml", 6)
    whole = tmp_path / "whole.db"
    ingest(whole, [src], workers=0, chunk_bytes=50_000)
    db = mnt / "t.db"
    full = treeindex("ingest", "--db", db, "--chunk-mb", "0.05", src)
    assert full.returncode == 1, full.stderr
    assert full.stderr == (
        f"Error: {db}: the disk is full (or a size limit was reached); what was committed is "
        "kept: free space, then run the same command again\n")
    remount("size=64m")
    again = treeindex("ingest", "--db", db, "--chunk-mb", "0.05", src)
    assert again.returncode == 0, again.stderr
    assert "big: resumed" in again.stdout
    assert dump(db) == dump(whole)


def test_a_finished_index_reads_from_a_read_only_directory(tmp_path, small_fs):
    mnt, remount = small_fs
    db = mnt / "t.db"
    assert treeindex("ingest", "-q", "--db", db, WRPEE).returncode == 0
    remount("ro")
    query = treeindex("query", "--db", db, "SELECT count(*) FROM sentences")
    assert query.returncode == 0, query.stderr
    assert query.stdout.split()[-1] == "11"
    plain = sqlite3.connect(f"file:{db}?mode=ro", uri=True)  # plain sqlite3 too
    assert plain.execute("SELECT count(*) FROM subtrees").fetchone()[0] > 0
    plain.close()
    write = treeindex("ingest", "--db", db, CDB)
    assert write.returncode == 1
    assert write.stderr.startswith(f"Error: {db}: cannot create its lock file ")
    assert write.stderr.endswith("(Read-only file system); make the directory writable, or "
                                 "give another --db\n")


def test_an_index_of_the_first_version_loses_its_kind_check(tmp_path):
    """The first version constrained corpora.kind to two formats; a new format must need no
    schema change, so ingest drops that CHECK in place (rows untouched)."""
    db = tmp_path / "t.db"
    ingest(db, [WRPEE], workers=0)
    conn = sqlite3.connect(db)
    (sql,) = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'corpora'").fetchone()
    old = sql.replace("kind           TEXT NOT NULL,",
                      "kind           TEXT NOT NULL CHECK (kind IN ('treebank', 'directory')),")
    assert old != sql
    version = conn.execute("PRAGMA schema_version").fetchone()[0]
    conn.execute("PRAGMA writable_schema = ON")
    conn.execute("UPDATE sqlite_master SET sql = ? WHERE name = 'corpora'", (old,))
    conn.execute(f"PRAGMA schema_version = {version + 1}")
    conn.commit()
    conn.close()
    before = dump(db)
    ingest(db, [CDB], workers=0)
    conn = sqlite3.connect(db)
    assert "CHECK" not in conn.execute(
        "SELECT sql FROM sqlite_master WHERE name = 'corpora'").fetchone()[0]
    assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    conn.execute("UPDATE corpora SET kind = 'compact' WHERE name = 'cdb-sample'")  # any kind
    conn.close()
    assert dump(db)["sentences"][:11] == before["sentences"]


def test_a_sqlite_without_fts5_is_one_line(tmp_path, monkeypatch):
    """(Simulated: the schema asks for a module this SQLite does not have.)"""
    import sqlite3 as _sqlite3

    from treeindex.store import connect

    real = connect.schema_sql()
    monkeypatch.setattr(connect, "schema_sql", lambda: real.replace("USING fts5(",
                                                                    "USING fts5_missing("))
    db = tmp_path / "t.db"
    with pytest.raises(DatabaseError) as e:
        connect.connect_write(db)
    assert str(e.value) == (
        f"{db}: this Python's SQLite ({_sqlite3.sqlite_version}) has no FTS5, which the search "
        "index needs; use a Python whose sqlite3 has it (python.org, Debian and conda builds "
        "do)")
    tables = _sqlite3.connect(db).execute("SELECT name FROM sqlite_master").fetchall()
    assert tables == []  # rolled back: nothing half-made


def test_an_index_whose_first_ingest_stopped_before_its_mark_is_finished(tmp_path):
    """An older treeindex marked a new index after committing its tables: a stop in between
    left a file every command refused. Now both are one transaction; such a file (our
    tables, no mark, no corpus) is recognized and finished by the next ingest."""
    from treeindex.store.connect import schema_sql

    db = tmp_path / "t.db"
    conn = sqlite3.connect(db)
    conn.executescript(schema_sql() + "INSERT INTO settings VALUES ('terms_from', '1');"
                       "INSERT INTO settings VALUES ('nodes_from', '1');")
    conn.close()
    assert run("corpora", "--db", db).exit_code == 0
    result = run("ingest", "-q", "--db", db, WRPEE)
    assert result.exit_code == 0, result.output
    whole = tmp_path / "whole.db"
    ingest(whole, [WRPEE], workers=0)
    assert dump(db) == dump(whole)


def test_a_hot_journal_left_by_a_killed_write_is_rolled_back(tmp_path):
    db = tmp_path / "t.db"
    ingest(db, [WRPEE], workers=0)
    # a write stopped midway (kill -9) in rollback-journal mode: the pages it changed are in
    # the file, the originals in the journal, and no process holds a lock
    script = (
        "import os, shutil, sqlite3, sys\n"
        f"c = sqlite3.connect({str(db)!r}, isolation_level=None)\n"
        "c.execute('PRAGMA cache_size=1')\n"
        "c.execute('BEGIN IMMEDIATE')\n"
        "c.execute(\"UPDATE sentences SET text = 'x' || text\")\n"
        "c.execute(\"UPDATE corpora SET name = 'half-renamed'\")\n"
        "os.kill(os.getpid(), 9)\n")
    subprocess.run([sys.executable, "-c", script])
    assert (tmp_path / "t.db-journal").stat().st_size > 0
    for command in (["corpora"], ["stats"], ["search", "--count", "//node"]):
        result = run(*command, "--db", db)
        assert result.exit_code == 0, result.output
        assert "half-renamed" not in result.output
    assert run("ingest", "-q", "--db", db, CDB).exit_code == 0
    names = [r[0] for r in sqlite3.connect(db).execute("SELECT name FROM corpora")]
    assert names == ["WRPEE-dummy", "cdb-sample"]


@pytest.mark.parametrize("command", [
    ["search", "-o", "{out}/hits.tsv", "//node"],
    ["search", "--format", "xml", "-o", "{out}/hits.xml", "//node"],
    ["show", "--format", "svg", "-o", "{out}/s.svg", "np-1"],
    ["export", "--all", "{out}/export"],
])
def test_a_full_disk_is_one_line_naming_it(tmp_path, small_fs, command):
    mnt, remount = small_fs
    db = tmp_path / "t.db"
    ingest(db, [CDB], workers=0)
    with open(mnt / "filler", "wb") as f:  # fill the disk
        try:
            while True:
                f.write(b"\0" * 65536)
        except OSError:
            pass
    args = [a.replace("{out}", str(mnt)) for a in command]
    result = treeindex(*args[:1], "--db", db, *args[1:])
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr and result.stderr.count("\n") == 1, result.stderr
    assert str(mnt) in result.stderr and "No space left on device" in result.stderr, \
        result.stderr
    assert "free space" in result.stderr, result.stderr


def test_the_ingest_lock_on_a_full_disk_is_one_line(tmp_path, small_fs):
    mnt, _ = small_fs
    with open(mnt / "filler", "wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
        except OSError:
            pass
    result = treeindex("ingest", "--db", mnt / "t.db", WRPEE)
    assert result.returncode == 1
    assert result.stderr == (f"Error: {mnt / 't.db'}: the disk is full (or a size limit was "
                             "reached); what was committed is kept: free space, then run the "
                             "same command again\n")


def _rows_in_the_file_alone(path: Path, tmp_path: Path) -> int:
    """The rows of `t` that the database file holds without its WAL."""
    alone = tmp_path / "alone.db"
    alone.write_bytes(path.read_bytes())
    conn = sqlite3.connect(alone)
    try:
        if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 't'").fetchone() is None:
            return 0  # (not even the table is there yet)
        return conn.execute("SELECT count(*) FROM t").fetchone()[0]
    finally:
        conn.close()


def test_what_was_committed_is_copied_into_the_file_while_the_indexes_are_built(tmp_path):
    from treeindex.store.checkpoints import copying_committed

    path = tmp_path / "w.db"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA wal_autocheckpoint=0")
    conn.execute("CREATE TABLE t (x)")
    conn.executemany("INSERT INTO t VALUES (?)", ((k,) for k in range(5000)))
    assert _rows_in_the_file_alone(path, tmp_path) == 0  # (all in the WAL)
    with copying_committed(conn) as copies:
        # (the copy runs when its thread gets to it: on a loaded machine after the block's
        # commit, and then it copies that too; here the block writes once it has run)
        assert copies.wait(timeout=60)
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO t VALUES (?)", ((k,) for k in range(300)))
        conn.execute("COMMIT")
    # what was committed before the block is in the file; what the block wrote is not yet
    assert _rows_in_the_file_alone(path, tmp_path) == 5000
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    assert _rows_in_the_file_alone(path, tmp_path) == 5300
    conn.close()


def test_copying_what_was_committed_needs_a_wal_and_a_writable_file(tmp_path):
    from treeindex.store.checkpoints import copying_committed

    path = tmp_path / "d.db"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("CREATE TABLE t (x)")  # (a rollback journal: nothing to copy)
    with copying_committed(conn):
        conn.execute("INSERT INTO t VALUES (1)")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA wal_autocheckpoint=0")
    conn.execute("INSERT INTO t VALUES (2)")
    os.chmod(path, 0o444)  # the copy cannot open it for writing: the block runs all the same
    try:
        with copying_committed(conn):
            conn.execute("INSERT INTO t VALUES (3)")
    finally:
        os.chmod(path, 0o644)
    assert [r[0] for r in conn.execute("SELECT x FROM t")] == [1, 2, 3]
    conn.close()
