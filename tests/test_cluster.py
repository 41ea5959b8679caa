"""Ingest on a real Dask cluster: a scheduler and two worker processes on 127.0.0.1, started
as separate processes. The index is the same as a local ingest's, ids included; a worker
killed mid-shard, an interrupted client, a worker that cannot see the input. On a failure
the cluster's logs are printed (pytest shows them with the failure)."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest
from conftest import ALPINO, CDB, SUITES, WRPEE, dump

from treeindex import ingest
from treeindex.search import search

distributed = pytest.importorskip("distributed")
pytestmark = pytest.mark.cluster

QUERIES = ['//node[@cat="np" and node[@rel="det" and @lemma="de"]]', '//node[@lemma="in"]',
           '//node[@index and not(@cat or @word)]']


class Cluster:
    """A scheduler and workers, each its own process (dask's command-line tools)."""

    def __init__(self, where: Path, workers: int = 2, env: dict | None = None) -> None:
        self.where = where
        where.mkdir(parents=True, exist_ok=True)
        self.file = where / "scheduler.json"
        self.procs: list[subprocess.Popen] = []
        self.logs: list[Path] = []
        self.env = {**os.environ, **(env or {})}
        self._start("scheduler", ["scheduler", "--host", "127.0.0.1", "--port", "0",
                                  "--scheduler-file", str(self.file), "--no-dashboard"])
        deadline = time.time() + 30
        while not self.file.exists() and time.time() < deadline:
            time.sleep(0.1)
        for k in range(workers):
            self.add_worker(f"worker{k}")
        self.wait_for(workers)

    def _start(self, name: str, args: list[str], prefix: list[str] | None = None) -> None:
        log = self.where / f"{name}.log"
        self.logs.append(log)
        self.procs.append(subprocess.Popen(
            [*(prefix or []), sys.executable, "-m", "distributed.cli.dask_" +
             ("scheduler" if args[0] == "scheduler" else "worker"), *args[1:]],
            stdout=open(log, "w"), stderr=subprocess.STDOUT, env=self.env,
            start_new_session=True))

    def add_worker(self, name: str, prefix: list[str] | None = None) -> None:
        self._start(name, ["worker", "--scheduler-file", str(self.file), "--nworkers", "1",
                           "--nthreads", "1", "--no-dashboard", "--host", "127.0.0.1",
                           "--name", name], prefix)

    def wait_for(self, n: int) -> None:
        with distributed.Client(scheduler_file=str(self.file), timeout="30s") as c:
            c.wait_for_workers(n, timeout=60)

    def worker_pids(self) -> list[int]:
        """The worker processes proper (children of the nannies)."""
        with distributed.Client(scheduler_file=str(self.file), timeout="30s") as c:
            return list(c.run(os.getpid).values())

    def logs_text(self) -> str:
        return "\n".join(f"== {p.name}\n{p.read_text()[-4000:]}" for p in self.logs
                         if p.exists())

    def stop(self) -> None:
        for p in self.procs:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    c = Cluster(tmp_path_factory.mktemp("cluster"))
    yield c
    c.stop()


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    where = tmp_path_factory.mktemp("inputs")
    gz = where / "suites.xml.gz"
    gz.write_bytes(gzip.compress(SUITES.read_bytes()))
    # a treebank with malformed sentences and sentences without ids, split into shards
    text = CDB.read_text(encoding="utf-8")
    broken = text.replace('<node begin="0" cat="top"', '<node begin="0" cat="top"', 1)
    parts = broken.split("<alpino_ds ")
    parts[7] = parts[7].replace("</node>", "</nod>", 1)
    parts[40] = parts[40].replace('id="', 'xid="', 1)
    parts[90] = parts[90].replace('id="', 'xid="', 1)
    parts[-1] = parts[-1].replace("</node>", "</nod>", 1)  # the last sentence, too
    odd = where / "odd.xml"
    odd.write_text("<alpino_ds ".join(parts), encoding="utf-8")
    folder = where / "with-skipped"  # a directory with a file it skips, right after
    shutil.copytree(ALPINO / "cdb", folder)
    (folder / "broken.xml").write_text("garbage")
    archive = where / "titaantjes.tar.gz"  # an archive of one-sentence files
    with tarfile.open(archive, "w:gz") as t:
        for p in sorted((ALPINO / "Titaantjes").iterdir()):
            t.add(p, f"Titaantjes-packed/{p.name}")
    compact = Path(__file__).parent / "data-compact"  # a compact corpus (renamed)
    for ext in (".index", ".data.dz"):
        shutil.copy(compact / f"ovis{ext}", where / f"ovis-compact{ext}")
    return [CDB, odd, folder, gz, ALPINO, WRPEE, archive, where / "ovis-compact.index"]


def cli(*args: object, env: dict | None = None, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "treeindex", *map(str, args)],
                          capture_output=True, text=True, env={**os.environ, **(env or {})},
                          **kw)


