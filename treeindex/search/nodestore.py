"""The node table: every sentence's elements as columns, stored at ingest, so that a search
evaluates XPath without parsing XML (search/engine.py).

A block holds the sentences of one ingest task (or of one `upgrade` batch) as one blob
(`node_blocks.data`). Its elements are each sentence's `<alpino_ds>` followed by its `<node>`s
in document order (pre-order), after the document root; per element: `kind` (2 the document
root, 0 alpino_ds, 1 node), `parent` (block position; -1 for the root) and `size` (elements
below it). Every attribute is a column of
numbers into that column's vocabulary (0: the element has no such attribute, k: the k-th
value), values as XML gives them (entities decoded, whitespace normalized). Other elements
(`<sentence>`, `<ud>` inside a node, ...) are not in the table: the engine refuses the node
tests that could reach them (`*`, `node()` on axes other than self, parent and ancestor). A
sentence is `plain` when every `<node>` sits in a `<node>` or in `<alpino_ds>`: only plain
sentences are evaluated from the columns, the others (none in real treebanks) through lxml.

Layout: b"TIN1", a 4-byte little-endian length, a JSON header {"sentences", "elements",
"sections": [[name, offset, length, type], ...]}, then the sections, each compressed with zstd
on its own (a query decompresses only the columns it reads). Section names: "sent" (int32:
each sentence's first element, and the total), "plain" (uint8 per sentence), "kind" (uint8),
"parent", "size" (int32), "a:NAME" (uint8, uint16 or uint32 ids: the narrowest that holds
the column's values in the block, uint8 since stop 41, which older blocks do not use) and
"v:NAME" (the vocabulary,
values joined by NUL, which XML cannot contain). The same bytes come from the C builder
(worker/_scan.c `nodes`) and from `build` here; tests compare them.
"""

from __future__ import annotations

import json
import re
import sqlite3
import struct
import sys
from array import array
from collections.abc import Iterable, Iterator, Sequence

import zstandard

from ..store.codec import zstd_compressor
from .terms import element_terms

try:  # the C fast path (treeindex/search/_nodes.c), built at install when a compiler is there
    from . import _nodes  # type: ignore[attr-defined,unused-ignore]
except ImportError:  # pragma: no cover - exercised where no compiler was available
    _nodes = None

MAGIC = b"TIN1"
LEVEL = 1  # (level 3 gives the same size here and costs a quarter more time)

# (kind, parent within the sentence (-1 for alpino_ds), size, attributes) per element
Element = tuple[int, int, int, Sequence[tuple[str, str]]]


def sentence_elements(root) -> tuple[list[Element], bool]:
    """The elements of one parsed `<alpino_ds>` (lxml) and whether the sentence is plain."""
    out: list[Element] = [(2, -1, 0, ()), (0, 0, 0, list(root.attrib.items()))]
    position = {root: 1}
    plain = True
    for el in root.iter("node"):
        parent = el.getparent()
        p = position.get(parent)
        if p is None:
            plain = False
            p = 1
        position[el] = len(out)
        out.append((1, p, 0, list(el.attrib.items())))
    # sizes: elements below each, from the parents (pre-order: children after parents)
    sizes = [0] * len(out)
    for k in range(len(out) - 1, 0, -1):
        sizes[out[k][1]] += sizes[k] + 1
    return [(kind, par, sizes[k], attrs) for k, (kind, par, _, attrs) in enumerate(out)], plain


