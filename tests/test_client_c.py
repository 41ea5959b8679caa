"""The `treeindex` command's C front end (treeindex/bin/client.c) sends a server exactly
the request the Python client (treeindex/client.py) sends, and hands everything it does not
handle to the Python command, which then does what it always did. Compared on what a
stand-in server receives from each, for the same arguments, environment, directory and
streams: hostile text, invalid UTF-8, other locales and encodings, closed streams."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from conftest import ROOT

from treeindex.client import socket_path
from treeindex.server import _receive


class StandIn:
    """A server of one index that records each request, answers with a process id, waits
    for the go-ahead and sends exit status 7."""

    def __init__(self, db: Path, env: dict, answer: bool = True) -> None:
        self.answer = answer
        self.held: list[socket.socket] = []  # connections it never answers
        path = socket_path(str(db), env=env)
        assert path is not None
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(path)
        self.listener.listen(4)
        self.path = path
        self.requests: list[tuple[dict, int]] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            if not self.answer:  # it takes the request and says nothing
                data, fds = _receive(conn, 3)
                for fd in fds:
                    os.close(fd)
                self.requests.append((json.loads(data), len(fds)))
                self.held.append(conn)
                continue
            with conn:
                data, fds = _receive(conn, 3)
                for fd in fds:
                    os.close(fd)
                self.requests.append((json.loads(data), len(fds)))
                conn.sendall(b"pid %d\n" % os.getpid())
                if conn.recv(2) == b"go":
                    conn.sendall(b"exit 7\n")

    def stop(self) -> None:
        """Stop answering; the socket file stays, as after a server that was killed."""
        try:
            self.listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.thread.join(10)
        self.listener.close()

    def close(self) -> None:
        self.stop()
        for conn in self.held:
            conn.close()
        os.unlink(self.path)


@pytest.fixture
def setting(tmp_path):
    db = tmp_path / "t.db"
    db.write_bytes(b"")  # (only its device and inode name the socket)
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    env = {"PATH": os.environ["PATH"], "LANG": "C.UTF-8", "XDG_RUNTIME_DIR": str(runtime)}
    server = StandIn(db, env)
    yield db, env, server
    server.close()


def run(command: Path, args: list, env: dict, cwd: Path, close: tuple[int, ...] = ()):
    def closing() -> None:
        for fd in close:
            os.close(fd)

    return subprocess.run([str(command), *args], env=env, cwd=cwd, capture_output=True,
                          timeout=60, preexec_fn=closing if close else None)


def requests(commands, server, args, env, cwd, close=()):
    """What the stand-in received from each command (argv[0], the path each was run by,
    as its name), and each command's exit status and output."""
    seen = []
    for command in (commands.c, commands.python):
        server.requests.clear()
        r = run(command, args, env, cwd, close)
        got = []
        for request, nfds in server.requests:
            request["argv"][0] = os.path.basename(request["argv"][0])
            got.append((request, nfds))
        seen.append((got, r.returncode, r.stdout, r.stderr))
    return seen


@pytest.fixture(scope="session")
def locales(tmp_path_factory) -> Path | None:
    """A directory of compiled locales (glibc's LOCPATH) with nl_NL.UTF-8, a UTF-8 locale
    that is not one Python coerces C to, and nl_NL.ISO-8859-1; None without localedef and
    its sources (Debian's locales package)."""
    if not (shutil.which("localedef") and Path("/usr/share/i18n/locales/nl_NL").exists()):
        return None  # pragma: no cover - (.ci/run installs them)
    path = tmp_path_factory.mktemp("locales")
    for charset in ("UTF-8", "ISO-8859-1"):
        subprocess.run(["localedef", "-i", "nl_NL", "-f", charset, str(path / f"nl_NL.{charset}")],
                       check=True, capture_output=True)
    return path


HOSTILE = 'a"b\\c\n\t\x01\x1f\x7f één 😀 \u2028 \ud7ff'

