"""treeindex's process pool: results, errors, deaths, stuck workers, and no task waiting
behind a long one while another worker is free."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections import deque

import pytest

from treeindex.errors import Interrupted, WorkerDied
from treeindex.pool import BrokenProcessPool, ProcessPool, ordered_map, owned_executor, stop_signals


def square(x: int) -> int:
    return x * x


def fails(x: int) -> int:
    raise ValueError(f"bad {x}")


def sleeps(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def spins(_: int) -> int:
    while True:
        pass


def pid(_: int) -> int:
    time.sleep(0.2)
    return os.getpid()


@pytest.mark.parametrize("seconds, tasks, most, workers", [
    (100.0, 6, 64, 6),  # no more workers than tasks
    (100.0, 64, 8, 8),  # nor than the cores
    (0.1, 10, 8, 0),  # less to gain than starting them costs: none
    (0.25, 10, 2, 2),  # (0.125 s saved against 0.07 s)
    (0.25, 10, 8, 8),
    (100.0, 1, 8, 0),  # one task: a worker would gain nothing
    (100.0, 4, 1, 0),  # one core: neither
])
def test_workers_are_started_only_as_far_as_they_pay(seconds, tasks, most, workers):
    from treeindex.cores import workers_worth

    assert workers_worth(seconds, tasks, most) == workers


def test_results_come_in_order_and_errors_are_raised():
    with owned_executor(2) as pool:
        assert [r for _, r in ordered_map(pool, square, range(50), 4)] == \
            [x * x for x in range(50)]
        with pytest.raises(ValueError, match="bad 3"):
            pool.submit(fails, 3).result(timeout=10)


def made(n: int) -> bytes:
    """n bytes that say where each of them is (a result read from the wrong place, or
    partly overwritten, does not compare equal)."""
    return bytes((n + k * 7) % 251 for k in range(n))


class Unpicklable(Exception):
    def __reduce__(self):
        raise TypeError("not this one")


def fails_unpicklably(_: int) -> int:
    raise Unpicklable("x")


def test_results_come_through_shared_memory_and_larger_ones_through_the_pipe(monkeypatch):
    """A worker hands its result over in memory it shares with the parent, or through its
    pipe when the result is larger: the same results either way, in order, with errors."""
    import pickle

    import treeindex.pool as pool_module

    size = 4096
    monkeypatch.setattr(pool_module, "SHARED_RESULT_BYTES", size)
    # sizes whose pickles fall on both sides of the mapping's size, and on it
    overhead = len(pickle.dumps((0, True, b""), protocol=pickle.HIGHEST_PROTOCOL))
    sizes = [0, 1, 100, size - overhead - 8, size, size * 3, 1 << 20, 5, size - 200]
    for n in range(size - overhead - 12, size - overhead + 12):
        if len(pickle.dumps((0, True, made(n)), protocol=pickle.HIGHEST_PROTOCOL)) == size:
            sizes.append(n)  # a pickle of exactly the mapping's size
    pool = ProcessPool(2)
    try:
        shared = [w.results for w in pool._workers]
        assert all(r.memory is not None and r.size == size for r in shared)
        assert [r for _, r in ordered_map(pool, made, sizes * 3, 4)] == \
            [made(n) for n in sizes * 3]
        with pytest.raises(RuntimeError, match="PicklingError|TypeError"):
            pool.submit(fails_unpicklably, 0).result(timeout=10)
        assert pool.submit(made, 10).result(timeout=10) == made(10)
        # the small ones went through the mappings: each holds the pickle of its last one
        assert all(r.memory[:1] == pickle.PROTO for r in shared)
    finally:
        pool.shutdown()
    assert all(r.memory is None for r in shared)  # given back with the pool


def test_results_go_through_the_pipe_when_no_memory_can_be_shared(monkeypatch):
    import mmap

    def refused(*args, **kwargs):
        raise OSError(12, "Cannot allocate memory")

    monkeypatch.setattr(mmap, "mmap", refused)
    pool = ProcessPool(2)
    try:
        assert all(w.results.memory is None for w in pool._workers)
        assert [r for _, r in ordered_map(pool, made, [0, 10, 1 << 20], 4)] == \
            [made(n) for n in (0, 10, 1 << 20)]
    finally:
        pool.shutdown()


def test_a_killed_worker_breaks_the_pool_at_once():
    pool = ProcessPool(2)
    try:
        first = pool.submit(pid, 0)
        victim = first.result(timeout=10)
        futures = [pool.submit(sleeps, 5) for _ in range(4)]
        time.sleep(0.2)
        os.kill(victim, signal.SIGKILL)
        started = time.monotonic()
        for f in futures:
            with pytest.raises(BrokenProcessPool):
                f.result(timeout=10)
        assert time.monotonic() - started < 3
        with pytest.raises(BrokenProcessPool):
            pool.submit(square, 2)
    finally:
        pool.kill()
        pool.shutdown()


def test_owned_executor_reports_a_dead_worker_and_kills_a_stuck_one():
    started = time.monotonic()
    with pytest.raises(WorkerDied), owned_executor(2) as pool:
        stuck = pool.submit(spins, 0)
        victim = pool.submit(pid, 0).result(timeout=10)
        os.kill(victim, signal.SIGKILL)
        stuck.result(timeout=10)
    assert time.monotonic() - started < 5


def test_a_long_task_does_not_hold_up_the_next_ones():
    with owned_executor(2) as pool:
        long = pool.submit(sleeps, 2.0)
        started = time.monotonic()
        short = [pool.submit(sleeps, 0.05) for _ in range(6)]
        for f in short:
            f.result(timeout=10)
        assert time.monotonic() - started < 1.5  # all on the free worker
        assert not long.done()
        long.result(timeout=10)


class _SignallingWaiters(deque):
    """A condition's waiter list that sends SIGTERM to this process in the middle of
    `Condition.notify`: between releasing a waiter and forgetting it, where a stop raised
    once left the write thread waiting for ever."""

    def remove(self, value):
        os.kill(os.getpid(), signal.SIGTERM)
        super().remove(value)


def test_a_stop_inside_a_notify_is_deferred_until_the_notify_is_done():
    cond = threading.Condition()
    woke = threading.Event()

    def wait():
        with cond:
            cond.wait(5)
        woke.set()

    t = threading.Thread(target=wait)
    with pytest.raises(Interrupted) as e, stop_signals():
        t.start()
        while not cond._waiters:
            time.sleep(0.001)
        cond._waiters = _SignallingWaiters(cond._waiters)
        with cond:
            cond.notify()
        notified = not cond._waiters  # the notify ran to its end
        time.sleep(2)  # the deferred stop comes here
        raise AssertionError("the stop never came")
    assert e.value.signum == signal.SIGTERM
    assert notified
    assert woke.wait(1)
    t.join()


def test_a_stop_inside_a_finalizer_is_not_lost():
    class Noisy:
        def __del__(self):
            os.kill(os.getpid(), signal.SIGTERM)
            sum(range(1000))  # the handler runs here, inside __del__

    started = time.monotonic()
    with pytest.raises(Interrupted), stop_signals():
        Noisy()  # dropped at once
        time.sleep(2)
    assert time.monotonic() - started < 1, "the stop was swallowed by the finalizer"


def test_a_stop_during_a_wait_is_raised_at_once():
    with pytest.raises(Interrupted), stop_signals():
        threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGINT)).start()
        started = time.monotonic()
        threading.Event().wait(10)  # a wait is left at once (no deferral)
    assert time.monotonic() - started < 1


def test_abort_returns_only_once_the_write_thread_has_ended():
    """The caller closes the connection right after `abort`: a stop raised while abort
    waited let it close it under a running statement, and the process died of SIGSEGV
    (scripts/stress.py, --workers 0 with busy processes beside it)."""
    from treeindex.store.writer import WriteThread

    db = WriteThread(maxsize=2)
    started, finished = threading.Event(), threading.Event()

    def long_transaction() -> None:
        started.set()
        time.sleep(0.4)
        finished.set()

    db.submit(long_transaction)
    started.wait(5)

    def interrupt(signum, frame):
        raise RuntimeError("a stop while abort waits")

    old = signal.signal(signal.SIGALRM, interrupt)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.05)
        with pytest.raises(RuntimeError, match="a stop while abort waits"):
            db.abort()
        # (not Thread.is_alive: after an interrupted join, Python 3.11 says False while the
        # thread still runs, which is how the connection got closed under it)
        assert finished.is_set()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def test_a_stop_while_the_handlers_are_taken_down_ends_as_interrupted():
    """A signal that arrives in stop_signals' own __exit__ is recorded and raised as
    Interrupted, not as a Stopped traceback from inside __exit__ (seen once in stress.py)."""
    real = signal.setitimer

    def and_a_signal(which, seconds, *rest):
        out = real(which, seconds, *rest)
        if seconds == 0:  # (the first thing __exit__ does with the handlers still set)
            os.kill(os.getpid(), signal.SIGTERM)
        return out

    signal.setitimer = and_a_signal
    try:
        with pytest.raises(Interrupted) as e:
            with stop_signals():
                pass
    finally:
        signal.setitimer = real
    assert e.value.signum == signal.SIGTERM
