"""The contract every input format implements, and the corpus it describes.

A format is one module under `sources/` with one `Format` subclass. The coordinator asks it
to fingerprint a corpus, to check it before anything is written, and to plan tasks from a
resume point; a worker asks it to read a task's sentences. Nothing else in treeindex knows
how the format is laid out, and `corpora.kind` stores the format's `kind` as text.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, NamedTuple

from ..errors import InputError
from ..worker.contract import RawSentence, Task, TaskInput
from .sniff import read_prologue, shown
from .split import END, sentence_bytes


class Resume(NamedTuple):
    """Where a corpus's indexing stands (its row in `corpora`)."""

    done_bytes: int  # formats that resume by bytes: the offset indexed up to
    done_files: int  # formats that resume by units: files (entries, members) done
    sentences: int
    errors: int


# make_task(kind, path, start=0, end=0, data=None, files=(), encoding="utf-8") -> Task:
# the coordinator numbers the tasks and adds the settings
MakeTask = Callable[..., Task]


@dataclass
class Corpus:
    """One corpus to index, as discovered."""

    name: str
    kind: str  # the format that reads it (FORMATS[kind])
    source: Path  # the file or directory it comes from
    files: list[Path]
    input_bytes: int
    encoding: str = "utf-8"  # the declared encoding, where the format has one per corpus
    sizes: list[int] = field(default_factory=list)
    # (size, mtime_ns) of each file when it was discovered: `changed_file` compares
    stamps: list[tuple[int, int]] = field(default_factory=list)
    label: str | None = None  # the file name error rows name when a sentence has none
    # files beside the corpus's own that were skipped (not treebanks, unreadable): (file,
    # relative to the corpus's directory; reason), recorded in `errors` with the corpus
    skipped: list[tuple[str, str]] = field(default_factory=list)
    members: list[str] = field(default_factory=list)  # inside an archive: its members
    archive_members: list[str] = field(default_factory=list)  # (and those of its neighbours)
    # (start, stop): only these bytes of a single plain treebank file, both sentence
    # boundaries (a shard of a cluster ingest: treeindex/cluster)
    byte_range: tuple[int, int] | None = None
    _fingerprint: str | None = None

    @property
    def format(self) -> Format:
        from . import FORMATS

        return FORMATS[self.kind]

    @property
    def source_text(self) -> str:
        return shown(self.source)

    @property
    def fingerprint(self) -> str:
        """Identifies the content (computed once, by the format)."""
        if self._fingerprint is None:
            self._fingerprint = self.format.fingerprint(self)
        return self._fingerprint

    def changed_file(self) -> Path | None:
        """The first file whose size or modification time is no longer what it was planned
        with (gone included), or None."""
        for path, stamp in zip(self.files, self.stamps):
            try:
                st = path.stat()
            except OSError:
                return path
            if stamp_of(st) != stamp:
                return path
        return None


def batches(sizes: Sequence[int], start: int, chunk: int, most: int
            ) -> Iterator[tuple[int, int, int]]:
    """(i, j, bytes) of consecutive units start..: each batch about `chunk` bytes (at least
    one unit) and at most `most` units: how formats that resume by units cut their tasks."""
    i = start
    while i < len(sizes):
        j, total = i, 0
        while j < len(sizes) and j - i < most and (total < chunk or j == i):
            total += sizes[j]
            j += 1
        yield i, j, total
        i = j


def stamp_of(st: os.stat_result) -> tuple[int, int]:
    return st.st_size, st.st_mtime_ns


