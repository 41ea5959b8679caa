"""The details of `treeindex query`, `errors`, `export` and `schema` that a new user meets:
PRAGMAs, parameters, streaming, pipes, errors on a later row, exclusive options."""

from __future__ import annotations

import sqlite3
import subprocess
import sys

import pytest
from click.testing import CliRunner
from conftest import CDB, WRPEE, repeat_treebank

from treeindex import Progress, ingest
from treeindex.cli import _ProgressLine, cli
from treeindex.query import QueryResult, format_table


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("qcli")
    db = tmp / "t.db"
    ingest(db, [CDB, WRPEE, repeat_treebank(tmp / "big.xml", 4)], workers=0)
    return db


@pytest.mark.parametrize("sql", [
    "PRAGMA table_info(subtrees)",
    "SELECT name FROM pragma_table_info('subtrees')",
    "PRAGMA index_list(subtrees)",
    "SELECT count(*) FROM pragma_index_list('subtrees')",
])
def test_read_only_pragmas_with_arguments(index, sql):
    result = run("query", "--db", index, "--csv", sql)
    assert result.exit_code == 0, result.output
    assert len(result.output.splitlines()) > 1


def test_the_search_terms_can_be_queried(index):
    """FTS5 reads PRAGMA data_version to open search_terms: allowed, it only reads."""
    result = run("query", "--db", index, "--csv",
                 "SELECT count(*) FROM search_terms WHERE search_terms MATCH 'cat0np'")
    assert result.exit_code == 0, result.output
    assert int(result.output.splitlines()[1]) > 0
    refused = run("query", "--db", index,
                  "INSERT INTO search_terms (rowid, terms) VALUES (999999, 'x')")
    assert refused.exit_code == 1


@pytest.mark.parametrize("sql", [
    "SELECT fts3_tokenizer('simple')",
    "SELECT load_extension('x')",
    "PRAGMA user_version = 3",
    "PRAGMA journal_mode = DELETE",
])
def test_pointer_leaks_and_writing_pragmas_are_refused(index, sql):
    result = run("query", "--db", index, sql)
    assert result.exit_code == 1
    assert result.output == (
        "Error: the query must only read: treeindex query runs SELECT statements (and "
        "read-only PRAGMAs); change the index with treeindex ingest\n")


def test_parameters(index):
    result = run("query", "--db", index, "--csv", "-p", "WRPEE-dummy", "-p", "2",
                 "SELECT name, 2 + 1 AS three FROM corpora WHERE name = ? AND ? = 2")
    assert result.exit_code == 0, result.output
    assert result.output == "name,three\nWRPEE-dummy,3\n"
    wrong = run("query", "--db", index, "SELECT ?")
    assert wrong.exit_code == 1
    assert wrong.output.startswith("Error: bad parameter") or \
        wrong.output.startswith("Error: bad SQL: Incorrect number of bindings")


def test_an_error_on_a_later_row_is_one_line(index):
    sql = ("SELECT CASE WHEN id < 100 THEN id ELSE abs(-9223372036854775807 - 1) END "
           "FROM sentences ORDER BY id")
    for fmt in ("--table", "--csv", "--nl"):
        result = run("query", "--db", index, fmt, sql)
        assert result.exit_code == 1, fmt
        assert result.output.endswith("Error: bad SQL: integer overflow\n"), fmt
        assert "Traceback" not in result.output


def test_the_table_streams():
    consumed = []

    def rows():
        for i in range(100_000):
            consumed.append(i)
            yield (i, f"row {i}")

    lines = format_table(QueryResult(["n", "text"], rows()), sample=50)
    first = [next(lines) for _ in range(3)]
    assert first[0].split() == ["n", "text"]
    assert len(consumed) == 50  # the widths come from a sample: nothing more was read
    assert sum(1 for _ in lines) == 100_000 - 1


def test_a_closed_pipe_ends_quietly(index):
    proc = subprocess.Popen(
        [sys.executable, "-m", "treeindex", "query", "--db", str(index),
         "SELECT * FROM subtrees, (SELECT 1 UNION SELECT 2)"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout.readline()
    proc.stdout.close()  # as `| head -1` does
    assert proc.wait(timeout=60) == 0
    assert proc.stderr.read() == b""


def test_exclusive_options_and_suggestions(index, tmp_path):
    both = run("query", "--db", index, "--csv", "--json", "SELECT 1")
    assert both.exit_code == 2
    assert "Error: --csv and --json exclude each other: give one output format" in both.output
    cat_and_all = run("export", "--db", index, "--cat", "np", "--all", tmp_path / "o")
    assert cat_and_all.exit_code == 2
    assert "Error: --cat and --all exclude each other: give one of them" in cat_and_all.output
    upper = run("export", "--db", index, "--cat", "NP", tmp_path / "o")
    assert upper.exit_code == 1
    assert upper.output.startswith(
        "Error: unknown category 'NP'; the categories in this index are (closest first): "
        "np, ")
    nosuch = run("errors", "--db", index, "--corpus", "nosuch")
    assert nosuch.exit_code == 1
    assert nosuch.output.startswith(
        "Error: unknown corpus 'nosuch'; the corpora in this index are (closest first): ")


def test_schema_is_printed_and_query_help_names_it():
    result = run("schema")
    assert result.exit_code == 0
    assert "CREATE TABLE IF NOT EXISTS subtrees" in result.output
    assert "treeindex schema" in run("query", "--help").output


@pytest.mark.parametrize("columns", [40, 80, 200])
def test_the_progress_line_fits_the_terminal(monkeypatch, capsys, columns):
    monkeypatch.setattr("shutil.get_terminal_size",
                        lambda fallback=(80, 24): __import__("os").terminal_size((columns, 24)))
    from treeindex.cli import _ingest_line
    line = _ProgressLine(True, _ingest_line)
    line.last = -1.0
    line(Progress("a-rather-long-corpus-name-indeed", 5_000_000, 100_000_000, 12_345))
    line.done()
    err = capsys.readouterr().err
    pieces = [p for p in err.split("\r") if p]
    assert pieces and all(len(p) <= columns - 1 for p in pieces)
    assert "\n" not in err


def test_every_command_starts_its_help_with_a_sentence_and_an_example():
    for name in cli.commands:
        result = run(name, "--help")
        assert result.exit_code == 0, name
        first = result.output.split("\n\n")[1].strip()
        assert first.endswith(".") and "Example:" in result.output, name


def test_no_errors_is_said_in_words(index):
    result = run("errors", "--db", index)
    assert result.exit_code == 0
    assert result.output == f"no malformed sentences: ingest recorded none in {index}\n"
    assert run("errors", "--db", index, "--csv").output == \
        "corpus,file,line,offset,sentid,message\n"


def test_stats_says_what_the_subtrees_leave_out(tmp_path):
    from lxml import etree

    db = tmp_path / "t.db"
    ingest(db, [CDB, WRPEE], workers=0)
    with_cat = sum(len(root.xpath(".//node[@cat]")) for src in (CDB, WRPEE)
                   for root in etree.parse(str(src)).getroot().iter("alpino_ds"))
    kept = sqlite3.connect(db).execute("SELECT count(*) FROM subtrees").fetchone()[0]
    assert with_cat > kept
    result = run("stats", "--db", db)
    assert ("subtrees are the nodes with a category, at most 7 children and 1,000 nodes "
            "(ingest's --max-children, --max-nodes): "
            f"{kept:,} of {with_cat:,}; {with_cat - kept} larger ") in result.output
