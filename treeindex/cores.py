"""How many cores this process may run on (a module of its own: a search that starts no
worker asks it without loading the pool, and concurrent.futures and logging with it)."""

import os


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1
