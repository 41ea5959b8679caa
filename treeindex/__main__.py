"""`python -m treeindex` and the `treeindex` command.

A stop signal that comes while Python is still importing the program ends it with the
documented exit code (128 + the signal), not with a traceback from the import machinery;
the commands then set their own handlers.
"""

import _signal  # type: ignore[import-not-found]
import os
import sys

# (_signal: the signal module imports enum, which a search sent to a server never needs)
_EARLY = (_signal.SIGINT, _signal.SIGTERM, _signal.SIGHUP)


def _early(signum: int, frame: object) -> None:
    sys.exit(128 + signum)


def main() -> None:
    for signum in _EARLY:
        _signal.signal(signum, _early)
    if len(sys.argv) > 2 and sys.argv[1] == "search":
        from .client import forward

        code = forward(sys.argv)  # a `treeindex server` of the same index runs it
        if code is not None:
            if sys.stderr is not None:  # (None: started with stderr closed)
                sys.stderr.flush()
            os._exit(code)  # (nothing of this process needs finalizing: 5 ms saved)
    # numpy's OpenBLAS starts a thread per core (up to 64) when numpy is imported, and waits
    # for them, though treeindex never calls BLAS: numpy's import on 2 cores, medians of 11
    # alternating, 138 -> 132 ms on an idle machine, 194 -> 144 ms with one core busy, 280
    # -> 178 ms with both (a server's searches side by side, an ingest beside a search); and
    # threads in every process that loads the node table. The command's own processes only:
    # a user's setting stands, and a program that imports treeindex keeps its own.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    import signal

    from .cli import cli

    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGHUP, signal.SIG_DFL)
    cli()


if __name__ == "__main__":
    main()
