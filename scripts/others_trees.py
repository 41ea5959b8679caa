#!/usr/bin/env python3
"""Pictures for docs/trees.md: a sentence as treeindex draws it and as PaQu's, GrETEL's and
Dact's rules draw it.

    python3 scripts/others_trees.py FILE.xml [FILE.xml ...] [--out docs/trees]

PaQu draws a tree by writing a Graphviz graph and laying it out with `dot`. Its rules, as
read from `src/pqserve/tree.go` of rug-compling/paqu, are followed here (this is our code,
not PaQu's): an undirected `strict graph` with `ordering=out` (children keep their XML
order), `ranksep=".25 equally"`, `nodesep=.05`; a node's label is its rel, then its cat (or
pt, where it differs from the rel); a node with an index gets the index in its label and a
box, an empty co-indexed node only its rel and index; every word is a grey filled box, all
words on one rank, in the order a walk of the tree meets them; where a word does not begin
where the last one ended, an invisible spacer node goes before it. The graph is laid out by
the `dot` program (Debian: `apt-get install graphviz`), as PaQu does through the Graphviz
library.

GrETEL 4 draws a tree as nested HTML lists whose connecting lines are CSS borders (the
jQuery plug-in `tree-visualizer.js` and `tree-visualizer.component.scss` of
UUDigitalHumanitieslab/gretel, read there): each node a rounded box in a table cell above
its children's cells, labelled rel (and index), then pt or cat, a leaf with its lemma and
word under it, children in XML order (so words in tree order, not sentence order). The
same structure and the tree part of that stylesheet, transcribed by us (colours from its
variables), are rendered here by Chromium through Playwright (`--gretel`; the tests'
browser).

Dact (a Qt program) lays its trees out itself (`src/TreeNode.cpp` of rug-compling/dact):
its rules are transcribed in `dact_svg` (read there), drawn as SVG (needs Pillow, to
measure the labels' text).

Writes NAME.treeindex.svg, NAME.paqu.svg, NAME.dact.svg and, with --gretel, NAME.gretel.png
for each FILE (NAME: the file's suite and stem).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from html import escape
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from lxml import etree  # noqa: E402

from treeindex import draw  # noqa: E402

PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)


def _quote(s: str) -> str:
    return s.replace("\\", "\\\\").replace('"', '\\"')


def paqu_dot(root: etree._Element) -> str:
    """The Graphviz graph of a sentence by PaQu's rules (see the module's text)."""
    top = root.find("node")
    assert top is not None
    out = ['strict graph gr {\n\n    ranksep=".25 equally"\n    nodesep=.05\n    ordering=out\n\n'
           '    node [shape=plaintext, height=0, width=0, fontsize=12, '
           'fontname="Helvetica"];\n\n']

    def empty(n: etree._Element) -> bool:
        return n.get("index") is not None and n.find("node") is None and n.get("word") is None

    def nodes(n: etree._Element) -> None:
        label = _quote(n.get("rel", ""))
        style = ""
        if n.get("index") is not None:
            label += "\\n" + n.get("index", "")
            style = ', color="#d3d3d3", shape=box'
        if not empty(n):
            cat, pt = n.get("cat"), n.get("pt")
            if cat and cat != n.get("rel"):
                label += "\\n" + _quote(cat)
            elif pt and pt != n.get("rel"):
                label += "\\n" + _quote(pt)
        out.append(f'    n{n.get("id")} [label="{label}"{style}];\n')
        for d in n.iterchildren("node"):
            nodes(d)

    nodes(top)
    out.append('\n    node [fontname="Helvetica-Oblique", shape=box, color="#d3d3d3", '
               'style=filled];\n\n')
    spacers: set[str] = set()
    end = [0]

    def terms(n: etree._Element) -> list[str]:
        children = list(n.iterchildren("node"))
        if children:
            return [t for d in children for t in terms(d)]
        if n.get("word") is None:
            return []
        found: list[str] = []
        if int(n.get("begin", "0")) != end[0]:  # a gap: an invisible node before the word
            out.append(f'    e{n.get("id")} [label=" ", style=invis];\n')
            found += ["|", f'e{n.get("id")}']
            spacers.add(n.get("id", ""))
        end[0] = int(n.get("end", "0"))
        found.append(f't{n.get("id")}')
        out.append(f'    t{n.get("id")} [label="{_quote(n.get("word", ""))}"];\n')
        return found

    for same in " ".join(terms(top)).split("|"):
        if same.strip():
            out.append(f"\n    {{rank=same; {same.strip()} }}\n")
    out.append('\n    edge [sametail=true, color="#d3d3d3"];\n\n')

    def edges(n: etree._Element) -> None:
        children = list(n.iterchildren("node"))
        if not children:
            if n.get("id") in spacers:
                out.append(f'    n{n.get("id")} -- e{n.get("id")} [style=invis];\n')
            if n.get("index") is None or n.get("word") is not None:
                out.append(f'    n{n.get("id")} -- t{n.get("id")};\n')
            return
        for d in children:
            out.append(f'    n{n.get("id")} -- n{d.get("id")};\n')
        for d in children:
            edges(d)

    edges(top)
    out.append("}\n")
    return "".join(out)


GRETEL_CSS = """
body { margin: 0; font-family: sans-serif; }
ol, li { margin: 0; padding: 0; }
.tv-tree { display: inline-flex; align-items: center; background: #f7f7f7; color: #565656;
           text-align: center; font-size: 12px; padding: 24px; }
