"""treeindex query / stats / errors."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from conftest import CDB, WRPEE, interrupt_after, repeat_treebank
from reference import category_counts

from treeindex import Interrupted, ingest
from treeindex.cli import cli


def run(*args):
    return CliRunner().invoke(cli, list(map(str, args)))


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("query")
    db = tmp / "t.db"
    bad = tmp / "bad.xml"
    data = CDB.read_bytes().replace(b"<sentence>", b"<sentence><b>", 2)  # cdb/0, cdb/1
    bad.write_bytes(data)
    ingest(db, [bad, WRPEE])
    big = repeat_treebank(tmp / "big.xml", 2)
    with pytest.raises(Interrupted):
        ingest(db, [big], chunk_bytes=50_000, progress_callback=interrupt_after(3))
    return db


SQL = "SELECT cat, subtrees FROM category_counts WHERE corpus = 'WRPEE-dummy' ORDER BY cat LIMIT 3"


# the first three categories of WRPEE-dummy, by the independent grinder
EXPECTED = sorted(category_counts(WRPEE).items())[:3]


def test_table(index):
    result = run("query", "--db", index, SQL)
    assert result.exit_code == 0
    width = max(len(cat) for cat, _ in EXPECTED + [("cat", 0)])
    assert result.output == (
        f"{'cat'.ljust(width)}  subtrees\n"
        f"{'-' * width}  --------\n"
        + "".join(f"{cat.ljust(width)}  {n:>8}\n" for cat, (n, _) in EXPECTED))


def test_csv_json_nl(index):
    assert run("query", "--db", index, "--csv", SQL).output == (
        "cat,subtrees\n" + "".join(f"{cat},{n}\n" for cat, (n, _) in EXPECTED))
    rows = [{"cat": cat, "subtrees": n} for cat, (n, _) in EXPECTED]
    assert json.loads(run("query", "--db", index, "--json", SQL).output) == rows
    nl = run("query", "--db", index, "--nl", SQL).output.splitlines()
    assert [json.loads(line) for line in nl] == rows


def test_blobs_are_shown_as_sizes(index):
    out = run("query", "--db", index, "--nl", "SELECT xml FROM sentences LIMIT 1").output
    assert json.loads(out)["xml"].endswith(" bytes>")


@pytest.mark.parametrize("sql", [
    "DELETE FROM subtrees",
    "INSERT INTO categories VALUES ('x')",
    "UPDATE corpora SET complete = 1",
    "DROP TABLE errors",
    "CREATE TABLE x (y)",
    "PRAGMA journal_mode = DELETE",
    "ATTACH DATABASE ':memory:' AS m",
])
def test_writes_are_refused(index, sql):
    result = run("query", "--db", index, sql)
    assert result.exit_code == 1
    assert result.output == (
        "Error: the query must only read: treeindex query runs SELECT statements (and "
        "read-only PRAGMAs); change the index with treeindex ingest\n")
    assert run("query", "--db", index, "SELECT count(*) FROM subtrees").exit_code == 0


def test_bad_sql(index):
    result = run("query", "--db", index, "SELEC cat FROM subtrees")
    assert result.exit_code == 1
    assert result.output == 'Error: bad SQL: near "SELEC": syntax error\n'
    result = run("query", "--db", index, "SELECT nope FROM subtrees")
    assert result.output == "Error: bad SQL: no such column: nope\n"


def test_missing_database(tmp_path):
    result = run("query", "--db", tmp_path / "none.db", "SELECT 1")
    assert result.output == (
        f"Error: {tmp_path / 'none.db'}: no such database; build one with `treeindex ingest`\n")


def test_stats_with_errors_and_an_interrupted_corpus(index):
    result = run("stats", "--db", index, "--top", 3)
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert lines[0].split() == ["corpus", "kind", "state", "sentences", "subtrees", "errors"]
    assert lines[1].split()[:3] == ["WRPEE-dummy", "treebank", "complete"]
    assert lines[2].split()[:3] == ["bad", "treebank", "complete"]
    assert lines[2].split()[-1] == "2"
    assert lines[3].split()[:4] == ["big", "treebank", "in", "progress"]
    assert "top 3 categories (subtrees):" in result.output
    assert [line.split()[0] for line in lines if line.endswith("#" * 40)] == ["np"]
    assert "2 malformed sentences were skipped: treeindex errors --db" in result.output
    assert "still being ingested or interrupted: big (run the same ingest again to resume)" \
        in result.output


def test_errors_lists_the_bad_sentences(index):
    result = run("errors", "--db", index, "--csv")
    lines = result.output.splitlines()
    assert lines[0] == "corpus,file,line,offset,sentid,message"
    assert [line.split(",")[:2] + line.split(",")[4:5] for line in lines[1:]] == [
        ["bad", "bad.xml", "cdb/0"], ["bad", "bad.xml", "cdb/1"]]
    assert all("not well-formed XML: Opening and ending tag mismatch" in line
               for line in lines[1:])


def test_opens_as_is_in_sqlite_utils(index):
    import sqlite_utils

    database = sqlite_utils.Database(index)
    assert {"corpora", "sentences", "subtrees", "patterns", "errors"} <= set(
        database.table_names())
    assert {"category_counts", "corpus_totals", "subtree_info"} <= set(database.view_names())
    rows = list(database.query(
        "SELECT sum(subtrees) AS n FROM category_counts WHERE corpus = 'WRPEE-dummy'"))
    assert rows == [{"n": sum(n for n, _ in category_counts(WRPEE).values())}]


@pytest.mark.parametrize("sql, index_name", [
    ("SELECT count(*) FROM subtree_info WHERE pattern = 'det:lid hd:n'", "subtrees_pattern"),
    ("SELECT count(*) FROM subtrees WHERE cat = 'np'", "subtrees_corpus_cat_n"),
    ("SELECT * FROM subtree_info WHERE corpus = 'bad' AND cat = 'np' AND n = 17",
     "subtrees_corpus_cat_n"),
    ("SELECT * FROM sentences WHERE corpus_id = 1 AND seq BETWEEN 10 AND 20",
     "sentences_corpus_seq"),
])
def test_documented_queries_use_their_index(index, sql, index_name):
    """docs/schema.md says which queries are indexed; the planner must agree."""
    import sqlite3

    plan = " ".join(r[3] for r in sqlite3.connect(index).execute(f"EXPLAIN QUERY PLAN {sql}"))
    assert index_name in plan and "SCAN subtrees" not in plan
