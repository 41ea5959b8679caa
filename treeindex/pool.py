"""The one place that owns worker processes.

Workers only compute (`extract.run_task`); the parent submits tasks, keeps at most
`in_flight` of them outstanding (so memory stays flat however large the input) and yields
their results in submission order, which is document order. Any
`concurrent.futures.Executor` can be passed in instead (threads, or a cluster's executor).
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
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _worker_init() -> None:
    # Ctrl-C goes to the whole process group: only the parent reacts, and it stops the pool.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
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
        except BaseException as e:  # handed to the caller through the future
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