def ingest_args(c: Cluster, db: Path, inputs: list) -> list[str]:
    """The cluster ingest command of the fault tests: many small shards."""
    return [sys.executable, "-m", "treeindex", "ingest", "-q", "--scheduler", str(c.file),
            "--shard-mb", "0.1", "--db", str(db), *map(str, inputs)]


def hits(db: Path) -> list:
    return [[(h.corpus, h.sentid, h.id, h.label) for h in search(db, q, workers=0)]
            for q in QUERIES]


@pytest.fixture(scope="module")
def local(tmp_path_factory, inputs):
    db = tmp_path_factory.mktemp("local") / "local.db"
    ingest(db, inputs, workers=2)
    return db


def same_index(got: Path, want: Path) -> None:
    assert dump(got) == dump(want)
    assert hits(got) == hits(want)


def test_the_same_index_as_a_local_ingest(cluster, inputs, local, tmp_path):
    db = tmp_path / "cluster.db"
    r = cli("ingest", "--scheduler", cluster.file, "--shard-mb", 0.1, "--db", db, *inputs)
    assert r.returncode in (0, 3), r.stderr + cluster.logs_text()
    same_index(db, local)
    assert not (tmp_path / "cluster.db.shards").exists()
    n = sqlite3.connect(db).execute("SELECT count(*) FROM corpora WHERE complete").fetchone()
    assert n[0] == len(dump(local)["corpora"])


def test_an_unreachable_scheduler_is_one_line(tmp_path):
    r = cli("ingest", "--scheduler", "tcp://127.0.0.1:9", "--db", tmp_path / "x.db", CDB)
    assert r.returncode == 1
    assert r.stderr.startswith("Error: cannot reach the Dask scheduler at tcp://127.0.0.1:9")
    assert "Traceback" not in r.stderr


def test_a_worker_killed_mid_shard(tmp_path, inputs, local):
    c = Cluster(tmp_path / "c", env={"TREEINDEX_SHARD_PAUSE": "0.5"})
    try:
        db = tmp_path / "cluster.db"
        client = subprocess.Popen(ingest_args(c, db, inputs), stderr=subprocess.PIPE,
                                  text=True)
        time.sleep(2.0)
        os.kill(c.worker_pids()[0], signal.SIGKILL)  # its nanny starts a new one
        _, err = client.communicate(timeout=240)
        assert client.returncode in (0, 3), err + c.logs_text()
        same_index(db, local)
    finally:
        c.stop()


@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGKILL])
def test_the_client_interrupted_and_resumed(tmp_path, inputs, local, how):
    c = Cluster(tmp_path / "c", env={"TREEINDEX_SHARD_PAUSE": "0.3"})
    try:
        db = tmp_path / "cluster.db"
        args = ingest_args(c, db, inputs)
        client = subprocess.Popen(args, stderr=subprocess.PIPE, text=True)
        deadline = time.time() + 60
        while time.time() < deadline:  # until the first shard is merged
            time.sleep(0.2)
            try:
                if sqlite3.connect(db).execute("SELECT count(*) FROM sentences").fetchone()[0]:
                    break
            except sqlite3.Error:
                pass
        client.send_signal(how)
        _, err = client.communicate(timeout=60)
        assert client.returncode == (130 if how == signal.SIGINT else -9), err + c.logs_text()
        assert "Traceback" not in err
        merged = sqlite3.connect(db).execute("SELECT count(*) FROM sentences").fetchone()[0]
        assert merged > 0
        again = subprocess.run(args, capture_output=True, text=True, timeout=240)
        assert again.returncode in (0, 3), again.stderr + c.logs_text()
        same_index(db, local)
    finally:
        c.stop()


