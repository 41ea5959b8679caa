"""An independent, deliberately plain sequential grinder: the oracle the tests compare against.

It shares no code with treeindex: lxml iterparse over each input, counters kept in document
order, subtrees copied with lxml. Slow and simple on purpose.
"""

from __future__ import annotations

import copy
import re
from collections import Counter, defaultdict
from pathlib import Path

from lxml import etree


def natural(name: str) -> list:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


def sentences(path: Path) -> list[tuple[str, etree._Element]]:
    """(sentence id, <alpino_ds>) of a treebank file or of a directory of one-sentence files."""
    if path.is_dir():
        out = []
        for f in sorted(path.iterdir(), key=lambda p: natural(p.name)):
            if f.suffix == ".xml":
                root = etree.parse(str(f)).getroot()
                sid = root.get("id") or (root.find("sentence").get("sentid")) or f.name[:-4]
                out.append((sid, root))
        return out
    out = []
    parser_args = {"resolve_entities": False, "no_network": True}
    for pos, (_, el) in enumerate(etree.iterparse(str(path), tag="alpino_ds", **parser_args), 1):
        sent = el.find("sentence")
        sid = el.get("id") or (sent.get("sentid") if sent is not None else None) or f"#{pos}"
        out.append((sid, copy.deepcopy(el)))
    return out


def subtrees(path: Path, max_children: int = 7, max_nodes: int = 1000) -> list[dict]:
    """Every kept subtree in document order, numbered per category."""
    counters: Counter = Counter()
    rows = []
    for sid, root in sentences(path):
        for i, node in enumerate(root.iter("node")):
            kids = node.findall("node")
            size = sum(1 for _ in node.iter("node"))
            cat = node.get("cat")
            if cat is None or not 1 <= len(kids) <= max_children or size > max_nodes:
                continue
            counters[cat] += 1
            parent = node.getparent()
            rows.append({
                "sentid": sid, "node": i, "cat": cat, "n": counters[cat],
                "rel": node.get("rel"), "children": len(kids), "nodes": size,
                "parent_cat": parent.get("cat") if parent.tag == "node" else None,
                "pattern": " ".join(
                    f"{k.get('rel') or '-'}:{k.get('cat') or k.get('pt') or '-'}" for k in kids
                ),
                "element": node,
            })
    return rows


def category_counts(path: Path, **kw) -> dict[str, tuple[int, int]]:
    """cat -> (subtrees, sentences holding one)."""
    subs: Counter = Counter()
    sents: dict[str, set] = defaultdict(set)
    for r in subtrees(path, **kw):
        subs[r["cat"]] += 1
        sents[r["cat"]].add(r["sentid"])
    return {cat: (subs[cat], len(sents[cat])) for cat in subs}


def same_element(a: etree._Element, b: etree._Element) -> bool:
    """Same tag, attributes (and their order), non-blank text, and children, recursively."""
    if a.tag != b.tag or list(a.attrib.items()) != list(b.attrib.items()):
        return False
    if (a.text or "").strip() != (b.text or "").strip():
        return False
    ka, kb = list(a), list(b)
    return len(ka) == len(kb) and all(same_element(x, y) for x, y in zip(ka, kb))
