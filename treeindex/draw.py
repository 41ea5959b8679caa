"""Drawing Alpino trees: as text with box-drawing characters, as SVG, and as PNG.

The layout is our own (about 100 lines): no tree-drawing library lays out discontinuous
constituents the way Alpino trees need them, and this one has no dependency. Leaves (nodes
without node children: words, and co-indexed empty nodes) stand along the bottom in word
order (by `@begin`, then document order); every other node stands one row above its
deepest child, centred over its children, so a constituent whose words are not adjacent
(an Alpino tree's discontinuity) gets branches that cross the others. Labels: `rel` and
`cat` for phrases, `rel`, `pt` and the word for words, `index` for co-indexed nodes, each
whole (a leaf's column is as wide as its box). An empty co-indexed node stands before the
first word of its parent's constituent (its own @begin is often its antecedent's), dashed,
with a dashed arc to its antecedent. Every box has its node's attributes as a
tooltip, and a caption (corpus, id, sentence) heads the picture. Hits (`highlight`: node
ids) are drawn in colour. PNG is the same picture drawn with Pillow.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence, Set
from dataclasses import dataclass
from html import escape

from lxml import etree

COL = 84  # the least width of a column (one leaf), px
ROW = 58  # height of a row, px
PAD = 14
CHAR = 7.2  # width of a character of the 12 px sans-serif labels, px (generous)
CAPTION = 22  # height of the caption line (sentence, corpus and id), px
# what a node's tooltip lists first (the rest follow in document order)
_FIRST = ("rel", "cat", "pt", "word", "lemma", "postag", "frame", "index")
_FIRST_SET = frozenset(_FIRST)


@dataclass(slots=True)
class Box:
    el: etree._Element
    x: float
    y: float
    lines: list[str]
    hit: bool
    width: float = COL - 8  # the box's width: its longest line, whole
    empty: bool = False  # an empty (co-indexed) node: is_empty(el)
    attrs: Attrs | None = None  # its node's attributes (None: read from el)


# a node's attributes: its element's `attrib`, or a dict of them
Attrs = dict[str, str] | etree._Attrib


def _label(a: Attrs) -> list[str]:
    """A box's lines, from its node's attributes (a dict, or an element's `attrib`)."""
    rel = a.get("rel") or ""
    index = a.get("index")
    top = f"{rel}:{index}" if index else rel
    if a.get("word") is not None:
        return [top, a.get("pt") or a.get("pos") or "", a.get("word") or ""]
    if a.get("cat") is not None:
        return [top, a.get("cat") or ""]
    return [top, "" if index else "-"]


def _width(lines: list[str]) -> float:
    return max(COL - 8, CHAR * max(map(len, lines), default=0) + 12)


def attributes(el: etree._Element) -> str:
    """A node's attributes, one `name=value` per line (the tooltip of its box)."""
    return _tooltip(_dict(el))


def _dict(el: etree._Element) -> dict[str, str]:
    """A node's attributes as a dict (read from libxml2 at once: quicker than one by one)."""
    return dict(el.items())  # type: ignore[arg-type]


def _tooltip(attrs: Attrs) -> str:
    """`attributes` of a node whose attributes are `attrs`: _FIRST's in that order, then
    the others by name."""
    have: dict[str, str] = dict(attrs)  # type: ignore[arg-type]
    lines = [f"{n}={have.pop(n)}" for n in _FIRST if n in have]
    if have:
        lines.append("\n".join(map("=".join, sorted(have.items()))))
    return "\n".join(lines)


def is_empty(el: etree._Element) -> bool:
    """A co-indexed empty node: no word and no node children (Alpino gives it an index,
    and sometimes its antecedent's span)."""
    return el.get("word") is None and next(el.iterchildren("node"), None) is None


def _begin(a: Attrs) -> int:
    try:
        return int(a.get("begin") or 0)
    except ValueError:
        return 0


@dataclass(slots=True)
class Edge:
    """A parent-child line: down from the parent to its track in the gap under its row,
    along the track, down to the child (`points`, a polyline). Boxes of the rows it
    crosses stand clear of its vertical parts, so it touches no box but its two ends."""

    parent: Box
    child: Box
    points: list[tuple[float, float]]


@dataclass(slots=True)
class Link:
    """An empty co-indexed node's link to its antecedent, under the words: down from the
    empty node to a channel, along it to the antecedent's words, which it underlines."""

    empty: Box
    antecedent: Box
    points: list[tuple[float, float]]
    under: tuple[float, float, float]  # (x0, x1, y): the line under the antecedent's words


LANE = 5  # clearance between an edge passing a row and the boxes of that row, px
GAP = 10  # the least space between two boxes of a row, px
TRACK = 7  # space between two tracks in the gap under a row, px


def box_height(lines: list[str]) -> float:
    return 14 * len(lines) + 4


def _nearest(want: float, half: float, lo: float, lanes: list[float]) -> float:
    """The x nearest `want`, at least `lo`, whose box (half-width `half`) keeps LANE clear
    of every lane (`lanes` sorted)."""
    w = max(want, lo)
    # the x a box's centre may not take: open intervals around the lanes, merged where they
    # overlap; only the one that would hold w matters (a single pass, stopping past w)
    left = right = 0.0
    found = False
    for v in lanes:
        a, b = v - LANE - half, v + LANE + half
        if found and a < right:  # overlaps the interval so far: one interval
            if b > right:
                right = b
            continue
        if found and left < w < right:  # the interval that holds w is complete
            break
        if a >= w:  # this and every later interval start at or past w
            found = False
            break
        left, right, found = a, b, True
    if not found or not left < w < right:
        return w  # (not blocked)
    if left >= lo and want - left <= right - want:
        return left
    return right


def layout(root: etree._Element, highlight: Set[str] = frozenset(), top_margin: float = 0
           ) -> tuple[list[Box], list[Edge], float, float]:
    """Boxes (centre x, first line's baseline y), parent-child edges, and the picture's
    width and height, of the first `node` under `root` (a sentence, or a node itself).

    Leaves stand along the bottom in word order, each in a column as wide as its box
    (words are never cut); every other node one row above its deepest child, as near the
    centre of its children as the row allows: rows are placed from the bottom up, each box
    clear of its neighbours and of the edges that pass through its row (lanes). Edges run
    down from the parent to a track of their own in the gap under its row, along it, and
    down to the child: no edge touches a box but its two ends, and no boxes overlap (tests/
    test_draw.py checks every bundled tree; scripts/check_drawing.py every tree of
    ../shared/corpora)."""
    top = root if root.tag == "node" else next(root.iter("node"), None)
    if top is None:
        return [], [], 0.0, 0.0
    nodes = list(top.iter("node"))
    return _layout(nodes, [el.attrib for el in nodes], highlight, top_margin)


def _layout(nodes: list[etree._Element], attrs: Sequence[Attrs], highlight: Set[str],
            top_margin: float) -> tuple[list[Box], list[Edge], float, float]:
    """`layout` of `nodes` (a tree's, in document order: the top first), whose attributes
    are `attrs` (their `attrib`, or dicts of them: `svg` reads each node's once)."""
    order = {el: i for i, el in enumerate(nodes)}
    kids = [[order[k] for k in el.iterchildren("node")] for el in nodes]
    labels = [_label(a) for a in attrs]
    widths = [_width(lines) for lines in labels]
    n = len(nodes)

    def place(i: int) -> tuple[int, int, int]:
        """Where a leaf stands along the bottom: a word at its position; an empty node
        right before the first word of its parent's constituent, so that it never splits
        a constituent it is not part of (its own @begin may be its antecedent's)."""
        if "word" in attrs[i]:
            return _begin(attrs[i]), 1, i
        parent = nodes[i].getparent()
        words = [_begin(w.attrib) for w in parent.iter("node") if w.get("word") is not None] \
            if parent is not None and parent.tag == "node" else []
        return (min(words) if words else _begin(attrs[i])), 0, i

    x = [0.0] * n
    right = float(PAD)
    for i in sorted((i for i in range(n) if not kids[i]), key=place):
        column = widths[i] + 8
        x[i] = right + column / 2
        right += column
    height = [0] * n
    for i in range(n - 1, -1, -1):  # children before parents
        height[i] = 1 + max([height[k] for k in kids[i]]) if kids[i] else 0
    rows = height[0]
    row = [rows - h for h in height]
    by_row: list[list[int]] = [[] for _ in range(rows + 1)]
    parent_row = row[:]  # (the top's: its own)
    for i in range(n):
        by_row[row[i]].append(i)
        for k in kids[i]:
            parent_row[k] = row[i]
    # the lanes of each row: where the edges to the rows below pass through it (an edge to
    # c passes the rows strictly between its parent's and c's), known once c is placed
    lanes_of: list[list[float]] = [[] for _ in range(rows + 1)]
    for leaf in by_row[rows]:
        for r in range(parent_row[leaf] + 1, rows):
            lanes_of[r].append(x[leaf])
    for r in range(rows - 1, -1, -1):  # bottom up: children are placed, lanes known
        lanes = sorted(lanes_of[r])
        want = {i: sum([x[k] for k in kids[i]]) / len(kids[i]) for i in by_row[r]}
        lo = float(PAD)
        for i in sorted(by_row[r], key=lambda i: (want[i], i)):
            half = widths[i] / 2
            x[i] = _nearest(want[i], half, lo + half, lanes)
            lo = x[i] + half + GAP
            for above in range(parent_row[i] + 1, r):
                lanes_of[above].append(x[i])
    # tracks: in the gap under each row, one per parent (overlapping spans apart)
    track = [0] * n
    tracks = [0] * (rows + 1)
    for r in range(rows):
        ends: list[float] = []  # per track, where its last span ends
        spans = []
        for i in by_row[r]:
            if kids[i]:
                xs = [x[i]] + [x[k] for k in kids[i]]
                spans.append((min(xs), i, max(xs)))
        spans.sort()
        for a, i, b in spans:
            k = next((j for j, e in enumerate(ends) if e + TRACK < a), len(ends))
            if k == len(ends):
                ends.append(b)
            else:
                ends[k] = b
            track[i] = k
        tracks[r] = len(ends)
    row_top = []
    tallest = [max([box_height(labels[i]) for i in by_row[r]]) for r in range(rows + 1)]
    y = top_margin + PAD
    for r in range(rows + 1):
        row_top.append(y)
        y += tallest[r] + 8 + TRACK * tracks[r] + 6
    boxes = [Box(nodes[i], x[i], row_top[row[i]] + 12, labels[i],
                 attrs[i].get("id") in highlight, widths[i],
                 not kids[i] and "word" not in attrs[i], attrs[i]) for i in range(n)]
    edges = []
    for i in range(n):
        if not kids[i]:
            continue
        r = row[i]
        ty = row_top[r] + tallest[r] + 8 + TRACK * track[i]
        p = boxes[i]
        for k in kids[i]:
            c = boxes[k]
            edges.append(Edge(p, c, [(p.x, p.y - 12 + box_height(p.lines)), (p.x, ty),
                                     (c.x, ty), (c.x, c.y - 12)]))
    width = max([right + PAD] + [b.x + b.width / 2 + PAD for b in boxes])
    return boxes, edges, width, y + PAD


def svg(root: etree._Element, highlight: Set[str] = frozenset(),
        links: Callable[[etree._Element], tuple[str, str] | None] | None = None,
        caption: str | None = None, fit: float | None = None) -> str:
    """The tree as a standalone SVG document (every label escaped). `links(node)`: (href,
    title) to make the node's box a link (the web view's "find more like this"). Every box
    has its node's attributes as a tooltip (`<title>`); `caption` (the sentence, its corpus
    and id) is the picture's title and its first line. `fit`: drawn at most this wide (a
    thumbnail: the whole picture scaled down)."""
    top = root if root.tag == "node" else next(root.iter("node"), None)
    nodes = [] if top is None else list(top.iter("node"))
    # (every attribute of every node is in a tooltip: each node's read once, as a dict)
    boxes, edges, w, h = _layout(nodes, [_dict(el) for el in nodes], highlight,
                                 CAPTION if caption else 0) if nodes else ([], [], 0.0, 0.0)
    if caption:
        w = max(w, 2 * PAD + CHAR * len(caption))
    ties = coindex_links(boxes)
    h += TRACK * len(ties)  # (room for the links under the words)
    scale = min(1.0, fit / w) if fit and w else 1.0
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="treeindex-tree" '
           f'width="{w * scale:.0f}" height="{h * scale:.0f}" viewBox="0 0 {w:.0f} {h:.0f}" '
           f'font-family="sans-serif" font-size="12">']
    if caption:
        out.append(f"<title>{escape(caption)}</title>")
        out.append(f'<text x="{PAD}" y="{PAD + 4}" class="ti-caption">{escape(caption)}</text>')
    num = _Numbers()  # (a coordinate's text made once: most recur, and formatting is slow)
    for e in edges:
        (x0, y0), (_, y1), (x1, _), (_, y2) = e.points
        out.append(f'<polyline class="ti-edge" points="{num[x0]},{num[y0]} {num[x0]},{num[y1]} '
                   f'{num[x1]},{num[y1]} {num[x1]},{num[y2]}" fill="none" '
                   'stroke="#888" stroke-width="1"/>')
    for tie in ties:  # dashed, under the words: to the antecedent's words, underlined
        x0, x1, yc = tie.under
        index = escape(tie.empty.el.get("index") or "")
        out.append(f'<g class="ti-coindex"><title>index {index}</title>'
                   f'<polyline points="{_points(tie.points)}" fill="none" stroke="#5c7cfa" '
                   'stroke-dasharray="4 3"/>'
                   f'<line x1="{x0 - 8:.1f}" y1="{yc:.1f}" x2="{x1 + 8:.1f}" y2="{yc:.1f}" '
                   'stroke="#5c7cfa" stroke-width="2" stroke-dasharray="4 3"/></g>')
    for b in boxes:  # (a box's lines of SVG made in one piece: a third of the drawing)
        link = links(b.el) if links is not None else None
        tip = _tooltip(b.attrs if b.attrs is not None else b.el.attrib)
        if link is not None:
            tip += f"\n({link[1]})"
            out.append(f'<a href="{escape(link[0], quote=True)}" class="ti-node-link">')
        paint = _HIT if b.hit else _PLAIN
        dashed = ' stroke-dasharray="4 3"' if b.empty else ""
        x = num[b.x]
        texts = "\n".join([f'<text x="{x}" y="{num[b.y + 14 * k]}" text-anchor="middle"'
                           f'{_LINE_STYLE[k] if k < 3 else ""}>{_escape(line)}</text>'
                           for k, line in enumerate(b.lines)])
        out.append(f'<g class="ti-node"><title>{_escape(tip)}</title>\n'
                   f'<rect x="{num[b.x - b.width / 2]}" y="{num[b.y - 12]}" '
                   f'width="{num[b.width]}" height="{box_height(b.lines)}" rx="4" '
                   f'{paint[0]}{dashed}{paint[1]}/>'
                   + (f"\n{texts}\n</g>" if texts else "\n</g>"))
        if link is not None:
            out.append("</a>")
    out.append("</svg>")
    return "\n".join(out)


