"""The one place that owns worker processes and the signals that stop them.

Workers only compute (`extract.run_task`, `export.run_export_task`); the parent submits
tasks, keeps at most `in_flight` of them outstanding (so memory stays flat however large the
input) and yields their results in submission order, which is document order. Any
`concurrent.futures.Executor` can be passed in instead (threads, or a cluster's executor).

Stopping: SIGINT, SIGTERM and SIGHUP reach the parent (alone, or with the whole process
group); `stop_signals` turns the first into `Stopped`, a BaseException, so that no
`except Exception` on the way can mistake it for a failure of the data being read. Workers
ignore SIGINT (the parent decides) and die at once on SIGTERM. When a run ends in any way
but success, `owned_executor` kills the workers outright instead of waiting for them: a
worker may be stuck, or blocked writing a result nobody will read any more.
"""

from __future__ import annotations

import os
import queue
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import BrokenExecutor, Executor, Future, InvalidStateError
from concurrent.futures import wait as futures_wait
from contextlib import contextmanager
from types import FrameType
from typing import Any, TypeVar

from .errors import Interrupted, WorkerDied


class BrokenProcessPool(BrokenExecutor):
    """A worker of a ProcessPool died: every pending task fails with this (the same name and
    meaning as concurrent.futures', whose module loads multiprocessing on import)."""


def wait_ready(objects: list[Any]) -> list[Any]:
    import multiprocessing.connection

    return multiprocessing.connection.wait(objects)

T = TypeVar("T")
R = TypeVar("R")

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
_NAMES: dict[int, str] = {signal.SIGINT: "interrupted", signal.SIGTERM: "terminated",
                         signal.SIGHUP: "hung up"}


class Stopped(BaseException):
    """A stop signal arrived (raised in the main thread by `stop_signals`)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _worker_init() -> None:
    # Ctrl-C goes to the whole process group: only the parent reacts, and it stops the pool.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # The parent's Python handlers are inherited through fork: a worker must never turn a
    # signal into an exception inside the task it runs (it would be taken for that task's
    # error), so it dies as any process does.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGHUP, signal.SIG_DFL)
    exit_with_parent(os.getppid())


def exit_with_parent(parent: int, by_alarm: bool = False) -> None:
    """End this process when its parent ends, however it ends: killed outright (kill -9,
    the OOM killer), nothing tells a worker, which would wait on its queue forever, or go
    on with a search nobody waits for (two web search workers of a killed server ran a
    catastrophic query for 11 minutes). A watch of the parent every 0.5 s: in a thread, or
    (`by_alarm`) in a SIGALRM handler, which runs even while the main thread is inside a
    regular expression that never lets another thread run. (Not Linux's parent-death
    signal: it fires when the *thread* that started the process ends, and the web view
    starts its workers from short-lived threads.)"""
    if os.getppid() != parent:  # (it ended already)
        os._exit(1)
    if by_alarm:
        def check(signum: int, frame: object) -> None:
            if os.getppid() != parent:
                os._exit(1)

        signal.signal(signal.SIGALRM, check)
        signal.setitimer(signal.ITIMER_REAL, 0.5, 0.5)
        return

    def watch() -> None:
        while True:
            time.sleep(0.5)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, daemon=True, name="treeindex-parent-watch").start()


class InlineExecutor(Executor):
    """Runs each task at submission, in this process (`--workers 0`: debugging, profiling)."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as e:  # handed to the caller through the future
            future.set_exception(e)
        return future


# the memory a worker and the parent share for its results (virtual: only the pages a
# result touches are used; an ingest task's result is about 1.4 MB)
SHARED_RESULT_BYTES = 16 << 20


