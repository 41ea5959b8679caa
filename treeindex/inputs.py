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
from .sniff import Prologue, is_gzip, read_head, read_prologue

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
    _fingerprint: str | None = None

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
                    h.update(f"{p.relative_to(self.source)}\0{size}\n".encode())
            self._fingerprint = h.hexdigest()[:32]
        return self._fingerprint


@dataclass
class Discovery:
    corpora: list[Corpus]
    skipped: list[tuple[Path, str]]  # files inside directories that are not treebanks


def _treebank(path: Path, prologue: Prologue) -> Corpus:
    return Corpus(
        name=stem(path),
        kind="treebank",
        source=path.resolve(),
        files=[path.resolve()],
        input_bytes=path.stat().st_size,
        encoding=prologue.encoding,
    )


def _walk(directory: Path, corpora: list[Corpus], skipped: list[tuple[Path, str]]) -> None:
    entries = sorted(os.scandir(directory), key=lambda e: natural_key(e.name))
    singles: list[Path] = []
    sizes: list[int] = []
    subdirs: list[Path] = []
    for entry in entries:
        path = Path(entry.path)
        if entry.is_dir():
            subdirs.append(path)
            continue
        if not entry.name.endswith(SUFFIXES) or not entry.is_file():
            continue
        try:
            prologue = read_prologue(read_head(path, 4096), str(path))
        except InputError as e:
            skipped.append((path, str(e)))
            continue
        if prologue.kind == "sentence":
            singles.append(path.resolve())
            sizes.append(entry.stat().st_size)
        else:
            corpora.append(_treebank(path, prologue))
    if singles:
        source = directory.resolve()
        corpora.append(
            Corpus(directory.resolve().name, "directory", source, singles, sum(sizes), sizes=sizes)
        )
    for sub in subdirs:
        _walk(sub, corpora, skipped)


def discover(paths: list[Path]) -> Discovery:
    """Find the corpora in `paths`; raise InputError for a path that holds no treebank."""
    corpora: list[Corpus] = []
    skipped: list[tuple[Path, str]] = []
    for path in paths:
        if path.is_dir():
            before = len(corpora)
            _walk(path, corpora, skipped)
            if len(corpora) == before:
                raise InputError(
                    f"{path}: holds no Alpino treebank files (*.xml, *.xml.gz with <treebank> "
                    "or <alpino_ds> roots)"
                )
        elif path.is_file():
            prologue = read_prologue(read_head(path), str(path))
            if prologue.kind == "sentence":
                corpora.append(
                    Corpus(stem(path), "directory", path.resolve().parent, [path.resolve()],
                           path.stat().st_size, sizes=[path.stat().st_size])
                )
            else:
                corpora.append(_treebank(path, prologue))
        else:
            raise InputError(f"{path}: no such file or directory")
    seen: dict[str, Corpus] = {}
    for c in corpora:
        if c.name in seen:
            raise InputError(
                f"two inputs would both be corpus {c.name!r}: {seen[c.name].source} and "
                f"{c.source}; rename one or ingest them into separate databases"
            )
        seen[c.name] = c
    return Discovery(corpora, skipped)