def build(sentences: Iterable[tuple[list[Element], bool]]) -> bytes:
    """The block of these sentences (each: its elements and whether it is plain)."""
    sent = array("i")
    plain = array("B")
    kind = array("B")
    parent = array("i")
    size = array("i")
    columns: dict[str, array] = {}
    vocab: dict[str, dict[str, int]] = {}
    n = 0
    for elements, is_plain in sentences:
        sent.append(n)
        plain.append(1 if is_plain else 0)
        for k, (kd, par, sz, attrs) in enumerate(elements):
            kind.append(kd)
            parent.append(-1 if par < 0 else n + par)
            size.append(sz)
            for name, value in attrs:
                col = columns.get(name)
                if col is None:
                    col = columns[name] = array("I", bytes(4 * (n + k)))
                    vocab[name] = {}
                elif len(col) < n + k:
                    col.extend(array("I", bytes(4 * (n + k - len(col)))))
                v = vocab[name]
                ident = v.get(value)
                if ident is None:
                    ident = v[value] = len(v) + 1
                col.append(ident)
        n += len(elements)
    sent.append(n)
    for col in columns.values():
        if len(col) < n:
            col.extend(array("I", bytes(4 * (n - len(col)))))
    sections: list[tuple[str, bytes, str]] = [
        ("sent", _le(sent), "i4"), ("plain", plain.tobytes(), "u1"),
        ("kind", kind.tobytes(), "u1"), ("parent", _le(parent), "i4"),
        ("size", _le(size), "i4")]
    for name in sorted(columns):
        ids = columns[name]
        if len(vocab[name]) < 256:
            sections.append((f"a:{name}", array("B", ids).tobytes(), "u1"))
        elif len(vocab[name]) < 65535:
            sections.append((f"a:{name}", _le(array("H", ids)), "u2"))
        else:
            sections.append((f"a:{name}", _le(ids), "u4"))
        sections.append((f"v:{name}", "\0".join(vocab[name]).encode("utf-8"), "str"))
    return pack(len(sent) - 1, n, sections)


def parse_sentence(xml: bytes) -> tuple[list[Element], bool]:
    """The elements of a sentence's stored XML, read by lxml (no DTD, no entities)."""
    from lxml import etree

    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                             collect_ids=False, huge_tree=True)
    return sentence_elements(etree.fromstring(xml, parser))


class BlockBuilder:
    """A block made sentence by sentence (nothing of a sentence is kept but its columns)."""

    def __init__(self) -> None:
        self._c = _nodes.start() if _nodes is not None else None
        self._items: list = []
        self.sentences = 0

    def add(self, item: bytes | tuple) -> str:
        """A sentence: its UTF-8 `<alpino_ds>` bytes, or (elements, plain). Returns its
        search terms (search/terms.py), made from the values as they go into the columns."""
        self.sentences += 1
        if self._c is None:
            if isinstance(item, bytes):
                item = parse_sentence(item)
            self._items.append(item)
            return element_terms(item[0])
        terms = _nodes.add(self._c, item)
        if terms is None:  # what the scanner hands over: lxml's
            terms = _nodes.add(self._c, parse_sentence(item))  # type: ignore[arg-type]
        return str(terms)

    def add_all(self, items: list) -> list[str]:
        """`add` of each of `items`, in order: their search terms."""
        if self._c is None:
            return [self.add(item) for item in items]
        add, c = _nodes.add, self._c
        self.sentences += len(items)
        # (None: what the scanner hands over, lxml's elements then, in its place)
        return [t if (t := add(c, item)) is not None else add(c, parse_sentence(item))
                for item in items]

    def finish(self) -> bytes:
        if self._c is None:
            return build(self._items)
        return _pack_raw(_nodes.finish(self._c))


def build_block(items: list) -> bytes:
    """The block of these sentences: each its UTF-8 `<alpino_ds>` bytes, or (elements,
    plain) where lxml read it already. The C scanner does the work where it is built; what
    it hands over, and everything without it, goes through lxml."""
    items = list(items)
    if _nodes is None:
        return build(parse_sentence(x) if isinstance(x, bytes) else x for x in items)
    raw = _nodes.nodes(items)
    if isinstance(raw, list):  # sentences the scanner does not take exactly: lxml's
        for k in raw:
            items[k] = parse_sentence(items[k])
        raw = _nodes.nodes(items)
    return _pack_raw(raw)


_WIDTHS = {1: "u1", 2: "u2", 4: "u4"}


