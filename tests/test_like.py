"""Search by example (`search --like`): the XPath made of a subtree's shape always finds
that subtree in its own sentence (checked on every kept subtree of the bundled sample), and
the command prints the XPath it made, then runs it."""

from __future__ import annotations

import sqlite3

import pytest
from click.testing import CliRunner
from conftest import CDB, SUITES, WRPEE
from lxml import etree

from treeindex import ingest
from treeindex.cli import cli
from treeindex.search import search
from treeindex.search.like import like_xpath, literal
from treeindex.store import Index


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    db = tmp_path_factory.mktemp("like") / "t.db"
    ingest(db, [CDB, SUITES, WRPEE], workers=0)
    return db


def test_every_subtree_is_found_by_the_xpath_of_its_shape(index):
    checked = 0
    with Index(index) as ix:
        rows = ix.conn.execute(
            "SELECT s.id, t.node FROM subtrees t JOIN sentences s ON s.id = t.sentence_id "
            "ORDER BY t.id").fetchall()
        roots: dict[int, etree._Element] = {}
        for sid, pos in rows:
            root = roots.get(sid)
            if root is None:
                root = roots[sid] = etree.fromstring(ix.sentence(sid).xml)
            node = list(root.iter("node"))[pos]
            for depth, keep in ((0, ()), (1, ()), (1, ("lemma", "pt")), (2, ("word",))):
                found = root.xpath(like_xpath(node, depth, keep))
                assert node in found, (like_xpath(node, depth, keep), sid)
                checked += 1
    assert checked == 4 * len(rows) and len(rows) > 1000


def test_literals_with_quotes():
    root = etree.fromstring("""<alpino_ds><node id="0" cat="top"><node id="1" word='a"b' """
                            """lemma="c'd"/><node id="2" word="e&quot;f'g"/></node></alpino_ds>""")
    for el in root.iter("node"):
        for attr in ("word", "lemma"):
            if el.get(attr) is not None:
                assert el in root.xpath(f"//node[@{attr}={literal(el.get(attr))}]")


def test_the_command_prints_the_xpath_and_finds_the_example(index):
    result = CliRunner().invoke(cli, ["search", "--db", str(index), "--corpus", "cdb-sample",
                                      "--like", "np-3", "--keep", "lemma", "--format", "nl"])
    assert result.exit_code == 0, result.output
    made = result.stderr.splitlines()[0]
    assert made.startswith('xpath: //node[@cat="np" and node[@rel="det" and @lemma="de"]')
    conn = sqlite3.connect(index)
    sentid, = conn.execute(
        "SELECT s.sentid FROM subtrees t JOIN sentences s ON s.id = t.sentence_id JOIN "
        "corpora c ON c.id = t.corpus_id WHERE c.name = 'cdb-sample' AND t.cat = 'np' AND "
        "t.n = 3").fetchone()
    assert f'"sentid": "{sentid}"' in result.stdout
    hits = list(search(index, made[len("xpath: "):], corpora=["cdb-sample"]))
    assert len(hits) == result.stdout.count("\n")


@pytest.mark.parametrize("args, message", [
    (["//node", "--like", "np-3"], "give an XPATH, or --like WHAT (one of them)"),
    ([], "give an XPATH, or --like WHAT (one of them)"),
    (["--like", "np-3", "--corpus", "cdb-sample", "--keep", "colour"],
     "--keep takes word, lemma, pt, postag, pos (or nothing); not colour"),
    (["--like", "cdb/1:99", "--corpus", "cdb-sample"],
     "sentence 'cdb/1' has no node with id '99'"),
    (["--like", "cdb/1", "--corpus", "cdb-sample"],
     "'cdb/1' is a sentence: give a subtree label (np-17) or SENTID:NODEID"),
])
def test_bad_examples_are_one_line(index, args, message):
    result = CliRunner().invoke(cli, ["search", "--db", str(index), *args])
    assert result.exit_code in (1, 2)
    assert message in result.output and "Traceback" not in result.output


def test_a_word_search_becomes_a_chain_of_adjacent_words():
    from treeindex.search.like import words_xpath

    assert words_xpath("huis") == '//node[@word="huis"]'
    assert words_xpath('zei "ja"', lemmas=True) == (
        '//node[@lemma="zei" and @end = //node[@lemma=\'"ja"\']/@begin]')
    with pytest.raises(ValueError):
        words_xpath("   ")
