"""Naming corpora: a glob of one-sentence files is its directory's corpus, --name names or
joins, and a name taken by another input is refused with --name as the fix."""

from __future__ import annotations

import shutil
import sqlite3

import pytest
from click.testing import CliRunner
from conftest import ALPINO, CDB, SUITES, dump, interrupt_after

from treeindex import InputError, Interrupted, ingest
from treeindex.cli import cli
from treeindex.sources import natural_key


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def files_of(d):
    return sorted(d.glob("*.xml"), key=lambda p: natural_key(p.name))


def test_a_glob_of_one_sentence_files_is_its_directory(tmp_path):
    by_glob, by_dir = tmp_path / "g.db", tmp_path / "d.db"
    result = run("ingest", "--db", by_glob, *reversed(files_of(ALPINO / "Titaantjes")))
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Titaantjes: indexed, ")  # one corpus, not one a file
    ingest(by_dir, [ALPINO / "Titaantjes"], workers=0)
    a, b = dump(by_glob), dump(by_dir)
    assert a == b


def test_name_names_one_input(tmp_path):
    db = tmp_path / "t.db"
    result = run("ingest", "--db", db, "--name", "newspaper", CDB)
    assert result.exit_code == 0 and result.output.startswith("newspaper: indexed, 150 ")
    again = run("ingest", "--db", db, "--name", "newspaper", CDB)
    assert "newspaper: already complete" in again.output


def test_name_joins_one_sentence_files_from_several_directories(tmp_path):
    db = tmp_path / "t.db"
    report = ingest(db, [ALPINO / "ovis", ALPINO / "Titaantjes"], name="spoken+written",
                    workers=0)
    n = len(files_of(ALPINO / "ovis")) + len(files_of(ALPINO / "Titaantjes"))
    assert [(c.name, c.sentences) for c in report.corpora] == [("spoken+written", n)]
    files = [r[0] for r in sqlite3.connect(db).execute("SELECT file FROM sentences ORDER BY seq")]
    assert files[0] == "ovis/1.xml" and files[-1].startswith("Titaantjes/")


def test_name_joins_treebank_files_and_resumes_across_them(tmp_path):
    """Several treebank files as one corpus: numbered on across the files, each sentence
    naming its file, resumable at any point (here: inside the second file)."""
    whole, db = tmp_path / "w.db", tmp_path / "t.db"
    report = ingest(whole, [CDB, SUITES], name="both", workers=2, chunk_bytes=50_000)
    assert [(c.name, c.sentences) for c in report.corpora] == [("both", 150 + 250)]
    conn = sqlite3.connect(whole)
    files = [r[0] for r in conn.execute("SELECT file FROM sentences ORDER BY seq")]
    assert files == ["cdb-sample.xml"] * 150 + ["suites-sample.xml"] * 250
    ns = [r[0] for r in conn.execute("SELECT n FROM subtrees WHERE cat = 'np' ORDER BY id")]
    assert ns == list(range(1, len(ns) + 1))
    commits = []
    ingest(tmp_path / "count.db", [CDB, SUITES], name="both", workers=0, chunk_bytes=50_000,
           progress_callback=commits.append)
    with pytest.raises(Interrupted):
        ingest(db, [CDB, SUITES], name="both", workers=2, chunk_bytes=50_000,
               progress_callback=interrupt_after(len(commits) - 2))
    done = sqlite3.connect(db).execute("SELECT done_files, done_bytes FROM corpora").fetchone()
    assert done[0] == 1 and done[1] > 0  # stopped inside the second file
    again = run("ingest", "--db", db, "--name", "both", "--chunk-mb", 50_000 / (1 << 20),
                CDB, SUITES)
    assert "both: resuming after sentence " in again.output
    assert "at byte " in again.output and "of file 2 of 2 (suites-sample.xml)" in again.output
    assert dump(db) == dump(whole)


def test_name_refuses_to_join_inputs_of_different_kinds(tmp_path):
    with pytest.raises(InputError) as e:
        ingest(tmp_path / "t.db", [CDB, ALPINO / "ovis"], name="mixed", workers=0)
    assert str(e.value).startswith("--name 'mixed' would join 2 corpora of different kinds "
                                   "(directory, treebank) into one;")