class _Worker:
    """One worker process with its own task and result pipes (no pipe or lock is shared
    between workers, so one that dies mid-write cannot block the others or the parent)."""

    def __init__(self, context: Any, others: list[_Worker], initializer: Callable[[], None],
                 shared_bytes: int = 0) -> None:
        task_r, self.task_w = context.Pipe(duplex=False)
        self.result_r, result_w = context.Pipe(duplex=False)
        # results are handed over in memory the two processes share (made before the fork,
        # which passes it on), unless larger: see _Results
        self.results = _Results(shared_bytes)
        inherited = [c for w in others for c in (w.task_w, w.result_r)]
        self.process = context.Process(
            target=_work, args=(task_r, result_w, self.task_w, self.result_r, inherited,
                                initializer, self.results,
                                [w.results for w in others]),
            daemon=True, name="treeindex-worker")
        self.process.start()
        task_r.close()  # the parent keeps only its own ends: a dead worker's pipe ends (EOF)
        result_w.close()
        self.outstanding: set[int] = set()
        self.sends: queue.SimpleQueue = queue.SimpleQueue()
        # a task can be larger than a pipe holds: a thread sends while the worker reads
        self.sender = threading.Thread(target=self._send, daemon=True, name="treeindex-send")
        self.sender.start()

    def _send(self) -> None:
        while True:
            item = self.sends.get()
            try:
                self.task_w.send(item)
            except (OSError, ValueError):  # the worker is gone: the pool sees it
                return
            if item is None:
                return


class _Results:
    """How one worker hands its results to the parent: pickled, through memory both share
    (an anonymous shared mapping made before the fork), with only its length through the
    result pipe; a result larger than the mapping (or any, where workers are not forked)
    goes through the pipe itself.

    A worker has one task at a time, and the parent sends the next one only after it has
    read the result (`ProcessPool._read_loop`), so a result is never overwritten while it is
    read. Through the pipe, a result of 1.4 MB (an ingest task's, 2 MB of input) was
    written into it 64 KB at a time and read back into new buffers, copied three times
    more on the parent's side: 100 MB's results took 0.013-0.175 CPU-s of a worker and
    0.022-0.041 of the parent that way, 0.022-0.031 and 0.006 this way (docs/design.md,
    stop 43)."""

    # the length message: a pickle (protocol 2 and later) starts with PROTO, b"\x80"
    MARK = b"S"

    def __init__(self, size: int) -> None:
        import mmap

        self.size = size
        self.memory: Any = None
        if size:
            try:
                self.memory = mmap.mmap(-1, size)
            except OSError:  # (refused, e.g. under strict overcommit): through the pipe
                self.size = 0

    def send(self, conn: Any, reply: tuple) -> None:
        """(In the worker.) Hand `reply` over."""
        import pickle

        if self.memory is not None:
            # pickled straight into the mapping: a pickle made first and then copied there
            # took 34 ms and 15,861 page faults for 100 MB's results, this 3.5 ms and none
            self.memory.seek(0)
            try:
                pickle.dump(reply, self.memory, protocol=pickle.HIGHEST_PROTOCOL)
            except ValueError:  # (larger than the mapping: through the pipe)
                pass
            else:
                conn.send_bytes(self.MARK + self.memory.tell().to_bytes(8, "little"))
                return
        conn.send_bytes(pickle.dumps(reply, protocol=pickle.HIGHEST_PROTOCOL))

    def receive(self, conn: Any) -> Any:
        """(In the parent.) The reply a worker handed over."""
        import pickle

        message = conn.recv_bytes()
        if message[:1] != self.MARK:
            return pickle.loads(message)
        n = int.from_bytes(message[1:], "little")
        with memoryview(self.memory) as view:
            return pickle.loads(view[:n])

    def close(self) -> None:
        if self.memory is not None:
            self.memory.close()
            self.memory = None


def _work(task_r: Any, result_w: Any, task_w: Any, result_r: Any, inherited: list[Any],
          initializer: Callable[[], None], results: _Results, others: list[_Results]
          ) -> None:
    """A worker's loop: run tasks until told to stop (None)."""
    task_w.close()
    result_r.close()
    for conn in inherited:  # the other workers' pipe ends, inherited through fork
        conn.close()
    for other in others:  # and their shared memory
        other.close()
    initializer()
    try:
        while True:
            item = task_r.recv()
            if item is None:
                return
            fid, fn, args = item
            try:
                reply = (fid, True, fn(*args))
            except Exception as e:  # handed to the parent through the future
                reply = (fid, False, e)
            try:
                results.send(result_w, reply)
            except OSError:
                raise
            except Exception as e:  # e.g. an exception that cannot be pickled
                results.send(result_w, (fid, False, RuntimeError(f"{type(e).__name__}: {e}")))
    except (EOFError, OSError):  # the parent is gone (or stopped the pool): leave quietly
        return


