"""`treeindex search` handed to a running `treeindex server` of the same index.

Run by the `treeindex` command before anything else is imported (standard library only:
its whole cost is Python's start and a socket). The server forks a process that runs the
command exactly as this process would have (the same arguments, working directory and
environment) but with the index's columns already in memory; it writes to this process's
own stdin, stdout and stderr, passed over the socket, so pipes, files, terminals and a
closed pipe behave as in any command. Stop signals are passed on to that process, and its
exit status is this process's.

No server, a server of another file, or one that does not answer: the command runs here
as usual. TREEINDEX_SERVER=off never asks a server.
"""

import _signal  # type: ignore[import-not-found]
import _socket
import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

ENVIRONMENT = "TREEINDEX_SERVER"
# (_socket and _signal, not socket and signal: those import enum, and this path's whole
# cost is Python's start and what it imports; for the same reason no struct and no
# `from __future__ import annotations` here, in __main__ and in __init__: 1 ms)
FORWARDED = (_signal.SIGINT, _signal.SIGTERM, _signal.SIGHUP)
# set by the C front end (treeindex/bin/client.c) when it asked the server already and got
# no answer: not asked again (taken out of the environment the command sees)
ASKED = "TREEINDEX_ASKED"


def socket_dir(env: "Mapping[str, str] | None" = None) -> str:
    base = (os.environ if env is None else env).get("XDG_RUNTIME_DIR") or "/tmp"
    return os.path.join(base, f"treeindex-{os.getuid()}")


def socket_path(db: str, env: "Mapping[str, str] | None" = None) -> str | None:
    """Where the server of this index file listens (named by the file's device and inode,
    so any path to the same file finds it); None if the file is not there."""
    try:
        st = os.stat(db)
    except OSError:
        return None
    return os.path.join(socket_dir(env), f"{st.st_dev:x}-{st.st_ino:x}.sock")


def db_argument(args: list[str]) -> str:
    """The --db a search command was given (the default otherwise)."""
    db = "treeindex.db"
    k = 0
    while k < len(args):
        a = args[k]
        if a == "--":
            break
        if a == "--db" and k + 1 < len(args):
            db = args[k + 1]
            k += 1
        elif a.startswith("--db="):
            db = a[5:]
        k += 1
    return db


def _json(v: object) -> str:
    """JSON of the request's strings, lists and dicts (the json module costs 3 ms to
    import); undecodable bytes (surrogate escapes) and controls as \\u escapes."""
    if isinstance(v, str):
        if v.isascii() and v.isprintable() and '"' not in v and "\\" not in v:
            return '"' + v + '"'
        out = []
        for ch in v:
            o = ord(ch)
            if ch in '"\\' or o < 0x20 or o == 0x7F or 0xD800 <= o <= 0xDFFF:
                out.append(f"\\u{o:04x}")
            else:
                out.append(ch)
        return '"' + "".join(out) + '"'
    if isinstance(v, (list, tuple)):
        return "[" + ",".join(_json(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ",".join(_json(k) + ":" + _json(x) for k, x in v.items()) + "}"
    if v is None:
        return "null"
    return str(int(v))  # type: ignore[call-overload]


def forward(argv: list[str]) -> int | None:
    """Run the command in the server, if one serves its index: its exit status, or None
    (run it here). TREEINDEX_SERVER=require: never run here (exit status 1 and a message
    when no server answers)."""
    mode = os.environ.get(ENVIRONMENT, "").lower()
    if mode in ("off", "0", "no"):
        return None
    db = db_argument(argv[2:])
    asked = os.environ.pop(ASKED, None) is not None
    code = None if asked else _forward(argv, socket_path(db))
    if code is None and mode == "require":
        _say(f"treeindex: no `treeindex server` serves {db} ({ENVIRONMENT}=require); start "
             f"one: treeindex server --db {db}")
        return 1
    return code


def _forward(argv: list[str], path: str | None) -> int | None:
    if path is None or not os.path.exists(path):
        return None
    # (which streams are open: before the socket, which takes the lowest free number and
    # would be taken for a closed stdin)
    fds = [fd for fd in (0, 1, 2) if _is_open(fd)]
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        sock.settimeout(2.0)
        sock.connect(path)
        streams = {}
        for name in ("stdout", "stderr"):
            stream = getattr(sys, name)
            streams[name] = [stream.encoding, stream.errors] if stream else None
        request = _json({"argv": argv, "prog": _program_name(argv), "fds": fds,
                         "cwd": os.getcwd(),
                         "env": dict(os.environ), **streams}).encode("utf-8")
        message = len(request).to_bytes(4, "little") + request
        sent = sock.sendmsg([message], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS,
                                         b"".join(fd.to_bytes(4, sys.byteorder) for fd in fds))])
        if sent < len(message):  # (a big environment: the socket took a part)
            sock.sendall(message[sent:])
        reader = _Lines(sock)
        first = reader.line()
        if not first.startswith("pid "):
            sock.close()
            return None  # refused
        pid = int(first[4:])
        # the go-ahead: the command runs only once it has it, so a client that gave up
        # waiting (and runs the command itself) can never have it run twice
        sock.sendall(b"go")
    except (OSError, ValueError):
        sock.close()
        return None  # no server (a socket left behind), or one that did not answer

    def pass_on(signum: int, frame: object) -> None:
        try:
            os.kill(pid, signum)
        except OSError:
            pass

    for signum in FORWARDED:
        _signal.signal(signum, pass_on)
    sock.settimeout(None)
    try:
        line = reader.line()
    except OSError:
        line = ""
    if not line.startswith("exit "):
        _say("treeindex: the search server stopped before the search ended; run it again "
             "(TREEINDEX_SERVER=off runs it without the server)")
        return 1
    return int(line[5:])


def _say(message: str) -> None:
    if sys.stderr is not None:  # (None: started with stderr closed; print would use stdout)
        print(message, file=sys.stderr)


def _program_name(argv: list[str]) -> str:
    """The name click would give this command in its messages (click.utils's rule):
    `treeindex`, or `python -m treeindex`."""
    package = getattr(sys.modules.get("__main__"), "__package__", None)
    if not package:
        return os.path.basename(argv[0])
    name = os.path.splitext(os.path.basename(argv[0]))[0]
    return "python -m " + (package if name == "__main__" else f"{package}.{name}").lstrip(".")


class _Lines:
    def __init__(self, sock: _socket.socket) -> None:
        self.sock = sock
        self.buf = b""

    def line(self) -> str:
        while b"\n" not in self.buf:
            try:
                more = self.sock.recv(256)
            except InterruptedError:  # pragma: no cover - PEP 475 retries
                continue
            if not more:
                return ""
            self.buf += more
        line, _, self.buf = self.buf.partition(b"\n")
        return line.decode("ascii", "replace")


def _is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
        return True
    except OSError:
        return False
