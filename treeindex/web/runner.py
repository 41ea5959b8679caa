"""Where the web view's searches run: in worker processes, at most `size` at once, each
stopped after `limit` seconds.

A search can hold the CPU for as long as its query says (a catastrophic regular expression in
`matches()` holds it inside `re`, without ever letting another thread run), so it cannot run
in datasette's process: there it froze every other page. Here the event loop only waits
(in a thread) for a worker's answer; a worker past the time limit is killed and replaced, and
the page says the search was stopped. Workers are started with `spawn` (never a fork of a
process that runs an event loop and threads) when first needed and then kept for the next
search.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import threading
from typing import Any

TIME_LIMIT_ENV = "TREEINDEX_TIME_LIMIT"
WORKERS_ENV = "TREEINDEX_WEB_WORKERS"
KEEP_ENV = "TREEINDEX_WEB_KEEP_MB"  # serve --keep-memory: superblocks per worker, in MB
DEFAULT_TIME_LIMIT = 30.0


class TimedOut(Exception):
    """The work ran past the time limit and its worker was stopped."""


class WorkerFailed(Exception):
    """The worker died (out of memory, killed) before answering."""


def _serve(conn: Any, parent: int | None = None) -> None:
    """A worker's loop: (function path, args) in, ("ok", value) or ("error", message) out."""
    import importlib

    if parent is not None:  # (searches never outlive their server)
        from ..pool import exit_with_parent

        exit_with_parent(parent, by_alarm=True)

    from .. import search  # noqa: F401 - loaded before the first job, not during it
    from ..errors import TreeindexError
    from ..store import connect
    from ..store.index import release_idle
    from . import pages  # noqa: F401

    # every search opens the index a few times: its checks once per state of the file, one
    # connection for the whole search, closed after it (store/index.py)
    connect.remember_checks = True

    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            return
        module, name, args, *how = job
        global _conn
        _conn = conn if how == ["events"] else None
        try:
            value = getattr(importlib.import_module(module), name)(*args)
            if how == ["stream"]:  # an iterator of str: sent in chunks, as they are made
                _send_chunks(conn, value)
                value = None
            conn.send(("ok", value))
        except TreeindexError as e:
            conn.send(("error", str(e)))
        except Exception as e:  # noqa: BLE001 - shown on the page as one line, not a 500
            conn.send(("error", f"{type(e).__name__}: {e}"))
        finally:
            release_idle()


CHUNK = 1 << 16  # bytes a download's worker sends at a time
_conn: Any = None  # in a worker running an "events" job: where `emit` sends


def emit(item: Any) -> None:
    """In a worker: send `item` to the web process now, as an event of the job it runs
    (Runner.events); nothing when the job is not an "events" job."""
    if _conn is not None:
        _conn.send(("event", item))


def _send_chunks(conn: Any, lines: Any) -> None:
    """Lines, each ended by a newline, as chunks of about CHUNK bytes: ("chunk", bytes). A
    send waits while the web process has not read the last ones (the pipe's buffer), so a
    download of any size holds a chunk or two in memory."""
    buf: list[bytes] = []
    size = 0
    for line in lines:
        data = line.encode("utf-8") + b"\n"
        buf.append(data)
        size += len(data)
        if size >= CHUNK:
            conn.send(("chunk", b"".join(buf)))
            buf, size = [], 0
    if buf:
        conn.send(("chunk", b"".join(buf)))


class _Worker:
    def __init__(self, context: Any) -> None:
        self.conn, child = context.Pipe()
        self.process = context.Process(target=_serve, args=(child, os.getpid()), daemon=True,
                                       name="treeindex-web-search")
        self.process.start()
        child.close()
        self.warmed: int | None = None  # how many indexes its warm-up searched (None: none)

    def stop(self) -> None:
        self.process.kill()
        self.process.join(5)
        self.conn.close()


