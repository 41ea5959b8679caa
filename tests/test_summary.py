"""The node table's summary (search/summary.py): the attribute names and the values with
capitals that the notes on a query's mistakes look up. It must be exactly what the sentences
hold, however it was written (ingest, upgrade, merge), and the notes must not change with it
(it only makes them cheap)."""

from __future__ import annotations

import shutil
import sqlite3

import pytest
from click.testing import CliRunner
from conftest import ALPINO, CDB, SUITES, WRPEE
from lxml import etree
from test_feedback import MISTAKES
from test_search import QUERIES_1, QUERIES_2

from treeindex import ingest
from treeindex.cli import cli
from treeindex.search import notes, summary

SOURCES = [CDB, SUITES, WRPEE, ALPINO / "cdb"]


def _sentences():
    for src in SOURCES:
        files = sorted(src.glob("*.xml")) if src.is_dir() else [src]
        for f in files:
            tree = etree.parse(str(f), etree.XMLParser(resolve_entities=False))
            yield from tree.iter("alpino_ds")


def brute_force() -> tuple[set[str], set[tuple[str, str]]]:
    """The names of every attribute of <alpino_ds> and <node>, and each (name, value) with
    an ASCII capital but word and lemma, as lxml reads the inputs."""
    names: set[str] = set()
    capitals: set[tuple[str, str]] = set()
    for ds in _sentences():
        for el in [ds, *ds.iter("node")]:
            for name, value in el.attrib.items():
                names.add(name)
                if name not in ("word", "lemma") and any("A" <= c <= "Z" for c in value):
                    capitals.add((name, value))
    return names, capitals


def stored(db) -> tuple[dict[str, int], set[tuple[str, str]]]:
    conn = sqlite3.connect(db)
    try:
        return (dict(conn.execute("SELECT name, open FROM node_names")),
                set(conn.execute("SELECT name, value FROM node_values")))
    finally:
        conn.close()


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    db = tmp_path_factory.mktemp("summary") / "t.db"
    ingest(db, SOURCES, workers=0)
    return db


def test_the_summary_is_what_the_sentences_hold(index):
    names, capitals = brute_force()
    have, values = stored(index)
    assert set(have) == names and not any(have.values())
    assert values == capitals
    assert {n for n, _ in capitals} >= {"postag", "root"}  # (the test sees real capitals)
    conn = sqlite3.connect(index)
    assert summary.ready(conn)
    conn.close()


def test_workers_and_cuts_write_the_same_summary(index, tmp_path):
    db = tmp_path / "w.db"
    ingest(db, SOURCES, workers=2, chunk_bytes=50_000)
    assert stored(db) == stored(index)


def _without_summary(src, dest):
    """The index as the treeindex before the summary left it."""
    shutil.copy(src, dest)
    conn = sqlite3.connect(dest)
    conn.executescript("DROP TABLE node_names; DROP TABLE node_values; "
                       "DELETE FROM settings WHERE key = 'values_from';")
    conn.close()
    return dest


QUERIES = [q for q, _ in MISTAKES] + QUERIES_1 + QUERIES_2 + [
    '//node[@postag="VZ(Init)"]', '//node[@root="amsterdam" or @root="AMSTERDAM"]',
    '//node[@Postag]', '//node[@neclass="LOC"]', '//node[@neclass="Loc"]']


def test_the_notes_are_the_same_without_the_summary(index, tmp_path):
    older = _without_summary(index, tmp_path / "older.db")
    with sqlite3.connect(older) as conn:
        assert not summary.ready(conn)
    for query in QUERIES:
        assert notes(index, query) == notes(older, query), query


def test_upgrade_summarizes_an_older_index(index, tmp_path):
    older = _without_summary(index, tmp_path / "older.db")
    result = CliRunner().invoke(cli, ["upgrade", "--db", str(older)])
    assert result.exit_code == 0, result.output
    assert "node block summarized" in result.output or "node blocks summarized" in \
        result.output, result.output
    assert stored(older) == stored(index)
    with sqlite3.connect(older) as conn:
        assert summary.ready(conn)
    again = CliRunner().invoke(cli, ["upgrade", "--db", str(older)])
    assert again.exit_code == 0 and "summarized" not in again.output, again.output


def test_an_attribute_with_too_many_capitals_is_not_listed(tmp_path, monkeypatch):
    monkeypatch.setattr(summary, "CAP", 10)
    db = tmp_path / "t.db"
    ingest(db, SOURCES, workers=0)
    have, values = stored(db)
    assert have["postag"] == 1 and have["root"] == 1 and have["cat"] == 0
    assert not {n for n, _ in values} & {"postag", "root"}
    assert len({v for n, v in values if n == "neclass"}) <= 10
    # what it cannot tell gets no note; what it can still does
    assert notes(db, '//node[@postag="VZ(Init)"]') == []
    assert notes(db, '//node[@cat="NP"]')[0].startswith('no node has @cat="NP"')
