#!/usr/bin/env python3
"""Drawing and web benchmarks (issue 12).

    python3 scripts/bench_show.py [--mb 200]

(1) SVG of trees of about 100 nodes (real sentences of the 200 MB index with 90-110 nodes):
    median and worst milliseconds per drawing, against a budget of 50 ms;
(2) the search page's first page of results for a selective query, through a real
    `treeindex serve` on 127.0.0.1 (HTTP GET, whole response), median of 5, against 1 s.
The index is the one scripts/bench_search.py builds under /tmp/treeindex-bench.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import quote

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))

from bench_search import build  # noqa: E402
from conftest import serve  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=float, default=200)
    args = ap.parse_args()
    _, db = build(args.mb, 0)
    from lxml import etree

    from treeindex import draw
    from treeindex.store import Index

    with Index(db) as index:
        roots = []
        for (blob,) in index.conn.execute("SELECT xml FROM sentences LIMIT 20000"):
            root = etree.fromstring(index.decode(blob))
            if 90 <= sum(1 for _ in root.iter("node")) <= 110:
                roots.append(root)
            if len(roots) == 200:
                break
    times = []
    for root in roots:
        start = time.perf_counter()
        draw.svg(root, {"5"})
        times.append((time.perf_counter() - start) * 1e3)
    print(f"svg of {len(roots)} trees of 90-110 nodes: median {statistics.median(times):.2f} "
          f"ms, worst {max(times):.2f} ms (budget 50 ms)")

    proc, base = serve(db, Path(os.devnull))
    try:
        url = base + "/-/treeindex/search?q=" + quote('//node[@lemma="Parijs"]')
        pages = []
        for _ in range(5):
            start = time.perf_counter()
            body = urllib.request.urlopen(url, timeout=30).read()
            pages.append(time.perf_counter() - start)
        hits = body.count(b"<li value=")
        print(f"search page, first page ({hits} hits) for //node[@lemma=\"Parijs\"] on the "
              f"{args.mb:g} MB index: median {statistics.median(pages) * 1e3:.0f} ms, worst "
              f"{max(pages) * 1e3:.0f} ms (budget 1 s)")
    finally:
        proc.terminate()
        proc.wait()


if __name__ == "__main__":
    main()
