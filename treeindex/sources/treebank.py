"""Treebank files: one `<treebank>` of `<alpino_ds>` sentences per file (as SoNaR and Lassy
Large ship them), plain or gzip-compressed. A file is a corpus named after its stem.

The coordinator reads the file through one reused buffer and cuts it into byte ranges on
sentence boundaries (`split.range_cuts`); workers read their own ranges ('range' tasks), and
hand the worker's loop the task's bytes and spans (`TaskInput.spans`). A .gz file
cannot be read from the middle: the coordinator decompresses it and sends the bytes ('bytes'
tasks). Resume is by bytes: the uncompressed offset indexed up to, always a boundary.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..worker.contract import RawSentence, Task, TaskInput
from .base import Corpus, Format, MakeTask, Resume, changed_file, stamp_of, vanished
from .sniff import Prologue, is_gzip, read_head, read_prologue, shown, utf8_codec
from .split import (
    END,
    LARGEST_PIECE,
    NoBoundary,
    guess_id,
    next_start,
    pieces,
    range_cuts,
    split_lines,
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
                  sizes=[st.st_size], stamps=[stamp_of(st)], label=shown(source.name))


def joined(parts: list[Corpus], name: str) -> Corpus:
    """Treebank files as the parts of one corpus, in the order given (`--name`). Resume is
    by (file, byte offset in it); a sentence's `file` names its file."""
    files = [f for c in parts for f in c.files]
    sizes = [s for c in parts for s in c.sizes]
    return Corpus(name=name, kind=TreebankFile.kind, source=files[0], files=files,
                  input_bytes=sum(sizes), encoding=parts[0].encoding, sizes=sizes,
                  stamps=[s for c in parts for s in c.stamps])


