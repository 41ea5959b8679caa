"""Compact corpora: Alpino's `X.data.dz` + `X.index` (TreebankTools/IndexedCorpus), as Dact,
PaQu and Alpino's own tools read them. Each is a corpus named after its stem; its entries
are its sentences, in the index's order; a sentence's id is its @id, else the entry's name
without `.xml`.

- `X.index`: a line per entry, `name<TAB>offset<TAB>size`, the numbers in base64 (alphabet
  `A-Za-z0-9+/`, most significant digit first, `A` = 0), counting bytes of the uncompressed
  data. Names may hold spaces.
- `X.data.dz`: a dictzip file: one gzip member whose FEXTRA field has an `RA` subfield
  (version 1, chunk length, chunk count, each chunk's compressed size); the data is deflated
  with a full flush after every chunk, so each chunk inflates on its own.

The coordinator reads only the index; workers read and inflate the chunks their entries lie
in ('compact' tasks). Resume is by entries done.
"""

from __future__ import annotations

import hashlib
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError
from ..worker.contract import RawSentence, Task, TaskInput
from .base import (
    Corpus,
    Format,
    MakeTask,
    Resume,
    batches,
    one_sentence,
    stamp_of,
    vanished,
)
from .sniff import shown

ENTRIES_PER_TASK = 4096  # (tasks are cut by bytes first: about a chunk of entries)
_B64 = {c: i for i, c in enumerate(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")}
_FHCRC, _FEXTRA, _FNAME, _FCOMMENT = 2, 4, 8, 16


def stem_of(path: Path) -> Path:
    """`X` for `X.index`, `X.data.dz` or `X` itself."""
    name = path.name
    for suffix in (".data.dz", ".index"):
        if name.endswith(suffix):
            return path.with_name(name[: -len(suffix)])
    return path


def _number(text: str, where: str) -> int:
    value = 0
    for ch in text:
        digit = _B64.get(ch)
        if digit is None:
            raise InputError(f"{where}: {text!r} is not a base64 number; is this an Alpino "
                             "compact corpus index?")
        value = value * 64 + digit
    return value


_indexes: dict[tuple[str, int, int], list[tuple[str, int, int]]] = {}


def read_index(path: Path) -> list[tuple[str, int, int]]:
    """(name, offset, size) of every entry; InputError naming the line of a bad one. (Read
    once per process while the file stays the same: check, sample and plan all need it.)"""
    try:
        st = path.stat()
    except OSError as e:
        raise InputError(f"{shown(path)}: cannot be read ({e.strerror})") from None
    key = (str(path), st.st_size, st.st_mtime_ns)
    cached = _indexes.get(key)
    if cached is None:
        cached = _read_index(path)
        _indexes.clear()  # (one corpus at a time: memory stays bounded)
        _indexes[key] = cached
    return cached


def _read_index(path: Path) -> list[tuple[str, int, int]]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"{shown(path)}: cannot be read ({e})") from None
    entries = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line:
            continue
        parts = line.split("\t")
        where = f"{shown(path)}, line {n}"
        if len(parts) != 3:
            raise InputError(f"{where}: expected name<TAB>offset<TAB>size, found {line[:60]!r}")
        entries.append((parts[0], _number(parts[1], where), _number(parts[2], where)))
    return entries


@dataclass(frozen=True)
class Dictzip:
    """Where the chunks of a dictzip file are."""

    chunk_length: int
    starts: tuple[int, ...]  # file offset of each chunk, and of the end of the last

    @property
    def size(self) -> int:  # the uncompressed size the chunks can hold, at most
        return self.chunk_length * (len(self.starts) - 1)


def read_header(path: Path) -> Dictzip:
    """The chunk table of a dictzip file; InputError if it is not one."""
    where = shown(path)
    try:
        with open(path, "rb") as f:
            head = f.read(10)
            if len(head) < 10 or head[:3] != b"\x1f\x8b\x08":
                raise InputError(f"{where}: is not a gzip file; a compact corpus's data is a "
                                 "dictzip (.data.dz) file")
            flags = head[3]
            if not flags & _FEXTRA:
                raise InputError(f"{where}: is gzip but not dictzip (no random-access table); "
                                 "recompress it with dictzip, or give the unpacked data")
            (xlen,) = struct.unpack("<H", f.read(2))
            extra = f.read(xlen)
            chunk_length = 0
            sizes: list[int] = []
            pos = 0
            while pos + 4 <= len(extra):
                si, length = extra[pos:pos + 2], struct.unpack("<H", extra[pos + 2:pos + 4])[0]
                body = extra[pos + 4:pos + 4 + length]
                if si == b"RA" and len(body) >= 6:
                    _, chunk_length, count = struct.unpack("<HHH", body[:6])
                    sizes = list(struct.unpack(f"<{count}H", body[6:6 + 2 * count]))
                pos += 4 + length
            if not chunk_length or not sizes:
                raise InputError(f"{where}: has no dictzip RA table in its gzip header")
            if flags & _FNAME:  # (Alpino's writer sets a name: skip it)
                while f.read(1) not in (b"\0", b""):
                    pass
            if flags & _FCOMMENT:
                while f.read(1) not in (b"\0", b""):
                    pass
            if flags & _FHCRC:
                f.read(2)
            start = f.tell()
    except OSError as e:
        raise InputError(f"{where}: cannot be read ({e.strerror})") from None
    starts = [start]
    for size in sizes:
        starts.append(starts[-1] + size)
    return Dictzip(chunk_length, tuple(starts))


def read_range(path: Path, table: Dictzip, start: int, end: int) -> bytes:
    """Uncompressed bytes [start, end) of a dictzip file, inflating only their chunks."""
    first, last = start // table.chunk_length, (max(end, start + 1) - 1) // table.chunk_length
    if end > table.size or last >= len(table.starts) - 1:
        raise InputError(f"{shown(path)}: an entry ends at byte {end:,}, past the data "
                         f"({table.size:,} bytes at most): the index does not belong to this "
                         "data, or the data is truncated")
    with open(path, "rb") as f:
        f.seek(table.starts[first])
        raw = f.read(table.starts[last + 1] - table.starts[first])
    out = []
    pos = 0
    for i in range(first, last + 1):
        size = table.starts[i + 1] - table.starts[i]
        try:
            out.append(zlib.decompressobj(-15).decompress(raw[pos:pos + size]))
        except zlib.error as e:
            raise InputError(f"{shown(path)}: chunk {i} does not inflate ({e}): the file is "
                             "damaged; what was indexed before is kept") from None
        pos += size
    data = b"".join(out)
    base = first * table.chunk_length
    if len(data) < end - base:
        raise InputError(f"{shown(path)}: the data ends at byte {base + len(data):,}, before "
                         f"an entry's end at {end:,}: the file is truncated")
    return data[start - base:end - base]


def corpus_of(stem: Path) -> Corpus:
    data, index = Path(f"{stem}.data.dz"), Path(f"{stem}.index")
    for p in (data, index):
        if not p.is_file():
            raise InputError(f"{shown(p)}: not found; a compact corpus is X.data.dz together "
                             "with X.index")
    st_data, st_index = data.stat(), index.stat()
    return Corpus(name=shown(stem.name), kind=Compact.kind, source=data.resolve(),
                  files=[data.resolve(), index.resolve()], input_bytes=st_data.st_size,
                  stamps=[stamp_of(st_data), stamp_of(st_index)])


def joined(parts: list[Corpus], name: str) -> Corpus:
    """Compact corpora as the parts of one corpus (a large collection ships as many parts,
    each at most about 1.9 GB): their entries in the order given."""
    files = [f for c in parts for f in c.files]
    return Corpus(name=name, kind=Compact.kind, source=parts[0].source, files=files,
                  input_bytes=sum(c.input_bytes for c in parts),
                  stamps=[s for c in parts for s in c.stamps])


def _parts(corpus: Corpus) -> list[tuple[Path, Path]]:
    """(data, index) of each part, in order."""
    return list(zip(corpus.files[0::2], corpus.files[1::2]))


def _totals(corpus: Corpus) -> list[tuple[int, int]]:
    """(entries, their bytes) of each part (read one part at a time: memory stays bounded)."""
    return [(len(entries), sum(size for _, _, size in entries))
            for entries in (read_index(index) for _, index in _parts(corpus))]


class Compact(Format):
    kind = "compact"
    task_kinds = ("compact",)

    def claims(self, path: Path) -> bool:
        name = path.name
        if name.endswith((".data.dz", ".index")):
            return True
        return not path.exists() and Path(f"{path}.index").is_file()  # the stem X

    def corpora(self, path: Path) -> list[Corpus]:
        return [corpus_of(stem_of(path))]

    def fingerprint(self, corpus: Corpus) -> str:
        """The indexes' content and the data's size."""
        h = hashlib.sha256()
        h.update(f"compact {corpus.input_bytes}\n".encode())
        for _, index in _parts(corpus):
            h.update(index.read_bytes())
        return h.hexdigest()[:32]

    def check(self, corpus: Corpus) -> None:
        for data, index in _parts(corpus):
            entries = read_index(index)
            if not entries:
                raise InputError(f"{shown(index)}: has no entries")
            table = read_header(data)
            end = max(o + s for _, o, s in entries)
            if end > table.size:
                raise InputError(f"{shown(index)}: entries end at byte {end:,}, past the data "
                                 f"of {shown(data)} ({table.size:,} bytes at most): they do "
                                 "not belong together")

    def remaining_bytes(self, corpus: Corpus, resume: Resume) -> int:
        done, left = 0, resume.done_files
        for (count, size), (_, index) in zip(_totals(corpus), _parts(corpus)):
            if left >= count:
                done, left = done + size, left - count
            else:
                done += sum(s for _, _, s in read_index(index)[:left])
                break
        total = sum(size for _, size in _totals(corpus)) or 1
        return int(corpus.input_bytes * (1 - done / total))

    def plan(self, corpus: Corpus, resume: Resume, chunk: int, make_task: MakeTask
             ) -> Iterator[tuple[Task, int]]:
        total = sum(size for _, size in _totals(corpus)) or 1
        skip = resume.done_files  # entries done, over all parts
        for data, index in _parts(corpus):  # one part's index in memory at a time
            entries = read_index(index)
            if skip >= len(entries):
                skip -= len(entries)
                continue
            sizes = [size for _, _, size in entries]
            for i, j, size in batches(sizes, skip, chunk, ENTRIES_PER_TASK):
                files = tuple(f"{o}\t{s}\t{name}" for name, o, s in entries[i:j])
                yield (make_task("compact", str(data), files=files),
                       int(corpus.input_bytes * size / total))
            skip = 0

    def read(self, task: Task) -> TaskInput:
        return TaskInput(_sentences(task), files=len(task.files))

    def describe(self, corpus: Corpus, resume: Resume) -> str:
        return f"entry {resume.done_files + 1:,} of {sum(n for n, _ in _totals(corpus)):,}"


_tables: dict[str, Dictzip] = {}


def _sentences(task: Task) -> Iterator[RawSentence]:
    path = Path(task.path)
    if not path.exists():
        raise vanished(task.path, "was removed")
    table = _tables.get(task.path) or _tables.setdefault(task.path, read_header(path))
    entries = [(int(o), int(s), name) for o, s, name in (e.split("\t", 2) for e in task.files)]
    lo = min(o for o, _, _ in entries)
    hi = max(o + s for o, s, _ in entries)
    data = read_range(path, table, lo, hi)
    declared: dict[bytes, str] = {}  # the entries of a corpus share one XML declaration
    for offset, size, name in entries:
        raw = data[offset - lo:offset - lo + size]
        entry_stem = name[:-4] if name.endswith(".xml") else name
        yield one_sentence(raw, name, entry_stem, f"entry {name}", declared, "entry")
