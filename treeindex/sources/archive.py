"""Archives (.zip, .tar, .tar.gz/.tgz) of one-sentence files and treebank files, as Lassy
Small and uploads to GrETEL and PaQu come. Each folder inside is a corpus exactly as the same
folder on disk would be (names, natural order, ids): the one-sentence files of a folder form
one corpus named after it (the archive's own stem for the top), each treebank file is a
corpus named after its stem. Nothing is unpacked to disk.

- zip members are read with random access, by the workers ('zip-members' tasks);
- a tar is read in order by the coordinator, in one pass shared by all the corpora in it
  (`_TarStream`; after a pass that lists it), which sends the members' bytes
  ('tar-members' tasks);
- a treebank file inside is streamed by the coordinator into 'bytes' tasks, as a .gz file is.

Resume is by members done (treebank members: by bytes). Hostile archives are refused before
anything is written: absolute names, `..`, links and devices, and members that would inflate
far beyond what they take in the archive (zip bombs).
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import stat
import tarfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, BinaryIO, cast

from ..errors import InputError
from ..worker.contract import RawSentence, Task, TaskInput
from .base import Corpus, Format, MakeTask, Resume, batches, one_sentence, stamp_of
from .discovery import SUFFIXES, natural_key
from .sniff import read_prologue, shown
from .split import LARGEST_PIECE, NoBoundary, pieces
from .treebank import stem

ARCHIVES = (".zip", ".tar", ".tar.gz", ".tgz")
MEMBERS_PER_TASK = 256
MAX_RATIO = 1000  # a member that would inflate more than this from its compressed size
MAX_MEMBER = 8 << 30
MAX_HELD = 256 << 20  # tar members held to put them in name order: memory stays bounded


def _is_archive(path: Path) -> bool:
    return path.name.endswith(ARCHIVES)


def _archive_stem(path: Path) -> str:
    name = path.name
    for suffix in (".tar.gz", ".tgz", ".zip", ".tar"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def _check_name(archive: Path, name: str) -> None:
    where = f"{shown(archive)}: member {name!r}"
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        raise InputError(f"{where} has an absolute name; refusing the archive (nothing was "
                         "written): unpack it yourself and check what it holds")
    if ".." in name.replace("\\", "/").split("/"):
        raise InputError(f"{where} climbs out of the archive (..); refusing the archive "
                         "(nothing was written)")


class _Listing:
    """The XML members of an archive: (name, size, kind) in archive order, kind being the
    prologue's ('sentence' or 'treebank') or why the member is skipped (only that is kept of
    each member's head: memory stays small however many members there are)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.zip = path.name.endswith(".zip")
        self.members: list[tuple[str, int, str | InputError]] = []
        try:
            self._zip() if self.zip else self._tar()
        except (zipfile.BadZipFile, tarfile.TarError, OSError, EOFError) as e:
            raise InputError(f"{shown(path)}: cannot be read as an archive ({e}); is it "
                             "complete?") from None

    def _add(self, name: str, size: int, f: IO[bytes]) -> None:
        kind: str | InputError
        if name.endswith(".gz"):
            kind = InputError(f"{shown(self.path)}: member {name}: .xml.gz files inside "
                              "archives are not read; unpack the archive, or store them "
                              "uncompressed")
        else:
            try:
                kind = read_prologue(f.read(4096), f"{shown(self.path)}: member {name}").kind
            except InputError as e:
                kind = e
        self.members.append((name, size, kind))

    def _zip(self) -> None:
        with zipfile.ZipFile(self.path) as zf:
            for info in zf.infolist():
                _check_name(self.path, info.filename)
                if info.is_dir():
                    continue
                if stat.S_ISLNK(info.external_attr >> 16):
                    raise InputError(f"{shown(self.path)}: member {info.filename!r} is a link; "
                                     "refusing the archive (nothing was written)")
                if info.file_size > MAX_MEMBER or info.file_size > MAX_RATIO * max(
                        info.compress_size, 1) and info.file_size > (1 << 20):
                    raise InputError(
                        f"{shown(self.path)}: member {info.filename!r} would inflate to "
                        f"{info.file_size:,} bytes from {info.compress_size:,}: refusing a "
                        "likely zip bomb (nothing was written)")
                if info.filename.endswith(SUFFIXES):
                    with zf.open(info) as f:
                        self._add(info.filename, info.file_size, f)

    def _tar(self) -> None:
        with tarfile.open(self.path, "r|*") as tf:
            for info in tf:
                _check_name(self.path, info.name)
                if info.issym() or info.islnk() or info.isdev() or info.isfifo():
                    raise InputError(f"{shown(self.path)}: member {info.name!r} is a link or "
                                     "device; refusing the archive (nothing was written)")
                if info.isfile() and info.name.endswith(SUFFIXES):
                    f = tf.extractfile(info)
                    assert f is not None
                    self._add(info.name, info.size, f)


