"""Worker side: read a piece of input, check and scan its sentences, return packed rows.
Never touches the index.

Every function here is pure computation on bytes so that any `concurrent.futures.Executor`
(processes here, a cluster later) can run `run_task`. A task names a byte range of a
treebank file (the worker reads it itself), carries the bytes (decompressed .gz streams),
or names a list of one-sentence files.

For each sentence the worker
- checks it with lxml (no DTD, no entity expansion, no network) without building a tree;
- finds, with the C scanner (`_scan.c`), the byte span, structure and attributes of every
  `<node>`, so that export can cut any subtree out of the stored XML exactly as written;
  sentences the scanner hands over go through lxml's tree and the Python path instead;
- emits one row per kept node (1..max_children node children, at most max_nodes nodes);
- compresses the sentence's bytes (standard zlib format) for storage.
The rows are then packed into a small SQLite image (`pack`) for the writer to copy in.
"""

from __future__ import annotations

import gzip
import re
import sqlite3
from collections.abc import Iterator
from itertools import chain
from typing import NamedTuple

from lxml import etree

from .errors import InputError
from .sniff import read_prologue, shown, utf8_codec
from .split import END, sentence_bytes, sentence_spans

try:  # the C fast path (treeindex/_scan.c), built at install when a compiler is there
    from . import _scan
except ImportError:  # pragma: no cover - exercised where no compiler was available
    _scan = None

try:  # ISA-L's deflate: about 3x faster than zlib at the same ratio, and its output is a
    # standard zlib stream, so readers only ever need the standard library's zlib.decompress
    from isal.isal_zlib import compress as _compress
except ImportError:  # pragma: no cover - platforms without isal wheels
    from zlib import compress as _compress

ZLIB_LEVEL = 1
# (b"/" for an end tag, b">" for an empty element) per node tag; greedy, no per-byte work
_TAG_KIND = re.compile(rb"<(/?)node(?=[\s/>])[^>]*(?:(?<=/)(>)|>)")
_OPEN = re.compile(rb"<node(?=[\s/>])")
_CLOSE = re.compile(rb"</node\s*>")
_TAG_OR_QUOTE_END = re.compile(rb"[>\"']")
_NODE_NAME_END = frozenset(b" \t\r\n/>")
# where each kind of markup that may hide tags ends
_SKIP = ((b"<!--", b"-->"), (b"<![CDATA[", b"]]>"), (b"<?", b"?>"), (b"<!", b">"))


class Task(NamedTuple):
    seq: int  # position of the task in its corpus's stream (results are written in this order)
    kind: str  # 'range' (read path[start:end]), 'bytes' (data), 'files' (one-sentence files)
    path: str
    start: int
    end: int
    data: bytes | None
    files: tuple[str, ...]
    encoding: str
    max_children: int
    max_nodes: int


class Rows(NamedTuple):
    """What a task found, as Python rows (`run_task` packs them for the writer)."""

    seq: int
    # (sentid or None, file or None, offset or None, text, zlib xml, number of subtrees)
    sentences: list[tuple]
    # (sentence index in this result, cat, number within this result's subtrees of that cat,
    #  node, rel, begin, end, children, nodes, depth, level, parent_cat, pattern, xml_start,
    #  xml_end)
    subtrees: list[tuple]
    # cat -> [subtrees, sentences] in this result
    cat_counts: dict[str, list[int]]
    # (file or None, offset or None, line (relative to the task's first line) or None,
    #  sentid or None, message)
    errors: list[tuple]
    newlines: int  # newlines in the task's bytes (to number lines across tasks)
    end: int  # uncompressed offset the task ends at (ranges and bytes)
    files: int  # files read (file tasks)


class Result(NamedTuple):
    """What a worker sends back: the rows packed as a small SQLite database image, which the
    writer attaches and copies from in bulk (no per-row work in the writer's Python)."""

    seq: int
    chunk: bytes  # sqlite3 serialize() of tables s (sentences) and t (subtrees), see pack()
    sentences: int
    subtrees: int
    cat_counts: dict[str, list[int]]
    errors: list[tuple]
    newlines: int
    end: int
    files: int


# The packed tables: rows in document order (i: sentence index, k: subtree index).
CHUNK_SCHEMA = """
PRAGMA journal_mode = OFF;
CREATE TABLE s (i INTEGER PRIMARY KEY, sentid, file, offset, text, xml, nsub);
CREATE TABLE t (k INTEGER PRIMARY KEY, i, cat, local_n, node, rel, begin, end, children,
                nodes, depth, level, parent_cat, pattern, xml_start, xml_end);
"""


_INSERT_T = ("INSERT INTO t (i, cat, local_n, node, rel, begin, end, children, nodes, depth, "
             "level, parent_cat, pattern, xml_start, xml_end) VALUES ")
