"""Tree pictures that cannot mislead, checked geometrically on every bundled tree: no two
boxes overlap, no edge or co-index link passes through a box other than its own ends,
words stand along the bottom in sentence order, every box is inside the picture."""

from __future__ import annotations

import re

import pytest
from conftest import ALPINO, TREEBANKS
from geometry import faults
from lxml import etree

from treeindex import draw

PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)


def bundled_trees() -> list[tuple[str, etree._Element]]:
    out = []
    for path in sorted(ALPINO.rglob("*.xml")):
        out.append((str(path), etree.parse(str(path), PARSER).getroot()))
    for path in sorted(TREEBANKS.glob("*.xml")):
        data = path.read_bytes()
        for k, m in enumerate(re.finditer(rb"<alpino_ds.*?</alpino_ds>", data, flags=re.S)):
            out.append((f"{path.name}#{k}", etree.fromstring(m.group(0), PARSER)))
    return out


TREES = bundled_trees()


def test_every_bundled_tree_is_drawn_without_a_fault():
    assert len(TREES) > 500
    found = []
    for name, root in TREES:
        boxes, edges, width, height = draw.layout(root)
        links = draw.coindex_links(boxes)
        found += [f"{name}: {f}" for f in faults(boxes, edges, links)]
        for b in boxes:
            x0, y0, x1, y1 = b.x - b.width / 2, b.y - 12, b.x + b.width / 2, \
                b.y - 12 + draw.box_height(b.lines)
            if x0 < 0 or y0 < 0 or x1 > width or y1 > height:
                found.append(f"{name}: box {b.el.get('id')} outside the picture")
        words = sorted((b for b in boxes if b.el.get("word") is not None), key=lambda b: b.x)
        begins = [int(b.el.get("begin")) for b in words]
        if begins != sorted(begins):
            found.append(f"{name}: words out of sentence order")
    assert found == []


def test_the_checker_finds_what_it_looks_for():
    """A box in an edge's way and two boxes on each other are found (the check can fail)."""
    _, root = next((n, r) for n, r in TREES if len(list(r.iter("node"))) > 10)
    boxes, edges, _, _ = draw.layout(root)
    assert faults(boxes, edges, []) == []
    e = next(e for e in edges if e.child.el.get("word") is not None)
    middle = ((e.points[1][0] + e.points[2][0]) / 2, e.points[1][1])  # on the track
    other = next(b for b in boxes if b not in (e.parent, e.child))
    other.x, other.y = middle[0], middle[1] + 1
    assert any(f.startswith("edge ") and "passes through box" in f
               for f in faults(boxes, edges, []))
    boxes, edges, _, _ = draw.layout(root)
    a, b = [x for x in boxes if x.el.get("word") is not None][:2]
    b.x = a.x + a.width / 2  # half over its neighbour
    assert any(f.startswith("boxes overlap") for f in faults(boxes, edges, []))


@pytest.mark.parametrize("fmt", ["svg", "png"])
def test_pictures_draw_the_routed_edges(fmt):
    pytest.importorskip("PIL") if fmt == "png" else None
    _, root = TREES[0]
    boxes, edges, _, _ = draw.layout(root)
    if fmt == "svg":
        out = etree.fromstring(draw.svg(root).encode())
        lines = out.findall(".//{http://www.w3.org/2000/svg}polyline[@class='ti-edge']")
        assert len(lines) == len(edges)
        first = [tuple(map(float, p.split(","))) for p in lines[0].get("points").split()]
        assert first == [(round(x, 1), round(y, 1)) for x, y in edges[0].points]
    else:
        assert draw.png(root)[:8] == b"\x89PNG\r\n\x1a\n"


def _nearest_by_merging(want: float, half: float, lo: float, lanes: list[float]) -> float:
    """draw._nearest the obvious way: every blocked interval merged, then looked up."""
    merged: list[list[float]] = []
    for v in lanes:
        a, b = v - draw.LANE - half, v + draw.LANE + half
        if merged and a < merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    w = max(want, lo)
    for left, right in merged:
        if left < w < right:
            return left if left >= lo and want - left <= right - want else right
    return w


def test_a_box_is_placed_clear_of_lanes_as_the_obvious_way_places_it():
    import random

    rng = random.Random(20261201)
    for _ in range(20_000):
        lanes = sorted(rng.choice([rng.uniform(0, 400), float(rng.randrange(0, 400, 10))])
                       for _ in range(rng.randrange(0, 12)))
        want, half = rng.uniform(-20, 420), rng.choice([20.0, 35.5, rng.uniform(5, 80)])
        lo = rng.choice([0.0, want, rng.uniform(0, 400)])
        assert draw._nearest(want, half, lo, lanes) == _nearest_by_merging(want, half, lo, lanes)


def test_the_svg_draws_every_box_and_edge_where_the_layout_puts_them():
    """svg() lays the tree out from dicts of the attributes, layout() from the elements'
    own `attrib`: on every bundled tree, every edge, box and tooltip of the SVG is the
    layout's, and a tooltip lists what attributes() lists for its node."""
    svg_ns = "{http://www.w3.org/2000/svg}"
    checked = 0
    for name, root in TREES:
        boxes, edges, _, _ = draw.layout(root, {"1"})
        out = etree.fromstring(draw.svg(root, {"1"}).encode())
        lines = out.findall(f".//{svg_ns}polyline[@class='ti-edge']")
        assert [[tuple(map(float, p.split(","))) for p in line.get("points").split()]
                for line in lines] == \
            [[(round(x, 1), round(y, 1)) for x, y in e.points] for e in edges], name
        nodes = out.findall(f".//{svg_ns}g[@class='ti-node']")
        assert len(nodes) == len(boxes), name
        for g, b in zip(nodes, boxes):
            rect = g.find(f"{svg_ns}rect")
            assert (float(rect.get("x")), float(rect.get("y")), float(rect.get("width"))) \
                == (round(b.x - b.width / 2, 1), round(b.y - 12, 1), round(b.width, 1)), name
            assert g.findtext(f"{svg_ns}title") == draw.attributes(b.el), name
            assert [t.text or "" for t in g.findall(f"{svg_ns}text")] == b.lines, name
            assert (rect.get("class") == "hit") == (b.el.get("id") == "1"), name
            checked += 1
    assert checked > 1000
