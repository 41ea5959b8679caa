"""How many cores this process may run on, and how many worker processes a piece of work is
worth (a module of its own: a search that starts no worker asks it without loading the pool,
and concurrent.futures and logging with it)."""

import os

# What starting worker processes costs a run: the pool's imports (multiprocessing,
# concurrent.futures, logging), the forks, the jobs' hand-over and the shutdown. Measured on
# 2 cores: 0.05-0.1 s for 2 workers (a command's `@cat="whq"` count on 200 MB, 96 blocks:
# 0.445 s in the process against 0.541 s with 2 workers, 7 alternating runs), and 6-8 ms
# more for each further worker (4: 88 ms, 8: 106, 16: 174).
POOL_START = 0.06
POOL_START_PER_WORKER = 0.005


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def workers_for(workers: int | None, executor: object, seconds: float, tasks: int) -> int:
    """The workers of a run (ingest, export, upgrade): `workers` if the caller chose them;
    with a caller's executor, the cores (as many of its tasks in flight); else as many as
    `seconds` of work in `tasks` tasks is worth (`workers_worth`)."""
    if workers is not None:
        return workers
    if executor is not None:
        return available_cores()
    return workers_worth(seconds, tasks, available_cores())


def workers_worth(seconds: float, tasks: int, most: int) -> int:
    """How many worker processes `seconds` of work (one core's time) in `tasks` tasks is
    worth: at most `most` and no more than the tasks; 0 (all of it in this process) when
    what W workers would save, seconds x (1 - 1/W), is less than starting them costs."""
    w = min(most, tasks)
    if w < 2 or seconds * (1 - 1 / w) <= POOL_START + POOL_START_PER_WORKER * w:
        return 0
    return w