_ROWS_PER_INSERT = 64
_ONE_ROW = "(" + ", ".join("?" * 15) + ")"
_INSERT_T_MANY = _INSERT_T + ", ".join([_ONE_ROW] * _ROWS_PER_INSERT)
_INSERT_T += _ONE_ROW


def pack(rows: Rows) -> Result:
    conn = sqlite3.connect(":memory:")
    try:
        conn.executescript(CHUNK_SCHEMA)
        conn.executemany("INSERT INTO s (sentid, file, offset, text, xml, nsub) "
                         "VALUES (?, ?, ?, ?, ?, ?)", rows.sentences)
        # 64 rows a statement: a quarter less time than one (64 x 15 values stay under the
        # 999 variables every SQLite build allows)
        subtrees = rows.subtrees
        full = len(subtrees) - len(subtrees) % _ROWS_PER_INSERT
        it = iter(subtrees[:full])
        conn.executemany(_INSERT_T_MANY, (tuple(chain.from_iterable(group))
                                          for group in zip(*[it] * _ROWS_PER_INSERT)))
        conn.executemany(_INSERT_T, subtrees[full:])
        conn.commit()
        chunk = conn.serialize()
    finally:
        conn.close()
    return Result(rows.seq, chunk, len(rows.sentences), len(rows.subtrees), rows.cat_counts,
                  rows.errors, rows.newlines, rows.end, rows.files)


class BadSentence(Exception):
    def __init__(self, message: str, line: int | None = None, sentid: str | None = None):
        super().__init__(message)
        self.line = line
        self.sentid = sentid


class _WellFormed:
    """A parser target without callbacks: libxml2 checks a sentence without building a tree,
    three times faster than parsing it into one."""

    def close(self) -> None:
        return None


def _parsers(encoding: str) -> tuple[etree.XMLParser, etree.XMLParser]:
    """(checking parser, tree parser): no DTD, no entity expansion, no network."""
    options = dict(
        encoding=None if utf8_codec(encoding) else encoding,
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
        collect_ids=False,
    )
    return etree.XMLParser(target=_WellFormed(), **options), etree.XMLParser(**options)


def _parse(raw: bytes, parser: etree.XMLParser) -> etree._Element | None:
    try:
        return etree.fromstring(raw, parser)
    except etree.XMLSyntaxError as e:
        raise BadSentence(f"not well-formed XML: {e.msg}", e.lineno or None) from None


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


def _structure(xml: bytes, root: etree._Element, count: int):
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


def sentence_rows(raw: bytes, parsers: tuple[etree.XMLParser, etree.XMLParser],
                  encoding: str | None, max_children: int,
                  max_nodes: int, index: int, subtrees: list,
                  counts: dict[str, list[int]]) -> tuple:
    """Parse one `<alpino_ds>` and append its subtree rows; return (sentid, text, zxml).

    `encoding` is None for UTF-8 input, else the codec to transcode from (storage is UTF-8).
    `counts` (cat -> [subtrees, sentences]) numbers the subtrees of each category in order.
    """
    check, tree = parsers
    fast = None
    if _scan is not None:
        _parse(raw, check)  # well-formed? (no tree: the C scan reads what is needed)
        xml = raw if encoding is None else raw.decode(encoding).encode("utf-8")
        fast = _scan.scan(xml, max_children, max_nodes, index, counts)
    if fast is not None and fast[0] > 0:  # (numbered, counted: the rows are final)
        _, rows, sentid, sentence_sentid, text, _ = fast
        if sentid is None:
            sentid = sentence_sentid
        subtrees.extend(rows)
        return sentid, text, _compress(xml, ZLIB_LEVEL)
    # lxml's tree, and Python
    root = _parse(raw, tree)
    sentid = root.get("id")
    sentence = next(root.iterchildren("sentence"), None)  # (find() is ElementPath: slow)
    text = sentence.text if sentence is not None else None
    if sentid is None and sentence is not None:
        sentid = sentence.get("sentid")
    xml = raw if encoding is None else raw.decode(encoding).encode("utf-8")
    xml, rows = _python_rows(root, sentid, xml, max_children, max_nodes)
    seen: set[str] = set()
    append = subtrees.append
    for row in rows:  # number each category's subtrees in order
        cat = row[0]
        c = counts.get(cat)
        if c is None:
            c = counts[cat] = [0, 0]
        c[0] += 1
        if cat not in seen:
            seen.add(cat)
            c[1] += 1
        append((index, cat, c[0]) + row[1:])
    return sentid, text, _compress(xml, ZLIB_LEVEL)


def _python_rows(root: etree._Element, sentid: str | None, xml: bytes, max_children: int,
                 max_nodes: int) -> tuple[bytes, list[tuple]]:
    """The rows `_scan.scan` finds (before numbering), with lxml and Python only (for any
    input, and where the C extension could not be built); also the bytes the spans refer to."""
    nodes = list(root.iter("node"))
    if not nodes:
        raise BadSentence("<alpino_ds> holds no <node>", None, sentid)
    xml, (starts, ends, parent, level, kids, size, height) = _structure(xml, root, len(nodes))
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


