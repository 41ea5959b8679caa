"""Turn the paths given to `ingest` into corpora: what to read, in which order, under which name
(and which input format reads it).

- a multi-sentence file (`<treebank>` of `<alpino_ds>`, optionally .gz) is a corpus named
  after its stem;
- in a directory, each such file is its own corpus, and the one-sentence files (root
  `<alpino_ds>`) together form one corpus named after the directory; subdirectories are
  handled the same way. Files are taken in natural order (`9.xml` before `10.xml`).

Only prologues are read here (no XML is parsed); nothing touches the database.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError
from . import compact, folder, treebank
from .base import Corpus
from .sniff import read_head, read_prologue, shown

SUFFIXES = (".xml", ".xml.gz")
_DIGITS = re.compile(r"(\d+)")


def natural_key(name: str) -> tuple:
    """Sort key comparing runs of digits as numbers: p.1.s.2 < p.1.s.10, 9.xml < 10.xml."""
    parts = _DIGITS.split(name)  # text, number, text, ..., text: never a number beside a text
    # the name apart, as a tie-break: beside the parts, 'ex' against 'ex2.log' compared the
    # name with the number 2 (a TypeError; every order that did not fail is unchanged)
    return tuple(int(p) if i % 2 else p for i, p in enumerate(parts)), name


def _not_a_file(path: Path) -> str:
    """What `path` is, when it is neither a regular file nor a directory."""
    import stat

    try:
        mode = path.stat().st_mode
    except OSError:
        return "no such file or directory"
    for test, what in ((stat.S_ISFIFO, "a pipe (FIFO)"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return (f"is {what}, not a file: ingest reads files, whose size it plans by and "
                    "which it reads again to resume; save the data to a file first")
    return "is not a regular file or a directory"


@dataclass
class Discovery:
    corpora: list[Corpus]
    skipped: list[tuple[Path, str]]  # files inside directories that are not treebanks


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
    stats: list[os.stat_result] = []
    subdirs: list[Path] = []
    for entry in entries:
        path = Path(entry.path)
        claimed = _claimed(path)
        if claimed is not None:
            corpora += claimed
            continue
        if entry.name.endswith(".dact"):
            skipped.append((path, dact_advice(path)))
            continue
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
            stats.append(file_st)
        else:
            corpora.append(treebank.corpus_of(path, prologue))
    if singles:
        corpora.append(folder.corpus_of(directory, singles, stats))
    for sub in subdirs:
        _walk(sub, corpora, skipped, seen)


def dact_advice(path: Path) -> str:
    return (f"{shown(path)}: is a Dact corpus (Berkeley DB XML), which treeindex cannot read; "
            f"convert it with alpinocorpus: alpinocorpus-extract {shown(path)} DIR (or "
            f"alpinocorpus-create -c X.data.dz {shown(path)}), then ingest DIR (or X.index)")


def _claimed(path: Path) -> list[Corpus] | None:
    """The corpora of a path that a format claims (see Format.claims), else None."""
    from . import FORMATS

    for fmt in FORMATS.values():
        if fmt.claims(path):
            return fmt.corpora(path)
    return None


def discover(paths: list[Path], name: str | None = None) -> Discovery:
    """Find the corpora in `paths`; raise InputError for a path that holds no treebank.

    One-sentence files given one by one (a shell glob) form one corpus per directory, named
    after it, in natural order. With `name`, everything given is one corpus of that name: a
    single input, or inputs of one kind (one-sentence files, treebank files, compact parts).
    """
    # corpora, and in their place the directories whose one-sentence files were given one by
    # one (a glob): each becomes one corpus
    found: list[Corpus | Path] = []
    skipped: list[tuple[Path, str]] = []
    singles: dict[Path, list[Path]] = {}  # directory -> one-sentence files given
    for path in paths:
        claimed = _claimed(path)
        if claimed is not None:
            found += claimed
        elif path.name.endswith(".dact"):
            raise InputError(dact_advice(path))
        elif path.is_dir():
            walked: list[Corpus] = []
            _walk(path, walked, skipped, set())
            found += walked
            if not walked:
                raise InputError(
                    f"{shown(path)}: holds no Alpino treebank files (*.xml, *.xml.gz with "
                    "<treebank> or <alpino_ds> roots)"
                )
        elif path.is_file():
            prologue = read_prologue(read_head(path), shown(path))
            if prologue.kind == "sentence":
                directory = path.resolve().parent
                if directory not in singles:
                    found.append(directory)
                singles.setdefault(directory, []).append(path.resolve())
            else:
                found.append(treebank.corpus_of(path, prologue))
        else:
            raise InputError(f"{shown(path)}: {_not_a_file(path)}")
    corpora = [_group(x, singles[x]) if isinstance(x, Path) else x for x in found]
    unique: list[Corpus] = []
    for c in corpora:  # (a compact corpus is found through both of its files)
        if not any((u.kind, u.source, u.name) == (c.kind, c.source, c.name) for u in unique):
            unique.append(c)
    corpora = unique
    if name is not None:
        corpora = [_named(corpora, name)]
    seen: dict[str, Corpus] = {}
    for c in corpora:
        if c.name in seen:
            raise InputError(
                f"two inputs would both be corpus {c.name!r}: {seen[c.name].source} and "
                f"{c.source}; give one of them its own name (ingest it alone with --name), or "
                "ingest them into separate databases"
            )
        seen[c.name] = c
    # files a format passed over itself (inside an archive) are its corpora's already: they
    # are reported with the files the walk passed over, which go to the nearest corpus
    passed_by_formats = [(c.source, reason) for c in corpora for _, reason in c.skipped]
    _attach(corpora, skipped)
    return Discovery(corpora, skipped + passed_by_formats)


def _attach(corpora: list[Corpus], skipped: list[tuple[Path, str]]) -> None:
    """Give each skipped file to the corpus nearest to it (the deepest whose directory holds
    it), so that it is recorded in `errors` with that corpus."""
    homes = [(c, c.source if c.source.is_dir() else c.source.parent) for c in corpora]
    for path, reason in skipped:
        where = Path(os.path.abspath(path))
        best: tuple[Corpus, Path] | None = None
        for c, home in homes:
            if where.is_relative_to(home) and (best is None or len(home.parts) >
                                              len(best[1].parts)):
                best = (c, home)
        if best is not None:
            best[0].skipped.append((shown(where.relative_to(best[1])), reason))


def _group(directory: Path, given: list[Path]) -> Corpus:
    """The one-sentence files given from one directory, as that directory's corpus."""
    files = sorted(dict.fromkeys(given), key=lambda p: natural_key(p.name))
    return folder.corpus_of(directory, files, [f.stat() for f in files])


def _named(corpora: list[Corpus], name: str) -> Corpus:
    if not name.strip():
        raise InputError("--name needs a name that is not empty")
    if len(corpora) == 1:
        corpora[0].name = name
        return corpora[0]
    if all(c.kind == folder.Folder.kind for c in corpora):
        files = [f for c in corpora for f in c.files]
        root = Path(os.path.commonpath([str(f.parent) for f in files]))
        return folder.corpus_of(root, files, [f.stat() for f in files], name)
    if all(c.kind == compact.Compact.kind for c in corpora):
        return compact.joined(corpora, name)
    if all(c.kind == treebank.TreebankFile.kind for c in corpora):
        return treebank.joined(corpora, name)
    kinds = sorted({c.kind for c in corpora})
    raise InputError(
        f"--name {name!r} would join {len(corpora)} corpora of different kinds "
        f"({', '.join(kinds)}) into one; --name joins inputs of one kind (one-sentence files, "
        "treebank files, compact corpora): ingest the others under their own names")
