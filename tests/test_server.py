"""`treeindex server` answers the `treeindex search` commands of its index exactly as they
would be answered without it: the same output, errors and exit status, in the client's
directory and environment, with its pipes and signals; it follows the index as it changes,
and stops cleanly. Real processes: a server, and `python -m treeindex` commands or the C
front end of the `treeindex` command (treeindex/bin/client.c)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import CDB, SUITES, WRPEE, repeat_treebank, spy

from treeindex import ingest
from treeindex.client import socket_path

PYTHON = [sys.executable, "-m", "treeindex"]


def command(*args, cwd=None, env=None, front=PYTHON, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([*front, *map(str, args)], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120, **kw)


@pytest.fixture(params=["python", "c"])
def front(request) -> list[str]:
    """The client: `python -m treeindex`, or the C front end."""
    if request.param == "python":
        return PYTHON
    return [str(request.getfixturevalue("commands").c)]


class Served:
    def __init__(self, db: Path, runtime: Path) -> None:
        self.db = db
        self.env = {**os.environ, "XDG_RUNTIME_DIR": str(runtime)}
        self.off = {**self.env, "TREEINDEX_SERVER": "off"}
        self.required = {**self.env, "TREEINDEX_SERVER": "require"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "treeindex", "server", "--db", str(db)], env=self.env,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        path = None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            path = socket_path(str(db), env=self.env)
            if path and os.path.exists(path):
                break
            assert self.proc.poll() is None, self.proc.communicate()
            time.sleep(0.05)
        else:
            raise AssertionError("the server did not start")
        self.socket = path

    def stop(self) -> tuple[int, str]:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        _, err = self.proc.communicate(timeout=30)
        return self.proc.returncode, err


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    work = tmp_path_factory.mktemp("served")
    db = work / "t.db"
    ingest(db, [CDB, SUITES], workers=0, chunk_bytes=30_000)
    runtime = work / "run"
    runtime.mkdir(mode=0o700)
    s = Served(db, runtime)
    yield s
    s.stop()


SAME = [
    ["--count", '//node[@cat="np" and node[@rel="det"]]'],
    ["--limit", "5", '//node[@rel=("obj1","obj2")]'],
    ["--format", "csv", "--keep", "lemma", '//node[@cat="pp"]'],
    ["--format", "json", "--limit", "3", '//node[@lemma="de"]'],
    ["--stats", "cat", "//node[node[@rel='hd']]"],
    ["--explain", '//node[@cat="whq"]'],
    ['//node[@cat="np" and'],  # a bad query: exit 1 and its message
    ["--corpus", "nosuch", "//node"],  # an unknown corpus
    ["--limit", "0", "//node"],  # a usage error: exit 2
    ["--count", "--stats", "cat", "//node"],
]


@pytest.mark.parametrize("args", SAME)
def test_a_served_command_is_the_command_run_alone(served, args, front):
    alone = command("search", "--db", served.db, *args, env=served.off, front=front)
    by_server = command("search", "--db", served.db, *args, env=served.required, front=front)
    assert (by_server.returncode, by_server.stdout, by_server.stderr) == \
        (alone.returncode, alone.stdout, alone.stderr)
    assert alone.stdout or alone.returncode


def test_require_says_when_no_server_serves_the_index(served, tmp_path):
    other = tmp_path / "other.db"
    ingest(other, [WRPEE], workers=0)
    r = command("search", "--db", other, "--count", "//node", env=served.required)
    assert r.returncode == 1
    assert r.stderr == (f"treeindex: no `treeindex server` serves {other} (TREEINDEX_SERVER="
                        "require); start one: treeindex server --db " f"{other}\n")
    assert command("search", "--db", other, "--count", "//node", env=served.env).returncode == 0


def test_the_clients_directory_and_environment_are_used(served, tmp_path, front):
    (tmp_path / "m.txt").write_text('np_det = """//node[@cat="np" and node[@rel="det"]]"""\n')
    os.link(served.db, tmp_path / "link.db")  # another path to the same file: its server
    env = {**served.required, "TREEINDEX_MACROS": "m.txt"}
    r = command("search", "--db", "link.db", "--format", "csv", "-o", "out.csv",
                "%np_det%", cwd=tmp_path, env=env, front=front)
    assert r.returncode == 0, r.stderr
    alone = command("search", "--db", served.db, "--format", "csv",
                    '//node[@cat="np" and node[@rel="det"]]', env=served.off)
    assert (tmp_path / "out.csv").read_text() == alone.stdout