class Runner:
    """Runs module-level functions in worker processes with a time limit (see the module)."""

    def __init__(self, size: int | None = None, limit: float | None = None) -> None:
        self.size = size or int(os.environ.get(WORKERS_ENV) or min(os.cpu_count() or 1, 4))
        self.limit = limit or float(os.environ.get(TIME_LIMIT_ENV) or DEFAULT_TIME_LIMIT)
        self._context = multiprocessing.get_context("spawn")
        self._idle: list[_Worker] = []
        self._lock = threading.Lock()
        self._ready = threading.Condition(self._lock)  # a worker was added to the idle ones
        self._starting = 0  # workers started (and warming) but not idle yet
        self._slots: asyncio.Semaphore | None = None
        self._warmed: tuple[str, ...] = ()  # the indexes a new worker searches first

    def warm(self, paths: tuple[str, ...] = ()) -> None:
        """Start the workers now, each warmed by a small search of every index in `paths`
        (a first search then waits for no process to start, and finds the index's checks,
        dictionary and pages already loaded: 100-120 ms -> about 50 ms at 200 MB). A
        search that comes meanwhile waits for the first worker ready."""
        self._warmed = paths
        with self._ready:
            self._starting += self.size
        workers = [_Worker(self._context) for _ in range(self.size)]
        for worker in workers:  # (all warm at once)
            self._send_warm(worker)
        for worker in workers:
            self._add(worker)

    def _send_warm(self, worker: _Worker) -> None:
        if self._warmed:
            try:
                worker.conn.send(("treeindex.web.pages", "warm", (self._warmed,)))
            except OSError:
                pass  # (a worker that died: _add drops it)

    def _add(self, worker: _Worker) -> None:
        """A started worker, once its warm-up (if any) is done, to the idle ones; one that
        failed or took too long is dropped."""
        ready = True
        try:
            if self._warmed:
                if not worker.conn.poll(self.limit):
                    raise TimedOut()
                kind, value = worker.conn.recv()
                worker.warmed = value if kind == "ok" else 0
        except (TimedOut, EOFError, OSError):
            worker.stop()
            ready = False
        with self._ready:
            self._starting -= 1
            if ready:
                self._idle.append(worker)
            self._ready.notify()

    def _replace(self) -> None:
        """Start a worker in place of one that was stopped (in the background: the next
        search then finds one ready instead of waiting for a process to start)."""
        def start() -> None:
            worker = _Worker(self._context)
            self._send_warm(worker)
            self._add(worker)

        with self._ready:
            self._starting += 1

        threading.Thread(target=start, daemon=True, name="treeindex-replace").start()

    def _take(self) -> _Worker:
        """An idle worker; while none is idle but some are starting, the first of those
        ready (blocking: never call it on the event loop); else a new one."""
        with self._ready:
            while True:
                while self._idle:
                    worker = self._idle.pop()
                    if worker.process.is_alive():
                        return worker
                    worker.stop()
                if not self._starting or not self._ready.wait(self.limit):
                    break
        return _Worker(self._context)

    def _call(self, module: str, name: str, args: tuple) -> Any:
        """Blocking: run in a thread (never on the event loop)."""
        worker = self._take()
        try:
            worker.conn.send((module, name, args))
            if not worker.conn.poll(self.limit):
                raise TimedOut()
            kind, value = worker.conn.recv()
        except TimedOut:
            worker.stop()
            self._replace()
            raise
        except (EOFError, OSError):
            worker.stop()
            self._replace()
            raise WorkerFailed() from None
        with self._lock:
            self._idle.append(worker)
        if kind == "error":
            from ..errors import TreeindexError

            raise TreeindexError(value)
        return value

    async def run(self, module: str, name: str, *args: Any) -> Any:
        """`module.name(*args)` in a worker; TimedOut past the limit, WorkerFailed if the
        worker died, TreeindexError with the worker's message for any error."""
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.size)
        async with self._slots:
            return await asyncio.get_running_loop().run_in_executor(
                None, self._call, module, name, args)

    async def _messages(self, how: str, module: str, name: str, args: tuple,
                        limit: float | None) -> Any:
        """What a worker sends while it runs `module.name(*args)` in the `how` mode
        ("stream": chunks, "events": emitted items), as an async generator of (kind, value),
        ending with ("ok", its value). TimedOut past `limit` seconds (None: no limit),
        WorkerFailed if the worker died, TreeindexError for its error; closing the
        generator midway stops the worker (it may be in the middle of sending)."""
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.size)
        loop = asyncio.get_running_loop()
        async with self._slots:
            worker = await loop.run_in_executor(None, self._take)
            done = False
            deadline = None if limit is None else loop.time() + limit
            try:
                worker.conn.send((module, name, args, how))
                while True:
                    if deadline is not None:
                        left = deadline - loop.time()
                        if left <= 0 or not await loop.run_in_executor(
                                None, worker.conn.poll, left):
                            raise TimedOut()
                    try:
                        kind, value = await loop.run_in_executor(None, worker.conn.recv)
                    except (EOFError, OSError):
                        raise WorkerFailed() from None
                    if kind == "error":
                        from ..errors import TreeindexError

                        done = True
                        raise TreeindexError(value)
                    done = kind == "ok"
                    yield kind, value
                    if done:
                        return
            finally:
                if done:
                    with self._lock:
                        self._idle.append(worker)
                else:
                    worker.stop()
                    self._replace()

    async def stream(self, module: str, name: str, *args: Any) -> Any:
        """The lines `module.name(*args)` yields, made in a worker, as chunks of bytes (an
        async generator): no time limit (a download of every hit may take minutes); the
        worker is stopped when the reader goes away (the client closed the download) and
        the generator is closed. TreeindexError for an error before or during the lines."""
        messages = self._messages("stream", module, name, args, None)
        try:
            async for kind, value in messages:
                if kind == "chunk":
                    yield value
        finally:
            await messages.aclose()

    def events(self, module: str, name: str, *args: Any) -> Any:
        """`module.name(*args)` in a worker, as an async generator: ("event", item) for each
        item it `emit`s while it runs, then ("ok", its value). TimedOut past the time limit
        (then the worker is stopped), WorkerFailed, TreeindexError as `run`; closing the
        generator midway (a cancelled job) stops the worker."""
        return self._messages("events", module, name, args, self.limit)

    def close(self) -> None:
        with self._lock:
            for worker in self._idle:
                worker.stop()
            self._idle.clear()


_runner: Runner | None = None


def runner() -> Runner:
    """The server's one Runner (made at the first search)."""
    global _runner
    if _runner is None:
        _runner = Runner()
    return _runner
