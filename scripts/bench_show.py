#!/usr/bin/env python3
"""Drawing and web benchmarks (issue 12).

    python3 scripts/bench_show.py [--mb 200]

(1) SVG of trees of about 100 nodes (real sentences of the 200 MB index with 90-110 nodes):
    median and worst milliseconds per drawing, against a budget of 5 ms;
(2) the search page's first page of results, through a real `treeindex serve` on 127.0.0.1
    (HTTP GET, whole response), median of 5: a selective query's against 100 ms, a broad
    one's (its first hits) against 1 s (issue 19);
(3) a download of every hit of a broad query (CSV, streamed), and the peak memory of the
    server's processes meanwhile, against 200 MB for 100,000 hits.
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
          f"ms, worst {max(times):.2f} ms (budget 5 ms)")

    proc, base = serve(db, Path(os.devnull))
    try:
        for kind, q, budget in (("selective", '//node[@lemma="Parijs"]', "100 ms"),
                                ("broad", '//node[@cat="np"]', "1 s")):
            url = base + "/-/treeindex/search?q=" + quote(q)
            pages = []
            for _ in range(5):
                start = time.perf_counter()
                body = urllib.request.urlopen(url, timeout=30).read()
                pages.append(time.perf_counter() - start)
            print(f"search page, first page ({body.count(b'<li value=')} hits) of the {kind} "
                  f"{q} on the {args.mb:g} MB index: median "
                  f"{statistics.median(pages) * 1e3:.0f} ms, worst {max(pages) * 1e3:.0f} ms "
                  f"(budget {budget})")
        # (3) a download of every hit of a broad query, streamed; the peak memory of the
        # server's processes (datasette's and its search workers') meanwhile
        q = '//node[@cat="np" and node[@rel="det"]]'
        start = time.perf_counter()
        size = lines = 0
        peak = 0
        with urllib.request.urlopen(base + "/-/treeindex/download?format=csv&q=" + quote(q),
                                    timeout=3600) as r:
            while True:
                chunk = r.read(1 << 20)
                if not chunk:
                    break
                size += len(chunk)
                lines += chunk.count(b"\n")
                peak = max(peak, _rss_tree(proc.pid))
        took = time.perf_counter() - start
        print(f"download of every hit of {q} as CSV: {lines - 1:,} hits, {size / 1e6:,.0f} MB "
              f"in {took:.1f} s; the server's processes at most {peak / 1e6:,.0f} MB together "
              "(budget 200 MB for 100,000 hits)")
    finally:
        proc.terminate()
        proc.wait()


def _rss_tree(pid: int) -> int:
    """Resident bytes of a process and its descendants (Linux /proc)."""
    total = 0
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/statm") as f:
                total += int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
            with open(f"/proc/{p}/task/{p}/children") as f:
                todo += [int(c) for c in f.read().split()]
        except (OSError, ValueError):
            pass
    return total


if __name__ == "__main__":
    main()
