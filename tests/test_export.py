"""export() and `treeindex export` on real sentences, against the independent grinder."""

from __future__ import annotations

import os
import signal
import sqlite3
from collections import defaultdict

import pytest
from click.testing import CliRunner
from conftest import ALPINO, CDB, SUITES, WRPEE, interrupt_after, repeat_treebank, spy
from lxml import etree
from reference import same_element, subtrees

from treeindex import Interrupted, ingest
from treeindex.cli import cli
from treeindex.errors import TreeindexError
from treeindex.export import TMP_PREFIX, export, run_export_task


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    db = tmp_path_factory.mktemp("export") / "t.db"
    ingest(db, [CDB, SUITES, WRPEE, ALPINO / "Titaantjes", ALPINO / "cdb"], workers=2)
    return db


def expected_files(source, corpus, cats=None):
    files = defaultdict(list)
    for r in subtrees(source):
        if cats is None or r["cat"] in cats:
            files[f"{corpus}/{corpus}-{r['cat']}-trees.xml"].append(
                (f"{r['cat']}-{r['n']}", r["element"], r["sentid"]))
    return files


def check_file(path, corpus, cat, expected):
    root = etree.parse(str(path)).getroot()
    assert (root.tag, root.get("corpus"), root.get("cat")) == ("trees", corpus, cat)
    trees = list(root)
    assert [t.get("index") for t in trees] == [index for index, _, _ in expected]
    for tree, (_, element, _) in zip(trees, expected):
        assert tree.tag == "tree" and len(tree) == 1
        assert same_element(tree[0], element)


SOURCES = [(CDB, "cdb-sample"), (SUITES, "suites-sample"), (WRPEE, "WRPEE-dummy"),
           (ALPINO / "Titaantjes", "Titaantjes"), (ALPINO / "cdb", "cdb")]


def test_all_categories_equal_the_sequential_grinder(index, tmp_path):
    out = tmp_path / "out"
    report = export(index, out, workers=2)
    written = {str(p.relative_to(out)) for p in report.files}
    expected = {}
    for source, corpus in SOURCES:
        expected.update(expected_files(source, corpus))
    assert written == set(expected)
    assert report.subtrees == sum(len(v) for v in expected.values())
    for name, trees in expected.items():
        corpus = name.split("/")[0]
        cat = trees[0][0].rsplit("-", 1)[0]
        check_file(out / name, corpus, cat, trees)


def test_some_categories_of_some_corpora(index, tmp_path):
    out = tmp_path / "out"
    report = export(index, out, cats=["np", "whq", "pp"], corpora=["cdb-sample", "Titaantjes"])
    expected = {**expected_files(CDB, "cdb-sample", {"np", "whq", "pp"}),
                **expected_files(ALPINO / "Titaantjes", "Titaantjes", {"np", "whq", "pp"})}
    assert {str(p.relative_to(out)) for p in report.files} == set(expected)
    for name, trees in expected.items():
        check_file(out / name, name.split("/")[0], trees[0][0].rsplit("-", 1)[0], trees)


def test_output_is_byte_identical_whatever_the_workers(index, tmp_path):
    outputs = []
    for workers in (0, 1, 3):
        out = tmp_path / f"out{workers}"
        export(index, out, workers=workers)
        outputs.append({p.relative_to(out): p.read_bytes() for p in out.rglob("*.xml")})
    assert outputs[0] == outputs[1] == outputs[2] and len(outputs[0]) > 50


def test_with_sentence_traces_trees_back(index, tmp_path):
    out = tmp_path / "out"
    export(index, out, cats=["np"], corpora=["cdb-sample"], with_sentence=True)
    root = etree.parse(str(out / "cdb-sample" / "cdb-sample-np-trees.xml")).getroot()
    conn = sqlite3.connect(index)
    texts = dict(conn.execute("SELECT sentid, text FROM sentences"))
    expected = expected_files(CDB, "cdb-sample", {"np"})["cdb-sample/cdb-sample-np-trees.xml"]
    assert [(t.get("index"), t.get("sentid")) for t in root] == [(i, s) for i, _, s in expected]
    assert all(t.get("sentence") == texts[t.get("sentid")] for t in root)