# a box's fill and stroke (and class), a hit's and another's; the style of its lines
_HIT = ('fill="#ffd54f" stroke="#c77800"', ' class="hit"')
_PLAIN = ('fill="#f4f6fb" stroke="#9aa5b8"', "")
_LINE_STYLE = (' font-weight="bold"', "", ' font-style="italic"')


def _escape(text: str) -> str:
    """html.escape, which most labels need not (the test of a few characters is quicker)."""
    if "&" in text or "<" in text or ">" in text or '"' in text or "'" in text:
        return escape(text)
    return text


class _Numbers(dict[float, str]):
    """A coordinate's text in the SVG (one decimal), made at its first use."""

    def __missing__(self, v: float) -> str:
        text = self[v] = f"{v:.1f}"
        return text


def _points(points: list[tuple[float, float]]) -> str:
    return " ".join(f"{x:.1f},{y:.1f}" for x, y in points)


def coindex_links(boxes: list[Box]) -> list[Link]:
    """The links of the picture's empty nodes to their antecedents, each in a channel of
    its own under the words (so they cross no box)."""
    pairs = coindexed(boxes)
    if not pairs:
        return []
    bottom = max(b.y - 12 + box_height(b.lines) for b in boxes)
    by_el = {b.el: b for b in boxes}
    out = []
    for k, (e, a) in enumerate(pairs):
        xs = [by_el[w].x for w in a.el.iter("node") if w.get("word") is not None
              and w in by_el] or [a.x]
        x0, x1 = min(xs), max(xs)
        yc = bottom + 10 + TRACK * k
        out.append(Link(e, a, [(e.x, e.y - 12 + box_height(e.lines)), (e.x, yc),
                               (min(max(e.x, x0), x1), yc)], (x0, x1, yc)))
    return out


