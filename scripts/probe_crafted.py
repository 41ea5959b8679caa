#!/usr/bin/env python3
"""Run every command on every crafted index file (tests/crafted.py) and report what each did:
a one-line error, a normal end, a traceback, or no end within --timeout seconds.

    python3 scripts/probe_crafted.py [--out /tmp/treeindex-crafted] [--timeout 20] [-v]

Exit 1 if any run printed a traceback, did not end, or failed with more than one line.
The next hardening round starts from here: add a case to tests/crafted.py, run this.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

import crafted  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("/tmp/treeindex-crafted"))
    ap.add_argument("--timeout", type=float, default=20.0)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--only", default=None, help="comma-separated cases")
    ap.add_argument("-v", "--verbose", action="store_true", help="print every outcome")
    args = ap.parse_args()
    results = crafted.run_matrix(args.out, args.timeout, args.jobs,
                                 args.only.split(",") if args.only else None)
    for case, name, outcome, text in results:
        if args.verbose or outcome in crafted.BAD:
            print(f"{case:20} {name:14} {outcome:10} {text}")
    files = len({r[0] for r in results})
    print(f"{files} crafted files x {len(results) // max(files, 1)} commands = {len(results)} "
          f"runs: {sum(r[2] == 'TRACEBACK' for r in results)} tracebacks, "
          f"{sum(r[2] == 'NO END' for r in results)} without an end, "
          f"{sum(r[2] == 'MULTI-LINE' for r in results)} errors of several lines, "
          f"{sum(r[2].startswith('exit') for r in results)} one-line errors, "
          f"{sum(r[2] == 'ok' for r in results)} normal ends")
    return 1 if any(r[2] in crafted.BAD for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