.tv-tree ol { position: relative; display: table; padding-top: 1em; }
.tv-tree ol ol::before { position: absolute; top: 0; left: 50%; width: 0; height: 1em;
                         border-left: 1px solid #ccc; content: ''; }
.tv-tree > ol { margin: auto; padding: 1.26em; }
.tv-tree li { position: relative; display: table-cell; padding: 1em 0.5em 0;
              list-style-type: none; vertical-align: top; text-align: center; }
.tv-tree li::after, .tv-tree li::before { position: absolute; top: 0; right: 50%; width: 50%;
              height: 1em; border-top: 1px solid #ccc; content: ''; }
.tv-tree li::after { right: auto; left: 50%; border-left: 1px solid #ccc; }
.tv-tree li.first-child::before { border: 0 none; }
.tv-tree li.last-child::before { border-right: 1px solid #ccc; }
.tv-tree li.last-child::after { border: 0 none; }
.tv-tree li.only-child { padding-top: 0; }
.tv-tree li.only-child::after, .tv-tree li.only-child::before { display: none; }
.tv-tree li a { position: relative; z-index: 2; display: inline-block; padding: 0.5em 1em;
                border: 1px solid #ccc; border-radius: 4em; background: white;
                color: #565656; text-decoration: none; }
.tv-tree li a.only-child { color: rgba(168, 205, 40, 1); font-weight: bold; }
.tv-tree li span { display: block; margin: 2px auto; }
"""


def gretel_html(root: etree._Element) -> str:
    """A sentence as GrETEL's tree view builds it (see the module's text)."""
    from html import escape

    def item(n: etree._Element, k: int, siblings: int) -> str:
        cls = ["only-child"] if siblings == 1 else []
        cls += ["first-child"] if k == 0 else []
        cls += ["last-child"] if k == siblings - 1 else []
        spans = []
        if n.get("rel"):
            spans.append(f'<span class="rel">{escape(n.get("rel", ""))}</span>')
            if n.get("index"):
                spans.append(f'<span class="index">{escape(n.get("index", ""))}</span>')
        kind = next((a for a in ("pt", "cat") if n.get(a)), None)
        if kind is not None:
            if n.get("index") and spans:
                spans[-1] = spans[-1][:-7] + ":" + escape(n.get(kind, "")) + "</span>"
            else:
                spans.append(f'<span class="{kind}">{escape(n.get(kind, ""))}</span>')
        children = list(n.iterchildren("node"))
        inner = "".join(item(c, i, len(children)) for i, c in enumerate(children))
        a_cls = "" if children else ' class="only-child"'
        leaf = ""
        if not children:
            if n.get("lemma"):
                leaf += f'<span class="lemma">{escape(n.get("lemma", ""))}</span>'
            if n.get("word"):
                leaf += f'<span class="word"><em>{escape(n.get("word", ""))}</em></span>'
        return (f'<li class="{" ".join(cls)}"><a href="#"{a_cls}>{"".join(spans)}</a>{leaf}'
                + (f"<ol>{inner}</ol>" if children else "") + "</li>")

    top = root.find("node")
    assert top is not None
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><style>{GRETEL_CSS}</style>"
            f"</head><body><div class='tv-tree'><ol>{item(top, 0, 1)}</ol></div></body></html>")


# Dact's tree (rug-compling/dact: `resources/stylesheets/tree.xsl` makes each node's label,
# `src/TreeNode.cpp` lays the nodes out, `src/Edge.cpp` draws the edges), transcribed: the
# label is a centred QTextDocument (margin 10) in Verdana 12 pt of rel (and /pb), then
# index:cat (index:pt, pos or cat for a node without children), then the word in italics;
# each node's children stand left to right 40 px under its label, each in a band as wide as
# its own subtree (its label's box and 5 px around it, or its children's bands, whichever
# is wider), 10 px apart; a label is centred over its children's bands; an edge is a
# straight line from the middle of the parent's band under its label to the middle of the
# child's band at its top. Text is measured with DejaVu Sans (Verdana's metrics are not on
# this machine), so widths are close to Dact's, not equal.
DACT_MARGIN, DACT_LAYERS, DACT_NODES, DACT_FONT_PX = 10, 40, 10, 16


def _dact_label(n: etree._Element) -> list[tuple[str, bool]]:
    """(text, italic) lines of a node's label, as tree.xsl writes them."""
    rel = (n.get("rel") or "") + (f"/{n.get('pb')}" if n.get("pb") is not None else "")
    index = n.get("index") or ""
    inner = n.find("node") is not None
    if inner:  # (`@cat|@pt`: the first of them in the element's attribute order)
        kind = next((v for k, v in n.items() if k in ("cat", "pt")), "")
    else:
        kind = n.get("pt") or n.get("pos") or n.get("cat") or ""
    has = any(n.get(a) is not None for a in (("cat", "pt") if inner else ("cat", "pt", "pos")))
    lines = [(rel, False), (index + (":" if index and has else "") + kind, False)]
    if not inner and n.get("word") is not None:
        lines.append((n.get("word") or "", True))
    return lines


def dact_svg(root: etree._Element) -> str:
    """A sentence drawn by Dact's rules (see above), as SVG."""
    from PIL import ImageFont

    try:
        font = ImageFont.truetype("DejaVuSans.ttf", DACT_FONT_PX)
        italic = ImageFont.truetype("DejaVuSans-Oblique.ttf", DACT_FONT_PX)
        line_h = sum(font.getmetrics())
    except OSError:
        font = italic = None
        line_h = 19

    def width(text: str, it: bool) -> float:
        f = italic if it else font
        return f.getlength(text) if f is not None else 9.0 * len(text)

    top = root.find("node")
    assert top is not None
    boxes: list[tuple[float, float, float, float, list[tuple[str, bool]]]] = []
    lines_out: list[tuple[float, float, float, float]] = []

    def layout(n: etree._Element, x: float, y: float) -> tuple[float, float, float, float]:
        """Lays out the subtree whose scene position is (x, y); its band (branch bounding
        rectangle) in its own coordinates: (left, top, right, bottom)."""
        label = _dact_label(n)
        lw = max(width(t, it) for t, it in label) + 2 * DACT_MARGIN
        lh = line_h * len(label) + 2 * DACT_MARGIN
        kids = n.findall("node")
        left = 0.0
        rect: tuple[float, float, float, float] | None = None
        placed = []
        for k in kids:
            cx, cy = left, lh + DACT_LAYERS
            band = layout(k, x + cx, y + cy)
            placed.append((k, cx, cy, band))
            r = (cx + band[0], cy + band[1], cx + band[2], cy + band[3])
            rect = r if rect is None else (min(rect[0], r[0]), min(rect[1], r[1]),
                                           max(rect[2], r[2]), max(rect[3], r[3]))
            left += (band[2] - band[0]) + DACT_NODES
        branch_w = rect[2] - rect[0] if rect is not None else 0.0
        lx = max((branch_w - lw) / 2, 0.0)
        boxes.append((x + lx, y, lw, lh, label))
        lb = (lx - 5, -5.0, lx + lw + 5, lh + 5)
        band_rect = lb if rect is None else (min(rect[0], lb[0]), min(rect[1], lb[1]),
                                             max(rect[2], lb[2]), max(rect[3], lb[3]))
        for _, cx, cy, kband in placed:  # Edge.cpp: the bands' middles, from their positions
            lines_out.append((x + (band_rect[2] - band_rect[0]) / 2, y + lh,
                              x + cx + (kband[2] - kband[0]) / 2, y + cy))
        return band_rect

    band = layout(top, 10.0, 10.0)
    w, h = band[2] - band[0] + 20, band[3] - band[1] + 20
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w:.0f}" height="{h:.0f}" '
           f'viewBox="0 0 {w:.0f} {h:.0f}" font-family="Verdana, DejaVu Sans, sans-serif" '
           f'font-size="{DACT_FONT_PX}">', f'<rect width="{w:.0f}" height="{h:.0f}" '
           'fill="white"/>']
    out += [f'<line x1="{a:.1f}" y1="{b:.1f}" x2="{c:.1f}" y2="{d:.1f}" stroke="black"/>'
            for a, b, c, d in lines_out]
    for bx, by, bw, bh, label in boxes:
        out.append(f'<rect x="{bx:.1f}" y="{by:.1f}" width="{bw:.1f}" height="{bh:.1f}" '
                   'fill="white" stroke="black"/>')
        for k, (text, it) in enumerate(label):
            style = ' font-style="italic"' if it else ""
            ty = by + DACT_MARGIN + line_h * (k + 0.8)
            out.append(f'<text x="{bx + bw / 2:.1f}" y="{ty:.1f}" text-anchor="middle"{style}>'
                       f"{escape(text)}</text>")
    out.append("</svg>")
    return "\n".join(out)


def gretel_png(html: str, out: Path) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium"),
                                    args=["--headless", "--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 800, "height": 600})
        page.set_content(html)
        page.locator(".tv-tree").screenshot(path=str(out))
        browser.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("files", nargs="+", type=Path)
    ap.add_argument("--out", type=Path, default=HERE.parent / "docs" / "trees")
    ap.add_argument("--gretel", action="store_true",
                    help="also GrETEL's tree view, as a PNG (needs playwright and chromium)")
    args = ap.parse_args()
    if shutil.which("dot") is None:
        raise SystemExit("the `dot` program is missing: apt-get install graphviz")
    args.out.mkdir(parents=True, exist_ok=True)
    for f in args.files:
        root = etree.parse(str(f), PARSER).getroot()
        name = f"{f.parent.name}-{f.stem}"
        (args.out / f"{name}.treeindex.svg").write_text(draw.svg(root))
        dot = subprocess.run(["dot", "-Tsvg"], input=paqu_dot(root), capture_output=True,
                             text=True, check=True).stdout
        (args.out / f"{name}.paqu.svg").write_text(dot)
        (args.out / f"{name}.dact.svg").write_text(dact_svg(root))
        made = f"{name}.treeindex.svg, {name}.paqu.svg, {name}.dact.svg"
        if args.gretel:
            gretel_png(gretel_html(root), args.out / f"{name}.gretel.png")
            made += f", {name}.gretel.png"
        print(f"{f}: {made}")


if __name__ == "__main__":
    main()
