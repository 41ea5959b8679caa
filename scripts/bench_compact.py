#!/usr/bin/env python3
"""Compact corpora against treebank files: `treeindex ingest` of the same real-derived
sentences as one <treebank> file and as a compact corpus (X.data.dz + X.index), interleaved
in one run.

    python3 scripts/bench_compact.py [--mb 100] [--repeat 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench import WORK, corpus, fresh_db, measure, treeindex  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=float, default=100)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    src = corpus(args.mb)
    stem = WORK / f"compact-{args.mb:g}"
    if not Path(f"{stem}.index").exists():
        subprocess.run([sys.executable, str(HERE / "make_compact.py"), str(src), str(stem)],
                       check=True)
    tb, cp = [], []
    for _ in range(args.repeat):
        tb.append(measure(treeindex("ingest", "-q", "--db", str(fresh_db("tb.db")),
                                    str(src)))[0])
        cp.append(measure(treeindex("ingest", "-q", "--db", str(fresh_db("cp.db")),
                                    f"{stem}.index"))[0])
    ratios = sorted(c / t for c, t in zip(cp, tb))
    print(f"{src.stat().st_size / 1e6:.0f} MB of sentences, {args.repeat} interleaved rounds:")
    print(f"treebank file {statistics.median(tb):.2f} s, compact corpus "
          f"{statistics.median(cp):.2f} s = {statistics.median(ratios):.2f} x "
          f"[{ratios[0]:.2f}-{ratios[-1]:.2f}]")


if __name__ == "__main__":
    main()