class Format(ABC):
    """One input format."""

    kind: ClassVar[str]  # stored in corpora.kind
    task_kinds: ClassVar[tuple[str, ...]]  # the Task.kind values its `read` takes

    def claims(self, path: Path) -> bool:
        """Whether this format reads `path` (a file or directory given to ingest or found in
        a directory), asked before XML files are sniffed. The XML formats claim nothing
        here: discovery sniffs XML files itself."""
        return False

    def corpora(self, path: Path) -> list[Corpus]:
        """The corpora in a path this format claims (none for a companion file)."""
        raise NotImplementedError

    @abstractmethod
    def fingerprint(self, corpus: Corpus) -> str:
        """A short text that changes when the input's content does (cheap: sampled)."""

    def check(self, corpus: Corpus) -> None:  # noqa: B027 - optional
        """Raise InputError if the corpus cannot be indexed at all (before any write)."""

    @abstractmethod
    def remaining_bytes(self, corpus: Corpus, resume: Resume) -> int:
        """Input bytes still to read from `resume` on (for progress)."""

    @abstractmethod
    def plan(self, corpus: Corpus, resume: Resume, chunk: int, make_task: MakeTask
             ) -> Iterator[tuple[Task, int]]:
        """Tasks from `resume` on, in document order, each with the input bytes it accounts
        for (for progress); tasks of about `chunk` bytes."""

    @abstractmethod
    def read(self, task: Task) -> TaskInput:
        """A task's sentences (in a worker)."""

    def sample(self, corpus: Corpus, max_bytes: int) -> list[bytes]:
        """The first sentences of the corpus, about `max_bytes` of them (to train the
        compression dictionary on; read here, in the coordinator, with the format's own
        plan and read, in fixed-size tasks so that the sample never depends on settings)."""
        out: list[bytes] = []
        total = 0

        def make_task(kind: str, path: str, start: int = 0, end: int = 0,
                      data: bytes | None = None, files: tuple[str, ...] = (),
                      encoding: str = "utf-8") -> Task:
            return Task(0, kind, path, start, end, data, files, encoding, 1, 1)

        from . import reader

        try:
            for task, _ in self.plan(corpus, Resume(0, 0, 0, 0), 1 << 20, make_task):
                for s in reader(task.kind)(task).sentences:
                    if s.xml is not None:
                        out.append(s.xml)
                        total += len(s.xml)
                        if total >= max_bytes:
                            return out
        except InputError:  # a damaged input: the run itself reports it, where it is
            pass
        return out

    @abstractmethod
    def describe(self, corpus: Corpus, resume: Resume) -> str:
        """Where `resume` is, for a person: 'byte 1,234 of 5,678', 'file 12 of 40'."""


def changed_file(path: Path) -> InputError:
    """A file no longer as planned; one that is gone is said to be removed, as its reader
    says it (which of the two sees it first depends on how far planning ran ahead)."""
    if not path.exists():
        return vanished(str(path), "was removed")
    return InputError(
        f"{path}: changed while it was being indexed (size or modification time "
        "differ from when the ingest started); what was indexed before is kept; when the file "
        "is final, run again with --replace to index it from scratch"
    )


def vanished(path: str, what: str) -> InputError:
    return InputError(
        f"{shown(path)}: {what} while it was being indexed; what was indexed before is kept; "
        "when the input is final, run again (with --replace if it changed)"
    )


def one_sentence(data: bytes, file: str, default_id: str, where: str,
                 declared: dict[bytes, str], unit: str = "file") -> RawSentence:
    """The sentence of a one-sentence XML document (a file, a compact entry, an archive
    member), or why there is none. `declared` caches the encoding of each XML declaration
    met (the documents of a corpus share one)."""
    a = data.find(b"<alpino_ds")
    line = data.count(b"\n", 0, max(a, 0))
    decl = data[:data.find(b"?>", 0, 200) + 2] if data.startswith(b"<?xml") else b""
    encoding = declared.get(decl) if decl and a >= 0 else None
    if encoding is None:
        try:
            encoding = read_prologue(data[:4096], where).encoding
        except InputError as e:
            return RawSentence(None, str(e), "utf-8", None, file, line, default_id)
        if decl and a >= 0:
            declared[decl] = encoding
    if a < 0:
        return RawSentence(None, "holds no <alpino_ds> element", encoding, None, file, line,
                           default_id)
    xml = sentence_bytes(data, a)
    if xml is None:
        return RawSentence(None, f"truncated: no {END.decode()} before the end of the {unit}",
                           encoding, None, file, line, default_id)
    return RawSentence(xml, None, encoding, None, file, line, default_id)
