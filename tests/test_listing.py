"""A whole listing (`search.listing.search_lines`, what `treeindex search` prints without
--limit) is byte for byte the lines of the hit records `search` yields, formatted by the
caller: in every format, with its records and lines made in this process or in workers,
on the node table, the lxml path, sentences in no block and a damaged block."""

from __future__ import annotations

import shutil
import sqlite3

import pytest
from click.testing import CliRunner
from conftest import ALPINO, CDB, SUITES, WRPEE, spy

from treeindex import cores, ingest
from treeindex.cli import cli
from treeindex.search import plan, search
from treeindex.search.formats import FORMATS, hit_lines
from treeindex.search.listing import search_lines

QUERIES = [
    '//node[@cat="np" and node[@rel="det"]]',  # dense: most blocks' sentences
    '//node[@cat="whq"]',  # sparse
    '//node[@word="is"]',  # few candidates: the lxml path
    '//node[@rel="su" and @index and not(@cat or @word)]',  # empty nodes: no words
    '//node[@cat="du"] | //node[@cat="sv1"]',
    '//node[@rel=("hd","cmp") and ../@cat="pp"]',  # XPath 2.0
    '//node[@lemma="nooit-gezien"]',  # no hit: the formats' frames alone
]


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    db = tmp_path_factory.mktemp("listing") / "t.db"
    ingest(db, [CDB, SUITES, WRPEE, ALPINO / "Titaantjes", ALPINO / "cdb"], workers=2)
    return db


def reference(db, query: str, fmt: str) -> list[str]:
    """The slow, obvious way: every sentence parsed by lxml, every hit record, its line."""
    return list(hit_lines(search(db, query, with_xml=fmt == "xml", workers=0,
                                 engine="lxml"), fmt))


@pytest.mark.parametrize("fmt", FORMATS)
def test_lines_are_those_of_the_records(index, fmt):
    assert plan(index, QUERIES[2]).engine is None  # (the lxml path where it is faster)
    for query in QUERIES:
        expected = reference(index, query, fmt)
        for engine in ("nodes", "auto"):
            assert list(search_lines(index, query, fmt, workers=0, engine=engine)) == \
                expected, (query, engine)
        if query == QUERIES[0]:
            assert len(expected) > 100


def test_workers_make_the_lines(index, monkeypatch):
    import treeindex.search as searching
    from treeindex.search import fast

    monkeypatch.setattr(cores, "POOL_START", 0.0)  # (workers after the first job)
    monkeypatch.setattr(cores, "POOL_START_PER_WORKER", 0.0)
    started = spy(monkeypatch, searching, "_results")
    jobs = spy(monkeypatch, fast, "jobs")
    for fmt in ("text", "csv", "json", "xml"):
        assert list(search_lines(index, QUERIES[0], fmt, workers=2, engine="nodes")) == \
            reference(index, QUERIES[0], fmt)
    assert [c.args[2] for c in started if c.args[2]] == [2, 2, 2, 2]
    # a job is one block: at most N + 2 blocks' lines in memory at once
    made = [job for kind, job in fast.jobs(*jobs[0].args, **jobs[0].kwargs)
            if kind == "blocks"]
    assert len(made) > 2 and all(len(job.rows) == 1 for job in made)
    # the first block's records are made as they are written (`head` answers at once)
    assert [job.mode for job in made] == ["hits"] + ["lines"] * (len(made) - 1)


def test_sentences_in_no_block_and_a_damaged_block(index, tmp_path, monkeypatch):
    """Blocks missing (sentences indexed before the node table, or from an index without
    one) and a block that cannot be read go through lxml: the same lines."""
    db = tmp_path / "gaps.db"
    shutil.copy(index, db)
    conn = sqlite3.connect(db)
    ids = [r[0] for r in conn.execute("SELECT id FROM node_blocks ORDER BY id")]
    assert len(ids) >= 4
    conn.execute(f"DELETE FROM node_blocks WHERE id IN ({ids[0]}, {ids[2]})")
    conn.execute("UPDATE node_blocks SET data = zeroblob(64) WHERE id = ?", (ids[3],))
    conn.commit()
    conn.close()
    monkeypatch.setattr(cores, "POOL_START", 0.0)
    monkeypatch.setattr(cores, "POOL_START_PER_WORKER", 0.0)
    for fmt in ("text", "nl", "xml"):
        for workers in (0, 2):
            assert list(search_lines(db, QUERIES[0], fmt, workers=workers,
                                     engine="nodes")) == \
                reference(index, QUERIES[0], fmt), (fmt, workers)
    # the first block damaged too: the job whose records the caller makes reads it by lxml
    conn = sqlite3.connect(db)
    conn.execute("UPDATE node_blocks SET data = zeroblob(64) WHERE id = ?", (ids[1],))
    conn.commit()
    conn.close()
    for fmt in ("text", "xml"):
        assert list(search_lines(db, QUERIES[0], fmt, workers=0, engine="nodes")) == \
            reference(index, QUERIES[0], fmt), fmt


