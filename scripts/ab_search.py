#!/usr/bin/env python3
"""Whole `treeindex search --count` commands of this install against another, alternating (A/B).

    python3 scripts/ab_search.py --old /tmp/old-venv/bin/python [--python NEW] [--mb 200]
                                 [--rounds 7] [--only NAME ...] [--list FORMAT [--limit N]]

Both run as a user runs them (the `treeindex` command beside each interpreter, without a
server: TREEINDEX_SERVER=off), on the same index (the one scripts/bench_search.py builds
under /tmp/treeindex-bench), the benchmark queries of scripts/bench_basex.py, one command
of each install after the other, which goes first alternating by round. Checks that both
print the same counts, and prints the medians and new / old with its range over the
rounds: this machine's noise moves whole commands by 10-20% from one minute to the next,
so only paired figures tell a change of a few percent. `--list FORMAT`: the whole listing
of every hit in that format instead of the counts (`--format FORMAT`, no --limit), the two
outputs checked byte for byte; with `--limit N`, the listing of the first N hits.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_basex import QUERIES  # noqa: E402
from bench_search import build  # noqa: E402


def command(python: str, db: Path, xpath: str, listing: str | None = None,
            limit: int | None = None) -> list[str]:
    script = Path(python).parent / "treeindex"
    args = ["search", "--db", str(db), *(("--format", listing) if listing else ("--count",)),
            *(("--limit", str(limit)) if limit else ()), "-q", xpath]
    return [str(script), *args] if script.exists() else [python, "-m", "treeindex", *args]


def timed(cmd: list[str]) -> tuple[float, str]:
    # (the user's environment, but no server, and no BLAS setting of this shell's: each
    # command sets what it sets)
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    env["TREEINDEX_SERVER"] = "off"
    start = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env).stdout
    return time.perf_counter() - start, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--old", required=True, help="the other install's python")
    ap.add_argument("--python", default=sys.executable, help="this install's python")
    ap.add_argument("--mb", type=float, default=200)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--only", nargs="*", default=[], help="queries whose name has this")
    ap.add_argument("--list", default=None, metavar="FORMAT",
                    help="time listings of every hit in this format (text, csv, ...)")
    ap.add_argument("--limit", type=int, default=None, help="listings: of the first N hits")
    args = ap.parse_args()
    if args.limit is not None and not args.list:
        ap.error("--limit goes with --list")
    _, db = build(args.mb, 0)
    queries = [(name, q) for name, q, *_ in QUERIES
               if not args.only or any(o in name for o in args.only)]
    times: dict[str, dict[str, list[float]]] = {n: {"new": [], "old": []} for n, _ in queries}
    lines: dict[str, int] = {}
    for r in range(args.rounds):
        for name, q in queries:
            order = [("new", args.python), ("old", args.old)]
            outs = {}
            for which, python in (order if r % 2 == 0 else order[::-1]):
                t, outs[which] = timed(command(python, db, q, args.list, args.limit))
                times[name][which].append(t)
            if outs["new"] != outs["old"]:
                sys.exit(f"{name}: the two installs printed different output:\n"
                         f"{outs['new'][:2000]}\n{outs['old'][:2000]}")
            lines[name] = outs["new"].count("\n")
    what = (f"listings (--format {args.list}"
            f"{f' --limit {args.limit}' if args.limit else ''})" if args.list else "counts")
    print(f"index: {db}; {args.rounds} rounds, alternating; whole commands, no server; "
          f"{what}, byte-identical in every round")
    print(f"  {'query':<38} {'lines':>8} {'old':>8} {'new':>8} {'new/old':>8}  range")
    for name, _ in queries:
        old, new = times[name]["old"], times[name]["new"]
        ratios = [b / a for a, b in zip(old, new)]
        print(f"  {name:<38} {lines[name]:>8,} {statistics.median(old):7.3f}s "
              f"{statistics.median(new):7.3f}s {statistics.median(ratios):8.2f}  "
              f"[{min(ratios):.2f}-{max(ratios):.2f}]")


if __name__ == "__main__":
    main()
