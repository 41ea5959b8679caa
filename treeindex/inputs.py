"""Turn the paths given to `ingest` into corpora: what to read, in which order, under which name.

- a multi-sentence file (`<treebank>` of `<alpino_ds>`, optionally .gz) is a corpus named
  after its stem;
- in a directory, each such file is its own corpus, and the one-sentence files (root
  `<alpino_ds>`) together form one corpus named after the directory; subdirectories are
  handled the same way. Files are taken in natural order (`9.xml` before `10.xml`).

Only prologues are read here (no XML is parsed); nothing touches the database.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from .errors import InputError
from .sniff import Prologue, is_gzip, read_head, read_prologue, shown

SUFFIXES = (".xml", ".xml.gz")
_SAMPLE = 64 * 1024
_SAMPLES = 16
_DIGITS = re.compile(r"(\d+)")


def natural_key(name: str) -> tuple:
    """Sort key comparing runs of digits as numbers: p.1.s.2 < p.1.s.10, 9.xml < 10.xml."""
    parts = _DIGITS.split(name)
    return tuple(int(p) if i % 2 else p for i, p in enumerate(parts)) + (name,)


def stem(path: Path) -> str:
    name = path.name
    for suffix in (".xml.gz", ".gz", ".xml"):
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return path.stem


@dataclass
class Corpus:
    """One corpus to index."""

    name: str
    kind: str  # 'treebank' or 'directory'
    source: Path
    files: list[Path]
    input_bytes: int
    encoding: str = "utf-8"  # treebank files: the declared encoding
    sizes: list[int] = field(default_factory=list)
    # (size, mtime_ns) of each file when it was discovered: `unchanged` compares
    stamps: list[tuple[int, int]] = field(default_factory=list)
    _fingerprint: str | None = None

    def unchanged(self) -> bool:
        """Whether every file still has the size and modification time it was planned with."""
        for path, stamp in zip(self.files, self.stamps):
            try:
                st = path.stat()
            except OSError:
                return False
            if (st.st_size, st.st_mtime_ns) != stamp:
                return False
        return True

    @property
    def gzip(self) -> bool:
        return self.kind == "treebank" and is_gzip(self.source)

    @property
    def fingerprint(self) -> str:
        """Identifies the content: size plus samples of a file; names and sizes in a directory."""
        if self._fingerprint is None:
            h = hashlib.sha256()
            if self.kind == "treebank":
                h.update(f"treebank {self.input_bytes}\n".encode())
                with open(self.source, "rb") as f:
                    step = max(self.input_bytes // _SAMPLES, 1)
                    for i in range(_SAMPLES + 1):
                        f.seek(min(i * step, max(self.input_bytes - _SAMPLE, 0)))
                        h.update(f.read(_SAMPLE))
            else:
                h.update(f"directory {len(self.files)}\n".encode())
                for p, size in zip(self.files, self.sizes):
                    h.update(os.fsencode(p.relative_to(self.source)) + f"\0{size}\n".encode())
            self._fingerprint = h.hexdigest()[:32]
        return self._fingerprint


@dataclass
class Discovery:
    corpora: list[Corpus]
    skipped: list[tuple[Path, str]]  # files inside directories that are not treebanks


def _stamp(st: os.stat_result) -> tuple[int, int]:
    return st.st_size, st.st_mtime_ns


def _treebank(path: Path, prologue: Prologue) -> Corpus:
    st = path.stat()
    return Corpus(
        name=shown(stem(path)),
        kind="treebank",
        source=path.resolve(),
        files=[path.resolve()],
        input_bytes=st.st_size,
        encoding=prologue.encoding,
        stamps=[_stamp(st)],
    )


def _walk(directory: Path, corpora: list[Corpus], skipped: list[tuple[Path, str]],
          seen: set[tuple[int, int]]) -> None:
    try:
        st = directory.stat()
        if (st.st_dev, st.st_ino) in seen:
            skipped.append((directory, f"{shown(directory)}: a link back to a directory "
                                       "already read (a loop); skipped"))
            return
        seen.add((st.st_dev, st.st_ino))
        entries = sorted(os.scandir(directory), key=lambda e: natural_key(e.name))
    except OSError as e:
        skipped.append((directory, f"{shown(directory)}: cannot be read ({e.strerror}); "
                                   "skipped: fix its permissions to include it"))
        return
    singles: list[Path] = []
    sizes: list[int] = []
    stamps: list[tuple[int, int]] = []
    subdirs: list[Path] = []
    for entry in entries:
        path = Path(entry.path)
        try:
            if entry.is_dir():
                subdirs.append(path)
                continue
            if not entry.name.endswith(SUFFIXES) or not entry.is_file():
                if entry.name.endswith(SUFFIXES) and entry.is_symlink():
                    skipped.append((path, f"{shown(path)}: a link to nothing readable; skipped"))
                continue
            prologue = read_prologue(read_head(path, 4096), shown(path))
            file_st = entry.stat()
        except InputError as e:
            skipped.append((path, str(e)))
            continue
        except OSError as e:
            skipped.append((path, f"{shown(path)}: cannot be read ({e.strerror}); skipped"))
            continue
        if prologue.kind == "sentence":
            singles.append(path.resolve())
            sizes.append(file_st.st_size)
            stamps.append(_stamp(file_st))
        else:
            corpora.append(_treebank(path, prologue))
    if singles:
        source = directory.resolve()
        corpora.append(Corpus(shown(source.name), "directory", source, singles, sum(sizes),
                              sizes=sizes, stamps=stamps))
    for sub in subdirs:
        _walk(sub, corpora, skipped, seen)


def discover(paths: list[Path]) -> Discovery:
    """Find the corpora in `paths`; raise InputError for a path that holds no treebank."""
    corpora: list[Corpus] = []
    skipped: list[tuple[Path, str]] = []
    for path in paths:
        if path.is_dir():
            before = len(corpora)
            _walk(path, corpora, skipped, set())
            if len(corpora) == before:
                raise InputError(
                    f"{shown(path)}: holds no Alpino treebank files (*.xml, *.xml.gz with "
                    "<treebank> or <alpino_ds> roots)"
                )
        elif path.is_file():
            prologue = read_prologue(read_head(path), shown(path))
            if prologue.kind == "sentence":
                st = path.stat()
                corpora.append(
                    Corpus(shown(stem(path)), "directory", path.resolve().parent,
                           [path.resolve()], st.st_size, sizes=[st.st_size], stamps=[_stamp(st)])
                )
            else:
                corpora.append(_treebank(path, prologue))
        else:
            raise InputError(f"{shown(path)}: no such file or directory")
    seen: dict[str, Corpus] = {}
    for c in corpora:
        if c.name in seen:
            raise InputError(
                f"two inputs would both be corpus {c.name!r}: {seen[c.name].source} and "
                f"{c.source}; rename one or ingest them into separate databases"
            )
        seen[c.name] = c
    return Discovery(corpora, skipped)
