"""The C packer (treeindex/store/_pack.c) makes the image store/packed.py's `pack` makes:
the same tables, rows, values, SQLite types and order, for the scanner's rows and for the
Python path's."""

from __future__ import annotations

import os
import sysconfig
from pathlib import Path

import pytest
from conftest import CDB
from fuzz import image
from test_extract import tasks

from treeindex.store import packed
from treeindex.worker import extract
from treeindex.worker.extract import Task, extract_rows, run_task

needs_packer = pytest.mark.skipif(packed._pack is None, reason="store/_pack.c was not built")


def _both(task: Task, monkeypatch) -> tuple:
    """(run_task with the C packer, run_task packing through Python's sqlite3)."""
    made = run_task(task)
    with monkeypatch.context() as m:
        m.setattr(packed, "_pack", None)
        expected = run_task(task)
    return made, expected


def _same(made, expected) -> None:
    assert image(made.chunk) == image(expected.chunk)
    assert made._replace(chunk=b"") == expected._replace(chunk=b"")


@needs_packer
def test_the_c_packer_makes_the_image_pack_makes(monkeypatch):
    rows = 0
    for task in tasks():
        made, expected = _both(task, monkeypatch)
        _same(made, expected)
        rows += made.subtrees
    assert rows > 3000


@needs_packer
def test_the_python_paths_rows_go_into_the_packer_in_order(tmp_path, monkeypatch):
    """Sentences the scanner hands over (a comment, an entity, a namespace), one that is not
    well-formed, and without the scanner at all: the same image as packing the rows."""
    data = CDB.read_bytes()
    s = data.index(b'<alpino_ds id="cdb/2"')
    node = data.index(b"<node", data.index(b"<node", s) + 1)
    data = data[:node] + b"<!-- a <node> in a comment -->" + data[node:]
    s = data.index(b'<alpino_ds id="cdb/4"')
    rel = data.index(b'rel="', s)
    data = data[:rel] + b'rel="&#115;u" x' + data[rel + 3:]
    s = data.index(b'<alpino_ds id="cdb/6"')
    data = data[:s] + data[s:].replace(b"<alpino_ds ", b'<alpino_ds xmlns:a="urn:a" a:b="1" ', 1)
    s = data.index(b'<alpino_ds id="cdb/8"')
    data = data[:s] + data[s:].replace(b"</node>", b"</nod>", 1)
    src = tmp_path / "odd.xml"
    src.write_bytes(data)
    task = Task(0, "range", str(src), 0, len(data), None, (), "utf-8", 7, 1000)
    made, expected = _both(task, monkeypatch)
    _same(made, expected)
    assert len(made.errors) == 1 and made.subtrees > 100
    monkeypatch.setattr(extract, "_scan", None)
    _same(*_both(task, monkeypatch))


@needs_packer
def test_text_begin_and_end_and_other_encodings_keep_their_types(tmp_path, monkeypatch):
    text = CDB.read_text(encoding="utf-8")
    odd = (text.replace('begin="0"', 'begin="x0"', 3).replace('end="1"', 'end="-1"', 3)
           .replace('end="2"', 'end="0002"', 2).replace('begin="3"', 'begin=""', 2)
           .replace('word="De"', 'word="Déjà"'))
    for name, raw in (("utf8.xml", odd.encode()),
                      ("latin.xml", odd.replace('encoding="UTF-8"', 'encoding="ISO-8859-1"')
                       .encode("latin-1"))):
        src = tmp_path / name
        src.write_bytes(raw)
        task = Task(0, "range", str(src), 0, len(raw), None, (), "utf-8", 7, 1000)
        if name == "latin.xml":
            task = task._replace(encoding="ISO-8859-1")
        made, expected = _both(task, monkeypatch)
        _same(made, expected)
        types = {r[-10:-8] for r in image(made.chunk)[1]}  # typeof(begin), typeof(end)
        assert {("text", "integer"), ("integer", "integer")} <= types


@needs_packer
def test_a_packer_refuses_what_it_cannot_pack_and_never_makes_half_an_image():
    p = packed.packer()
    with pytest.raises(ValueError, match="a row of 3 values, not 15"):
        p.subtrees([(1, 2, 3)])
    with pytest.raises(RuntimeError, match="failed earlier"):
        p.serialize()  # (a failed batch may have left some of its rows in)
    p = packed.packer()
    with pytest.raises(TypeError, match="cannot pack a value of type list"):
        p.sentences([("s", None, 0, "t", b"x", 0, 0, [])])
    p = packed.packer()
    with pytest.raises(OverflowError, match="too large"):
        p.patterns([(1 << 70, "x")])
    p = packed.packer()
    p.patterns([(1, "hd:n")])
    p.sentences([("s1", None, 0, "De kat .", b"xml", 0, 0, "cat0np")])
    image_bytes = p.serialize()
    assert image(image_bytes)[0] == [(1, "s1", None, 0, "De kat .", b"xml", 0, 0, "cat0np",
                                      "integer", "text", "null", "integer", "text", "blob",
                                      "integer", "integer", "text")]
    with pytest.raises(ValueError, match="closed"):
        p.serialize()


def test_the_c_packer_is_built_where_sqlite3_h_is():
    """CI installs Debian's libsqlite3-dev: the packer must be there."""
    if os.environ.get("TREEINDEX_PURE_PYTHON") == "1":
        pytest.skip("pure-Python install requested")
    include = Path(sysconfig.get_config_var("INCLUDEDIR") or "/usr/include")
    if not any((d / "sqlite3.h").is_file() for d in (include, Path("/usr/include"))):
        pytest.skip("no sqlite3.h here")
    assert packed._pack is not None, "treeindex.store._pack was not compiled"


def test_extract_rows_without_a_packer_still_gives_the_rows():
    task = tasks()[0]
    rows = extract_rows(task)
    p = packed.packer()
    if p is None:
        pytest.skip("store/_pack.c was not built")
    into = extract_rows(task, p)
    assert into.subtrees == [] and p.count == len(rows.subtrees) > 0
    assert into.sentences == rows.sentences


@needs_packer
def test_a_sentence_whose_rows_went_in_only_in_part_fails_the_task():
    """A failure after some of a sentence's rows are in the image (here a CHECK that the
    sentence's sixth node breaks) is not one sentence's error: the task fails, and no image
    with half a sentence is made."""
    strict = packed.CHUNK_SCHEMA.replace("xml_start, xml_end);",
                                         "xml_start, xml_end, CHECK (node < 5));")
    assert strict != packed.CHUNK_SCHEMA
    p = packed._pack.Packer(strict, packed._INSERT_T, packed._INSERT_S, packed._INSERT_P,
                            packed._INSERT_T)  # (a row a statement: it fails at once)
    with pytest.raises(RuntimeError, match="CHECK constraint failed"):
        extract_rows(tasks()[0], p)
    with pytest.raises(RuntimeError, match="failed earlier"):
        p.serialize()


def test_the_scanner_takes_only_a_packer():
    if extract._scan is None:
        pytest.skip("the C extension is not built")
    raw = CDB.read_bytes()
    one = raw[raw.index(b"<alpino_ds"):raw.index(b"</alpino_ds>") + 12]
    with pytest.raises(TypeError, match="packer must be a treeindex.store._pack.Packer"):
        extract._scan.scan(one, 7, 1000, 0, {}, True, {}, object())
    with pytest.raises(TypeError, match="patterns must be a dict when rows go to a packer"):
        extract._scan.scan(one, 7, 1000, 0, {}, True, None, object())
