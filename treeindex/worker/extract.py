"""Worker side: read a task's sentences (through their input format), check and scan them,
return packed rows. Never touches the index.

For each sentence the worker
- checks that it is well-formed: in the C scanner's pass (`_wellformed.c`) where that check
  is certain, else with lxml (no DTD, no entity expansion, no network) without building a
  tree, whose message and line then make the error;
- finds, with the C scanner (`_scan.c`), the byte span, structure and attributes of every
  `<node>`, so that export can cut any subtree out of the stored XML exactly as written;
  sentences the scanner hands over go through lxml's tree and the Python path instead
  (`scan.py`);
- emits one row per kept node (1..max_children node children, at most max_nodes nodes);
- compresses the sentence's bytes for storage (zstd with the index's dictionary, else zlib);
- adds the sentence to the task's node block (search/nodestore.py), which also makes its
  search terms (search/terms.py) from the values it puts in the block's columns.
The rows are then packed into a small SQLite image (store/packed.py) for the writer: where
store/_pack.c was built, the scanner adds each subtree's row to it as it finds the row.
Every function here is pure computation on bytes, so any executor can run `run_task` (in
processes or in threads: the compressors are one per thread).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lxml import etree

from .. import sources
from ..search.nodestore import BlockBuilder, sentence_elements
from ..sources.sniff import utf8_codec
from ..sources.split import guess_id
from ..store import packed
from ..store.codec import MAX_XML, ZSTD_LEVEL, zstd_compressor
from ..store.packed import pack
from .check import BadSentence, parse, parsers
from .contract import RawSentence, Result, Rows, Task
from .scan import Tally, python_rows

try:  # the C fast path (treeindex/worker/_scan.c), built at install when a compiler is there
    from . import _scan  # type: ignore[attr-defined,unused-ignore]
except ImportError:  # pragma: no cover - exercised where no compiler was available
    _scan = None

try:  # ISA-L's deflate: about 3x faster than zlib at the same ratio (standard zlib streams),
    # for indexes without a zstd dictionary
    from isal.isal_zlib import compress as _deflate
except ImportError:  # pragma: no cover - platforms without isal wheels
    from zlib import compress as _deflate

ZLIB_LEVEL = 1


def compressor(dictionary: bytes | None) -> Callable[[bytes], bytes]:
    """How a task's sentences are compressed: zstd with the index's dictionary (this
    thread's compressor: store/codec.py), else zlib."""
    if dictionary is None:
        return _zlib
    return zstd_compressor(ZSTD_LEVEL, dictionary)


def _zlib(xml: bytes) -> bytes:
    return _deflate(xml, ZLIB_LEVEL)


__all__ = ["Result", "Rows", "Task", "extract_rows", "run_task", "sentence_rows"]


def sentence_rows(raw: bytes, parser_pair: tuple[etree.XMLParser, etree.XMLParser],
                  encoding: str | None, max_children: int,
                  max_nodes: int, index: int, subtrees: list, tally: Any,
                  packer: Any = None) -> tuple:
    """Parse one `<alpino_ds>` and append its subtree rows (to `packer`, store/packed.py,
    when one is given); return (sentid, text, its UTF-8 xml (compressed later, with the
    task's others), what its node block and search terms are made from: its UTF-8 bytes,
    or its elements as lxml read them).

    `encoding` is None for UTF-8 input, else the codec to transcode from (storage is UTF-8).
    `tally` (the task's `new_tally()`) numbers the subtrees of each category in order, and
    the children patterns in order of first appearance: each row holds its pattern's
    number, not its text.
    """
    check, tree = parser_pair
    fast: Any = None
    if _scan is not None:
        # UTF-8: the C scan checks well-formedness in its pass where it is certain; where
        # it is not (False), and for other encodings, lxml checks (its message and line are
        # the error) and the scan runs without checking
        xml = raw
        fast = (_scan.scan(xml, max_children, max_nodes, index, tally, True, packer)
                if encoding is None else False)
        if fast is False:
            parse(raw, check)
            if encoding is not None:
                xml = raw.decode(encoding).encode("utf-8")
            fast = _scan.scan(xml, max_children, max_nodes, index, tally, False, packer)
    if fast is not None and fast[0] > 0:  # (numbered, counted: the rows are final)
        if packer is None:
            subtrees.extend(fast[1])
        return _scanned_id(fast), fast[4], xml, xml
    # lxml's tree, and Python
    root = parse(raw, tree)
    sentid = root.get("id")
    sentence = next(root.iterchildren("sentence"), None)  # (find() is ElementPath: slow)
    text = sentence.text if sentence is not None else None
    if sentid is None and sentence is not None:
        sentid = sentence.get("sentid")
    xml = raw if encoding is None else raw.decode(encoding).encode("utf-8")
    xml, rows = python_rows(root, sentid, xml, max_children, max_nodes)
    made: list[tuple] = subtrees if packer is None else []
    append = made.append
    tally.sentence()
    subtree, pattern = tally.subtree, tally.pattern
    for row in rows:  # number each category's subtrees in order
        append((index, row[0], subtree(row[0])) + row[1:10] + (pattern(row[10]),) + row[11:])
    if packer is not None:
        packer.subtrees(made)
    return sentid, text, xml, sentence_elements(root)


def new_tally() -> Any:
    """A task's numbering of its rows: the C scanner's where it is built (the Python path
    numbers through it too), else worker/scan.py's."""
    return _scan.Tally() if _scan is not None else Tally()


def _scanned_id(found: tuple) -> str | None:
    """The id of a sentence the C scanner took: alpino_ds/@id, else sentence/@sentid."""
    return found[2] if found[2] is not None else found[3]


def _error_message(e: Exception) -> str:
    if isinstance(e, UnicodeDecodeError):
        return f"cannot be decoded: {e}"
    return str(e)


def extract_rows(task: Task, packer: Any = None) -> Rows:
    """Check and scan the sentences of one task into rows; with a `packer` (store/packed.py)
    the subtree rows go into it as they are found (`Rows.subtrees` is then empty)."""
    read = sources.reader(task.kind)(task)
    # (sentid, file, offset, text, xml, subtrees, first subtree, what its node block part
    # and search terms are made from: its UTF-8 bytes, or its elements as lxml read them)
    scanned: list[tuple] = []
    subtrees: list[tuple] = []
    tally = new_tally()
    errors: list[tuple] = []
    cache: dict[str, tuple] = {}  # encoding -> (its parsers, None for UTF-8 else the codec)
    compress = compressor(task.dictionary)
    nodes = BlockBuilder()
    made = subtrees.__len__ if packer is None else lambda: packer.count  # (rows so far)

    def one(s: RawSentence) -> None:
        before = made()
        try:
            if s.xml is None:
                raise BadSentence(s.error or "cannot be read", 1)
            if len(s.xml) > MAX_XML:
                raise BadSentence(f"is {len(s.xml):,} bytes, more than the {MAX_XML >> 20} MB "
                                  "a sentence may be", 1)
            known = cache.get(s.encoding)
            if known is None:  # (once per encoding, not a codec look-up per sentence)
                known = cache[s.encoding] = (parsers(s.encoding),
                                             None if utf8_codec(s.encoding) else s.encoding)
            row = sentence_rows(s.xml, known[0], known[1], task.max_children, task.max_nodes,
                                len(scanned), subtrees, tally, packer)
        except Exception as e:  # noqa: BLE001 - any failure is this sentence's error, reported
            if packer is not None and made() != before:
                raise  # (some of its rows are in the image: the task fails, never half-made)
            errors.append(_error_row(s, e))
            return
        scanned.append((row[0] or s.default_id, s.file, s.offset, row[1], row[2],
                        made() - before, before, row[3]))

    if read.spans is None or _scan is None or packer is None:
        for s in read.sentences:
            one(s)
    else:
        # the fast path (UTF-8 spans of one bytes object): what sentence_rows does for a
        # sentence the C scanner takes whole, without an object or a call per sentence on
        # the way; any other sentence goes through `one` as above (the scan hands a
        # sentence over before it adds a row or a count, so scanning it again there gives
        # what one scan would)
        data, spans, file, raw = read.spans
        scan = _scan.scan
        children, most, start = task.max_children, task.max_nodes, task.start
        for a, b, e, line in spans:
            if 0 <= e - a <= MAX_XML:
                before = packer.count
                xml = data[a:e]
                try:
                    fast = scan(xml, children, most, len(scanned), tally, True, packer)
                except Exception:  # noqa: BLE001 - `one` makes its error row
                    if packer.count != before:
                        raise
                    fast = None
                if fast and fast[0] > 0:  # (a tuple: False and None hand it over)
                    # (an empty id is none: the sentence gets a positional one, as in `one`)
                    scanned.append((_scanned_id(fast) or None, file, start + a, fast[4], xml,
                                    packer.count - before, before, xml))
                    continue
            one(raw(a, b, e, line))
    # each sentence compressed, and its part of the node block and its search terms made,
    # after all were scanned: one kind of work at a time keeps its tables in the processor's
    # caches (the compressor's took 2.5 x as long between scans)
    stored = [compress(row[4]) for row in scanned]
    terms = nodes.add_all([row[7] for row in scanned])
    sentences = [(sentid, file, offset, text, xml, count, first, made_terms)
                 for (sentid, file, offset, text, _, count, first, _), xml, made_terms
                 in zip(scanned, stored, terms)]
    return Rows(task.seq, sentences, subtrees, tally.counts(), errors, read.newlines, read.end,
                read.files, tally.patterns(), nodes.finish() if nodes.sentences else None)


def _error_row(s: RawSentence, e: Exception) -> tuple:
    """(file, offset, line, sentid, message) of a sentence that could not be indexed."""
    line = None if s.line is None else s.line + (getattr(e, "line", None) or 1)
    sentid = getattr(e, "sentid", None)
    if sentid is None and s.guess_id and s.xml is not None:
        sentid = guess_id(s.xml)
    return (s.file, s.offset, line, sentid or s.default_id, _error_message(e))


def run_task(task: Task) -> Result:
    """Parse the sentences of one task and pack the rows. Picklable entry point for any
    executor: the result is plain data (bytes, ints, small lists)."""
    packer = packed.packer()
    rows = extract_rows(task, packer)
    if packer is None:
        chunk, subtrees = pack(rows.sentences, rows.subtrees, rows.patterns), len(rows.subtrees)
    else:  # (the subtree rows are in it already)
        subtrees = packer.count
        chunk = packed.finish(packer, rows.sentences, rows.patterns)
    return Result(rows.seq, chunk, len(rows.sentences), subtrees, rows.cat_counts,
                  rows.errors, rows.newlines, rows.end, rows.files, rows.nodes)
