"""Export never writes outside OUTDIR, always writes well-formed XML, gives distinct categories
distinct files, and reports full disks and concurrent changes in one line."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import CDB, repeat_treebank
from lxml import etree

from treeindex import export as export_module
from treeindex import ingest
from treeindex.cli import cli
from treeindex.export import export, safe_name

HOSTILE_CATS = ['a"b', "a b", "np/", "np_", "x" * 300, "a<b&c", "..", "-rf", "~", "np"]


def hostile_treebank(path: Path) -> Path:
    """Real sentences whose categories were renamed to names that are hard on file systems."""
    real = CDB.read_bytes()
    start = real.index(b"<alpino_ds")
    sentences = real[start:real.rindex(b"</treebank>")]
    for i, cat in enumerate(HOSTILE_CATS):
        escaped = cat.replace("&", "&amp;").replace("<", "&lt;").replace('"', "&quot;")
        sentences = sentences.replace(b'cat="np"', b'cat="%s"' % escaped.encode(), 3 + i)
    path.write_bytes(b"<treebank>" + sentences + b"</treebank>\n")
    return path


def test_hostile_names_stay_inside_outdir_and_parse(tmp_path):
    src = hostile_treebank(tmp_path / "...xml")  # corpus '..'
    db = tmp_path / "t.db"
    ingest(db, [src], workers=0)
    out = tmp_path / "deep" / "out"
    report = export(db, out, workers=2)
    written = sorted(p for p in (tmp_path / "deep").rglob("*") if p.is_file())
    assert written == sorted(report.files)
    assert all(p.resolve().is_relative_to(out.resolve()) for p in written)
    assert all(len(p.name) < 200 for p in written)
    seen = {}
    for path in written:
        root = etree.parse(str(path)).getroot()  # well-formed
        cat = root.get("cat")
        assert root.get("corpus") == ".."
        assert cat not in seen, (path, seen.get(cat))
        seen[cat] = path
        assert [t.get("index") for t in root] == [f"{cat}-{i}" for i in range(1, len(root) + 1)]
        assert all(t[0].get("cat") == cat for t in root)
    assert set(HOSTILE_CATS) <= set(seen)
    assert seen["np"].parent == out / safe_name("..")
    assert seen["np"].name == f"{safe_name('..')}-np-trees.xml"
    assert safe_name("..").startswith("_~")


def test_safe_names_are_stable_distinct_and_plain_when_possible():
    assert safe_name("np") == "np" and safe_name("WR-P-P-H") == "WR-P-P-H"
    names = ["np/", "np_", "np?", "a b", "a_b", "a\"b", "..", ".", "x" * 300, "x" * 301]
    safe = [safe_name(n) for n in names]
    assert len(set(safe)) == len(names)
    assert safe == [safe_name(n) for n in names]
    assert all("/" not in s and not s.startswith(".") and len(s) <= 77 for s in safe)


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("safety")
    db = tmp / "t.db"
    ingest(db, [repeat_treebank(tmp / "big.xml", 3)], workers=0)
    return db


def test_a_full_disk_is_one_line_and_leaves_no_file(index, tmp_path, monkeypatch):
    def full(fd, data, offset):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(export_module.os, "pwrite", full)
    result = CliRunner().invoke(cli, ["export", "--db", str(index), "--workers", "0",
                                      "--cat", "np", str(tmp_path / "out")])
    assert result.exit_code == 1
    assert result.output == (
        f"Error: {tmp_path / 'out' / 'big' / 'big-np-trees.xml'}: cannot be written (No space "
        "left on device); no incomplete file was left: free space (or fix permissions), then "
        "run the export again\n")
    assert list((tmp_path / "out").rglob("*.xml")) == []


def test_a_really_full_disk(index, tmp_path):
    """On a real, small file system (tmpfs; needs root)."""
    small = tmp_path / "small"
    small.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(small)],
                      capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here")
    try:
        result = subprocess.run(
            [sys.executable, "-m", "treeindex", "export", "--db", str(index), "--all",
             str(small / "out")], capture_output=True, text=True)
        assert result.returncode == 1, result.stderr
        assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1
        assert "(No space left on device); no incomplete file was left" in result.stderr
        assert not [p for p in small.rglob("*") if p.is_file()]
    finally:
        subprocess.run(["umount", "-l", str(small)])


def test_a_corpus_replaced_during_the_export(index, tmp_path, monkeypatch):
    """A real `ingest --replace` between planning the export and writing it: a clear error
    (not "internal error"), and no file."""
    db = tmp_path / "copy.db"
    src = repeat_treebank(tmp_path / "big.xml", 3)
    ingest(db, [src], workers=0)
    real = export_module._tasks

    def racing(*args, **kwargs):
        tasks = real(*args, **kwargs)
        first = next(tasks)
        repeat_treebank(src, 2)  # the input changed: ingest --replace indexes it again
        ingest(db, [src], replace=True, workers=0)
        yield first
        yield from tasks

    monkeypatch.setattr(export_module, "_tasks", racing)
    result = CliRunner().invoke(cli, ["export", "--db", str(db), "--workers", "0", "--cat",
                                      "np", str(tmp_path / "out")])
    assert result.exit_code == 1
    assert result.output == (
        f"Error: {db}: corpus 'big' was replaced or removed (by an ingest) while it was being "
        "exported; its files were not written: run the export again\n")
    assert list((tmp_path / "out").rglob("*.xml")) == []