@pytest.mark.parametrize("cores, slow, workers", [
    (64, False, 0),  # a few thousand trees: worth no worker process, whatever the cores
    (64, True, "tasks"),  # worth workers: no more than it has tasks, not one per core
    (2, True, 2),
])
def test_the_default_workers_are_what_the_export_is_worth(index, tmp_path, monkeypatch, cores,
                                                          slow, workers):
    import treeindex.export as exporting
    from treeindex import cores as cores_module

    conn = sqlite3.connect(index)
    tasks = sum(-(-n // exporting.SENTENCES_PER_TASK)
                for (n,) in conn.execute("SELECT sentences FROM corpora"))
    conn.close()
    assert 2 < tasks < 64
    monkeypatch.setattr(cores_module, "available_cores", lambda: cores)
    if slow:  # (as if writing trees were slow: the work then pays for workers)
        monkeypatch.setattr(exporting, "SECONDS_PER_TREE", 1.0)
    started = spy(monkeypatch, exporting, "owned_executor")
    export(index, tmp_path / "out")
    assert [c.args[0] for c in started] == [tasks if workers == "tasks" else workers]
    export(index, tmp_path / "inline", workers=0)
    made = sorted(p.relative_to(tmp_path / "out") for p in (tmp_path / "out").rglob("*.xml"))
    assert made and made == sorted(p.relative_to(tmp_path / "inline")
                                   for p in (tmp_path / "inline").rglob("*.xml"))
    for p in made:
        assert (tmp_path / "out" / p).read_bytes() == (tmp_path / "inline" / p).read_bytes()


def test_interrupted_export_leaves_no_partial_file(index, tmp_path):
    out = tmp_path / "out"
    calls = []

    def stop(progress):
        calls.append(progress)
        if progress.corpus == "suites-sample":
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        export(index, out, workers=2, progress_callback=stop)
    conn = sqlite3.connect(index)
    rows = conn.execute("SELECT corpus, cat, subtrees FROM category_counts")
    counts = {f"{corpus}/{corpus}-{cat}-trees.xml": n for corpus, cat, n in rows}
    files = [p for p in out.rglob("*") if p.is_file()]
    assert files, "the corpus before the interruption was exported"
    for p in files:
        assert not p.name.startswith(TMP_PREFIX)
        assert len(etree.parse(str(p)).getroot()) == counts[str(p.relative_to(out))]
    assert not (out / "suites-sample").exists() or not list((out / "suites-sample").iterdir())


_PARENT = os.getpid()


def _dies_on_the_second_corpus(task):
    """run_export_task, except that the worker given the second corpus is killed."""
    if os.getpid() != _PARENT and task.corpus_id == 2:
        os.kill(os.getpid(), signal.SIGKILL)
    return run_export_task(task)


def test_a_worker_that_dies_leaves_whole_files_and_says_what_to_do(index, tmp_path,
                                                                   monkeypatch):
    import treeindex.export as exporting

    out = tmp_path / "out"
    monkeypatch.setattr(exporting, "run_export_task", _dies_on_the_second_corpus)
    result = CliRunner().invoke(cli, ["export", "--all", "--db", str(index), "--workers", "2",
                                      "-q", str(out)])
    assert result.exit_code == 1, result.output
    assert result.output == (
        "Error: a worker process died (killed by a signal, or out of memory: see `dmesg`); "
        "the files written before it are complete and no other was left behind: run the "
        "export again with --force, with a lower --workers if it happens again\n")
    files = sorted(p.relative_to(out) for p in out.rglob("*") if p.is_file())
    assert files and {p.parts[0] for p in files} == {"cdb-sample"}, files
    monkeypatch.undo()
    again = CliRunner().invoke(cli, ["export", "--all", "--db", str(index), "--force", "-q",
                                     str(out)])
    assert again.exit_code == 0, again.output
    whole = tmp_path / "whole"
    export(index, whole, workers=0)
    assert sorted(p.relative_to(out) for p in out.rglob("*") if p.is_file()) == \
        sorted(p.relative_to(whole) for p in whole.rglob("*") if p.is_file())
    for p in whole.rglob("*"):
        if p.is_file():
            assert (out / p.relative_to(whole)).read_bytes() == p.read_bytes()


def test_export_of_an_interrupted_ingest_exports_what_was_committed(tmp_path):
    big = repeat_treebank(tmp_path / "big.xml", 2)
    db = tmp_path / "t.db"
    with pytest.raises(Interrupted):
        ingest(db, [big], chunk_bytes=50_000, progress_callback=interrupt_after(4))
    conn = sqlite3.connect(db)
    (sentences,) = conn.execute("SELECT sentences FROM corpora").fetchone()
    assert 0 < sentences < 800
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["export", "--db", str(db), "--cat", "np", str(out)])
    assert result.exit_code == 0, result.output
    assert "note: corpus big is still being ingested (or was interrupted); exported what was " \
           "committed so far" in result.output
    expected = [r for r in subtrees(big) if r["cat"] == "np"]
    committed = {s for (s,) in conn.execute("SELECT sentid FROM sentences")}
    expected = [(f"np-{r['n']}", r["element"], r["sentid"]) for r in expected
                if r["sentid"] in committed]
    check_file(out / "big" / "big-np-trees.xml", "big", "np", expected)


