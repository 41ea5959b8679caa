"""`treeindex server`: keep an index's node table decoded in memory and answer the
`treeindex search` commands given for it, as BaseX's server answers its clients.

A search command pays, every time, for what a server pays once: Python's imports (numpy,
lxml: about 0.2 s) and reading and decompressing every block it evaluates. The server
holds the blocks merged into superblocks (search/merged.py), decoded, within a memory
budget. For each command (client.py) it forks: the child runs the command through the
ordinary CLI, with the client's arguments, directory, environment and standard streams,
and finds the superblocks already in its memory (copy-on-write, never copied); whatever
they do not hold (blocks past the budget, blocks written since, a block that changed) it
reads from the file as any command does. The parent only accepts, forks, reports exit
statuses, and between commands brings its superblocks up to date with the file.

Nothing is shared that could go stale: a query uses a superblock part only when its block's
row (id, corpus, sentences, length) is the one it was built from, read in the query's own
snapshot. The parent holds no database connection while it forks. One server per index
file; its socket is named by the file's device and inode, in a directory only its user can
enter.
"""

from __future__ import annotations

import gc
import json
import os
import selectors
import signal
import socket
import struct
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from . import client
from .errors import TreeindexError

REFRESH_IDLE = 2.0  # seconds without a command after which the superblocks are checked


@dataclass
class ServerState:
    blocks: int  # blocks kept in superblocks
    superblocks: int
    nbytes: int
    seconds: float
    changed: bool  # superblocks were added or dropped