def coindexed(boxes: list[Box]) -> list[tuple[Box, Box]]:
    """(empty node, its antecedent: the node with the same index that has a word or
    children) for every empty node whose antecedent is in the picture."""
    full = {b.el.get("index"): b for b in boxes
            if not b.empty and b.el.get("index") is not None}
    if not full:
        return []
    return [(b, full[b.el.get("index")]) for b in boxes
            if b.empty and b.el.get("index") in full]


def png(root: etree._Element, highlight: Set[str] = frozenset(),
        caption: str | None = None) -> bytes:
    """The same picture as PNG (needs Pillow: pip install 'treeindex[web]'); `caption` is
    written at its top."""
    import io

    try:
        from PIL import Image, ImageDraw
    except ImportError:
        from .errors import TreeindexError

        raise TreeindexError("--format png needs Pillow: pip install 'treeindex[web]' (or "
                             "use --format svg)") from None

    boxes, edges, w, h = layout(root, highlight, CAPTION if caption else 0)
    if caption:
        w = max(w, 2 * PAD + CHAR * len(caption))
    links = coindex_links(boxes)
    h += TRACK * len(links)
    img = Image.new("RGB", (max(int(w), 1), max(int(h), 1)), "white")
    d = ImageDraw.Draw(img)
    if caption:
        d.text((PAD, PAD - 4), caption, fill="black")
    for e in edges:
        d.line(e.points, fill="#888888")
    for link in links:  # (solid: Pillow draws no dashes)
        x0, x1, yc = link.under
        d.line(link.points, fill="#5c7cfa")
        d.line([(x0 - 8, yc), (x1 + 8, yc)], fill="#5c7cfa", width=2)
    for b in boxes:
        d.rounded_rectangle([b.x - b.width / 2, b.y - 12, b.x + b.width / 2,
                             b.y - 12 + box_height(b.lines)], 4,
                            fill="#ffd54f" if b.hit else "#f4f6fb",
                            outline="#c77800" if b.hit else "#9aa5b8")
        for k, line in enumerate(b.lines):
            d.text((b.x, b.y + 14 * k - 6), line, fill="black", anchor="mm")
    out = io.BytesIO()
    img.save(out, "PNG")
    return out.getvalue()


def text(root: etree._Element, highlight: Set[str] = frozenset(), color: bool = False) -> str:
    """The tree drawn with box-drawing characters, children in word order; hits marked with
    `*` (and in colour when `color`)."""
    top = root if root.tag == "node" else next(root.iter("node"), None)
    if top is None:
        return ""
    lines: list[str] = []

    def label(el: etree._Element) -> str:
        parts = _label(el.attrib)
        word = f' "{parts[2]}"' if len(parts) == 3 else ""
        body = f"{parts[0]} {parts[1]}".strip() + word
        if el.get("id") in highlight:
            return f"\033[1;33m{body}\033[0m *" if color else f"{body} *"
        return body

    def walk(el: etree._Element, prefix: str, last: bool, first: bool) -> None:
        lines.append(label(el) if first else prefix + ("└─ " if last else "├─ ") + label(el))
        kids = sorted(el.findall("node"), key=lambda k: _begin(k.attrib))
        inner = "" if first else prefix + ("   " if last else "│  ")
        for k, kid in enumerate(kids):
            walk(kid, inner, k == len(kids) - 1, False)

    walk(top, "", True, True)
    return "\n".join(lines)
