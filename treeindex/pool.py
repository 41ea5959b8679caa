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

import multiprocessing
import os
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from types import FrameType
from typing import Any, TypeVar

from .errors import Interrupted, WorkerDied

T = TypeVar("T")
R = TypeVar("R")

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
_NAMES = {signal.SIGINT: "interrupted", signal.SIGTERM: "terminated", signal.SIGHUP: "hung up"}


class Stopped(BaseException):
    """A stop signal arrived (raised in the main thread by `stop_signals`)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _worker_init() -> None:
    # Ctrl-C goes to the whole process group: only the parent reacts, and it stops the pool.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # The parent's Python handlers are inherited through fork: a worker must never turn a
    # signal into an exception inside the task it runs (it would be taken for that task's
    # error), so it dies as any process does.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGHUP, signal.SIG_DFL)
    # If the parent is killed outright (kill -9, OOM killer), nothing tells the workers:
    # they would wait on their queue forever. Watch for it and leave.
    parent = os.getppid()

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


def make_executor(workers: int) -> Executor:
    if workers <= 0:
        return InlineExecutor()
    context = None
    if sys.platform.startswith("linux"):
        # fork: workers start in milliseconds and share the parent's loaded modules.
        context = multiprocessing.get_context("fork")
    return ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_worker_init)


def kill_workers(executor: Executor) -> None:
    """End a process pool's workers now (SIGKILL), whatever they are doing.

    ProcessPoolExecutor waits for its workers when it shuts down, and (Python 3.11) spins
    forever when one died while another is blocked writing its result: killing them first
    makes every shutdown prompt.
    """
    processes = getattr(executor, "_processes", None) or {}
    for process in list(processes.values()):
        try:
            process.kill()
        except (OSError, ValueError, AttributeError):
            pass
    for process in list(processes.values()):
        try:
            process.join(timeout=5)
        except (OSError, ValueError, AssertionError, AttributeError):
            pass


@contextmanager
def owned_executor(workers: int, given: Executor | None = None) -> Iterator[Executor]:
    """The executor for one run: `given` (left running), or a new pool of `workers`
    processes that is shut down on success and killed on any other way out.

    A dead worker surfaces as `WorkerDied`.
    """
    if given is not None:
        yield given
        return
    pool = make_executor(workers)
    try:
        yield pool
    except BrokenProcessPool as e:
        kill_workers(pool)
        pool.shutdown(wait=True, cancel_futures=True)
        raise WorkerDied(
            "a worker process died (killed by a signal, or out of memory: see `dmesg`); what "
            "was committed is kept: run the same command again to resume, with a lower "
            "--workers if it happens again"
        ) from e
    except BaseException:
        kill_workers(pool)
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


class stop_signals:
    """Turn the first SIGINT, SIGTERM or SIGHUP into `Stopped` in the main thread; later
    ones are ignored while the run cleans up. Outside the main thread it does nothing."""

    def __enter__(self) -> stop_signals:
        self.old: dict[int, Any] = {}
        self.received: int | None = None
        if threading.current_thread() is threading.main_thread():
            for signum in STOP_SIGNALS:
                self.old[signum] = signal.signal(signum, self._handle)
        return self

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.received is None:
            self.received = signum
            raise Stopped(signum)

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        for signum, old in self.old.items():
            signal.signal(signum, old)
        signum = None
        if isinstance(exc, Stopped):
            signum = exc.signum
        elif isinstance(exc, KeyboardInterrupt):  # (raised by library callers, or tests)
            signum = signal.SIGINT
        elif exc is not None and self.received is not None:
            signum = self.received  # e.g. the workers died of the same SIGTERM first
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
