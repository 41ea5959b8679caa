#!/usr/bin/env python3
"""Pictures for docs/trees.md: a sentence as treeindex draws it and as PaQu's rules draw it.

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

Writes NAME.treeindex.svg, NAME.paqu.svg and, with --gretel, NAME.gretel.png for each FILE
(NAME: the file's suite and stem).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
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
        made = f"{name}.treeindex.svg, {name}.paqu.svg"
        if args.gretel:
            gretel_png(gretel_html(root), args.out / f"{name}.gretel.png")
            made += f", {name}.gretel.png"
        print(f"{f}: {made}")


if __name__ == "__main__":
    main()
