#!/usr/bin/env python3
"""The baselines: a correct plain sequential grinder, and the parse floor.

    python3 scripts/grinder.py floor CORPUS.xml
    python3 scripts/grinder.py count CORPUS.xml
    python3 scripts/grinder.py write CORPUS.xml OUTDIR

- floor: lxml iterparse with the clear-and-delete-siblings idiom, nothing else;
- count: the same, plus the subtree rules (1..7 node children, at most 1000 nodes), counting;
- write: count, plus each subtree written as <tree index="cat-n"> to
  OUTDIR/<corpus>/<corpus>-<cat>-trees.xml, counters in document order, every file flushed
  and closed: what the naive grinder meant to do, done right, in one process.
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

from lxml import etree

MAX_CHILDREN, MAX_NODES = 7, 1000


def _sentences(path: str):
    for _, el in etree.iterparse(path, tag="alpino_ds", resolve_entities=False, no_network=True):
        yield el
        el.clear()
        while el.getprevious() is not None:
            del el.getparent()[0]


def floor(path: str) -> int:
    n = 0
    for _ in _sentences(path):
        n += 1
    return n


def _kept(el):
    for node in el.iter("node"):
        cat = node.get("cat")
        if cat is None:
            continue
        kids = sum(1 for _ in node.iterchildren("node"))
        if 1 <= kids <= MAX_CHILDREN and sum(1 for _ in node.iter("node")) <= MAX_NODES:
            yield cat, node


def count(path: str) -> Counter:
    counts: Counter = Counter()
    for el in _sentences(path):
        for cat, _ in _kept(el):
            counts[cat] += 1
    return counts


def write(path: str, outdir: str) -> Counter:
    corpus = Path(path).name.split(".xml")[0]
    out = Path(outdir) / corpus
    out.mkdir(parents=True, exist_ok=True)
    files: dict = {}
    counts: Counter = Counter()
    try:
        for el in _sentences(path):
            for cat, node in _kept(el):
                counts[cat] += 1
                f = files.get(cat)
                if f is None:
                    f = files[cat] = open(out / f"{corpus}-{cat}-trees.xml", "wb")
                    f.write(b'<?xml version="1.0" encoding="UTF-8"?>\n'
                            b'<trees corpus="%s" cat="%s">\n' % (corpus.encode(), cat.encode()))
                f.write(b'<tree index="%s-%d">' % (cat.encode(), counts[cat])
                        + etree.tostring(node, encoding="utf-8", with_tail=False)
                        + b"</tree>\n")
    finally:
        for f in files.values():
            f.write(b"</trees>\n")
            f.close()
    return counts


if __name__ == "__main__":
    mode, args = sys.argv[1], sys.argv[2:]
    result = {"floor": floor, "count": count, "write": write}[mode](*args)
    total = result if isinstance(result, int) else sum(result.values())
    print(total)