class Server:
    def __init__(self, db: Path, budget: int,
                 progress_callback: Callable[[str], None] | None = None) -> None:
        from .search import fast, merged

        self.db = str(db)
        self.budget = budget
        self.say = progress_callback or (lambda s: None)
        self.kept = merged.Superblocks(self.db)
        fast.keep(self.kept)
        self.path = client.socket_path(self.db)
        if self.path is None:
            raise TreeindexError(f"{db}: no such file")
        self.children: dict[int, socket.socket] = {}
        self.listener: socket.socket | None = None
        self.spare: tuple[int, socket.socket] | None = None
        _preload()

    def refresh(self, stop: Callable[[], bool] = lambda: False) -> ServerState:
        """Bring the superblocks up to date with the file (no connection is left open);
        `stop()` true ends it early (what was merged so far is kept)."""
        t = time.perf_counter()
        before = set(self.kept.kept)
        self.kept.refresh(self.budget, stop=stop)
        return ServerState(len(self.kept.where), len(self.kept.kept), self.kept.nbytes,
                           time.perf_counter() - t, set(self.kept.kept) != before)

    def listen(self) -> None:
        d = client.socket_dir()
        os.makedirs(d, mode=0o700, exist_ok=True)
        st = os.stat(d)
        if st.st_uid != os.getuid() or st.st_mode & 0o077:
            raise TreeindexError(f"{d}: the server's socket directory must belong to you "
                                 "and be closed to others (chmod 700)")
        assert self.path is not None
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.connect(self.path)
            probe.close()
            raise TreeindexError(f"{self.db}: a server already serves this index "
                                 f"(its socket: {self.path})")
        except (FileNotFoundError, ConnectionRefusedError):
            probe.close()
        if os.path.exists(self.path):
            os.unlink(self.path)  # left behind by a server that was killed
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(self.path)
        self.listener.listen(64)

    def close(self) -> None:
        if self.spare is not None:
            _kill(self.spare[0])
            self.spare[1].close()
        for pid in list(self.children):
            try:
                os.kill(pid, signal.SIGTERM)
            except OSError:
                pass
        for conn in self.children.values():
            conn.close()
        if self.listener is not None:
            self.listener.close()
            try:
                if self.path and os.path.exists(self.path):
                    os.unlink(self.path)
            except OSError:
                pass
            self.listener = None

    def serve(self, stop: Callable[[], bool] = lambda: False) -> None:
        """Accept commands until `stop()` or a stop signal (KeyboardInterrupt)."""
        assert self.listener is not None
        wake_r, wake_w = os.pipe()
        os.set_blocking(wake_w, False)
        old = signal.set_wakeup_fd(wake_w)
        signal.signal(signal.SIGCHLD, lambda *a: None)
        sel = selectors.DefaultSelector()
        sel.register(self.listener, selectors.EVENT_READ, "accept")
        sel.register(wake_r, selectors.EVENT_READ, "wake")
        self._sel = sel
        due = False  # a refresh and a new spare, once no command runs
        try:
            self._fork_spare()
            while not stop():
                events = sel.select(timeout=REFRESH_IDLE)
                started = False
                for key, _ in events:
                    if key.data == "accept":
                        conn, _ = self.listener.accept()
                        started |= self._start(conn)
                    elif key.data == "wake":
                        os.read(wake_r, 4096)
                    else:  # a client went away before its command ended: stop the command
                        gone = key.fileobj
                        assert isinstance(gone, socket.socket)
                        try:  # (never waits: the command's process reads it too)
                            peeked = gone.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
                        except BlockingIOError:
                            peeked = b"?"
                        if not peeked:
                            for pid, c in self.children.items():
                                if c is gone:
                                    _kill(pid)
                            sel.unregister(gone)
                self._reap()
                if started:
                    due = True
                if not self.children and (due or not events) and not stop():
                    # between commands (never beside one: it would take their cores)
                    due = False
                    state = self.refresh(stop)
                    if state.changed or self.spare is None:
                        self._fork_spare()  # (the spare should hold what changed)
        finally:
            signal.set_wakeup_fd(old)
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            sel.close()
            os.close(wake_r)
            os.close(wake_w)

    def _fork_spare(self, warm: bool = True) -> None:
        """The process the next command will run in, forked and warmed up now, so that a
        command waits for neither (a fork of this process copies its page tables: about
        10 ms per 300 MB of Python objects). `warm=False` for a spare that a command waits
        for already (one that came before the last one's process ended): the warm-up (about
        40 ms at 200 MB) would only delay it."""
        if self.spare is not None:
            _kill(self.spare[0])
            self.spare[1].close()
            self.spare = None
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        sys.stdout.flush()
        sys.stderr.flush()
        gc.freeze()  # the collector of a child never walks (and so copies) the kept objects
        pid = os.fork()
        if pid == 0:  # the child: never returns
            mine.close()
            _spare(theirs, self.db, [self.listener, *self.children.values()], warm)
        theirs.close()
        self.spare = (pid, mine)

    def _reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if self.spare is not None and pid == self.spare[0]:
                self.spare[1].close()
                self.spare = None
            conn = self.children.pop(pid, None)
            if conn is None:
                continue
            code = os.waitstatus_to_exitcode(status)
            try:  # (the command sent its status itself, unless it was killed)
                conn.sendall(b"exit %d\n" % (code if code >= 0 else 128 - code))
            except OSError:
                pass
            try:
                self._sel.unregister(conn)
            except (KeyError, ValueError):
                pass
            conn.close()

    def _start(self, conn: socket.socket) -> bool:
        """Read a command and hand it, with the client's streams, to the spare process."""
        fds: list[int] = []
        try:
            conn.settimeout(5.0)
            if conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12)[4:8] != \
                    struct.pack("i", os.getuid()):
                raise OSError("another user")
            data, fds = _receive(conn, 3)
            request = json.loads(data)
            if len(fds) != len(request["fds"]):
                raise OSError("file descriptors missing")
            for attempt in (1, 2):
                if self.spare is None:
                    self._fork_spare(warm=False)
                assert self.spare is not None
                pid, ctl = self.spare
                try:
                    socket.send_fds(ctl, [struct.pack("<I", len(data)) + data],
                                    [conn.fileno(), *fds])
                    break
                except OSError:  # the spare died: another one
                    if attempt == 2:
                        raise
                    self._reap()
                    self._fork_spare(warm=False)
            self.spare = None
            ctl.close()
        except (OSError, ValueError, KeyError):
            for fd in fds:
                os.close(fd)
            conn.close()
            return False
        for fd in fds:
            os.close(fd)
        self.children[pid] = conn
        try:
            conn.sendall(b"pid %d\n" % pid)
        except OSError:
            _kill(pid)
        conn.settimeout(None)
        self._sel.register(conn, selectors.EVENT_READ, "client")
        return True


def _preload() -> None:
    """Import now what every search imports, once for all the children."""
    import importlib

    from .cli import cli

    for name in ("treeindex.cli.search", "treeindex.search.engine", "treeindex.search.fast",
                 "treeindex.search.xpath1", "treeindex.search.feedback", "lxml.etree"):
        importlib.import_module(name)
    cli.get_command(None, "search")  # type: ignore[arg-type]
    from .search import fast

    fast.probe_block()


def _receive(sock: socket.socket, maxfds: int) -> tuple[bytes, list[int]]:
    """A message as the client and the server send them: a 4-byte length, the bytes, and
    file descriptors with the first part. OSError if it is cut short."""
    fds: list[int] = []
    try:
        head, fds, _, _ = socket.recv_fds(sock, 1 << 16, maxfds)
        if len(head) < 4:
            raise OSError("no message")
        (size,) = struct.unpack("<I", head[:4])
        data = head[4:]
        while len(data) < size:
            more = sock.recv(size - len(data))
            if not more:
                raise OSError("a message cut short")
            data += more
    except OSError:
        for fd in fds:
            os.close(fd)
        raise
    return data, fds


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except OSError:
        pass