def _vanished(path: str, what: str) -> InputError:
    return InputError(
        f"{shown(path)}: {what} while it was being indexed; what was indexed before is kept; "
        "when the input is final, run again (with --replace if it changed)"
    )


def _read(task: Task) -> bytes:
    if task.kind == "bytes":
        assert task.data is not None
        return task.data
    try:
        with open(task.path, "rb") as f:
            f.seek(task.start)
            data = f.read(task.end - task.start)
    except FileNotFoundError:
        raise _vanished(task.path, "was removed") from None
    except OSError as e:
        raise InputError(f"{shown(task.path)}: cannot be read ({e.strerror or e}); what was "
                         "indexed before is kept; fix it and run the same command again") from None
    if len(data) != task.end - task.start:
        raise _vanished(task.path, "became shorter")
    return data


def _error_message(e: Exception) -> str:
    if isinstance(e, UnicodeDecodeError):
        return f"cannot be decoded: {e}"
    return str(e)


def _run_treebank(task: Task) -> Rows:
    data = _read(task)
    parsers = _parsers(task.encoding)
    transcode = None if utf8_codec(task.encoding) else task.encoding
    sentences: list[tuple] = []
    subtrees: list[tuple] = []
    counts: dict[str, list[int]] = {}
    errors: list[tuple] = []
    for a, b in sentence_spans(data, 0, len(data)):
        offset = task.start + a
        raw = sentence_bytes(data, a, b)
        try:
            if raw is None:
                raise BadSentence(f"truncated: no {END.decode()} before the end of the input", 1)
            before = len(subtrees)
            row = sentence_rows(raw, parsers, transcode, task.max_children, task.max_nodes,
                                len(sentences), subtrees, counts)
        except Exception as e:  # noqa: BLE001 - any failure is this sentence's error, reported
            line = getattr(e, "line", None) or 1
            errors.append((None, offset, data.count(b"\n", 0, a) + line,
                           getattr(e, "sentid", None) or _guess_id(data[a:b]), _error_message(e)))
            continue
        sentences.append((row[0], None, offset, row[1], row[2], len(subtrees) - before))
    return Rows(task.seq, sentences, subtrees, counts, errors, data.count(b"\n"), task.end, 0)


_ID = re.compile(rb"<alpino_ds\b[^>]*?\sid\s*=\s*[\"']([^\"'<>]*)[\"']")


def _guess_id(segment: bytes) -> str | None:
    m = _ID.match(segment)
    return m.group(1).decode("utf-8", "replace") if m else None


def _run_files(task: Task) -> Rows:
    sentences: list[tuple] = []
    subtrees: list[tuple] = []
    counts: dict[str, list[int]] = {}
    errors: list[tuple] = []
    base = task.path
    for name in task.files:
        rel = shown(name[len(base) + 1 :] if name.startswith(base + "/") else name)
        try:
            if name.endswith(".gz"):
                with gzip.open(name, "rb") as f:
                    data = f.read()
            else:
                with open(name, "rb") as f:
                    data = f.read()
        except FileNotFoundError:
            raise _vanished(name, "was removed") from None
        except (OSError, EOFError) as e:
            errors.append((rel, None, None, None, f"cannot be read: {e}"))
            continue
        stem = rel.rsplit("/", 1)[-1].split(".xml")[0]
        a = data.find(b"<alpino_ds")
        try:
            encoding = read_prologue(data[:4096], rel).encoding
            if a < 0:
                raise BadSentence("holds no <alpino_ds> element", 1)
            raw = sentence_bytes(data, a)
            if raw is None:
                raise BadSentence(f"truncated: no {END.decode()} before the end of the file", 1)
            before = len(subtrees)
            row = sentence_rows(raw, _parsers(encoding),
                                None if utf8_codec(encoding) else encoding, task.max_children,
                                task.max_nodes, len(sentences), subtrees, counts)
        except Exception as e:  # noqa: BLE001 - any failure is this file's error, reported
            line = getattr(e, "line", None) or 1
            first = data.count(b"\n", 0, max(a, 0))
            errors.append((rel, None, first + line, getattr(e, "sentid", None) or stem,
                           _error_message(e)))
            continue
        sentences.append((row[0] or stem, rel, None, row[1], row[2], len(subtrees) - before))
    return Rows(task.seq, sentences, subtrees, counts, errors, 0, 0, len(task.files))


def extract_rows(task: Task) -> Rows:
    """Parse the sentences of one task into rows."""
    if task.kind == "files":
        return _run_files(task)
    return _run_treebank(task)


def run_task(task: Task) -> Result:
    """Parse the sentences of one task and pack the rows. Picklable entry point for any
    executor: the result is plain data (bytes, ints, small lists)."""
    return pack(extract_rows(task))