# each: arguments, changes to the environment, and whether the front end answers it itself
CASES = {
    "plain": (["search", "--db", "t.db", "--count", '//node[@cat="np"]'], {}, True),
    "--db=": (["search", "--count", "--db=t.db", "//node"], {}, True),
    "hostile text": (["search", "--db", "t.db", HOSTILE, ""], {"X": HOSTILE, "EMPTY": ""},
                     True),
    "C locale": (["search", "--db", "t.db", "//node"], {"LANG": "C"}, False),
    "POSIX": (["search", "--db", "t.db", "//node"], {"LC_ALL": "POSIX"}, False),
    "no locale set": (["search", "--db", "t.db", "//node"], {"LANG": None}, False),
    "a locale not there": (["search", "--db", "t.db", "//node"], {"LC_ALL": "xx_YY.UTF-8"},
                           False),
    "C.utf8 by LC_CTYPE": (["search", "--db", "t.db", "//node"],
                           {"LANG": None, "LC_CTYPE": "C.utf8"}, True),
    "nl_NL.UTF-8": (["search", "--db", "t.db", "één"], {"LANG": "nl_NL.UTF-8"}, True),
    "nl_NL.ISO-8859-1": (["search", "--db", "t.db", "//node"], {"LC_ALL": "nl_NL.ISO-8859-1"},
                         False),
    "PYTHONIOENCODING": (["search", "--db", "t.db", "//node"],
                         {"PYTHONIOENCODING": "latin-1:replace"}, False),
    "PYTHONUTF8": (["search", "--db", "t.db", "//node"], {"PYTHONUTF8": "1"}, False),
    "require": (["search", "--db", "t.db", "//node"], {"TREEINDEX_SERVER": "require"}, True),
    # a request of 400 KB, sent in several writes (one variable may hold 128 KiB)
    "a big environment": (["search", "--db", "t.db", "//node"],
                          {f"BIG{k}": HOSTILE * 3000 for k in range(4)}, True),
    "TREEINDEX_SERVER=Off": (["search", "--db", "t.db", "//node"], {"TREEINDEX_SERVER": "Off"},
                             False),
}


@pytest.mark.parametrize("case", CASES)
def test_the_same_request_as_the_python_client(commands, setting, locales, case):
    db, env, server = setting
    args, changes, answers = CASES[case]
    if "nl_NL" in case:
        if locales is None:  # pragma: no cover
            pytest.skip("no localedef")
        env = {**env, "LOCPATH": str(locales)}
    env = dict(env)
    for name, value in changes.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    c, python = requests(commands, server, args, env, db.parent)
    assert c == python
    if case == "TREEINDEX_SERVER=Off":
        assert c[0] == [] and c[1] == 1  # (run here: no such index)
    else:
        assert len(c[0]) == 1 and c[1] == 7  # one request each, the stand-in's exit status
    # the front end answered it itself, or handed it to the Python command
    r = run(commands.c_alone, args, env, db.parent)
    assert (r.returncode, r.stdout) == ((7, b"") if answers else (99, b"python\n"))


def test_invalid_utf8_in_arguments_and_environment(commands, setting):
    db, env, server = setting
    args = ["search", "--db", "t.db", b"//node[@word='\xff\xc3']", b"\xed\xa0\x80",
            b"\xc0\xaf", b"\xf4\x90\x80\x80", b"\xe2\x82"]
    for extra in ({}, {b"BAD": b"\xff\xfe"}, {b"\xe9": b"ok"}):
        full = {**{k.encode(): v.encode() for k, v in env.items()}, **extra}
        c, python = requests(commands, server, args, full, db.parent)
        assert c == python and len(c[0]) == 1
        assert "\udcff" in c[0][0][0]["argv"][4]  # (Python's surrogate escapes, as sent)
        assert run(commands.c_alone, args, full, db.parent).returncode == 99


def test_closed_streams(commands, setting):
    db, env, server = setting
    for close in ((0,), (1,), (2,), (0, 1)):
        c, python = requests(commands, server, ["search", "--db", "t.db", "//node"], env,
                             db.parent, close)
        assert c == python
        request, nfds = c[0][0]
        assert request["fds"] == [fd for fd in (0, 1, 2) if fd not in close] and \
            nfds == len(request["fds"])
        assert run(commands.c_alone, ["search", "--db", "t.db", "//node"], env, db.parent,
                   close).returncode == 7


