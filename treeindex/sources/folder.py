"""Folders of one-sentence files: each file's root is one `<alpino_ds>` (Lassy's and Alpino's
layout), plain or gzip-compressed. The one-sentence files of a directory form one corpus
named after it, in natural order; a sentence's id is its @id, else its file's stem. A
one-sentence file given on its own is a corpus of one file (named after its stem).

Workers read the files themselves, up to 256 files or about a chunk of bytes per task ('files'
tasks). Resume is by files done. One-sentence files given one by one (a shell glob) form
their directory's corpus; `--name` can join files from several directories into one.
"""

from __future__ import annotations

import gzip
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

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

FILES_PER_TASK = 256


def corpus_of(directory: Path, files: list[Path], stats: list[os.stat_result],
              name: str | None = None) -> Corpus:
    """The corpus of the one-sentence `files` (resolved paths) of `directory`."""
    source = directory.resolve()
    sizes = [st.st_size for st in stats]
    return Corpus(name=shown(name or source.name), kind=Folder.kind, source=source,
                  files=files, input_bytes=sum(sizes), sizes=sizes,
                  stamps=[stamp_of(st) for st in stats])


class Folder(Format):
    kind = "directory"
    task_kinds = ("files",)

    def fingerprint(self, corpus: Corpus) -> str:
        """The files' names (relative to the folder) and sizes."""
        h = hashlib.sha256()
        h.update(f"directory {len(corpus.files)}\n".encode())
        for p, size in zip(corpus.files, corpus.sizes):
            h.update(os.fsencode(p.relative_to(corpus.source)) + f"\0{size}\n".encode())
        return h.hexdigest()[:32]

    def remaining_bytes(self, corpus: Corpus, resume: Resume) -> int:
        return sum(corpus.sizes[resume.done_files:])

    def plan(self, corpus: Corpus, resume: Resume, chunk: int, make_task: MakeTask
             ) -> Iterator[tuple[Task, int]]:
        for i, j, total in batches(corpus.sizes, resume.done_files, chunk, FILES_PER_TASK):
            files = tuple(map(str, corpus.files[i:j]))
            yield make_task("files", str(corpus.source), files=files), total

    def read(self, task: Task) -> TaskInput:
        return TaskInput(_sentences(task), files=len(task.files))

    def describe(self, corpus: Corpus, resume: Resume) -> str:
        return f"file {resume.done_files + 1:,} of {len(corpus.files):,}"


def _sentences(task: Task) -> Iterator[RawSentence]:
    base = task.path
    declared: dict[bytes, str] = {}
    for name in task.files:
        rel = shown(name[len(base) + 1 :] if name.startswith(base + "/") else name)
        try:
            if name.endswith(".gz"):
                with gzip.open(name, "rb") as f:
                    data = f.read()
            else:
                with open(name, "rb") as f:
                    data = f.read()
        except FileNotFoundError:
            raise vanished(name, "was removed") from None
        except (OSError, EOFError) as e:
            yield RawSentence(None, f"cannot be read: {e}", "utf-8", None, rel, None, None)
            continue
        file_stem = rel.rsplit("/", 1)[-1].split(".xml")[0]
        yield one_sentence(data, rel, file_stem, rel, declared)
