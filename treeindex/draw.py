"""Drawing Alpino trees: as text with box-drawing characters, as SVG, and as PNG.

The layout is our own (about 100 lines): no tree-drawing library lays out discontinuous
constituents the way Alpino trees need them, and this one has no dependency. Leaves (nodes
without node children: words, and co-indexed empty nodes) stand along the bottom in word
order (by `@begin`, then document order); every other node stands one row above its
deepest child, centred over its children, so a constituent whose words are not adjacent
(an Alpino tree's discontinuity) gets branches that cross the others. Labels: `rel` and
`cat` for phrases, `rel`, `pt` and the word for words, `index` for co-indexed nodes. Hits
(`highlight`: node ids) are drawn in colour. PNG is the same picture drawn with Pillow.
"""

from __future__ import annotations

from collections.abc import Callable, Set
from dataclasses import dataclass
from html import escape

from lxml import etree

COL = 84  # width of a column (one leaf), px
ROW = 58  # height of a row, px
PAD = 14


@dataclass
class Box:
    el: etree._Element
    x: float
    y: float
    lines: list[str]
    hit: bool


def _label(el: etree._Element) -> list[str]:
    rel = el.get("rel") or ""
    index = el.get("index")
    top = f"{rel}:{index}" if index else rel
    if el.get("word") is not None:
        return [top, el.get("pt") or el.get("pos") or "", el.get("word") or ""]
    if el.get("cat") is not None:
        return [top, el.get("cat") or ""]
    return [top, "" if index else "-"]


def _begin(el: etree._Element) -> int:
    try:
        return int(el.get("begin") or 0)
    except ValueError:
        return 0


def layout(root: etree._Element, highlight: Set[str] = frozenset()
           ) -> tuple[list[Box], list[tuple[Box, Box]], float, float]:
    """Boxes (centre x, row y), parent-child edges, and the picture's width and height, of
    the first `node` under `root` (a sentence, or a node itself)."""
    top = root if root.tag == "node" else next(root.iter("node"), None)
    if top is None:
        return [], [], 0.0, 0.0
    nodes = list(top.iter("node"))
    order = {el: i for i, el in enumerate(nodes)}
    leaves = sorted((el for el in nodes if el.find("node") is None),
                    key=lambda el: (_begin(el), order[el]))
    x: dict[etree._Element, float] = {el: float(i) for i, el in enumerate(leaves)}
    height: dict[etree._Element, int] = {}
    for el in reversed(nodes):  # children before parents
        kids = el.findall("node")
        if kids:
            x[el] = sum(x[k] for k in kids) / len(kids)
            height[el] = 1 + max(height[k] for k in kids)
        else:
            height[el] = 0
    rows = height[top]
    boxes = {el: Box(el, PAD + COL / 2 + x[el] * COL, PAD + (rows - height[el]) * ROW + 12,
                     _label(el), el.get("id") in highlight) for el in nodes}
    edges = [(boxes[el], boxes[k]) for el in nodes for k in el.findall("node")]
    return (list(boxes.values()), edges, 2 * PAD + len(leaves) * COL,
            2 * PAD + rows * ROW + 44)


def svg(root: etree._Element, highlight: Set[str] = frozenset(),
        links: Callable[[etree._Element], tuple[str, str] | None] | None = None) -> str:
    """The tree as a standalone SVG document (every label escaped). `links(node)`: (href,
    title) to make the node's box a link (the web view's "find more like this")."""
    boxes, edges, w, h = layout(root, highlight)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="treeindex-tree" width="{w:.0f}" '
           f'height="{h:.0f}" viewBox="0 0 {w:.0f} {h:.0f}" font-family="sans-serif" '
           f'font-size="12">']
    for a, b in edges:
        out.append(f'<line x1="{a.x:.1f}" y1="{a.y + 18:.1f}" x2="{b.x:.1f}" y2="{b.y - 12:.1f}"'
                   f' stroke="#888" stroke-width="1"/>')
    for b in boxes:
        link = links(b.el) if links is not None else None
        if link is not None:
            out.append(f'<a href="{escape(link[0], quote=True)}" class="ti-node-link">'
                       f"<title>{escape(link[1])}</title>")
        fill = "#ffd54f" if b.hit else "#f4f6fb"
        stroke = "#c77800" if b.hit else "#9aa5b8"
        out.append(f'<rect x="{b.x - COL / 2 + 4:.1f}" y="{b.y - 12:.1f}" width="{COL - 8}" '
                   f'height="{14 * len(b.lines) + 4}" rx="4" fill="{fill}" stroke="{stroke}"'
                   + (' class="hit"' if b.hit else "") + "/>")
        for k, line in enumerate(b.lines):
            weight = ' font-weight="bold"' if k == 0 else ""
            style = ' font-style="italic"' if k == 2 else ""
            out.append(f'<text x="{b.x:.1f}" y="{b.y + 14 * k:.1f}" text-anchor="middle"'
                       f'{weight}{style}>{escape(_fit(line))}</text>')
        if link is not None:
            out.append("</a>")
    out.append("</svg>")
    return "\n".join(out)


def _fit(text: str, n: int = 13) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def png(root: etree._Element, highlight: Set[str] = frozenset()) -> bytes:
    """The same picture as PNG (needs Pillow: pip install 'treeindex[web]')."""
    import io

    try:
        from PIL import Image, ImageDraw
    except ImportError:
        from .errors import TreeindexError

        raise TreeindexError("--format png needs Pillow: pip install 'treeindex[web]' (or "
                             "use --format svg)") from None

    boxes, edges, w, h = layout(root, highlight)
    img = Image.new("RGB", (max(int(w), 1), max(int(h), 1)), "white")
    d = ImageDraw.Draw(img)
    for a, b in edges:
        d.line([(a.x, a.y + 18), (b.x, b.y - 12)], fill="#888888")
    for b in boxes:
        d.rounded_rectangle([b.x - COL / 2 + 4, b.y - 12, b.x + COL / 2 - 4,
                             b.y - 12 + 14 * len(b.lines) + 4], 4,
                            fill="#ffd54f" if b.hit else "#f4f6fb",
                            outline="#c77800" if b.hit else "#9aa5b8")
        for k, line in enumerate(b.lines):
            d.text((b.x, b.y + 14 * k - 6), _fit(line), fill="black", anchor="mm")
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
        parts = _label(el)
        word = f' "{parts[2]}"' if len(parts) == 3 else ""
        body = f"{parts[0]} {parts[1]}".strip() + word
        if el.get("id") in highlight:
            return f"\033[1;33m{body}\033[0m *" if color else f"{body} *"
        return body

    def walk(el: etree._Element, prefix: str, last: bool, first: bool) -> None:
        lines.append(label(el) if first else prefix + ("└─ " if last else "├─ ") + label(el))
        kids = sorted(el.findall("node"), key=_begin)
        inner = "" if first else prefix + ("   " if last else "│  ")
        for k, kid in enumerate(kids):
            walk(kid, inner, k == len(kids) - 1, False)

    walk(top, "", True, True)
    return "\n".join(lines)
