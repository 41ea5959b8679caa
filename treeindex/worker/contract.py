"""The task/result contract between the coordinator and the workers.

A `Task` names a piece of input (which input format reads it: `kind`); the worker reads its
sentences through that format (`sources.reader`), turns them into `Rows` and packs them into
a `Result` (store/packed.py), which is plain data any executor can carry.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import NamedTuple


class Task(NamedTuple):
    seq: int  # position of the task in its corpus's stream (results are written in this order)
    # how to read it, and so which input format does: 'range' (read path[start:end]) and
    # 'bytes' (data) are treebank files, 'files' one-sentence files (see sources.reader)
    kind: str
    path: str
    start: int
    end: int
    data: bytes | None
    files: tuple[str, ...]
    encoding: str
    max_children: int
    max_nodes: int
    # the index's zstd dictionary (store/codec.py): sentences are compressed with it; None:
    # zlib (about 64 KB a task: small next to a task's megabytes, and any executor carries it)
    dictionary: bytes | None = None


class Rows(NamedTuple):
    """What a task found, as Python rows (`run_task` packs them for the writer)."""

    seq: int
    # (sentid or None, file or None, offset or None, text, compressed xml, number of
    #  subtrees, subtrees of this result before it, search terms (search/terms.py))
    sentences: list[tuple]
    # (sentence index in this result, cat, number within this result's subtrees of that cat,
    #  node, rel, begin, end, children, nodes, depth, level, parent_cat, pattern, xml_start,
    #  xml_end); empty when they went to a packer (`extract_rows`)
    subtrees: list[tuple]
    # cat -> [subtrees, sentences] in this result
    cat_counts: dict[str, list[int]]
    # (file or None, offset or None, line (relative to the task's first line) or None,
    #  sentid or None, message)
    errors: list[tuple]
    newlines: int  # newlines in the task's bytes (to number lines across tasks)
    end: int | None  # uncompressed offset the task ends at (None: the format counts units)
    files: int  # units (files, entries) read
    # children pattern -> its number (each subtree row's pattern is its number)
    patterns: dict[str, int]
    nodes: bytes | None = None  # the sentences' node block (search/nodestore.py)


class Result(NamedTuple):
    """What a worker sends back: the rows packed as a small SQLite database image, which the
    writer attaches and copies from in bulk (no per-row work in the writer's Python)."""

    seq: int
    chunk: bytes  # the rows in the packed format (store/packed.py)
    sentences: int
    subtrees: int
    cat_counts: dict[str, list[int]]
    errors: list[tuple]
    newlines: int
    end: int | None  # the byte offset the task ends at (None: the format counts units)
    files: int
    nodes: bytes | None = None  # the sentences' node block (search/nodestore.py)




class RawSentence(NamedTuple):
    """One sentence as an input format reads it, before it is checked."""

    xml: bytes | None  # the <alpino_ds>...</alpino_ds> bytes; None if they cannot be had
    error: str | None  # why xml is None (unreadable, truncated, no <alpino_ds>)
    encoding: str  # the codec the bytes are in
    offset: int | None  # byte offset of the sentence in its (uncompressed) file
    file: str | None  # the file, relative to the corpus, when a corpus has many
    # newlines before the sentence in its file (in its task, where offset is set); None where
    # no line can be named (an unreadable file)
    line: int | None
    default_id: str | None  # the id when the sentence holds none (a file's stem)
    guess_id: bool = False  # on an error, read the id from the raw bytes


@dataclass
class TaskInput:
    """What a worker reads for one task: its sentences, and the numbers the resume point
    moves by."""

    sentences: Iterator[RawSentence]
    # newlines in the task's bytes (a format may count them as it reads: known once
    # `sentences` is exhausted)
    newlines: int = 0
    end: int | None = None  # the offset the task ends at, for formats that resume by bytes
    files: int = 0  # units read, for formats that resume by units
    extra: dict = field(default_factory=dict)
    # optional, for the worker's fast path where the sentences are UTF-8 spans of one bytes
    # object: (those bytes, the spans (a, b, e, line) as sources.split.split_lines gives
    # them, the file each sentence names, and a function of a span's (a, b, e, line) that
    # makes the RawSentence `sentences` yields for it); `sentences` yields the same ones
    spans: tuple[bytes, list[tuple[int, int, int, int]], str | None,
                 Callable[[int, int, int, int], RawSentence]] | None = None
