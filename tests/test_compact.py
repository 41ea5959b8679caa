"""Compact corpora (X.data.dz + X.index): the same index as the same sentences in a folder,
found through either file or the stem, resumable, and clear errors for broken ones."""

from __future__ import annotations

import shutil
import sqlite3

import pytest
from conftest import ALPINO, DATA, dump, interrupt_after

from treeindex import InputError, Interrupted, ingest
from treeindex.sources.compact import read_header, read_index, read_range
from treeindex.store import Index

COMPACT = DATA.parent / "data-compact"
OVIS = COMPACT / "ovis"


def rows(db, first=1, last=10**9):
    """Sentences and subtrees of seq first..last, XML decoded, ids left out."""
    with Index(db) as index:
        sents = [(s[1], s[2], index.decode(s[3]), s[5]) for s in index.sentences(1, first, last)]
        subs = index.conn.execute(
            "SELECT t.cat, t.n, t.node, t.rel, t.begin, t.end, t.children, t.nodes, t.depth, "
            "t.level, t.parent_cat, p.pattern, t.xml_start, t.xml_end FROM subtrees t "
            "JOIN sentences s ON s.id = t.sentence_id JOIN patterns p ON p.id = t.pattern_id "
            "WHERE s.seq BETWEEN ? AND ? ORDER BY t.id", (first, last)).fetchall()
    return sents, subs


def test_the_same_sentences_as_the_folder(tmp_path):
    compact, folder = tmp_path / "c.db", tmp_path / "f.db"
    report = ingest(compact, [OVIS.with_suffix(".index")], workers=2)
    assert [(c.name, c.sentences, c.errors) for c in report.corpora] == [("ovis", 1000, 0)]
    ingest(folder, [ALPINO / "ovis"], workers=0)  # its first 40 entries
    assert rows(compact, 1, 40) == rows(folder)
    (kind,) = sqlite3.connect(compact).execute("SELECT kind FROM corpora").fetchone()
    assert kind == "compact"


@pytest.mark.parametrize("given", ["ovis", "ovis.index", "ovis.data.dz", "both", "dir"])
def test_either_file_the_stem_or_the_folder(tmp_path, given):
    paths = {"ovis": [OVIS], "ovis.index": [COMPACT / "ovis.index"],
             "ovis.data.dz": [COMPACT / "ovis.data.dz"],
             "both": [COMPACT / "ovis.index", COMPACT / "ovis.data.dz"]}
    if given == "dir":
        d = tmp_path / "d"
        d.mkdir()
        for f in ("ovis.index", "ovis.data.dz"):
            shutil.copy(COMPACT / f, d / f)
        paths["dir"] = [d]
    report = ingest(tmp_path / "t.db", paths[given], workers=0)
    assert [(c.name, c.sentences) for c in report.corpora] == [("ovis", 1000)]


def test_resume_by_entries(tmp_path):
    whole, db = tmp_path / "whole.db", tmp_path / "t.db"
    ingest(whole, [OVIS], workers=0, chunk_bytes=20_000)
    with pytest.raises(Interrupted):
        ingest(db, [OVIS], workers=2, chunk_bytes=20_000, progress_callback=interrupt_after(3))
    assert ingest(db, [OVIS], workers=2, chunk_bytes=20_000).corpora[0].status == "resumed"
    assert dump(db) == dump(whole)


def test_the_formats_own_test_files():
    """Alpino's test corpora: text entries (not XML) behind a gzip FNAME."""
    for name in ("test_suite", "test_suite2"):
        stem = COMPACT / "alpino-test" / name
        entries = read_index(stem.with_suffix(".index"))
        table = read_header(stem.with_suffix(".data.dz"))
        got = [read_range(stem.with_suffix(".data.dz"), table, o, o + s) for _, o, s in entries]
        assert got == [b"one\n", b"two\n", b"three\n", b"four\n", b"five\n"]
        assert [e[0] for e in entries] == ["1.xml", "2.xml", "3.xml", "4.xml", "5.xml"]


def test_text_entries_are_recorded_as_errors(tmp_path):
    db = tmp_path / "t.db"
    report = ingest(db, [COMPACT / "alpino-test" / "test_suite.index"], workers=0)
    assert report.exit_code == 3 and report.corpora[0].errors == 5
    errors = sqlite3.connect(db).execute("SELECT file, sentid, message FROM errors").fetchall()
    assert errors[0] == ("1.xml", "1", "entry 1.xml: does not start with XML markup (byte 0); "
                         "treeindex reads Alpino treebanks (<treebank> or <alpino_ds> XML)")
    assert [e[0] for e in errors] == ["1.xml", "2.xml", "3.xml", "4.xml", "5.xml"]