class ProcessPool(Executor):
    """A pool of forked worker processes, made to stop promptly in every case: a worker
    that dies (kill -9, OOM killer) breaks the pool at once (`BrokenProcessPool` on every
    pending future), and `kill` ends every worker whatever it is doing.

    (concurrent.futures.ProcessPoolExecutor shares one result pipe between workers: one
    killed in the middle of writing leaves the parent waiting for the rest for ever.)
    """

    def __init__(self, workers: int, initializer: Callable[[], None] = _worker_init) -> None:
        import multiprocessing  # (here: a search that needs no workers never loads it)

        fork = sys.platform.startswith("linux")
        context = multiprocessing.get_context("fork" if fork else "spawn")
        # (spawned workers inherit no memory: their results go through the pipes)
        shared = SHARED_RESULT_BYTES if fork else 0
        self._lock = threading.Lock()
        # tasks wait here until a worker is free: a task is never queued behind a long one
        # while another worker idles (giving each worker a second task ahead measured no
        # faster)
        self._backlog: deque[tuple[int, Callable[..., Any], tuple]] = deque()
        self._futures: dict[int, Future] = {}
        self._next = 0
        self._broken: str | None = None
        self._closing = False
        self._workers: list[_Worker] = []
        for _ in range(workers):
            self._workers.append(_Worker(context, self._workers, initializer, shared))
        self._reader = threading.Thread(target=self._read, daemon=True, name="treeindex-read")
        self._reader.start()

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        if kwargs:
            raise TypeError("ProcessPool.submit takes positional arguments only")
        future: Future = Future()
        with self._lock:
            if self._broken is not None:
                raise BrokenProcessPool(self._broken)
            fid = self._next
            self._next += 1
            self._futures[fid] = future
            self._backlog.append((fid, fn, args))
            self._dispatch()
        return future

    def _dispatch(self) -> None:
        """Hand waiting tasks to free workers (with the lock held)."""
        for worker in self._workers:
            while self._backlog and not worker.outstanding:
                fid, fn, args = self._backlog.popleft()
                future = self._futures.get(fid)
                if future is None or not future.set_running_or_notify_cancel():
                    self._futures.pop(fid, None)  # cancelled while it waited
                    continue
                worker.outstanding.add(fid)
                worker.sends.put((fid, fn, args))

    def _read(self) -> None:
        """The one thread that receives results, and notices dead workers."""
        try:
            self._read_loop()
        except BaseException as e:  # never a traceback from a thread: break the pool instead
            with self._lock:
                self._broken = self._broken or f"the pool's reader failed: {e!r}"
            self.kill()

    def _read_loop(self) -> None:
        by_conn: dict[Any, _Worker] = {w.result_r: w for w in self._workers}
        by_sentinel: dict[Any, _Worker] = {w.process.sentinel: w for w in self._workers}
        while by_conn:
            ready_list: list[Any] = wait_ready(list(by_conn) + list(by_sentinel))
            for ready in ready_list:
                worker = by_conn.get(ready)
                if worker is not None:
                    try:
                        fid, ok, value = worker.results.receive(ready)
                    except (EOFError, OSError):  # it died, maybe in the middle of a result
                        del by_conn[ready]
                        self._break(worker)
                        continue
                    with self._lock:
                        future = self._futures.pop(fid, None)
                        worker.outstanding.discard(fid)
                        self._dispatch()
                    if future is None or future.done():  # broken or cancelled meanwhile
                        continue
                    try:
                        if ok:
                            future.set_result(value)
                        else:
                            future.set_exception(value)
                    except InvalidStateError:  # cancelled between the check and here
                        pass
                elif ready in by_sentinel:
                    dead = by_sentinel.pop(ready)
                    if not self._closing or dead.outstanding:
                        self._break(dead)
        return

    def _break(self, worker: _Worker) -> None:
        """A worker died: unless the pool was being closed and it had nothing to do, the
        pool is broken."""
        with self._lock:
            if self._closing and not worker.outstanding:
                return
            if self._broken is None:
                code = worker.process.exitcode
                self._broken = (f"worker process {worker.process.pid} died"
                                + (f" (exit code {code})" if code is not None else ""))
        self.kill()

    def kill(self) -> None:
        """End every worker now (SIGKILL), whatever it is doing; every task not done yet
        fails with BrokenProcessPool."""
        self._closing = True
        with self._lock:
            self._broken = self._broken or "the pool was stopped"
            pending = list(self._futures.values())
            self._futures.clear()
            self._backlog.clear()
        for future in pending:
            try:
                future.set_exception(BrokenProcessPool(self._broken))
            except InvalidStateError:  # cancelled or done
                pass
        for w in self._workers:
            if w.process.is_alive():
                try:
                    w.process.kill()
                except (OSError, ValueError):
                    pass

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """As Executor.shutdown: with `wait`, tasks already submitted finish first (unless
        `cancel_futures` drops those that have not started)."""
        if cancel_futures:
            with self._lock:
                waiting = [self._futures[fid] for fid, _, _ in self._backlog
                           if fid in self._futures]
            for future in waiting:
                future.cancel()
        if wait:
            with self._lock:
                pending = list(self._futures.values())
            futures_wait(pending)
        self._closing = True
        for w in self._workers:
            w.sends.put(None)
        if wait:
            for w in self._workers:
                w.process.join()
            self._reader.join()
            for w in self._workers:  # (a long process, `treeindex server`, runs many pools)
                w.results.close()