def test_a_pipe_closed_early_ends_the_command_as_alone(served, front):
    codes = []
    for env in (served.off, served.required):
        p = subprocess.Popen([*front, "search", "--db", str(served.db), "//node"], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert p.stdout is not None
        first = p.stdout.readline()
        p.stdout.close()
        _, err = p.communicate(timeout=60)
        codes.append((first, p.returncode, err))
    assert codes[0] == codes[1] and codes[0][0]


def test_a_stop_signal_reaches_the_served_command(served, front):
    # the command writes into a pipe nobody reads, so it waits there when the signal comes
    p = subprocess.Popen([*front, "search", "--db", str(served.db),
                          "--format", "json", "//node"], env=served.required,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(2.0)
    assert p.poll() is None
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=30)
    assert p.returncode == 130, err
    assert b"interrupted" in err


def test_a_client_killed_stops_its_command_and_the_server_goes_on(served, front):
    p = subprocess.Popen([*front, "search", "--db", str(served.db),
                          "--format", "json", "//node"], env=served.required,
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    time.sleep(2.0)
    p.kill()
    p.communicate(timeout=30)
    r = command("search", "--db", served.db, "--count", '//node[@cat="np"]',
                env=served.required)
    assert r.returncode == 0 and "(all)" in r.stdout
    assert served.proc.poll() is None


def test_the_server_follows_the_index_as_it_changes(tmp_path):
    db = tmp_path / "c.db"
    ingest(db, [CDB], workers=0, chunk_bytes=30_000)
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    s = Served(db, runtime)
    try:
        query = ["search", "--db", db, "--count", '//node[@cat="np"]']
        before = command(*query, env=s.required)
        ingest(db, [repeat_treebank(tmp_path / "more.xml", 3)], workers=0, chunk_bytes=30_000)
        after = command(*query, env=s.required)
        assert after.stdout == command(*query, env=s.off).stdout != before.stdout
        assert command("rm", "--db", db, "cdb-sample").returncode == 0
        gone = command(*query, env=s.required)
        assert gone.stdout == command(*query, env=s.off).stdout and "cdb-sample" not in \
            gone.stdout
        # a second server of the same index is refused
        second = command("server", "--db", db, env=s.env)
        assert second.returncode == 1
        assert "a server already serves this index" in second.stderr
    finally:
        code, err = s.stop()
    assert code == 0 and "server stopped" in err
    assert not os.path.exists(s.socket)
    # no server: the command runs alone
    assert command(*query, env=s.env).stdout == command(*query, env=s.off).stdout


def test_a_client_that_gave_up_never_has_its_command_run(served):
    """A client that stops waiting runs the command itself; the server must then not run
    it too (it would write to the same terminal): the command waits for the client's
    go-ahead, which such a client never sends."""
    import json
    import socket
    import struct

    read, write = os.pipe()
    request = json.dumps({"argv": ["treeindex", "search", "--db", str(served.db), "--count",
                                   "//node"], "prog": "treeindex", "fds": [1],
                          "cwd": str(served.db.parent), "env": dict(served.env),
                          "stdout": ["utf-8", "strict"], "stderr": None}).encode()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(served.socket)
    socket.send_fds(sock, [struct.pack("<I", len(request)) + request], [write])
    os.close(write)
    first = sock.makefile("rb").readline()
    assert first.startswith(b"pid ")
    sock.close()  # gave up: no "go"
    with os.fdopen(read, "rb") as out:
        assert out.read() == b""  # the command's stdout: closed, nothing written
    r = command("search", "--db", served.db, "--count", "//node", env=served.required)
    assert r.returncode == 0 and "(all)" in r.stdout


def test_commands_side_by_side_each_get_their_own_answer(served, front):
    """Eight commands at once (one spare: the others are forked on demand), each with its
    own query and output: every one answered as alone."""
    queries = ['//node[@cat="np"]', '//node[@cat="pp"]', '//node[@rel="su"]',
               '//node[@pt="n"]', '//node[@cat="smain"]', '//node[@rel="hd"]',
               '//node[@word]', '//node[@cat="np" and node[@rel="det"]]']
    procs = [subprocess.Popen([*front, "search", "--db",
                               str(served.db), "--count", q], env=served.required,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for q in queries]
    served_out = [p.communicate(timeout=120) + (p.returncode,) for p in procs]
    alone = [command("search", "--db", served.db, "--count", q, env=served.off)
             for q in queries]
    assert served_out == [(a.stdout, a.stderr, a.returncode) for a in alone]


def test_a_served_command_lets_go_of_the_clients_pipe_before_it_exits():
    # a pipe from a command ends when every process holding it has let go; the served
    # process would let go only at its exit, after Linux has torn down its mappings of the
    # server's memory, so it lets go first (here: a process that lives on after it did)
    from treeindex.server import _release

    out_r, out_w = os.pipe()
    hold_r, hold_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            os.close(out_r)
            os.close(hold_w)
            os.dup2(out_w, 1)
            os.close(out_w)
            os.write(1, b"hits\n")
            _release([1])
            os.read(hold_r, 1)  # alive until the test lets it end
        finally:
            os._exit(0)
    os.close(out_w)
    os.close(hold_r)
    try:
        import select

        data = b""
        while True:
            ready, _, _ = select.select([out_r], [], [], 30)
            assert ready, "the pipe did not end while its writer lived"
            more = os.read(out_r, 64)
            if not more:
                break
            data += more
        assert data == b"hits\n"
        assert os.waitpid(pid, os.WNOHANG) == (0, 0)  # still alive: it let go, not exited
    finally:
        os.close(hold_w)
        os.close(out_r)
        os.waitpid(pid, 0)


def test_a_served_command_opens_its_index_once(tmp_path, monkeypatch):
    # (a command in the server: plan, notes, search and the final check share a connection,
    # never across a replaced file, a thread or an open snapshot)
    from treeindex import search
    from treeindex.store import connect
    from treeindex.store import index as index_module

    db = tmp_path / "t.db"
    ingest(db, [CDB], workers=0)
    query = '//node[@cat="np" and node[@rel="det"]]'
    alone = search.count(db, query, workers=0)
    opened = spy(monkeypatch, index_module, "connect_read")
    monkeypatch.setattr(connect, "remember_checks", True)
    monkeypatch.setattr(index_module, "_idle", {})
    monkeypatch.setattr(connect, "read_cache_kib", 4096)
    assert search.notes(db, query) == []
    assert search.count(db, query, workers=0) == alone
    assert [c.thread for c in opened] == ["MainThread"]
    with index_module.Index(db) as index:  # (the one connection, with a command's cache)
        assert index.conn.execute("PRAGMA cache_size").fetchone() == (-4096,)
    with index_module.Index(db) as a, a.snapshot(), index_module.Index(db) as b:
        assert b.conn is not a.conn  # (a's is in its snapshot: not handed over)
    assert len(opened) == 2
    other = tmp_path / "other.db"
    ingest(other, [WRPEE], workers=0)
    assert not os.path.exists(f"{db}-wal")  # (so the other file can take its name)
    os.replace(other, db)  # another file under the same name: its own connection
    with index_module.Index(db) as index:
        assert [r.name for r in index.corpora()] == ["WRPEE-dummy"]
    assert len(opened) == 3
    index_module.release_idle()  # (a web search worker's, after each search)
    assert not index_module._idle
    with index_module.Index(db):
        pass
    assert len(opened) == 4
    index_module.release_idle()


def test_a_big_environment_reaches_the_served_command(served, front):
    # a request of about 500 KB: several writes from the client, and from the server to the
    # process that runs the command
    env = {**served.required, **{f"BIG{k}": "é\"\\\x01 " * 20_000 for k in range(4)}}
    query = ["search", "--db", served.db, "--count", '//node[@cat="np"]']
    by_server = command(*query, env=env, front=front)
    alone = command(*query, env={**env, "TREEINDEX_SERVER": "off"}, front=front)
    assert (by_server.returncode, by_server.stdout, by_server.stderr) == \
        (alone.returncode, alone.stdout, alone.stderr)
    assert by_server.returncode == 0 and "(all)" in by_server.stdout


def test_an_environment_entry_without_a_name_is_left_out(served, front):
    # `=x` (GNU env passes it) cannot be set in the served command: it runs without it
    query = ["search", "--db", str(served.db), "--count", '//node[@cat="np"]']
    env = [f"{k}={v}" for k, v in served.required.items()]
    by_server = subprocess.run(["env", "-i", "=x", *env, *front, *query], capture_output=True,
                               text=True, timeout=120)
    alone = command(*query, env=served.off, front=front)
    assert (by_server.returncode, by_server.stdout, by_server.stderr) == \
        (alone.returncode, alone.stdout, alone.stderr)


def test_a_spare_forked_for_a_waiting_command_skips_the_warm_up(tmp_path, monkeypatch):
    """The spare made between commands warms up before a command comes; one forked because
    a command is already waiting (it came before the last one's process ended) does not:
    the command would wait for it (about 40 ms at 200 MB, back to back)."""
    from treeindex import server as server_module

    db = tmp_path / "t.db"
    ingest(db, [CDB], workers=0)
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    marks = tmp_path / "warmed"
    marks.mkdir()
    # (a fork inherits this: the spare's warm-up leaves a mark named by its process)
    monkeypatch.setattr(server_module, "_warm",
                        lambda path: (marks / str(os.getpid())).write_text(path))
    srv = server_module.Server(db, 64 << 20)
    for warm in (False, True):
        srv._fork_spare(warm=warm)
        pid, ctl = srv.spare
        ctl.close()  # (no command comes: the spare exits after its warm-up, if any)
        srv.spare = None
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 1
        assert (marks / str(pid)).exists() == warm