def test_the_default_index_and_arguments_after_a_double_dash(commands, setting):
    db, env, server = setting
    work = db.parent / "work"
    work.mkdir()
    os.link(db, work / "treeindex.db")  # the default --db, in the directory it runs in
    for args in (["search", "--count", "//node"], ["search", "--", "--db", "x.db"]):
        c, python = requests(commands, server, args, env, work)
        assert c == python and c[0][0][0]["cwd"] == str(work) and c[1] == 7


def test_what_it_does_not_answer_goes_to_the_python_command(commands, setting):
    db, env, server = setting
    for args, changes in [(["--version"], {}), (["search"], {}),
                          (["search", "--db", "t.db", "//node"], {"TREEINDEX_SERVER": "off"}),
                          (["search", "--db", "missing.db", "--count", "//node"], {}),
                          (["search", "--bogus", "--db", "t.db"], {"TREEINDEX_SERVER": "Off"})]:
        full = {**env, **changes}
        c, python = requests(commands, server, args, full, db.parent)
        assert c == python and c[0] == []  # nothing asked of the server
    # and the Python command is named as it was run: `treeindex` in click's messages
    assert b"Usage: treeindex search" in c[3]


def test_a_server_that_is_not_there_any_more(commands, setting):
    db, env, server = setting
    server.stop()
    r = run(commands.c, ["search", "--db", "t.db", "--count", "//node"],
            {**env, "TREEINDEX_SERVER": "require"}, db.parent)
    assert r.returncode == 1
    assert r.stderr == (b"treeindex: no `treeindex server` serves t.db (TREEINDEX_SERVER="
                        b"require); start one: treeindex server --db t.db\n")


def test_the_installed_command_is_the_c_front_end():
    bin_dir = Path(sys.executable).parent
    installed = bin_dir / "treeindex"
    assert installed.read_bytes()[:4] == b"\x7fELF", "setup.py did not build client.c"
    assert (bin_dir / "treeindex-python").read_text().startswith("#!")
    assert (ROOT / "MANIFEST.in").read_text().count("treeindex/bin/client.c") == 1


def test_a_server_that_does_not_answer_is_asked_once(commands, tmp_path):
    """The front end waits 2 s for an answer, then hands the command to the Python command,
    which runs it alone without asking (and waiting) again; as the Python client alone."""
    db = tmp_path / "t.db"
    db.write_bytes(b"")
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    env = {"PATH": os.environ["PATH"], "LANG": "C.UTF-8", "XDG_RUNTIME_DIR": str(runtime)}
    server = StandIn(db, env, answer=False)
    try:
        seen = []
        for command in (commands.c, commands.python):
            server.requests.clear()
            r = run(command, ["search", "--db", "t.db", "--count", "//node"], env, tmp_path)
            seen.append((len(server.requests), r.returncode, r.stdout, r.stderr))
        assert seen[0] == seen[1]
        assert seen[0][0] == 1 and b"not a treeindex index" in seen[0][3]  # (run alone)
        # with TREEINDEX_SERVER=require: the message, at once after the one wait
        server.requests.clear()
        r = run(commands.c, ["search", "--db", "t.db", "//node"],
                {**env, "TREEINDEX_SERVER": "require"}, tmp_path)
        assert (len(server.requests), r.returncode) == (1, 1)
        assert r.stderr.startswith(b"treeindex: no `treeindex server` serves t.db")
    finally:
        server.close()


def test_an_environment_entry_without_a_name(commands, setting):
    """`=x` in the environment (GNU env passes it; Python keeps it as the name ''): sent
    as Python sends it."""
    db, env, server = setting
    seen = []
    for command in (commands.c, commands.python):
        server.requests.clear()
        r = subprocess.run(["env", "-i", "=x",
                            *[f"{k}={v}" for k, v in env.items()],
                            str(command), "search", "--db", "t.db", "//node"],
                           cwd=db.parent, capture_output=True, timeout=60)
        got = [(dict(q, argv=[os.path.basename(q["argv"][0])] + q["argv"][1:]), n)
               for q, n in server.requests]
        seen.append((got, r.returncode))
    assert seen[0] == seen[1] and seen[0][1] == 7
    request = seen[0][0][0][0]
    assert request["env"][""] == "x"