def test_a_name_taken_by_another_input_offers_name(tmp_path):
    db = tmp_path / "t.db"
    ingest(db, [ALPINO / "cdb"], workers=0)
    elsewhere = tmp_path / "cdb"
    shutil.copytree(ALPINO / "Titaantjes", elsewhere)
    result = run("ingest", "--db", db, elsewhere)
    assert result.exit_code == 1
    assert result.output == (
        f"Error: {elsewhere}: the index has a corpus called 'cdb' already, from "
        f"{(ALPINO / 'cdb').resolve()}; give this input its own name with --name NAME "
        "(treeindex corpora lists the names taken)\n")
    named = run("ingest", "--db", db, "--name", "cdb-2", elsewhere)
    assert named.exit_code == 0, named.output


def test_skipped_files_are_recorded_with_the_nearest_corpus(tmp_path):
    d = tmp_path / "suite"
    d.mkdir()
    for name in ("1.xml", "2.xml"):
        shutil.copy(ALPINO / "cdb" / name, d / name)
    (d / "notes.xml").write_bytes(b"<notes>not a treebank</notes>")
    (d / "sub").mkdir()
    (d / "sub" / "empty.xml").write_bytes(b"")
    db = tmp_path / "t.db"
    report = ingest(db, [d], workers=0)
    assert report.exit_code == 3 and len(report.skipped) == 2
    conn = sqlite3.connect(db)
    rows = conn.execute("SELECT c.name, e.file, e.message FROM errors e JOIN corpora c "
                        "ON c.id = e.corpus_id ORDER BY e.id").fetchall()
    assert rows == [
        ("suite", "notes.xml", f"{d / 'notes.xml'}: is not an Alpino treebank: its root element "
         "is <notes>; treeindex reads <treebank> files of <alpino_ds> sentences and "
         "one-sentence <alpino_ds> files"),
        ("suite", "sub/empty.xml", f"{d / 'sub' / 'empty.xml'}: is empty; give a <treebank> "
         "file or a one-sentence <alpino_ds> file")]
    assert conn.execute("SELECT errors FROM corpora").fetchone() == (2,)
    listed = run("errors", "--db", db, "--csv").output.splitlines()
    assert listed[1].startswith("suite,notes.xml,")
    again = ingest(db, [d], workers=0)  # complete: nothing recorded twice
    assert [c.status for c in again.corpora] == ["complete"]
    assert conn.execute("SELECT count(*) FROM errors").fetchone() == (2,)


def test_errors_in_joined_treebank_files_name_their_file_and_line(tmp_path):
    bad = tmp_path / "bad.xml"
    bad.write_bytes(SUITES.read_bytes().replace(b"<sentence>", b"<sentence><b>", 3))
    alone, joined = tmp_path / "a.db", tmp_path / "j.db"
    ingest(alone, [bad], workers=0, chunk_bytes=30_000)
    ingest(joined, [CDB, bad], name="both", workers=2, chunk_bytes=30_000)
    query = "SELECT file, offset, line, sentid, message FROM errors ORDER BY id"
    rows = sqlite3.connect(joined).execute(query).fetchall()
    assert len(rows) == 3
    assert rows == sqlite3.connect(alone).execute(query).fetchall()


def test_natural_order_never_compares_text_with_a_number(tmp_path):
    names = ["ex", "ex2.log", "ex10.xml", "ex2.xml", "2", "a", "", "10", "ex.xml"]
    assert sorted(names, key=natural_key) == ["", "2", "10", "a", "ex", "ex2.log", "ex2.xml",
                                              "ex10.xml", "ex.xml"]
    d = tmp_path / "corpus"
    d.mkdir()
    shutil.copy(next(ALPINO.rglob("*.xml")), d / "ex")
    shutil.copy(next(ALPINO.rglob("*.xml")), d / "ex2.xml")
    (d / "ex2.log").write_text("not a treebank")
    result = run("ingest", "-q", "--db", tmp_path / "t.db", d)
    assert "Traceback" not in result.output and result.exit_code in (0, 3), result.output
