"""The input-format contract (sources.base.Format): a format written only against it, in this
test, indexes the same sentences into the same index as the built-in folder format, and
resumes. This is what docs/design.md's "Adding an input format" describes."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import ALPINO, dump, interrupt_after

from treeindex import Interrupted, ingest, sources
from treeindex.sources.base import Corpus, Format, MakeTask, Resume, stamp_of
from treeindex.sources.split import sentence_bytes
from treeindex.worker.contract import RawSentence, Task, TaskInput


class Manifest(Format):
    """`X.manifest`: a text file naming one-sentence files, one per line (a toy format)."""

    kind = "manifest"
    task_kinds = ("manifest",)

    def claims(self, path: Path) -> bool:
        return path.name.endswith(".manifest")

    def corpora(self, path: Path) -> list[Corpus]:
        files = [Path(line) for line in path.read_text().splitlines() if line]
        stats = [f.stat() for f in files]
        sizes = [s.st_size for s in stats]
        return [Corpus(name=path.name[: -len(".manifest")], kind=self.kind,
                       source=path.resolve(), files=files, input_bytes=sum(sizes), sizes=sizes,
                       stamps=[stamp_of(s) for s in stats])]

    def fingerprint(self, corpus: Corpus) -> str:
        return hashlib.sha256(corpus.source.read_bytes()).hexdigest()[:32]

    def remaining_bytes(self, corpus: Corpus, resume: Resume) -> int:
        return sum(corpus.sizes[resume.done_files:])

    def plan(self, corpus: Corpus, resume: Resume, chunk: int, make_task: MakeTask
             ) -> Iterator[tuple[Task, int]]:
        for i in range(resume.done_files, len(corpus.files), 7):
            batch = corpus.files[i:i + 7]
            yield (make_task("manifest", str(corpus.source), files=tuple(map(str, batch))),
                   sum(corpus.sizes[i:i + 7]))

    def read(self, task: Task) -> TaskInput:
        def sentences() -> Iterator[RawSentence]:
            for name in task.files:
                data = Path(name).read_bytes()
                a = data.index(b"<alpino_ds")
                yield RawSentence(sentence_bytes(data, a), None, "utf-8", None,
                                  os.path.basename(name), data.count(b"\n", 0, a),
                                  Path(name).stem)
        return TaskInput(sentences(), files=len(task.files))

    def describe(self, corpus: Corpus, resume: Resume) -> str:
        return f"entry {resume.done_files + 1}"


@pytest.fixture
def manifest_format(monkeypatch):
    fmt = Manifest()
    monkeypatch.setitem(sources.FORMATS, fmt.kind, fmt)
    monkeypatch.setitem(sources._READERS, "manifest", fmt)
    return fmt


def natural(paths):
    return sorted(paths, key=lambda p: sources.natural_key(p.name))


def test_a_new_format_needs_only_the_contract(tmp_path, manifest_format):
    suite = ALPINO / "Titaantjes"
    listing = tmp_path / "Titaantjes.manifest"
    listing.write_text("".join(f"{p}\n" for p in natural(suite.glob("*.xml"))))
    by_folder, by_manifest = tmp_path / "folder.db", tmp_path / "manifest.db"
    ingest(by_folder, [suite], workers=0)
    with pytest.raises(Interrupted):
        ingest(by_manifest, [listing], workers=2, progress_callback=interrupt_after(2))
    report = ingest(by_manifest, [listing], workers=2)
    assert [c.status for c in report.corpora] == ["resumed"]
    a, b = dump(by_folder), dump(by_manifest)
    assert b["corpora"][0][2] == "manifest"  # kind: no schema change needed
    for table in ("sentences", "subtrees", "patterns", "categories", "corpus_categories",
                  "errors"):
        assert a[table] == b[table], table
