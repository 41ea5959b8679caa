#!/usr/bin/env python3
"""Long differential fuzz run of the worker: the C scanner and the pure-Python path must give
the same rows, counts and errors for mutated real sentences (tests/test_fuzz.py runs a short
seeded version in CI).

    python3 scripts/fuzz.py [--seconds 60] [--seed N] [--out /tmp/treeindex-fuzz]

Sources: ../shared/corpora/treebanks/*.xml when present, else the bundled test sample.
Every differing task is written to --out for replay; exit 1 when any was found.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from fuzz import differences, real_sentences  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--out", type=Path, default=Path("/tmp/treeindex-fuzz"))
    args = ap.parse_args()
    shared = sorted((HERE.parent.parent / "shared" / "corpora" / "treebanks").glob("*.xml"))
    sources = shared or sorted((HERE.parent / "tests" / "data" / "treebanks").glob("*.xml"))
    sentences = real_sentences(sources)
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    rng = random.Random(seed)
    deadline = time.monotonic() + args.seconds
    tasks = found = 0
    while time.monotonic() < deadline:
        for data, _fast, _slow in differences(rng, sentences, rounds=10):
            args.out.mkdir(parents=True, exist_ok=True)
            (args.out / f"diff-{seed}-{found}.xml").write_bytes(data)
            found += 1
        tasks += 10
    print(f"seed {seed}: {tasks:,} tasks, {tasks * 20:,} mutated sentences, "
          f"{found} differing tasks" + (f" (written to {args.out})" if found else ""))
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