def test_unknown_category_and_corpus(index, tmp_path):
    with pytest.raises(TreeindexError) as e:
        export(index, tmp_path, cats=["nq"])
    assert str(e.value).startswith(
        "unknown category 'nq'; the categories in this index are (closest first): np, ")
    with pytest.raises(TreeindexError) as e:
        export(index, tmp_path, cats=["np"], corpora=["cbd-sample"])
    assert str(e.value).startswith(
        "unknown corpus 'cbd-sample'; the corpora in this index are (closest first): "
        "cdb-sample, ")


def test_existing_files_need_force(index, tmp_path):
    out = tmp_path / "out"
    runner = CliRunner()
    args = ["export", "--db", str(index), "--cat", "np", "--corpus", "cdb", str(out)]
    first = runner.invoke(cli, args)
    assert first.exit_code == 0 and first.output == f"wrote 36 trees to 1 file in {out}\n"
    second = runner.invoke(cli, args)
    assert second.exit_code == 1
    assert second.output == (f"Error: 1 output files exist already: {out}/cdb/cdb-np-trees.xml; "
                             "use --force to replace them\n")
    third = runner.invoke(cli, [*args, "--force"])
    assert third.exit_code == 0


def test_cat_or_all_is_required(index, tmp_path):
    result = CliRunner().invoke(cli, ["export", "--db", str(index), str(tmp_path)])
    assert result.exit_code == 2
    assert "give one or more --cat CAT, or --all" in result.output


def test_with_sentence_escapes_every_special_character(tmp_path):
    text = 'a &amp; b &lt; c &gt; "d" \'e\'&#9;tab&#10;line&#13; é'
    src = tmp_path / "odd.xml"
    src.write_bytes(CDB.read_bytes().replace(b"<sentence>", f"<sentence>{text}".encode(), 1))
    db = tmp_path / "t.db"
    ingest(db, [src])
    out = tmp_path / "out"
    export(db, out, cats=["top"], with_sentence=True, workers=2)
    trees = etree.parse(str(out / "odd" / "odd-top-trees.xml")).getroot()
    first = trees[0].get("sentence")
    assert first.startswith("a & b < c > \"d\" 'e'\ttab\nline\r é")
    expected = [f"top-{r['n']}" for r in subtrees(src) if r["cat"] == "top"]
    assert [t.get("index") for t in trees] == expected