def make_executor(workers: int) -> Executor:
    if workers <= 0:
        return InlineExecutor()
    return ProcessPool(workers)


def kill_workers(executor: Executor) -> None:
    """End a process pool's workers now, whatever they are doing (a no-op for other
    executors, which their owners stop)."""
    if isinstance(executor, ProcessPool):
        executor.kill()


RESUME_AFTER_DEATH = "what was committed is kept: run the same command again to resume"


@contextmanager
def owned_executor(workers: int, given: Executor | None = None,
                   then: str = RESUME_AFTER_DEATH) -> Iterator[Executor]:
    """The executor for one run: `given` (left running), or a new pool of `workers`
    processes that is shut down on success and killed on any other way out.

    A dead worker surfaces as `WorkerDied`, its message ending in `then` (what the run
    leaves and what to do: an ingest resumes, a search starts again).
    """
    if given is not None:
        yield given
        return
    pool = make_executor(workers)
    try:
        yield pool
    except BaseException as e:
        kill_workers(pool)
        pool.shutdown(wait=True, cancel_futures=True)
        if isinstance(e, BrokenExecutor):
            raise WorkerDied(
                "a worker process died (killed by a signal, or out of memory: see `dmesg`); "
                f"{then}, with a lower --workers if it happens again"
            ) from e
        raise
    pool.shutdown(wait=True)


def _wait_lines(fn: Callable[..., Any], marker: str, after: str | None = None
                ) -> set[tuple[Any, int]]:
    """(code, line) of the blocking acquires in `fn` at which Python itself is made to be
    interrupted (empty if the source cannot be read: then those waits are deferred too)."""
    import inspect

    try:
        lines, first = inspect.getsourcelines(fn)
    except (OSError, TypeError):
        return set()
    seen_after = after is None
    points = set()
    for i, line in enumerate(lines):
        if after is not None and after in line:
            seen_after = True
        if seen_after and marker in line:
            points.add((fn.__code__, first + i))
    return points


def _unsafe_places() -> tuple[tuple[str, ...], set[Any], set[tuple[Any, int]]]:
    import concurrent.futures._base as futures_base
    import logging
    import queue as queue_module
    import weakref

    files = tuple(m.__file__ for m in (threading, queue_module, futures_base, logging, weakref)
                  if m.__file__)
    import multiprocessing

    files += (os.path.dirname(multiprocessing.__file__ or "") + os.sep,)
    codes = {f.__code__ for cls in (ProcessPool, _Worker, InlineExecutor)
             for f in vars(cls).values() if hasattr(f, "__code__")}
    # (not Thread.join's wait: left by an exception, Python 3.11 marks the thread as ended
    # while it still runs, and its joiner closed the connection under a running statement:
    # SIGSEGV. A join is deferred like the rest; the write thread is waited for through an
    # Event.)
    waits = _wait_lines(threading.Condition.wait, "waiter.acquire(", after="try:")
    return files, codes, waits


_UNSAFE: tuple[tuple[str, ...], set[Any], set[tuple[Any, int]]] | None = None