def test_the_command_prints_the_same_with_and_without_a_limit(index):
    for fmt in ("text", "csv", "json"):
        whole = CliRunner().invoke(cli, ["search", "--db", str(index), "--format", fmt,
                                         "--workers", "2", "--engine", "nodes", QUERIES[0]])
        limited = CliRunner().invoke(cli, ["search", "--db", str(index), "--format", fmt,
                                           "--limit", "100000", QUERIES[0]])
        assert whole.exit_code == 0 and limited.exit_code == 0, whole.output
        assert whole.output == limited.output
        assert whole.output.splitlines() == reference(index, QUERIES[0], fmt)


def test_an_unknown_format_is_refused(index):
    with pytest.raises(ValueError, match="fmt must be one of"):
        list(search_lines(index, QUERIES[0], "tsv"))


_PROBE = """
import sys
from treeindex.__main__ import main
sys.argv = ["treeindex", "search", "--db", sys.argv[1], *sys.argv[2:]]
try:
    main()
except SystemExit:
    pass
print("numpy" in sys.modules, file=sys.stderr)
"""


@pytest.mark.parametrize("engine, loaded", [("lxml", "False"), ("nodes", "True")])
def test_a_listing_on_the_lxml_path_loads_no_numpy(index, engine, loaded):
    # (numpy's import is 0.13 s of a selective listing's 0.15 s on this machine)
    import os
    import subprocess
    import sys

    env = {**os.environ, "TREEINDEX_SERVER": "off"}
    out = subprocess.run([sys.executable, "-c", _PROBE, str(index), "--engine", engine,
                          "--workers", "0", QUERIES[2]], env=env, capture_output=True,
                         text=True, check=True)
    assert out.stdout.splitlines() == reference(index, QUERIES[2], "text")
    assert out.stderr.strip().splitlines()[-1] == loaded


def test_kept_superblocks_list_the_same(index, monkeypatch):
    """In a server's process (superblocks kept decoded), records stay in the main thread:
    a job there is a whole superblock, too many lines to hold at once."""
    from treeindex.search import fast
    from treeindex.search.merged import Superblocks

    kept = Superblocks(str(index))
    kept.refresh(1 << 30, 3)
    fast.keep(kept)
    try:
        assert fast.kept_superblocks(str(index))
        modes = spy(monkeypatch, fast, "jobs")
        for fmt in ("text", "json"):
            assert list(search_lines(index, QUERIES[0], fmt, workers=2, engine="nodes")) \
                == reference(index, QUERIES[0], fmt)
        assert {c.args[5] for c in modes} == {"hits"}
    finally:
        fast.keep(None)


def _block_ends(db, query: str) -> list[int]:
    """How many hits the blocks of the node table hold up to the end of each, in order."""
    conn = sqlite3.connect(db)
    rows = conn.execute("SELECT s.seq, c.name FROM node_blocks AS b JOIN sentences AS s "
                        "ON s.id = b.first_sentence + b.sentences - 1 JOIN corpora AS c "
                        "ON c.id = b.corpus_id ORDER BY b.corpus_id, b.first_sentence"
                        ).fetchall()
    conn.close()
    hits = list(search(db, query, workers=0, details=False))
    order = {}
    for h in hits:
        order.setdefault(h.corpus, len(order))
    ends = []
    for last, corpus in rows:
        ends.append(sum(1 for h in hits if (order[h.corpus], h.seq) <=
                        (order.get(corpus, -1), last)))
    return ends


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_limit_gives_the_lines_of_the_first_hits(index, fmt, monkeypatch):
    """--limit K: the lines of the first K hits, whether K ends inside the first block
    (made here), inside a block a worker made the lines of, at a block's end, or past the
    last hit; with workers and without."""
    monkeypatch.setattr(cores, "POOL_START", 0.0)
    monkeypatch.setattr(cores, "POOL_START_PER_WORKER", 0.0)
    query = QUERIES[0]
    ends = _block_ends(index, query)
    total = ends[-1]
    assert len(ends) >= 4 and 0 < ends[0] < ends[1] < total
    limits = sorted({1, 2, ends[0] - 1, ends[0], ends[0] + 1, ends[1] + 1, ends[2],
                     total - 1, total, total + 7}
                    | {(a + b) // 2 for a, b in zip(ends, ends[1:])})  # (mid-block)
    for k in limits:
        expected = list(hit_lines(search(index, query, with_xml=fmt == "xml", workers=0,
                                         engine="lxml", limit=k), fmt))
        for workers in (0, 2):
            got = list(search_lines(index, query, fmt, workers=workers, engine="nodes",
                                    limit=k))
            assert got == expected, (k, workers)
    # a sentence of several hits: the treebank holds it once, if its first hit is in
    if fmt == "xml":
        few = list(search_lines(index, QUERIES[3], fmt, workers=0, limit=3))
        assert few == list(hit_lines(search(index, QUERIES[3], with_xml=True, workers=0,
                                            engine="lxml", limit=3), fmt))


def test_a_limit_stops_the_workers_early(index, monkeypatch):
    """A limit met in the first block: no other job's lines are waited for."""
    from treeindex.search import fast

    ran = spy(monkeypatch, fast, "run_item")
    lines = list(search_lines(index, QUERIES[0], "text", workers=0, engine="nodes",
                              limit=5))
    assert len(lines) == 5 and len(ran) == 1
