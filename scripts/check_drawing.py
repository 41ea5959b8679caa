#!/usr/bin/env python3
"""Every tree of a set of Alpino files drawn and checked geometrically (tests/geometry.py):
no two boxes overlap, no edge or co-index link passes through a box other than its own
ends, words along the bottom in sentence order. tests/test_draw.py does the same for the
bundled trees in CI; this runs it on the real treebank (about 19,000 trees).

    python3 scripts/check_drawing.py [PATH ...]   (default: ../shared/corpora/alpino)

Prints the trees checked, the faults found (each one, up to 50), the widest picture and the
time per tree; exit 1 when any fault was found.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
sys.path.insert(0, str(HERE.parent))

from geometry import faults  # noqa: E402
from lxml import etree  # noqa: E402

from treeindex import draw  # noqa: E402

PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                         huge_tree=True)


def trees(paths: list[Path]):  # type: ignore[no-untyped-def]
    for path in paths:
        files = sorted(path.rglob("*.xml")) if path.is_dir() else [path]
        for f in files:
            for _, el in etree.iterparse(str(f), tag="alpino_ds", resolve_entities=False,
                                         no_network=True, load_dtd=False, huge_tree=True):
                yield f"{f.name}:{el.get('id') or ''}", el
                el.clear(keep_tail=True)


def main() -> int:
    paths = [Path(p) for p in sys.argv[1:]] or [HERE.parent.parent / "shared/corpora/alpino"]
    n = bad = 0
    widest = (0.0, "")
    t = time.perf_counter()
    for name, root in trees(paths):
        boxes, edges, width, height = draw.layout(root)
        found = faults(boxes, edges, draw.coindex_links(boxes))
        words = sorted((b for b in boxes if b.el.get("word") is not None), key=lambda b: b.x)
        begins = [int(b.el.get("begin") or 0) for b in words]
        if begins != sorted(begins):
            found.append("words out of sentence order")
        n += 1
        widest = max(widest, (width, name))
        for f in found:
            bad += 1
            if bad <= 50:
                print(f"{name}: {f}", flush=True)
    dt = time.perf_counter() - t
    print(f"{n:,} trees, {bad:,} faults; widest picture {widest[0]:,.0f} px ({widest[1]}); "
          f"{dt / max(n, 1) * 1000:.2f} ms a tree (layout and check)")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