def _safe_to_raise(frame: FrameType | None) -> bool:
    """Whether an exception raised at `frame` (the main thread's, where a signal handler
    runs) unwinds through no lock's or queue's internals, and through no finalizer.

    A stop raised inside `Condition.notify` (between releasing a waiter and forgetting it)
    left the write thread waiting for a notification that had been spent on a stale waiter:
    a run that never ended. Raised inside a `__del__`, it is printed and lost. Such places
    defer the stop; the blocking acquire of `Condition.wait` (an `Event`'s, a future's, a
    queue's), which Python makes safe to interrupt, does not (a wait can be long)."""
    global _UNSAFE
    if _UNSAFE is None:
        _UNSAFE = _unsafe_places()
    files, codes, waits = _UNSAFE
    decided = False
    while frame is not None:
        code = frame.f_code
        if code.co_name == "__del__":
            return False
        if not decided and (code in codes or code.co_filename.startswith(files)):
            # the innermost such frame decides: a wait may be left (Python's own waits, and
            # the code around them, are made to be left by a KeyboardInterrupt); anything
            # else may not
            if (code, frame.f_lineno) not in waits:
                return False
            decided = True
        frame = frame.f_back
    return True


class stop_signals:
    """Turn the first of `signals` (SIGINT, SIGTERM, SIGHUP) into `Stopped` in the main
    thread, and leave as `Interrupted`; later ones are ignored while the run cleans up.
    Outside the main thread it does nothing. Without SIGINT among them, Ctrl-C stays a
    KeyboardInterrupt.

    The stop is raised where the main thread is, unless that is inside threading's, a
    queue's or a future's internals, a finalizer or the process pool's own bookkeeping
    (`_safe_to_raise`): there it is deferred, and a 10 ms timer (SIGALRM) looks again
    until the thread is out. `received` is set at once either way, for code that polls it
    (SQLite's progress handler, the write thread)."""

    RECHECK = 0.01

    def __init__(self, signals: tuple[int, ...] = STOP_SIGNALS) -> None:
        self.signals = signals

    def __enter__(self) -> stop_signals:
        self.old: dict[int, Any] = {}
        self.received: int | None = None
        self._raised = False
        if threading.current_thread() is threading.main_thread():
            self.old[signal.SIGALRM] = signal.signal(signal.SIGALRM, self._recheck)
            for signum in self.signals:
                self.old[signum] = signal.signal(signum, self._handle)
        return self

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.received is None:
            self.received = signum
            if not self._raised:  # (in __exit__ a stop is only recorded: it is raised there)
                self._raise_if_safe(frame)

    def _recheck(self, signum: int, frame: FrameType | None) -> None:
        if self.received is not None and not self._raised:
            self._raise_if_safe(frame)

    def _raise_if_safe(self, frame: FrameType | None) -> None:
        assert self.received is not None
        if _safe_to_raise(frame):
            self._raised = True
            raise Stopped(self.received)
        signal.setitimer(signal.ITIMER_REAL, self.RECHECK)

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self._raised = True  # a recheck already on its way does nothing now
        if self.old:
            signal.setitimer(signal.ITIMER_REAL, 0)
        for number, old in self.old.items():
            signal.signal(number, old)
        signum: int | None = None
        if isinstance(exc, Stopped):
            signum = exc.signum
        elif isinstance(exc, KeyboardInterrupt) and signal.SIGINT in self.signals:
            signum = signal.SIGINT  # (raised by a callback: a library caller, or a test)
        elif self.received is not None:
            # e.g. the workers died of the same SIGTERM first, or the stop was deferred
            # and the run ended meanwhile
            signum = self.received
        if signum is not None:
            raise Interrupted(signum, _NAMES.get(signum, "stopped")) from None


def ordered_map(
    executor: Executor, fn: Callable[[T], R], items: Iterable[T], in_flight: int
) -> Iterator[tuple[T, R]]:
    """Yield (item, fn(item)) in the order of `items`, with at most `in_flight` outstanding."""
    pending: deque[tuple[T, Future]] = deque()
    try:
        for item in items:
            pending.append((item, executor.submit(fn, item)))
            while len(pending) >= in_flight or (pending and pending[0][1].done()):
                head, future = pending.popleft()
                yield head, future.result()
        while pending:
            head, future = pending.popleft()
            yield head, future.result()
    finally:
        for _, future in pending:
            future.cancel()