class Archive(Format):
    """The one-sentence files of one folder inside an archive."""

    kind = "archive"
    task_kinds = ("zip-members", "tar-members")

    def claims(self, path: Path) -> bool:
        return _is_archive(path) and path.is_file()

    def corpora(self, path: Path) -> list[Corpus]:
        listing = _Listing(path)
        st = path.stat()
        folders: dict[str, list[tuple[str, int]]] = {}
        treebanks: dict[str, list[tuple[str, int]]] = {}
        skipped: dict[str, list[tuple[str, str]]] = {}  # directory -> (file, reason)
        for name, size, kind in listing.members:
            d = posixpath.dirname(name)
            if isinstance(kind, InputError):
                skipped.setdefault(d, []).append((posixpath.basename(name), str(kind)))
                continue
            (folders if kind == "sentence" else treebanks).setdefault(d, []).append((name, size))
        dirs = sorted(set(folders) | set(treebanks), key=lambda d: [natural_key(p) for p in
                                                                    d.split("/")] if d else [])
        out: list[Corpus] = []
        every = [m for ms in folders.values() for m, _ in ms]  # (what a tar stream may hold)
        for d in dirs:  # as a walk of the unpacked tree: each folder's treebanks, then itself
            for name, size in sorted(treebanks.get(d, []),
                                     key=lambda m: natural_key(posixpath.basename(m[0]))):
                out.append(Corpus(name=shown(stem(Path(posixpath.basename(name)))),
                                  kind=ArchiveTreebank.kind, source=path.resolve(),
                                  files=[path.resolve()], input_bytes=size, sizes=[size],
                                  stamps=[stamp_of(st)], label=posixpath.basename(name),
                                  members=[name], archive_members=every))
            members = sorted(folders.get(d, []),
                             key=lambda m: natural_key(posixpath.basename(m[0])))
            if members:
                out.append(Corpus(name=shown(posixpath.basename(d) or _archive_stem(path)),
                                  kind=self.kind, source=path.resolve(), files=[path.resolve()],
                                  input_bytes=sum(s for _, s in members),
                                  sizes=[s for _, s in members], stamps=[stamp_of(st)],
                                  members=[m for m, _ in members], archive_members=every))
        for d, files in skipped.items():  # recorded in `errors` with the nearest corpus
            near = [c for c in out if posixpath.dirname(c.members[0]) == d] or \
                [c for c in out if d.startswith(posixpath.dirname(c.members[0]))] or out[:1]
            for c in near[:1]:
                c.skipped += files
        return out

    def fingerprint(self, corpus: Corpus) -> str:
        h = hashlib.sha256()
        h.update(f"archive {corpus.input_bytes}\n".encode())
        for m, size in zip(corpus.members, corpus.sizes):
            h.update(f"{m}\0{size}\n".encode("utf-8", "surrogateescape"))
        return h.hexdigest()[:32]

    def remaining_bytes(self, corpus: Corpus, resume: Resume) -> int:
        return sum(corpus.sizes[resume.done_files:])

    def plan(self, corpus: Corpus, resume: Resume, chunk: int, make_task: MakeTask
             ) -> Iterator[tuple[Task, int]]:
        zipped = corpus.source.name.endswith(".zip")
        for i, j, total in batches(corpus.sizes, resume.done_files, chunk, MEMBERS_PER_TASK):
            members = corpus.members[i:j]
            if zipped:
                yield make_task("zip-members", str(corpus.source), files=tuple(members)), total
                continue
            # a tar: read in order by one stream shared by all the corpora of the archive,
            # the members' bytes go with the tasks
            stream = _TarStream.of(corpus)
            blobs = [stream.take(m) for m in members]
            yield (make_task("tar-members", str(corpus.source), data=b"".join(blobs),
                             files=tuple(f"{len(x)}\t{m}" for m, x in zip(members, blobs))),
                   total)

    def read(self, task: Task) -> TaskInput:
        return TaskInput(_sentences(task), files=len(task.files))

    def describe(self, corpus: Corpus, resume: Resume) -> str:
        return f"member {resume.done_files + 1:,} of {len(corpus.members):,}"


# one open zip per process and archive: an open file (and its offset) must never be shared
# with forked workers
_zips: dict[tuple[int, str], zipfile.ZipFile] = {}