def broken(tmp_path, data: bytes | None = None, index: str | None = None):
    d = tmp_path / "broken"
    d.mkdir(exist_ok=True)
    (d / "ovis.data.dz").write_bytes(data if data is not None
                                     else (COMPACT / "ovis.data.dz").read_bytes())
    (d / "ovis.index").write_text(index if index is not None
                                  else (COMPACT / "ovis.index").read_text())
    return d / "ovis"


def test_an_index_that_points_past_the_data_is_refused_before_any_write(tmp_path):
    lines = (COMPACT / "ovis.index").read_text().splitlines()
    stem = broken(tmp_path, index="\n".join(lines + ["extra.xml\t//////\tAAB"]) + "\n")
    db = tmp_path / "t.db"
    with pytest.raises(InputError) as e:
        ingest(db, [stem], workers=0)
    assert "past the data" in str(e.value) and str(e.value).startswith(f"{stem}.index: ")
    assert not db.exists()
    bad = broken(tmp_path, index="1.xml\tA\n")
    with pytest.raises(InputError) as e:
        ingest(db, [bad], workers=0)
    assert str(e.value) == (f"{bad}.index, line 1: expected name<TAB>offset<TAB>size, found "
                            "'1.xml\\tA'")


def test_truncated_data_keeps_what_was_indexed(tmp_path):
    data = (COMPACT / "ovis.data.dz").read_bytes()
    stem = broken(tmp_path, data=data[: len(data) // 2])
    db = tmp_path / "t.db"
    with pytest.raises(InputError) as e:
        ingest(db, [stem], workers=0, chunk_bytes=20_000)
    assert str(e.value).startswith(f"{stem}.data.dz: ")
    assert "truncated" in str(e.value) or "does not inflate" in str(e.value)
    sentences, complete = sqlite3.connect(db).execute(
        "SELECT sentences, complete FROM corpora").fetchone()
    assert 0 < sentences < 1000 and complete == 0


def test_not_dictzip(tmp_path):
    import gzip
    stem = broken(tmp_path, data=gzip.compress(b"<alpino_ds/>"))
    with pytest.raises(InputError) as e:
        ingest(tmp_path / "t.db", [stem], workers=0)
    assert str(e.value) == (f"{stem}.data.dz: is gzip but not dictzip (no random-access table); "
                            "recompress it with dictzip, or give the unpacked data")


def test_dact_files_get_the_conversion(tmp_path):
    dact = tmp_path / "lassy.dact"
    dact.write_bytes(b"\x00\x06\x15\x61" + b"\x00" * 100)  # Berkeley DB's magic, roughly
    with pytest.raises(InputError) as e:
        ingest(tmp_path / "t.db", [dact], workers=0)
    assert str(e.value) == (
        f"{dact}: is a Dact corpus (Berkeley DB XML), which treeindex cannot read; convert it "
        f"with alpinocorpus: alpinocorpus-extract {dact} DIR (or alpinocorpus-create -c "
        f"X.data.dz {dact}), then ingest DIR (or X.index)")


def test_the_parts_of_one_collection_under_one_name(tmp_path):
    """Two compact parts (the index of ovis cut in two, each with its own copy of the data)
    joined with --name give the index of the whole."""
    lines = (COMPACT / "ovis.index").read_text().splitlines(keepends=True)
    for part, chunk in (("part1", lines[:500]), ("part2", lines[500:])):
        shutil.copy(COMPACT / "ovis.data.dz", tmp_path / f"{part}.data.dz")
        (tmp_path / f"{part}.index").write_text("".join(chunk))
    whole, joined, resumed = tmp_path / "w.db", tmp_path / "j.db", tmp_path / "r.db"
    ingest(whole, [OVIS], workers=0, chunk_bytes=20_000)
    parts = [tmp_path / "part1", tmp_path / "part2"]
    report = ingest(joined, parts, name="ovis", workers=2, chunk_bytes=20_000)
    assert [(c.name, c.sentences) for c in report.corpora] == [("ovis", 1000)]
    assert {t: r for t, r in dump(joined).items() if t != "corpora"} == \
        {t: r for t, r in dump(whole).items() if t != "corpora"}
    with pytest.raises(Interrupted):
        ingest(resumed, parts, name="ovis", workers=2, chunk_bytes=20_000,
               progress_callback=interrupt_after(30))  # (of 43: in the second part)
    ingest(resumed, parts, name="ovis", workers=2, chunk_bytes=20_000)
    assert dump(resumed) == dump(joined)
