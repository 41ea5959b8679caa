#!/usr/bin/env python3
"""What the notes on a query's mistakes cost (search/feedback.py), against the search itself,
measured in the same run: for each kind of query, the median of `notes()` and of `count()`
(engine as auto), and their ratio.

    python3 scripts/bench_feedback.py [--mb 1000] [--db INDEX] [--rounds 7]

The index is built by scripts/bench_search.py's `build` (under /tmp/treeindex-bench), or
--db names one. The issue's budget: at most 20 ms added to a query on the 1 GB index.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_search import build  # noqa: E402

from treeindex.search import count, notes  # noqa: E402

QUERIES = [
    ("nothing to say", '//node[@cat="np" and node[@rel="det" and @lemma="de"] and '
                       'node[@rel="hd" and @pt="n"]]'),
    ("nothing to say", '//node[@word="Parijs"]'),
    ("nothing to say", '//node[@rel=("hd","cmp")]'),
    ("a typo", '//node[@categorie="np"]'),
    ("a typo", '//node[@cat="nnp"]'),
    ("a typo", '//nod[@cat="np"]'),
    ("a typo", "huis"),
    ("capitals", '//node[@Cat="np"]'),
    ("capitals", '//node[@cat="NP"]'),
    ("capitals", '//node[@rel="SU"]'),
]


def medians_ms(fns: list, rounds: int) -> list[float]:
    """The median time of each function, the functions taken in turn in every round."""
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(rounds):
        for fn, out in zip(fns, times):
            start = time.perf_counter()
            fn()
            out.append(time.perf_counter() - start)
    return [1000 * statistics.median(t) for t in times]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=float, default=1000)
    ap.add_argument("--db", type=Path, default=None)
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args()
    db = args.db or build(args.mb, 0)[1]
    notes(db, QUERIES[0][1])  # (imports, caches warm)
    print(f"index: {db}; medians of {args.rounds} rounds, notes and count in turn")
    print(f"{'kind':15} {'notes':>9} {'count':>9} {'ratio':>6}  query")
    for kind, query in QUERIES:
        n, c = medians_ms([lambda q=query: notes(db, q),
                           lambda q=query: count(db, q, workers=0) if q[0] == "/" else None],
                          args.rounds)
        ratio = f"{n / c:6.2f}" if c > 1 else "     -"
        print(f"{kind:15} {n:7.1f}ms {c:7.1f}ms {ratio}  {query[:60]}")


if __name__ == "__main__":
    main()
