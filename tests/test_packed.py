"""The C packer (treeindex/store/_pack.c), which writes a task's image page by page, makes
the database store/packed.py's `pack` makes through SQLite: the same schema (root pages
included), tables, rows, values, SQLite types and order, for the scanner's rows and for the
Python path's; and SQLite's integrity check passes on it (`fuzz.image` runs it)."""

from __future__ import annotations

import os
import sqlite3

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
        types = {r[-10:-8] for r in image(made.chunk)[2]}  # typeof(begin), typeof(end)
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
    assert image(image_bytes)[1] == [(1, "s1", None, 0, "De kat .", b"xml", 0, 0, "cat0np",
                                      "integer", "text", "null", "integer", "text", "blob",
                                      "integer", "integer", "text")]
    with pytest.raises(ValueError, match="closed"):
        p.serialize()


def test_the_c_packer_is_built_where_the_scanner_is():
    """It needs nothing but a C compiler (no SQLite header): where the scanner was built,
    it must be there."""
    if os.environ.get("TREEINDEX_PURE_PYTHON") == "1":
        pytest.skip("pure-Python install requested")
    if extract._scan is None:
        pytest.skip("no C extension was built here")
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
    """A failure after some of a sentence's rows are in the image (here the packer's test
    switch, failing as a failed write would at its fifth row, in the first sentence that has
    more than four) is not one sentence's error: the task fails, and no image with half a
    sentence is made."""
    p = packed._pack.Packer(*packed.TABLES, fail_after=5)
    with pytest.raises(RuntimeError, match="packing the rows failed: fail_after reached"):
        extract_rows(tasks()[0], p)
    assert p.count == 5
    with pytest.raises(RuntimeError, match="failed earlier"):
        p.serialize()


@needs_packer
def test_large_images_spill_records_to_overflow_pages_and_grow_interior_levels():
    """Rows beyond one page: records larger than a page (chains of overflow pages) and
    enough rows for two levels of interior pages, against the image SQLite makes."""
    big = bytes(range(256)) * 300  # 76,800 bytes: four 16 KiB overflow pages and a part
    sentences = [(f"s{k}", None, k, "t" * (k % 50), big[: 1 + (k * 7919) % len(big)], 1, k,
                  "cat0np") for k in range(40)]
    subtrees = [(k % 40, "np", k, k % 9, "su", k % 30, k % 30 + 2, 2, 3, 1, 0, "n" * 60, 1,
                 -k, 1 << 40) for k in range(250_000)]
    patterns = {"det:lid hd:n": 1, "x" * 20_000: 2}
    p = packed.packer()
    p.subtrees(subtrees)
    made = packed.finish(p, sentences, patterns)
    assert image(made) == image(packed.pack(sentences, subtrees, patterns))
    conn = sqlite3.connect(":memory:")
    conn.deserialize(made)
    pages = dict(conn.execute("SELECT name || ' ' || pagetype, count(*) FROM dbstat "
                              "GROUP BY 1").fetchall())
    assert pages["t internal"] > 1, pages  # (a root whose children are interior pages)
    assert pages["s overflow"] > 40 and pages["p overflow"] >= 1, pages


@needs_packer
def test_images_of_other_sizes_read_one_after_another_under_one_name():
    """The writer attaches image after image as `chunk` in one connection; SQLite keeps the
    schema it read from the first, so every image must have its tables at the same root
    pages, whatever their sizes."""
    conn = sqlite3.connect(":memory:")
    conn.execute("ATTACH DATABASE ':memory:' AS chunk")
    for n in (3, 5000, 1, 20000, 0):
        p = packed.packer()
        p.subtrees([(0, "np", k, k, None, 0, 1, 1, 1, 0, 0, None, 1, 0, 1) for k in range(n)])
        made = packed.finish(p, [("s", None, 0, "x", b"y" * n, n, 0, "")], {f"p{n}": 1})
        conn.deserialize(made, name="chunk")
        assert conn.execute("SELECT count(*), max(local_n) FROM chunk.t").fetchone() == (
            n, n - 1 if n else None)
        assert conn.execute("SELECT pattern FROM chunk.p").fetchall() == [(f"p{n}",)]
        assert conn.execute("SELECT length(xml) FROM chunk.s").fetchone() == (n,)


def test_the_scanner_takes_only_a_packer_and_a_tally():
    if extract._scan is None:
        pytest.skip("the C extension is not built")
    raw = CDB.read_bytes()
    one = raw[raw.index(b"<alpino_ds"):raw.index(b"</alpino_ds>") + 12]
    tally = extract._scan.Tally()
    with pytest.raises(TypeError, match="packer must be a treeindex.store._pack.Packer"):
        extract._scan.scan(one, 7, 1000, 0, tally, True, object())
    with pytest.raises(TypeError, match="must be treeindex.worker._scan.Tally, not dict"):
        extract._scan.scan(one, 7, 1000, 0, {}, True)
    assert tally.counts() == {} and tally.patterns() == {}  # (refused: nothing counted)
