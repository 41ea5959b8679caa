"""Treebank files: one `<treebank>` of `<alpino_ds>` sentences per file (as SoNaR and Lassy
Large ship them), plain or gzip-compressed. A file is a corpus named after its stem.

The coordinator reads the file through a fixed buffer and cuts it into byte ranges on
sentence boundaries (`split`); workers read their own ranges ('range' tasks). A .gz file
cannot be read from the middle: the coordinator decompresses it and sends the bytes ('bytes'
tasks). Resume is by bytes: the uncompressed offset indexed up to, always a boundary.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..worker.contract import RawSentence, Task, TaskInput
from .base import Corpus, Format, MakeTask, Resume, changed, stamp_of, vanished
from .sniff import Prologue, is_gzip, shown
from .split import (
    END,
    LARGEST_PIECE,
    NoBoundary,
    guess_id,
    next_start,
    pieces,
    sentence_bytes,
    sentence_spans,
)

DEFAULT_CHUNK = 2 << 20
_SAMPLE = 64 * 1024
_SAMPLES = 16


def stem(path: Path) -> str:
    name = path.name
    for suffix in (".xml.gz", ".gz", ".xml"):
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return path.stem


def corpus_of(path: Path, prologue: Prologue) -> Corpus:
    """The corpus of one treebank file."""
    st = path.stat()
    source = path.resolve()
    return Corpus(name=shown(stem(path)), kind=TreebankFile.kind, source=source,
                  files=[source], input_bytes=st.st_size, encoding=prologue.encoding,
                  stamps=[stamp_of(st)], label=shown(source.name))


class TreebankFile(Format):
    kind = "treebank"
    task_kinds = ("range", "bytes")

    def fingerprint(self, corpus: Corpus) -> str:
        """The size and 17 sampled blocks of 64 KiB."""
        h = hashlib.sha256()
        h.update(f"treebank {corpus.input_bytes}\n".encode())
        with open(corpus.source, "rb") as f:
            step = max(corpus.input_bytes // _SAMPLES, 1)
            for i in range(_SAMPLES + 1):
                f.seek(min(i * step, max(corpus.input_bytes - _SAMPLE, 0)))
                h.update(f.read(_SAMPLE))
        return h.hexdigest()[:32]

    def check(self, corpus: Corpus) -> None:
        """Raise InputError if the file holds no sentence at all."""
        for _, data, _ in _pieces(corpus, 0, DEFAULT_CHUNK):
            if next_start(data, 0, len(data)) >= 0:
                return
        raise InputError(
            f"{corpus.source}: holds no <alpino_ds> sentences; is it the right file?"
        )

    def remaining_bytes(self, corpus: Corpus, resume: Resume) -> int:
        if is_gzip(corpus.source):  # read again from the start
            return corpus.input_bytes
        return max(corpus.input_bytes - resume.done_bytes, 0)

    def plan(self, corpus: Corpus, resume: Resume, chunk: int, make_task: MakeTask
             ) -> Iterator[tuple[Task, int]]:
        gz = is_gzip(corpus.source)
        last = 0 if gz else resume.done_bytes
        for offset, data, position in _pieces(corpus, resume.done_bytes, chunk):
            if gz:  # workers get the bytes: they cannot seek into a gzip stream
                task = make_task("bytes", str(corpus.source), offset, offset + len(data), data,
                                 encoding=corpus.encoding)
            else:  # workers read their own byte range
                task = make_task("range", str(corpus.source), offset, offset + len(data),
                                 encoding=corpus.encoding)
            yield task, position - last
            last = position

    def read(self, task: Task) -> TaskInput:
        data = _read(task)
        return TaskInput(_sentences(task, data), newlines=data.count(b"\n"), end=task.end)

    def describe(self, corpus: Corpus, resume: Resume) -> str:
        if is_gzip(corpus.source):
            return f"byte {resume.done_bytes:,} (of the decompressed data)"
        return f"byte {resume.done_bytes:,} of {corpus.input_bytes:,}"


def _sentences(task: Task, data: bytes) -> Iterator[RawSentence]:
    line, counted = 0, 0  # newlines before `counted`: counted as the spans go (linear)
    for a, b in sentence_spans(data, 0, len(data)):
        raw = sentence_bytes(data, a, b)
        line += data.count(b"\n", counted, a)
        counted = a
        if raw is None:
            yield RawSentence(None, f"truncated: no {END.decode()} before the end of the input",
                              task.encoding, task.start + a, None, line, guess_id(data[a:b]))
        else:
            yield RawSentence(raw, None, task.encoding, task.start + a, None, line, None,
                              guess_id=True)


def _read(task: Task) -> bytes:
    if task.kind == "bytes":
        assert task.data is not None
        return task.data
    try:
        with open(task.path, "rb") as f:
            f.seek(task.start)
            data = f.read(task.end - task.start)
    except FileNotFoundError:
        raise vanished(task.path, "was removed") from None
    except OSError as e:
        raise InputError(f"{shown(task.path)}: cannot be read ({e.strerror or e}); what was "
                         "indexed before is kept; fix it and run the same command again") from None
    if len(data) != task.end - task.start:
        raise vanished(task.path, "became shorter")
    return data


def _pieces(corpus: Corpus, skip: int, chunk: int) -> Iterator[tuple[int, bytes, int]]:
    """Read a treebank file (decompressing .gz) as (offset, bytes, position) pieces of about
    `chunk` bytes; every piece but the first starts at a sentence boundary, the first at
    `skip` (0, or the boundary an interrupted run stopped at). `position` is how far the file
    itself has been read (compressed bytes for .gz), for progress.

    Reads with a fixed buffer: memory stays flat however large the file.
    """
    path = corpus.source
    try:
        with open(path, "rb") as raw:
            if is_gzip(path):
                f: Any = Gunzip(raw)
                left = skip
                while left > 0:
                    got = len(f.read(min(left, 1 << 22)))
                    if got == 0:
                        return
                    left -= got
            else:
                f = raw
                f.seek(skip)
            end = skip
            for offset, data, position in pieces(f, skip, chunk, raw.tell):
                end = offset + len(data)
                yield offset, data, position
            if not is_gzip(path) and end != corpus.input_bytes:
                raise changed(corpus)
    except NoBoundary as e:
        raise InputError(
            f"{path}: no <alpino_ds> sentence starts in the {LARGEST_PIECE >> 20} MB after "
            f"byte {e.offset}: "
            "an unterminated comment (<!--), CDATA section or processing instruction there "
            "hides the rest of the file; fix it, then run the same command (what was indexed "
            "before that point is kept)"
        ) from None
    except (OSError, EOFError, zlib.error) as e:
        raise InputError(
            f"{path}: cannot be read ({e}); what was read before is indexed; check the file "
            "(for .gz: gzip -t) and run again"
        ) from e


class Gunzip:
    """Decompresses a .gz file as a stream (all members), and treats a file that ends too
    early like a truncated XML file: everything before the cut is read, then end of file (the
    unfinished sentence is then recorded as truncated). gzip.GzipFile raises instead, losing
    the data it had decompressed in that call."""

    def __init__(self, raw: Any) -> None:
        self.raw = raw
        self.z = zlib.decompressobj(wbits=31)
        self.pending = b""
        self.truncated = False

    def read(self, n: int) -> bytes:
        while len(self.pending) < n:
            if self.z.eof:  # a member ended: another may follow
                rest = self.z.unused_data or self.raw.read(1 << 20)
                if not rest:
                    break
                self.z = zlib.decompressobj(wbits=31)
                self.pending += self.z.decompress(rest)
                continue
            block = self.raw.read(1 << 20)
            if not block:
                self.truncated = True  # the stream stopped inside a member
                break
            self.pending += self.z.decompress(block)
        out, self.pending = self.pending[:n], self.pending[n:]
        return out


