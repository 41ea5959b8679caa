"""`treeindex corpora`, `rm` and `rename`: atomic, refused while an ingest writes, and the
index after them is the index of what is left."""

from __future__ import annotations

import os
import sqlite3

import pytest
from click.testing import CliRunner
from conftest import ALPINO, CDB, WRPEE, dump

from treeindex import InputError, ingest
from treeindex.cli import cli
from treeindex.manage import corpora, remove, rename
from treeindex.search import search
from treeindex.store import IngestLock


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.fixture
def index(tmp_path):
    db = tmp_path / "t.db"
    ingest(db, [CDB, WRPEE, ALPINO / "ovis"], workers=0)
    return db


def test_corpora_lists_them(index):
    result = run("corpora", "--db", index)
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert lines[0].split() == ["corpus", "kind", "state", "sentences", "subtrees", "errors",
                                "source"]
    assert [line.split()[0] for line in lines[2:]] == ["cdb-sample", "WRPEE-dummy", "ovis"]
    assert [c.kind for c in corpora(index)] == ["treebank", "treebank", "directory"]


def test_rm_leaves_the_index_of_what_is_left(index, tmp_path):
    only = tmp_path / "only.db"
    ingest(only, [ALPINO / "ovis"], workers=0)
    result = run("rm", "--db", index, "cdb-sample", "WRPEE-dummy")
    assert result.exit_code == 0, result.output
    assert result.output == f"removed 2 corpora (161 sentences) from {index}\n"
    a, b = dump(index), dump(only)
    for table in ("corpus_categories", "errors"):
        assert [r[1:] for r in a[table]] == [r[1:] for r in b[table]], table
    conn = sqlite3.connect(index)
    assert conn.execute("SELECT count(*) FROM subtrees WHERE corpus_id NOT IN "
                        "(SELECT id FROM corpora)").fetchone() == (0,)
    assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert {h.corpus for h in search(index, "//node[@cat]", workers=0)} == {"ovis"}


def test_rm_of_an_unknown_name_changes_nothing(index):
    before = dump(index)
    result = run("rm", "--db", index, "WRPEE-dummy", "cbd-sample")
    assert result.exit_code == 1
    assert result.output.startswith("Error: unknown corpus 'cbd-sample'; the corpora in this "
                                    "index are (closest first): cdb-sample")
    assert dump(index) == before


def test_rename(index):
    result = run("rename", "--db", index, "ovis", "ovis-2024")
    assert result.exit_code == 0 and result.output == f"renamed ovis to ovis-2024 in {index}\n"
    assert [c.name for c in corpora(index)] == ["cdb-sample", "WRPEE-dummy", "ovis-2024"]
    taken = run("rename", "--db", index, "ovis-2024", "cdb-sample")
    assert taken.exit_code == 1
    assert taken.output == (f"Error: a corpus is called 'cdb-sample' already; remove it first "
                            f"(treeindex rm --db {index} cdb-sample) or choose another name\n")
    with pytest.raises(InputError):
        rename(index, "nosuch", "x")


def test_refused_while_an_ingest_writes(index):
    before = dump(index)
    with IngestLock(index):
        for command in (["rm", "ovis"], ["rename", "ovis", "x"]):
            result = run(*command, "--db", index)
            assert result.exit_code == 1
            assert result.output == (
                f"Error: {index}: another treeindex ingest (pid {os.getpid()}) is writing to "
                "this database; wait for it to finish, then run this again\n")
    assert dump(index) == before
    assert remove(index, ["ovis"]) == 40