READ_CACHE_KIB = 16384  # a command's page cache (see connect.read_cache_kib)
WARM_QUERY = '//node[@cat="np" and node[@rel="hd"]]'


def _spare(ctl: socket.socket, db: str, inherited: list, warm: bool = True) -> None:
    """In a forked child: warm up (unless a command waits), wait for a command, run it, exit
    with its status."""
    code = 1
    try:
        for sock in inherited:
            if sock is not None:
                sock.close()
        for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.set_wakeup_fd(-1)
        from .store import connect

        connect.remember_checks = True
        connect.read_cache_kib = READ_CACHE_KIB
        if warm:
            _warm(db)
        try:
            data, fds = _receive(ctl, 4)
        except OSError:
            os._exit(1)  # the server stopped, or replaced this spare
        if not fds:
            os._exit(1)
        ctl.close()
        conn = socket.socket(fileno=fds[0])
        conn.settimeout(None)  # (the server's end was given a timeout: the flag is shared)
        go = b""
        while len(go) < 2:
            more = conn.recv(2 - len(go))
            if not more:  # the client gave up waiting (and runs the command itself)
                os._exit(1)
            go += more
        if go != b"go":
            os._exit(1)
        code = _run_command(json.loads(data), fds[1:], conn)
    except BaseException:  # a child must never return into the server
        pass
    finally:
        os._exit(code)


def _warm(db: str) -> None:
    """Run a search command once, output discarded, so that what a first command pays in
    a new process (its caches, the pages its code touches: the CLI's parsing, the plan,
    the notes, the table printed) is paid before a command waits."""
    import io

    from .cli import cli

    out, err = sys.stdout, sys.stderr
    sys.stdout = sys.stderr = io.StringIO()
    try:
        cli.main(args=["search", "--db", db, "--count", WARM_QUERY], prog_name="treeindex",
                 standalone_mode=False)
    except BaseException:  # noqa: BLE001 - (a warm-up: whatever happens, the command runs)
        pass
    finally:
        sys.stdout, sys.stderr = out, err


def _run_command(request: dict, fds: list[int], conn: socket.socket) -> int:
    """Become the client's command, run it, send its exit status; returns the status."""
    code = 1
    try:
        for target, fd in zip(request["fds"], fds):
            if fd != target:
                os.dup2(fd, target)
                os.close(fd)
        for target in {0, 1, 2} - set(request["fds"]):
            os.close(target)  # closed in the client: closed here too
        os.chdir(request["cwd"])
        os.environ.clear()
        # (an entry with an empty name, which only a C program can make, cannot be set: the
        # command runs without it)
        os.environ.update({k: v for k, v in request["env"].items() if k})
        import io

        for name, fd in (("stdout", 1), ("stderr", 2)):
            enc = request.get(name)
            if enc and fd in request["fds"]:
                stream = io.TextIOWrapper(io.FileIO(fd, "w", closefd=False), encoding=enc[0],
                                          errors=enc[1], line_buffering=os.isatty(fd),
                                          write_through=name == "stderr")
                setattr(sys, name, stream)
                setattr(sys, "__" + name + "__", stream)
        if 0 in request["fds"]:
            stdin = io.TextIOWrapper(io.FileIO(0, "r", closefd=False))
            sys.stdin = stdin
            sys.__stdin__ = stdin  # type: ignore[misc]
        sys.argv = list(request["argv"])
        from .cli import cli

        try:
            cli.main(args=sys.argv[1:], prog_name=request.get("prog") or "treeindex")
            code = 0
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        for out in (sys.stdout, sys.stderr):
            try:
                out.flush()
            except (OSError, ValueError):
                pass
        _release(request["fds"])
        try:  # the exit status now: the client need not wait for this process to be reaped
            conn.sendall(b"exit %d\n" % code)
        except OSError:
            pass
    except Exception as e:  # pragma: no cover - a child must never return into the server
        try:
            print(f"treeindex: the search server could not run this command ({type(e).__name__}"
                  f": {e}); run it without the server: TREEINDEX_SERVER=off", file=sys.stderr,
                  flush=True)
        except Exception:  # noqa: BLE001 - (its stderr may be gone)
            pass
    return code


def _release(fds: list[int]) -> None:
    """Let go of the client's streams before the exit status is sent: a pipe from the
    command (`treeindex search ... | head`, a program reading its output) ends when every
    process holding it has let go, and this process lets go of what it holds only after
    Linux has torn down its mappings of the server's memory (16 ms of every command with a
    pipe, at 300 MB kept). /dev/null takes their place, for whatever is still written."""
    null = os.open(os.devnull, os.O_RDWR)
    try:
        for fd in fds:
            if fd in (0, 1, 2) and fd != null:
                os.dup2(null, fd)
    finally:
        if null > 2:
            os.close(null)