def _sample_hash(h: Any, path: Path, size: int) -> None:
    with open(path, "rb") as f:
        step = max(size // _SAMPLES, 1)
        for i in range(_SAMPLES + 1):
            f.seek(min(i * step, max(size - _SAMPLE, 0)))
            h.update(f.read(_SAMPLE))


class TreebankFile(Format):
    kind = "treebank"
    task_kinds = ("range", "bytes")

    def fingerprint(self, corpus: Corpus) -> str:
        """The size and 17 sampled blocks of 64 KiB (of each file, for several)."""
        h = hashlib.sha256()
        if len(corpus.files) == 1:
            h.update(f"treebank {corpus.input_bytes}\n".encode())
            _sample_hash(h, corpus.source, corpus.input_bytes)
        else:
            for path, size in zip(corpus.files, corpus.sizes):
                h.update(f"treebank {shown(path.name)} {size}\n".encode())
                _sample_hash(h, path, size)
        return h.hexdigest()[:32]

    def check(self, corpus: Corpus) -> None:
        """Raise InputError if a file holds no sentence at all."""
        for path, size in zip(corpus.files, corpus.sizes):
            if not any(next_start(data, 0, len(data)) >= 0
                       for _, data, _ in _pieces(path, size, 0, DEFAULT_CHUNK)):
                raise InputError(
                    f"{path}: holds no <alpino_ds> sentences; is it the right file?"
                )

    def remaining_bytes(self, corpus: Corpus, resume: Resume) -> int:
        sizes = corpus.sizes
        if len(sizes) == 1:
            if is_gzip(corpus.source):  # read again from the start
                return corpus.input_bytes
            return max(corpus.input_bytes - resume.done_bytes, 0)
        return max(sum(sizes[resume.done_files:]) - resume.done_bytes, 0)

    def plan(self, corpus: Corpus, resume: Resume, chunk: int, make_task: MakeTask
             ) -> Iterator[tuple[Task, int]]:
        """Pieces of each file from the resume point; with several files, the last piece of
        each file but the last moves the resume point to the next file's start."""
        sizes = corpus.sizes
        several = len(corpus.files) > 1
        first = resume.done_files if several else 0
        for k in range(first, len(corpus.files)):
            path, size = corpus.files[k], sizes[k]
            skip = resume.done_bytes if k == first else 0
            if corpus.byte_range is not None:  # a shard: only its bytes
                skip = max(skip, corpus.byte_range[0])
                size = corpus.byte_range[1]
            encoding = (read_prologue(read_head(path), shown(path)).encoding if several
                        else corpus.encoding)
            marks: tuple[str, ...] = ("file",) if several else ()
            gz = is_gzip(path)
            last = 0 if gz else skip
            held: tuple[Task, int] | None = None
            for offset, length, data, position in _ranges(path, size, skip, chunk):
                if data is not None:  # .gz: workers get the bytes (they cannot seek into it)
                    task = make_task("bytes", str(path), offset, offset + length, data,
                                     files=marks, encoding=encoding)
                else:  # workers read their own byte range
                    task = make_task("range", str(path), offset, offset + length,
                                     files=marks, encoding=encoding)
                if held is not None:
                    yield held
                held = (task, position - last)
                last = position
            if held is not None:
                if several and k < len(corpus.files) - 1:
                    held = (held[0]._replace(files=("file", "last")), held[1])
                yield held

    def read(self, task: Task) -> TaskInput:
        data = _read(task)
        if task.files[-1:] == ("last",):  # the end of a file of several: on to the next
            read = TaskInput(iter(()), end=0, files=1)
        else:
            read = TaskInput(iter(()), end=task.end)
        read.sentences, spans = _sentences(task, data, read)
        if task.encoding == "utf-8" or utf8_codec(task.encoding):
            read.spans = spans  # (the worker's fast path: the same sentences)
        return read

    def describe(self, corpus: Corpus, resume: Resume) -> str:
        if len(corpus.files) > 1:
            path = corpus.files[min(resume.done_files, len(corpus.files) - 1)]
            return (f"byte {resume.done_bytes:,} of file {resume.done_files + 1:,} of "
                    f"{len(corpus.files):,} ({shown(path.name)})")
        if is_gzip(corpus.source):
            return f"byte {resume.done_bytes:,} (of the decompressed data)"
        return f"byte {resume.done_bytes:,} of {corpus.input_bytes:,}"


def _sentences(task: Task, data: bytes, read: TaskInput) -> tuple[
        Iterator[RawSentence],
        tuple[bytes, list[tuple[int, int, int, int]], str | None,
              Callable[[int, int, int, int], RawSentence]]]:
    """The task's sentences, and what `TaskInput.spans` takes; sets `read.newlines` (the
    newlines are counted once, as the sentences' lines are). (Nothing here refers to
    `read`: a worker that takes the spans leaves the iterator unstarted, and an iterator
    that held `read`, which holds it, would keep the task's bytes until Python's cycle
    collector ran: +24 MB in a worker.)"""
    spans, read.newlines = split_lines(data, 0, len(data))
    file = shown(Path(task.path).name) if task.files else None  # (several files: named)
    make = partial(_raw, task, data, file)
    return (make(a, b, e, line) for a, b, e, line in spans), (data, spans, file, make)


def _raw(task: Task, data: bytes, file: str | None, a: int, b: int, e: int, line: int
         ) -> RawSentence:
    """The sentence of one span."""
    if e < 0:
        return RawSentence(None, f"truncated: no {END.decode()} before the end of the input",
                           task.encoding, task.start + a, file, line, guess_id(data[a:b]))
    return RawSentence(data[a:e], None, task.encoding, task.start + a, file, line, None,
                       True)  # (guess_id, positional: a keyword adds 0.35 us a sentence)


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


def _pieces(path: Path, size: int, skip: int, chunk: int) -> Iterator[tuple[int, bytes, int]]:
    """Read a treebank file (decompressing .gz) as (offset, bytes, position) pieces of about
    `chunk` bytes; every piece but the first starts at a sentence boundary, the first at
    `skip` (0, or the boundary an interrupted run stopped at). `position` is how far the file
    itself has been read (compressed bytes for .gz), for progress. A plain file is read up to
    `size` (its size, or the end of a shard's byte range).

    Reads with a fixed buffer: memory stays flat however large the file.
    """
    with _reading(path):
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
                f = _Upto(raw, size)
                raw.seek(skip)
            end = skip
            for offset, data, position in pieces(f, skip, chunk, raw.tell):
                end = offset + len(data)
                yield offset, data, position
            if not is_gzip(path) and end != size:
                raise changed_file(path)


def _ranges(path: Path, size: int, skip: int, chunk: int
            ) -> Iterator[tuple[int, int, bytes | None, int]]:
    """`_pieces` as (offset, length, bytes, position), where the bytes are None for a plain
    file: its tasks read their own byte ranges, so its pieces are found without being copied
    out (split.range_cuts); a .gz file's tasks carry their bytes."""
    if is_gzip(path):
        for offset, data, position in _pieces(path, size, skip, chunk):
            yield offset, len(data), data, position
        return
    with _reading(path):
        with open(path, "rb") as raw:
            end = skip
            for offset, length, position in range_cuts(raw.fileno(), skip, size, chunk):
                end = offset + length
                yield offset, length, None, position
            if end != size:
                raise changed_file(path)


@contextmanager
def _reading(path: Path) -> Iterator[None]:
    """The errors of reading a treebank file to cut it, as one-line messages."""
    try:
        yield
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


class _Upto:
    """A plain file read no further than `stop`."""

    def __init__(self, f: Any, stop: int) -> None:
        self.f = f
        self.stop = stop

    def read(self, n: int = -1) -> bytes:
        left = self.stop - self.f.tell()
        if left <= 0:
            return b""
        return self.f.read(left if n < 0 else min(n, left))


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