class _TarStream:
    """One pass over a tar for all the corpora in it (a compressed tar cannot be read from
    the middle): members are taken in the order the corpora need them; a member met before
    its turn (another corpus's, or out of name order) is held, up to MAX_HELD bytes. A member
    asked for after the stream passed it without holding it (a rerun, or a resume) restarts
    the stream: correct, only slower."""

    _open: dict[tuple[str, tuple], _TarStream] = {}

    def __init__(self, path: Path, wanted: set[str]) -> None:
        self.path = path
        self.wanted = wanted  # the members any corpus of the archive may ask for
        self.held: dict[str, bytes] = {}
        self.bytes_held = 0
        self.passed: set[str] = set()
        self.tar: Any = None
        self.members: Iterator[Any] = iter(())

    @classmethod
    def of(cls, corpus: Corpus) -> _TarStream:
        key = (str(corpus.source), tuple(corpus.stamps))
        stream = cls._open.get(key)
        if stream is None:
            cls.close_all()
            stream = cls._open[key] = cls(corpus.source, set(corpus.archive_members))
        return stream

    @classmethod
    def close_all(cls) -> None:
        for stream in cls._open.values():
            if stream.tar is not None:
                stream.tar.close()
        cls._open.clear()

    def _restart(self) -> None:
        if self.tar is not None:
            self.tar.close()
        self.tar = tarfile.open(self.path, "r|*")
        self.members = iter(self.tar)
        self.passed.clear()
        self.held.clear()
        self.bytes_held = 0

    def take(self, name: str) -> bytes:
        """A one-sentence member's bytes."""
        data = self.held.pop(name, None)
        if data is not None:
            self.bytes_held -= len(data)
            return data
        return self.stream(name).read()

    def stream(self, name: str) -> IO[bytes]:
        """A member as a stream, read from where the pass stands (it must be read before the
        next member is asked for: a treebank file is not held)."""
        if self.tar is None or name in self.passed:
            self._restart()
        for info in self.members:
            self.passed.add(info.name)
            if info.name == name or info.name in self.wanted:
                f = self.tar.extractfile(info)
                assert f is not None
                if info.name == name:
                    return f
                data = f.read()
                self.held[info.name] = data
                self.bytes_held += len(data)
                if self.bytes_held > MAX_HELD:
                    raise InputError(
                        f"{shown(self.path)}: its members are far from name order, so more "
                        f"than {MAX_HELD >> 20} MB would have to be held to index them in "
                        "order; make the tar with `tar --sort=name`, or unpack it")
        raise InputError(f"{shown(self.path)}: member {name!r} is missing: the archive changed "
                         "while it was being indexed; run again with --replace")


def _member_bytes(task: Task) -> Iterator[tuple[str, bytes | None, str | None]]:
    if task.kind == "tar-members":
        assert task.data is not None
        pos = 0
        for entry in task.files:
            size, name = entry.split("\t", 1)
            yield name, task.data[pos:pos + int(size)], None
            pos += int(size)
        return
    key = (os.getpid(), task.path)
    zf = _zips.get(key)
    if zf is None:
        zf = _zips[key] = zipfile.ZipFile(task.path)
    for name in task.files:
        try:
            yield name, zf.read(name), None
        except (zipfile.BadZipFile, OSError, EOFError, KeyError) as e:
            yield name, None, f"cannot be read: {e}"


def _sentences(task: Task) -> Iterator[RawSentence]:
    declared: dict[bytes, str] = {}
    for name, data, error in _member_bytes(task):
        rel = posixpath.basename(name)
        if data is None:
            yield RawSentence(None, error, "utf-8", None, rel, None, None)
            continue
        yield one_sentence(data, rel, rel.split(".xml")[0], rel, declared)


class ArchiveTreebank(Format):
    """A treebank file inside an archive, streamed by the coordinator."""

    kind = "archive-treebank"
    task_kinds = ()  # its tasks are 'bytes' tasks, read as treebank files are

    def fingerprint(self, corpus: Corpus) -> str:
        return hashlib.sha256(f"archive-treebank {corpus.members[0]}\0{corpus.input_bytes}"
                              .encode("utf-8", "surrogateescape")).hexdigest()[:32]

    def remaining_bytes(self, corpus: Corpus, resume: Resume) -> int:
        return max(corpus.input_bytes - resume.done_bytes, 0)

    def plan(self, corpus: Corpus, resume: Resume, chunk: int, make_task: MakeTask
             ) -> Iterator[tuple[Task, int]]:
        member = corpus.members[0]
        with _open_member(corpus) as f:
            left = resume.done_bytes
            while left > 0:
                got = len(f.read(min(left, 1 << 22)))
                if not got:
                    return
                left -= got
            last = resume.done_bytes
            try:
                for offset, data, _ in pieces(cast(BinaryIO, f), resume.done_bytes, chunk,
                                              lambda: 0):
                    yield (make_task("bytes", str(corpus.source), offset, offset + len(data),
                                     data), offset + len(data) - last)
                    last = offset + len(data)
            except NoBoundary as e:
                raise InputError(f"{shown(corpus.source)}: member {member!r}: no <alpino_ds> "
                                 f"starts in the {LARGEST_PIECE >> 20} MB after byte "
                                 f"{e.offset}") from None

    def read(self, task: Task) -> TaskInput:
        """(Its tasks are 'bytes' tasks: the treebank format reads them.)"""
        from . import reader

        return reader(task.kind)(task)

    def describe(self, corpus: Corpus, resume: Resume) -> str:
        return f"byte {resume.done_bytes:,} of member {corpus.members[0]!r}"


class _open_member:
    """A member of an archive as a stream (zip: directly; tar: read in order to it)."""

    def __init__(self, corpus: Corpus) -> None:
        self.corpus = corpus
        self.archive, self.member = corpus.source, corpus.members[0]
        self.owner: Any = None

    def __enter__(self) -> IO[bytes]:
        if self.archive.name.endswith(".zip"):
            self.owner = zipfile.ZipFile(self.archive)
            return self.owner.open(self.member)
        return _TarStream.of(self.corpus).stream(self.member)  # (the archive's one pass)

    def __exit__(self, *exc: object) -> None:
        if self.owner is not None:
            self.owner.close()
