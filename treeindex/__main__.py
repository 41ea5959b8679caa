"""`python -m treeindex` and the `treeindex` command.

A stop signal that comes while Python is still importing the program ends it with the
documented exit code (128 + the signal), not with a traceback from the import machinery;
the commands then set their own handlers.
"""

from __future__ import annotations

import signal
import sys

_EARLY = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _early(signum: int, frame: object) -> None:
    sys.exit(128 + signum)


def main() -> None:
    for signum in _EARLY:
        signal.signal(signum, _early)
    from .cli import cli

    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGHUP, signal.SIG_DFL)
    cli()


if __name__ == "__main__":
    main()
