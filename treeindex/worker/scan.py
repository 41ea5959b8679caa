"""The Python scanners: the byte span and structure of every <node> of a sentence (what
`_scan.c` finds in C), and the rows of the kept subtrees. Used where the C scanner hands a
sentence over, and where it could not be built. Linear time, whatever the input holds."""

from __future__ import annotations

import re
from collections.abc import Iterator

from lxml import etree

from .check import BadSentence

# (b"/" for an end tag, b">" for an empty element) per node tag; greedy, no per-byte work
_TAG_KIND = re.compile(rb"<(/?)node(?=[\s/>])[^>]*(?:(?<=/)(>)|>)")
_OPEN = re.compile(rb"<node(?=[\s/>])")
_CLOSE = re.compile(rb"</node\s*>")
_TAG_OR_QUOTE_END = re.compile(rb"[>\"']")
_NODE_NAME_END = frozenset(b" \t\r\n/>")
# where each kind of markup that may hide tags ends
_SKIP = ((b"<!--", b"-->"), (b"<![CDATA[", b"]]>"), (b"<?", b"?>"), (b"<!", b">"))


def _node_tags(xml: bytes) -> Iterator[tuple[int, int, bool, bool]]:
    """(start, end, closing, empty) of every <node> and </node> tag, in order, skipping
    comments, CDATA sections and processing instructions; quoted attribute values may hold
    '>'. Every byte is looked at a bounded number of times: time is linear in the input,
    whatever it holds (a pattern with nested repetition is not: an unbalanced quote in a
    comment made it backtrack for ever)."""
    find = xml.find
    i = 0
    while True:
        lt = find(b"<", i)
        if lt < 0:
            return
        if xml[lt + 1 : lt + 2] in (b"!", b"?"):
            for opener, closer in _SKIP:
                if xml.startswith(opener, lt):
                    e = find(closer, lt + len(opener))
                    if e < 0:
                        return
                    i = e + len(closer)
                    break
            continue
        j = lt + 1
        while True:  # to the '>' that ends the tag, over quoted values
            m = _TAG_OR_QUOTE_END.search(xml, j)
            if m is None:
                return
            if m.group() == b">":
                end = m.end()
                break
            q = find(m.group(), m.end())
            if q < 0:
                return
            j = q + 1
        i = end
        closing = xml[lt + 1] == 47  # '/'
        name = lt + 2 if closing else lt + 1
        if xml.startswith(b"node", name) and xml[name + 4] in _NODE_NAME_END:
            yield lt, end, closing, not closing and xml[end - 2] == 47


def _scan_exact(xml: bytes) -> tuple[list, list, list, list, list, list, list]:
    """Structure of the <node> elements from their tags, in pre-order (any tag syntax).

    Returns starts, ends (byte spans), parent index (-1 for roots), level, number of node
    children, subtree size in nodes, and height. Raises IndexError on unbalanced tags.
    """
    starts: list[int] = []
    ends: list[int] = []
    parent: list[int] = []
    level: list[int] = []
    kids: list[int] = []
    size: list[int] = []
    height: list[int] = []
    stack: list[int] = []
    for start, end, closing, empty in _node_tags(xml):
        if closing:
            j = stack.pop()
            ends[j] = end
            size[j] = len(starts) - j
            p = parent[j]
            if p >= 0 and height[p] <= height[j]:
                height[p] = height[j] + 1
            continue
        i = len(starts)
        p = stack[-1] if stack else -1
        starts.append(start)
        parent.append(p)
        level.append(len(stack))
        kids.append(0)
        height.append(0)
        if p >= 0:
            kids[p] += 1
        if empty:
            ends.append(end)
            size.append(1)
            if p >= 0 and height[p] == 0:
                height[p] = 1
        else:
            ends.append(0)
            size.append(0)
            stack.append(i)
    if stack:
        raise IndexError("unclosed node")
    return starts, ends, parent, level, kids, size, height


