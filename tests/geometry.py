"""Geometric checks of a drawn tree (treeindex/draw.py): no two boxes overlap, and no edge
or co-index link passes through a box other than its own two ends. Used by tests/test_draw.py
(every bundled tree) and scripts/check_drawing.py (every tree of ../shared/corpora)."""

from __future__ import annotations

import bisect
from collections import defaultdict

from treeindex import draw

EPS = 0.01  # touching a box's border within rounding is not passing through it


def rect(b: draw.Box) -> tuple[float, float, float, float]:
    y0 = b.y - 12
    return b.x - b.width / 2, y0, b.x + b.width / 2, y0 + draw.box_height(b.lines)


class Boxes:
    """Boxes by band (boxes whose tops are equal), each band sorted by left edge."""

    def __init__(self, boxes: list[draw.Box]) -> None:
        bands: dict[float, list] = defaultdict(list)
        for b in boxes:
            r = rect(b)
            bands[r[1]].append((r[0], r, b))
        self.bands = []
        for top, items in sorted(bands.items()):
            items.sort(key=lambda t: t[0])
            bottom = max(r[3] for _, r, _ in items)
            self.bands.append((top, bottom, [t[0] for t in items], items))

    def hit(self, seg: tuple[float, float, float, float], own: set[int]) -> list[draw.Box]:
        """The boxes (but those in `own`, by id()) an axis-parallel segment enters."""
        xa, ya, xb, yb = seg
        xa, xb = min(xa, xb), max(xa, xb)
        ya, yb = min(ya, yb), max(ya, yb)
        out = []
        for top, bottom, lefts, items in self.bands:
            if bottom < ya + EPS or top > yb - EPS:
                continue
            for _, (x0, y0, x1, y1), b in items[:bisect.bisect_right(lefts, xb - EPS)]:
                if id(b) in own:
                    continue
                if x1 > xa + EPS and x0 < xb - EPS or (xa == xb and x0 + EPS < xa < x1 - EPS):
                    if y1 > ya + EPS and y0 < yb - EPS:
                        out.append(b)
        return out


def faults(boxes: list[draw.Box], edges: list[draw.Edge], links: list[draw.Link]
           ) -> list[str]:
    """What is wrong with a picture (empty: nothing)."""
    out = []
    index = Boxes(boxes)
    rects = sorted(((rect(b), b) for b in boxes), key=lambda t: t[0])
    for k, ((_, y0, x1, y1), a) in enumerate(rects):
        for (u0, v0, _, v1), b in rects[k + 1:]:
            if u0 >= x1 - EPS:
                break
            if v0 < y1 - EPS and y0 < v1 - EPS:
                out.append(f"boxes overlap: {a.el.get('id')} and {b.el.get('id')}")
    lines = [(e.points, {id(e.parent), id(e.child)}, f"edge {e.parent.el.get('id')}->"
              f"{e.child.el.get('id')}") for e in edges]
    lines += [(t.points, {id(t.empty)}, f"link from {t.empty.el.get('id')}") for t in links]
    lines += [([(t.under[0] - 8, t.under[2]), (t.under[1] + 8, t.under[2])], set(),
               f"underline of {t.antecedent.el.get('id')}") for t in links]
    for points, own, name in lines:
        for (xa, ya), (xb, yb) in zip(points, points[1:]):
            if xa != xb and ya != yb:
                out.append(f"{name}: a slanted segment")
            for b in index.hit((xa, ya, xb, yb), own):
                out.append(f"{name} passes through box {b.el.get('id')}")
    return out
