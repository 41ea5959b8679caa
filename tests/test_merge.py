"""`treeindex merge`: corpora of separately built indexes appended to one, as one ingest of
all the inputs would have indexed them (the stored sentences aside: each index trained its
own zstd dictionary, so the blobs differ while the XML they hold is the same)."""

from __future__ import annotations

import sqlite3

from click.testing import CliRunner
from conftest import ALPINO, CDB, SUITES, WRPEE, dump

from treeindex import ingest
from treeindex.cli import cli
from treeindex.search import search
from treeindex.store import Index


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def without_blobs(db):
    d = dump(db)
    d["sentences"] = [row[:-1] for row in d["sentences"]]
    return d


def xml_of(db):
    with Index(db) as index:
        return [index.decode(b) for (b,) in index.conn.execute(
            "SELECT xml FROM sentences ORDER BY id")]


def test_merge_is_one_ingest_of_all_inputs(tmp_path):
    a, b, out, local = (tmp_path / n for n in ("a.db", "b.db", "out.db", "local.db"))
    ingest(a, [CDB, WRPEE], workers=0)
    ingest(b, [SUITES, ALPINO], workers=0)
    result = run("merge", out, a, b)
    assert result.exit_code == 0, result.output
    assert "cdb-sample: 150 sentences, 1,655 subtrees merged" in result.output
    ingest(local, [CDB, WRPEE, SUITES, ALPINO], workers=0)
    assert without_blobs(out) == without_blobs(local)
    assert xml_of(out) == xml_of(local)
    q = '//node[@cat="np" and node[@rel="det" and @lemma="de"]]'
    assert [(h.corpus, h.sentid, h.id, h.label) for h in search(out, q, workers=0)] == \
        [(h.corpus, h.sentid, h.id, h.label) for h in search(local, q, workers=0)]
    again = run("merge", out, a, b)  # merged already: nothing to do
    assert again.exit_code == 0 and again.output == ""
    assert without_blobs(out) == without_blobs(local)


def test_merge_refuses_collisions_incomplete_shards_and_other_settings(tmp_path):
    a, b, out = tmp_path / "a.db", tmp_path / "b.db", tmp_path / "out.db"
    ingest(a, [CDB], workers=0)
    copy = tmp_path / "cdb-sample.xml"
    copy.write_bytes(CDB.read_bytes())
    ingest(b, [copy], workers=0)  # the same name, another source
    assert run("merge", out, a).exit_code == 0
    r = run("merge", out, b)
    assert r.exit_code == 1
    assert r.output == (f"Error: {b}: corpus 'cdb-sample' is in the index already (from "
                        f"{CDB}); rename one (treeindex rename) before merging\n")
    c = tmp_path / "c.db"
    ingest(c, [SUITES], workers=0, max_children=3)
    r = run("merge", out, c)
    assert r.exit_code == 1
    assert r.output == (f"Error: {c}: was built with max_children = 3, the index with 7; "
                        "ingest both with the same settings\n")
    d = tmp_path / "d.db"
    ingest(d, [WRPEE], workers=0)
    sqlite3.connect(d).execute("UPDATE corpora SET complete = 0").connection.commit()
    r = run("merge", out, d)
    assert r.exit_code == 1
    assert "corpus 'WRPEE-dummy' is not completely indexed" in r.output
    assert dump(out)["corpora"] == dump(a)["corpora"]  # nothing half-merged


def test_a_shard_directory_the_worker_cannot_see(tmp_path):
    """(Without a cluster: the shard function itself, as a worker runs it.)"""
    import socket

    import pytest

    from treeindex.cluster.client import ShardJob, run_shard
    from treeindex.cluster.shards import plan_shards
    from treeindex.errors import InputError
    from treeindex.sources import discover

    (spec,) = plan_shards(discover([CDB], None).corpora, 1 << 30, "x", {})
    with pytest.raises(InputError) as e:
        run_shard(ShardJob(spec, str(tmp_path / "nowhere"), None, 7, 1000, 2 << 20))
    assert str(e.value) == (f"{tmp_path / 'nowhere'}: no such directory on the worker at "
                            f"{socket.gethostname()}; give --shard-dir a directory that every "
                            "worker and this machine share")