def _scan_fast(xml: bytes, count: int) -> tuple[list, list, list, list, list, list, list]:
    """`_scan_exact` for the usual case, with the per-tag work done by the regex engine.

    Only valid without comments, CDATA sections and processing instructions (the caller checks
    that) and when every '>' ends a tag: a '>' in an attribute value makes the tags unbalanced,
    which raises IndexError. Ends are only set for non-empty nodes.
    """
    tags = _TAG_KIND.findall(xml)
    starts = [m.start() for m in _OPEN.finditer(xml)]
    closes = [m.end() for m in _CLOSE.finditer(xml)]
    if len(starts) != count:
        raise IndexError("node count differs")
    parent = [-1] * count
    level = [0] * count
    kids = [0] * count
    size = [1] * count
    height = [0] * count
    ends = [0] * count
    stack: list[int] = []
    top = -1
    depth = 0
    i = 0
    c = 0
    for close, empty in tags:
        if close:
            j = top
            top = stack.pop()
            depth -= 1
            size[j] = i - j
            ends[j] = closes[c]
            c += 1
            if top >= 0 and height[top] <= height[j]:
                height[top] = height[j] + 1
            continue
        parent[i] = top
        level[i] = depth
        if top >= 0:
            kids[top] += 1
            if empty and height[top] == 0:
                height[top] = 1
        if not empty:
            stack.append(top)
            top = i
            depth += 1
        i += 1
    if stack or c != len(closes):
        raise IndexError("unbalanced node tags")
    return starts, ends, parent, level, kids, size, height


def structure(xml: bytes, root: etree._Element, count: int):
    """Scan node tags; fall back to exact tag syntax, then to lxml's own serialization."""
    # A '>' inside an attribute value ends a fast-path tag early; the tags then never balance
    # and the exact scan takes over.
    if b"<!" not in xml and b"<?" not in xml:
        try:
            return xml, _scan_fast(xml, count)
        except IndexError:
            pass
    try:
        found = _scan_exact(xml)
        if len(found[0]) == count:
            return xml, found
    except IndexError:
        pass
    # (not expected for well-formed XML: a safety net) store lxml's serialization instead
    # (CDATA becomes escaped text), without comments and processing instructions.
    etree.strip_tags(root, etree.Comment, etree.ProcessingInstruction)
    xml = etree.tostring(root, encoding="utf-8", xml_declaration=False)
    return xml, _scan_exact(xml)


class Tally:
    """A task's numbering of its subtree rows (the C scanner's `_scan.Tally`, for installs
    without it): per category its subtrees and sentences so far (a row's n is the next), per
    children pattern its number (1, 2, ... in order of first appearance)."""

    def __init__(self) -> None:
        self._counts: dict[str, list[int]] = {}
        self._patterns: dict[str, int] = {}
        self._seen: set[str] = set()

    def sentence(self) -> None:
        """The subtrees numbered next are another sentence's."""
        self._seen = set()

    def subtree(self, cat: str) -> int:
        """One more subtree of `cat` in this sentence: its number."""
        c = self._counts.get(cat)
        if c is None:
            c = self._counts[cat] = [0, 0]
        c[0] += 1
        if cat not in self._seen:
            self._seen.add(cat)
            c[1] += 1
        return c[0]

    def pattern(self, text: str) -> int:
        """The number of a children pattern, added if new."""
        number = self._patterns.get(text)
        if number is None:
            number = self._patterns[text] = len(self._patterns) + 1
        return number

    def counts(self) -> dict[str, list[int]]:
        """cat -> [subtrees, sentences], in order of first appearance."""
        return {cat: list(c) for cat, c in self._counts.items()}

    def patterns(self) -> dict[str, int]:
        """text -> number."""
        return dict(self._patterns)


def python_rows(root: etree._Element, sentid: str | None, xml: bytes, max_children: int,
                 max_nodes: int) -> tuple[bytes, list[tuple]]:
    """The rows `_scan.scan` finds (before numbering), with lxml and Python only (for any
    input, and where the C extension could not be built); also the bytes the spans refer to."""
    nodes = list(root.iter("node"))
    if not nodes:
        raise BadSentence("<alpino_ds> holds no <node>", None, sentid)
    xml, (starts, ends, parent, level, kids, size, height) = structure(xml, root, len(nodes))
    cats = [el.get("cat") for el in nodes]
    labels: list[str] | None = None
    rows = []
    for i, cat in enumerate(cats):
        k = kids[i]
        if cat is None or k == 0 or k > max_children or size[i] > max_nodes:
            continue
        if labels is None:
            labels = [f"{el.get('rel') or '-'}:{c or el.get('pt') or '-'}"
                      for el, c in zip(nodes, cats)]
        el = nodes[i]
        kids_labels = []
        j, stop = i + 1, i + size[i]
        while j < stop:
            kids_labels.append(labels[j])
            j += size[j]
        p = parent[i]
        rows.append((cat, i, el.get("rel"), el.get("begin"), el.get("end"), k, size[i],
                     height[i], level[i], cats[p] if p >= 0 else None, " ".join(kids_labels),
                     starts[i], ends[i]))
    return xml, rows