def _pack_raw(raw: tuple) -> bytes:
    sentences, elements, sent, plain, kind, parent, size, columns = raw
    sections: list[tuple[str, bytes, str]] = [
        ("sent", sent, "i4"), ("plain", plain, "u1"), ("kind", kind, "u1"),
        ("parent", parent, "i4"), ("size", size, "i4")]
    for name, ids, width, vocab in sorted(columns):
        sections.append((f"a:{name}", ids, _WIDTHS[width]))
        sections.append((f"v:{name}", vocab, "str"))
    return pack(sentences, elements, sections)


def pack(sentences: int, elements: int, sections: list[tuple[str, bytes, str]]) -> bytes:
    table = []
    parts = []
    offset = 0
    compress = zstd_compressor(LEVEL)  # (this thread's)
    for name, raw, kind in sections:
        z = compress(raw)
        table.append([name, offset, len(z), kind])
        parts.append(z)
        offset += len(z)
    header = json.dumps({"sentences": sentences, "elements": elements, "sections": table},
                        separators=(",", ":")).encode()
    return MAGIC + struct.pack("<I", len(header)) + header + b"".join(parts)


def _le(a: array) -> bytes:
    if sys.byteorder != "little":  # pragma: no cover - every platform treeindex runs on
        a = array(a.typecode, a)
        a.byteswap()
    return a.tobytes()


def parse_header(blob: bytes) -> tuple[dict, int]:
    """The header of a block and where its sections start; ValueError if it is not one."""
    if blob[:4] != MAGIC or len(blob) < 8:
        raise ValueError("not a node block")
    (n,) = struct.unpack_from("<I", blob, 4)
    header = json.loads(blob[8:8 + n])
    return header, 8 + n


# Reading parts of the stored blocks through SQLite's incremental blob I/O: the header and
# one section, not the whole blob (what the feedback on queries and `stats` need of them).

def _spread(conn: sqlite3.Connection, sample: int | None) -> list[int]:
    """The rowids of the node blocks: all, or `sample` spread over the table."""
    rowids = [r for r, in conn.execute("SELECT rowid FROM node_blocks")]
    if sample is not None and len(rowids) > sample:
        rowids = rowids[::len(rowids) // sample][:sample]
    return rowids


def stored_headers(conn: sqlite3.Connection, sample: int | None = None
                   ) -> Iterator[tuple[sqlite3.Blob, bytes]]:
    """(the open blob, its header's JSON text) of each stored block (of all, or of `sample`
    spread over the table); a damaged block is passed over. The text is searched, not
    parsed: parsing a header as JSON cost more than reading it."""
    for rowid in _spread(conn, sample):
        try:
            with conn.blobopen("node_blocks", "data", rowid, readonly=True) as blob:
                head = blob.read(4096)
                if head[:4] != MAGIC or len(head) < 8:
                    continue
                (n,) = struct.unpack_from("<I", head, 4)
                if n > len(blob) - 8:  # (a damaged header: the block tells nothing)
                    continue
                if 8 + n > len(head):
                    head += blob.read(8 + n - len(head))
                yield blob, head[8:8 + n]
        except (sqlite3.Error, struct.error):  # (a damaged block tells nothing)
            continue


def stored_sections(conn: sqlite3.Connection, name: str, sample: int | None = None
                    ) -> Iterator[tuple[bytes, str]]:
    """(section `name` decompressed, its type) of each stored block that has it (of all, or
    of `sample` spread over the table)."""
    d = zstandard.ZstdDecompressor()
    # the section as build's json.dumps wrote it, escapes and all
    where = re.compile(rb"\[" + re.escape(json.dumps(name).encode())
                       + rb',(\d+),(\d+),"(\w+)"\]')
    for blob, header in stored_headers(conn, sample):
        m = where.search(header)
        if m is None:
            continue
        try:
            blob.seek(8 + len(header) + int(m.group(1)))
            data = d.decompress(blob.read(int(m.group(2))), max_output_size=1 << 30)
        except (sqlite3.Error, ValueError, OverflowError, zstandard.ZstdError):
            continue
        yield data, m.group(3).decode()
