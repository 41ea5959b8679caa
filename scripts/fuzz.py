#!/usr/bin/env python3
"""Long differential fuzz run of the worker: the C scanner and the pure-Python path must give
the same rows, counts and errors for mutated real sentences, and the scanner's own
well-formedness check must never call a sentence well-formed that lxml rejects
(tests/test_fuzz.py and tests/test_wellformed.py run short seeded versions in CI).

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

from fuzz import differences, real_sentences, soundness  # noqa: E402


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
    tally: dict[str, int] = {}
    found = checked = certain = rejected = unsound = 0
    while time.monotonic() < deadline:
        for data, _fast, _slow in differences(rng, sentences, rounds=10, tally=tally):
            args.out.mkdir(parents=True, exist_ok=True)
            (args.out / f"diff-{seed}-{found}.xml").write_bytes(data)
            found += 1
        c, r, wrong = soundness(rng, sentences, 400)
        checked += 400
        certain += c
        rejected += r
        for data in wrong:
            args.out.mkdir(parents=True, exist_ok=True)
            (args.out / f"unsound-{seed}-{unsound}.xml").write_bytes(data)
            unsound += 1
    print(f"seed {seed}: {tally['sentences']:,} mutated sentences in tasks on both paths, "
          f"{tally['malformed']:,} of them recorded as malformed, "
          f"{tally.get('packed', 0):,} also run as a worker runs them (the loop over the "
          f"task's spans, the C packer) against packing the rows by Python's sqlite3 (images, "
          f"counts, errors, node blocks compared): {found} differing tasks"
          + (f" (written to {args.out})" if found else ""))
    print(f"well-formedness: {checked:,} more mutated sentences, {rejected:,} rejected by lxml, "
          f"{certain:,} certain in the scanner's check: {unsound} of those rejected by lxml")
    found += unsound
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
