#!/usr/bin/env python3
"""Search benchmark: `treeindex search --count` against a baseline measured in the same run.

    python3 scripts/bench_search.py [--mb 200] [--repeat 3] [--workers N]

(a) the baseline: one process that runs lxml's iterparse over the input file and evaluates
    the XPath inside every sentence as it goes (clearing what it has read);
(b) `treeindex search --count` on an index of the same file: whole commands, process start
    included. The same selective query also runs on an index ten times smaller.
Inputs are built by scripts/make_corpus.py under /tmp/treeindex-bench (never in the repo).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench import WORK, corpus, fresh_db, treeindex  # noqa: E402

QUERIES = {
    # a lemma in well under 0.5% of the sentences, alone and inside a structure
    "selective": '//node[@lemma="Parijs"]',
    "selective structure": ('//node[@cat="pp" and node[@rel="hd" and @lemma="in"] and '
                            'node[@rel="obj1" and (@lemma="Parijs" or node[@lemma="Parijs"])]]'),
    # np with the determiner "de" and a noun head: about a third of the sentences
    "common structure": ('//node[@cat="np" and node[@rel="det" and @lemma="de"] and '
                         'node[@rel="hd" and @pt="n"]]'),
    # nothing an index could use
    "no usable condition": "//node[count(node) > 5]",
}

BASELINE = r'''
import sys
from lxml import etree
query = etree.XPath(".//" + sys.argv[2][2:] if sys.argv[2].startswith("//") else sys.argv[2])
hits = sentences = 0
for _, el in etree.iterparse(sys.argv[1], tag="alpino_ds", resolve_entities=False):
    found = len(query(el))
    hits += found
    sentences += found > 0
    el.clear()
    while el.getprevious() is not None:
        del el.getparent()[0]
print(hits, sentences)
'''


def timed(cmd: list[str]) -> tuple[float, str]:
    start = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return time.perf_counter() - start, out


def build(mb: float, workers: int) -> tuple[Path, Path]:
    src = corpus(mb)
    db = WORK / f"search-{mb:g}.db"
    if not db.exists():
        fresh_db(db.name)
        subprocess.run(treeindex("ingest", "-q", "--db", str(db), *(
            ["--workers", str(workers)] if workers else []), str(src)), check=True)
    return src, db


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=float, default=200)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--workers", type=int, default=0, help="default: treeindex's default")
    args = ap.parse_args()
    src, db = build(args.mb, args.workers)
    _, small = build(args.mb / 10, args.workers)
    extra = ["--workers", str(args.workers)] if args.workers else []
    print(f"input: {src} ({src.stat().st_size / 1e6:.0f} MB), index {db.stat().st_size / 1e6:.0f}"
          f" MB; small index from {args.mb / 10:g} MB; {args.repeat} interleaved rounds, medians")
    for name, query in QUERIES.items():
        base, ours, tiny = [], [], []
        for _ in range(args.repeat):
            t, out_a = timed([sys.executable, "-c", BASELINE, str(src), query])
            base.append(t)
            t, out_b = timed(treeindex("search", "-q", "--db", str(db), "--count",
                                       "--format", "csv", *extra, query))
            ours.append(t)
            if name.startswith("selective"):
                tiny.append(timed(treeindex("search", "-q", "--db", str(small), "--count",
                                            *extra, query))[0])
        hits_a = out_a.split()[0]
        hits_b = out_b.strip().splitlines()[-1].split(",")[1]
        assert hits_a == hits_b, (name, hits_a, hits_b)
        a, b = statistics.median(base), statistics.median(ours)
        line = (f"{name:20} {hits_b:>8} hits  (a) {a:6.2f} s  search {b:6.3f} s = "
                f"{b / a:.3f} x (a) = {a / b:.1f} x faster")
        if tiny:
            t_small = statistics.median(tiny)
            line += f"; on the small index {t_small:.3f} s ({b / t_small:.2f} x faster there)"
        print(line)


if __name__ == "__main__":
    main()