def test_a_lost_scheduler(tmp_path, inputs, local):
    """The scheduler dies mid-run: one line that says so and to run again; then a new
    cluster finishes the same index."""
    c = Cluster(tmp_path / "c", env={"TREEINDEX_SHARD_PAUSE": "0.3"})
    try:
        db = tmp_path / "cluster.db"
        args = ingest_args(c, db, inputs)
        client = subprocess.Popen(args, stderr=subprocess.PIPE, text=True)
        time.sleep(3)
        os.killpg(c.procs[0].pid, signal.SIGKILL)  # the scheduler
        _, err = client.communicate(timeout=120)
        assert client.returncode == 1, err + c.logs_text()
        assert err.startswith("Error: lost the cluster") and len(err.strip().splitlines()) == 1
        assert "run the same command again" in err
    finally:
        c.stop()
    c = Cluster(tmp_path / "c2")
    try:
        args[args.index("--scheduler") + 1] = str(c.file)
        again = subprocess.run(args, capture_output=True, text=True, timeout=240)
        assert again.returncode in (0, 3), again.stderr + c.logs_text()
        same_index(db, local)
    finally:
        c.stop()


def test_a_local_ingest_does_not_load_dask():
    code = ("import sys; from treeindex.cli import cli; "
            "sys.argv = ['treeindex', 'ingest', '--help']\n"
            "try:\n    cli()\nexcept SystemExit:\n    pass\n"
            "import treeindex.indexer\n"
            "assert 'distributed' not in sys.modules and 'dask' not in sys.modules, 'dask'")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def _can_hide() -> bool:
    return shutil.which("unshare") is not None and subprocess.run(
        ["unshare", "-m", "true"], capture_output=True).returncode == 0


@pytest.mark.skipif(not _can_hide(), reason="needs unshare -m (root) to hide a directory")
def test_a_worker_that_cannot_see_the_input(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    shutil.copy(CDB, src / "cdb.xml")
    c = Cluster(tmp_path / "c", workers=1)
    try:
        # a third worker in a mount namespace where the input directory is an empty tmpfs
        c.add_worker("blind", prefix=["unshare", "-m", "sh", "-c",
                                      f"mount -t tmpfs none {src} && exec \"$0\" \"$@\""])
        c.wait_for(2)
        r = cli("ingest", "--scheduler", c.file, "--db", tmp_path / "x.db", src / "cdb.xml")
        assert r.returncode == 1, r.stderr + c.logs_text()
        line = r.stderr.strip()
        assert line.startswith("Error: worker tcp://127.0.0.1:"), line
        assert f"{src / 'cdb.xml'}" in line and "every worker must see every input" in line
        assert len(line.splitlines()) == 1
        assert sqlite3.connect(tmp_path / "x.db").execute(
            "SELECT count(*) FROM sentences").fetchone()[0] == 0
    finally:
        c.stop()


def test_cluster_logs_are_kept(cluster):
    """(What the failure messages above append.)"""
    assert "Scheduler at" in cluster.logs_text()
    assert json.loads(cluster.file.read_text())["address"].startswith("tcp://127.0.0.1:")


def test_a_future_whose_making_was_interrupted_is_ignored_quietly(monkeypatch):
    """A Ctrl-C inside `client.submit` leaves a Future whose __init__ never finished; its
    __del__ raised AttributeError, which Python printed as a traceback after the
    interrupted run's message (CI, once). Only that one is ignored."""
    import gc

    from distributed.client import Future

    from treeindex.cluster import client as cluster_client

    seen: list = []
    monkeypatch.setattr(sys, "unraisablehook", seen.append)
    cluster_client._half_made_futures_quiet()
    cluster_client._half_made_futures_quiet()  # (installed once, however many runs)
    half = Future.__new__(Future)  # (its __init__ interrupted before any attribute)
    del half
    gc.collect()
    assert seen == []

    class Other:
        def __del__(self):
            raise ValueError("not distributed's")

    other = Other()
    del other
    gc.collect()
    assert [type(u.exc_value) for u in seen] == [ValueError]
