"""Real interruptions of a running `treeindex ingest` process: kill -9, SIGTERM, SIGINT."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest
from conftest import dump


def start(db, src, *extra):
    return subprocess.Popen(
        [sys.executable, "-m", "treeindex", "ingest", "--db", str(db), "--chunk-mb", "0.05",
         "--workers", "2", *extra, str(src)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
    )


def running(tmp_path, src):
    """An ingest of `src` into tmp_path/t.db that has committed some, but not all, of it."""
    db = tmp_path / "t.db"
    proc = start(db, src)
    wait_for_progress(db, proc)
    return db, proc


def finishes_like(proc, db, whole):
    """The running ingest ends well, with the same index as an undisturbed one."""
    proc.communicate(timeout=120)
    return proc.returncode == 0 and dump(db) == dump(whole)


def treeindex(*args):
    """Run the CLI to completion."""
    return subprocess.run([sys.executable, "-m", "treeindex", *map(str, args)],
                          capture_output=True, text=True)


def wait_for_progress(db, proc, timeout=60):
    """Wait until some, but not all, of the input is committed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the ingest finished before it could be interrupted"
        if db.exists():
            try:
                row = sqlite3.connect(db, timeout=1).execute(
                    "SELECT sentences FROM corpora").fetchone()
            except sqlite3.OperationalError:
                row = None
            if row and row[0] > 0:
                return row[0]
        time.sleep(0.02)
    raise AssertionError("no progress")


@pytest.mark.parametrize("sig, code", [(signal.SIGKILL, -9), (signal.SIGTERM, 143),
                                       (signal.SIGINT, 130)])
def test_interrupted_process_resumes_to_the_same_index(tmp_path, corpus, sig, code):
    src, whole = corpus
    db, proc = running(tmp_path, src)
    if sig == signal.SIGINT:
        os.killpg(proc.pid, sig)  # as Ctrl-C does: the whole process group
    else:
        proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    if sig != signal.SIGKILL:
        assert "what was indexed so far is kept" in err.decode()
    done = sqlite3.connect(db).execute("SELECT sentences, complete FROM corpora").fetchone()
    assert done[1] == 0 and 0 < done[0] < 12 * 400
    resumed = treeindex("ingest", "--db", db, "--chunk-mb", "0.05", src)
    assert resumed.returncode == 0, resumed.stderr
    assert "big: resumed" in resumed.stdout
    assert dump(db) == dump(whole)


def test_second_ingest_into_a_busy_database_is_refused(tmp_path, corpus):
    src, whole = corpus
    db, proc = running(tmp_path, src)
    second = treeindex("ingest", "--db", db, src)
    assert second.returncode == 1
    assert second.stderr == (
        f"Error: {db}: another treeindex ingest (pid {proc.pid}) is writing to this database; "
        "wait for it to finish, or ingest into another --db\n")
    assert finishes_like(proc, db, whole)


def test_export_and_query_while_an_ingest_is_writing(tmp_path, corpus):
    from lxml import etree

    src, whole = corpus
    db, proc = running(tmp_path, src)
    out = tmp_path / "out"
    export = treeindex("export", "--db", db, "--cat", "np", out)
    query = treeindex("query", "--db", db, "SELECT sum(subtrees) FROM category_counts")
    still_running = proc.poll() is None
    assert finishes_like(proc, db, whole)
    assert export.returncode == 0, export.stderr
    assert query.returncode == 0, query.stderr
    if still_running:  # (on a fast machine the ingest may have finished meanwhile)
        assert "note: corpus big is still being ingested" in export.stderr
    trees = etree.parse(str(out / "big" / "big-np-trees.xml")).getroot()
    n = len(trees)
    assert n > 0
    assert [t.get("index") for t in trees] == [f"np-{i}" for i in range(1, n + 1)]
