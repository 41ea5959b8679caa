"""The node-table engine is exact: the same hits as lxml/elementpath on every sentence, for
the exactness queries, for a few hundred generated ones and through the whole search; the C
and Python block builders agree; older indexes answer exactly and `upgrade` adds the table."""

from __future__ import annotations

import re
import sqlite3

import numpy as np
import pytest
import querygen
from click.testing import CliRunner
from conftest import CDB, SUITES, interrupt_after, spy
from test_search import QUERIES_1, QUERIES_2, SOURCES, expected

from treeindex import ingest
from treeindex.cli import cli
from treeindex.errors import Interrupted
from treeindex.search import count, nodestore, plan, search, stats
from treeindex.search.block import Block


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    db = tmp_path_factory.mktemp("engine") / "t.db"
    ingest(db, [s for s, _ in SOURCES], workers=2)
    return db


@pytest.mark.parametrize("query, two", [(q, False) for q in QUERIES_1] +
                         [(q, True) for q in QUERIES_2])
def test_the_exactness_queries_on_the_node_table(index, query, two):
    p = plan(index, query, engine="nodes")
    assert p.engine is not None, p.why_not
    got = [(h.corpus, h.sentid, h.id) for h in search(index, query, engine="nodes")]
    assert got == expected(query, two)


RECORD_QUERIES = [
    '//node[@cat="np" and node[@rel="det"]]',
    '//node[@rel="su" and @index and not(@cat or @word)]',  # empty co-indexed nodes
    '//node[@word]',
    '//node[@cat="smain"]',
    '//node[@rel=("hd","cmp")]',
]


@pytest.mark.parametrize("query", RECORD_QUERIES)
def test_hit_records_are_those_of_the_lxml_path(index, query):
    fast = list(search(index, query, engine="nodes", with_xml=True, attrs=("lemma", "pos")))
    slow = list(search(index, query, engine="lxml", with_xml=True, attrs=("lemma", "pos"),
                       workers=0))
    assert fast == slow and len(fast) > 10


@pytest.mark.parametrize("share, bits, few", [
    (0, 32, 0),  # every block read sparsely
    (10**9, 32, 0),  # none: the hits' labels picked out by their (sentence, node) keys
    (10**9, 1, 0),  # (nodes past the key's bits: every label of the block read instead)
    (0, 32, 10**9),  # the hit sentences of every block parsed by lxml (XPath 1.0)
])
def test_hit_records_of_sparse_and_dense_blocks_are_those_of_the_lxml_path(
        index, share, bits, few, monkeypatch):
    """A block whose hits are in few of its sentences has only those sentences' columns and
    labels read (search/hitrecords.py SPARSE_SHARE), or, in at most LXML_RECORDS_MAX
    sentences, those sentences parsed; any way the records are lxml's."""
    from treeindex.search import hitrecords

    monkeypatch.setattr(hitrecords, "SPARSE_SHARE", share)
    monkeypatch.setattr(hitrecords, "NODE_BITS", bits)
    monkeypatch.setattr(hitrecords, "LXML_RECORDS_MAX", few)
    parsed = spy(monkeypatch, hitrecords, "run_search_task")
    for query in RECORD_QUERIES + ['//node[@lemma="procent"]', '//node[@cat="whq"]']:
        for kw in ({"with_xml": True, "attrs": ("lemma", "pos")}, {"details": False}):
            fast_hits = list(search(index, query, engine="nodes", **kw))
            slow = list(search(index, query, engine="lxml", workers=0, **kw))
            assert fast_hits == slow and fast_hits, (query, kw)
    # (XPath 2.0, whose sentences elementpath would parse slowly, never takes that way)
    xpath1 = set(RECORD_QUERIES) - {'//node[@rel=("hd","cmp")]'} | {
        '//node[@lemma="procent"]', '//node[@cat="whq"]'}
    assert {c.args[0].query for c in parsed} == (xpath1 if few else set())


@pytest.mark.parametrize("query", RECORD_QUERIES[:3])
def test_counts_and_statistics_are_those_of_the_lxml_path(index, query):
    assert count(index, query, engine="nodes") == count(index, query, engine="lxml")
    for attrs in (("lemma",), ("cat", "rel"), ("nosuch",)):
        assert stats(index, query, attrs, engine="nodes") == \
            stats(index, query, attrs, engine="lxml")


def test_limit_and_corpora_on_the_node_table(index):
    assert len(list(search(index, "//node", engine="nodes", limit=7))) == 7
    only = {h.corpus for h in search(index, '//node[@cat="np"]', corpora=["cdb"],
                                     engine="nodes")}
    assert only == {"cdb"}


def test_the_xpath2_forms_run_on_the_node_table(index):
    forms = ['//node[@rel=("obj1","obj2")]', '//node[("obj1", "x") = node/@rel]',
             '//node[node/@rel != ("hd", "su")]',
             '//node[some $x in node satisfies $x/@rel="hd"]',
             '//node[every $x in node satisfies $x/@word]',
             '//node[matches(@lemma, "^ge.*d$", "i")]', '//node[ends-with(@word, "en")]',
             '//node[lower-case(@word)="de"]', '//node[upper-case(@lemma)="DE"]',
             '//node[exists(node[@rel="det"])]', '//node[empty(node) and @cat]',
             '//node[node[@rel="hd"]/number(@begin) > 3]']
    for q in forms:
        p = plan(index, q, engine="nodes")
        assert p.engine is not None, (q, p.why_not)
        assert "engine: node table (XPath 2.0" in "\n".join(p.explain())
        got = [(h.corpus, h.sentid, h.id) for h in search(index, q, engine="nodes")]
        assert got == expected(q, True), q


def test_a_query_the_engine_does_not_take_falls_back_and_says_why(index):
    q = '//node[@cat="np"][ancestor::sentence or @rel]'
    p = plan(index, q, engine="nodes")
    assert p.engine is None
    assert "node table not used: " in "\n".join(p.explain())
    got = [(h.corpus, h.sentid, h.id) for h in search(index, q, engine="nodes")]
    assert got == expected(q, False)


def test_explain_names_the_node_table(index):
    result = run("search", "--db", index, "--explain", "--engine", "nodes",
                 '//node[@cat="np"]')
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[1] == ("engine: node table (XPath 1.0 on the stored "
                                             "columns, no XML parsed)")


# --- the block builders -----------------------------------------------------------------

ODD = [
    b'<alpino_ds id="a&amp;b"><node id="0" rel="top" begin="0" end="1" word="x&#233;&lt;"'
    b' lemma="a\r\nb\tc"><node id="1" rel="hd" word="&quot;q&apos;" begin="0" end="1"/>'
    b'</node><sentence>x</sentence></alpino_ds>',
    b'<alpino_ds><!-- <node id="9"/> --><node id="0" begin="0" end="1"><?pi x?>'
    b'<node id="1" begin="0" end="1"/></node><sentence><![CDATA[<node/>]]></sentence>'
    b'</alpino_ds>',
    b'<alpino_ds xmlns:x="u"><node id="0" x:a="1"/></alpino_ds>',  # handed over
    b'<alpino_ds><node id="0"><ud a="1"/><node id="1"/></node></alpino_ds>',  # plain
    b'<alpino_ds><metadata><node id="0"/></metadata><node id="1"/></alpino_ds>',  # not plain
    b"<alpino_ds><node id='0' cat='np'  rel = 'su' /></alpino_ds>",
]


def test_the_c_and_python_builders_make_the_same_blocks():
    xmls = querygen.bundled_sentences() + ODD
    python = nodestore.build(nodestore.parse_sentence(x) for x in xmls)
    assert nodestore.build_block(xmls) == python
    if nodestore._nodes is None:  # pragma: no cover
        pytest.skip("the C builder was not compiled")
    for x in ODD:  # one by one, too: each odd case on its own
        assert nodestore.build_block([x]) == nodestore.build([nodestore.parse_sentence(x)])
    # sentence by sentence (as a worker builds it), handovers in the middle
    mixed = xmls[:50] + ODD + xmls[50:80] + ODD[::-1]
    builder = nodestore.BlockBuilder()
    for x in mixed:
        builder.add(x)
    assert builder.finish() == nodestore.build(nodestore.parse_sentence(x) for x in mixed)
    block = Block(python)
    assert block.sentences == len(xmls)
    assert block.plain.tolist()[-4:] == [True, True, False, True]


def test_sentences_that_are_not_plain_go_through_lxml(tmp_path):
    src = tmp_path / "odd.xml"
    src.write_bytes(b"<treebank>\n" + b"\n".join(ODD[:2] + ODD[3:]) + b"\n</treebank>\n")
    db = tmp_path / "t.db"
    ingest(db, [src], workers=0)
    for q in ["//node", '//node[@id="1"]', "//node[node]", "//node[../@id]"]:
        fast = [(h.sentid, h.id) for h in search(db, q, engine="nodes")]
        slow = [(h.sentid, h.id) for h in search(db, q, engine="lxml", workers=0)]
        assert fast == slow and fast, q


# --- generated queries ------------------------------------------------------------------

@pytest.fixture(scope="module")
def corpus():
    xmls = querygen.bundled_sentences()[::2]  # half of them: a faster reference
    roots = querygen.parse_all(xmls)
    return roots, Block(nodestore.build_block(xmls))


@pytest.mark.parametrize("seed", range(6))
def test_generated_queries_give_the_reference_hits(corpus, seed):
    roots, block = corpus
    gen = querygen.Generator(querygen.Vocabulary(roots), 1000 + seed)
    outcomes = []
    for _ in range(50):
        q = gen.query()
        outcome, want, got = querygen.compare(q, roots, block)
        assert outcome != querygen.Outcome.DIFFERENT, (q, want, got)
        outcomes.append(outcome)
    # the engine answers most of them itself (not a test that passes by falling back)
    assert outcomes.count(querygen.Outcome.SAME) >= 40


# --- older indexes, upgrade, resume, rm -------------------------------------------------

def without_node_table(db) -> None:
    """What an index of schema version 3 looks like: no node table."""
    conn = sqlite3.connect(db)
    conn.executescript("DROP TABLE node_blocks; DELETE FROM settings WHERE key = 'nodes_from';"
                       "UPDATE settings SET value = '3' WHERE key = 'schema_version';")
    conn.close()


def test_upgrade_adds_the_node_table_to_an_older_index(tmp_path):
    db = tmp_path / "old.db"
    ingest(db, [CDB, SUITES], workers=0)
    query = '//node[@cat="np" and node[@rel="det"]]'
    before = [(h.corpus, h.sentid, h.id) for h in search(db, query, engine="lxml")]
    without_node_table(db)
    p = plan(db, query, engine="nodes")
    assert p.engine is None and "run `treeindex upgrade`" in p.why_not
    assert [(h.corpus, h.sentid, h.id) for h in search(db, query, engine="nodes")] == before
    result = run("upgrade", "--db", db, "--workers", 2)
    assert result.exit_code == 0, result.output
    assert re.search(r"0 sentences got search terms, [\d,]+ sentences got into the node "
                     "table", result.output)
    assert plan(db, query, engine="nodes").engine is not None
    assert [(h.corpus, h.sentid, h.id) for h in search(db, query, engine="nodes")] == before
    again = run("upgrade", "--db", db)
    assert again.exit_code == 0 and "0 sentences got into the node table" in again.output


def test_an_older_index_ingested_into_mixes_both_paths_exactly(tmp_path):
    db = tmp_path / "old.db"
    ingest(db, [CDB], workers=0)
    without_node_table(db)
    ingest(db, [SUITES], workers=0)  # gets the table: blocks from its sentences on
    query = '//node[@rel="hd" and ../@cat="np"]'
    p = plan(db, query, engine="nodes")
    assert p.engine is not None and p.older_nodes > 0
    assert "sentences were indexed before the node table" in "\n".join(p.explain())
    assert list(search(db, query, engine="nodes")) == \
        list(search(db, query, engine="lxml", workers=0))
    assert count(db, query, engine="nodes") == count(db, query, engine="lxml")


def test_an_interrupted_upgrade_resumes(tmp_path):
    db = tmp_path / "old.db"
    ingest(db, [CDB, SUITES], workers=0)
    without_node_table(db)
    from treeindex import upgrade as upgrading

    old = upgrading.SENTENCES_PER_BLOCK
    upgrading.SENTENCES_PER_BLOCK = 50
    try:
        with pytest.raises(Interrupted):
            upgrading.upgrade(db, workers=0, progress_callback=interrupt_after(2))
        conn = sqlite3.connect(db)
        (blocks,) = conn.execute("SELECT count(*) FROM node_blocks").fetchone()
        conn.close()
        assert blocks == 2
        done = upgrading.upgrade(db, workers=0)
        assert done.nodes > 0
    finally:
        upgrading.SENTENCES_PER_BLOCK = old
    covered(db)
    q = '//node[@cat="pp"]'
    assert list(search(db, q, engine="nodes")) == list(search(db, q, engine="lxml"))


def covered(db) -> None:
    """Every sentence is in exactly one node block of its corpus."""
    conn = sqlite3.connect(db)
    ids = [r[0] for r in conn.execute("SELECT id FROM sentences ORDER BY id")]
    spans = []
    for cid, first, n in conn.execute(
            "SELECT corpus_id, first_sentence, sentences FROM node_blocks"):
        spans += list(range(first, first + n))
        assert {r[0] for r in conn.execute(
            "SELECT corpus_id FROM sentences WHERE id BETWEEN ? AND ?",
            (first, first + n - 1))} == {cid}
    conn.close()
    assert sorted(spans) == ids


def test_a_resumed_ingest_has_every_sentence_in_the_node_table(tmp_path):
    db = tmp_path / "t.db"
    with pytest.raises(Interrupted):
        ingest(db, [CDB, SUITES], workers=2, chunk_bytes=20_000,
               progress_callback=interrupt_after(3))
    ingest(db, [CDB, SUITES], workers=2, chunk_bytes=20_000)
    covered(db)
    q = '//node[@cat="np"]/node[last()]'
    assert list(search(db, q, engine="nodes")) == list(search(db, q, engine="lxml"))


def test_rm_removes_the_blocks(tmp_path):
    db = tmp_path / "t.db"
    ingest(db, [CDB, SUITES], workers=0)
    assert run("rm", "--db", db, "cdb-sample").exit_code == 0
    covered(db)


@pytest.mark.parametrize("pattern, flags", [
    ("^ge.*d$", ""), ("a.b", ""), ("a.b", "s"), ("[a-z]+", "i"), ("x{2,3}", ""),
    ("(ab|c)?", ""), ("^[^aeiou]+$", ""), ("^.{3}$", "i"), ("e{2}", ""), ("[0-9]", "")])
def test_simple_patterns_are_translated_as_elementpath_does(pattern, flags):
    import re as regex

    from elementpath.regex import translate_pattern

    from treeindex.search.values import simple_regex

    f = 0
    for c in flags:
        f |= getattr(regex, c.upper())
    assert simple_regex(pattern, flags) == translate_pattern(pattern, f, "1.0")


def test_other_patterns_are_left_to_elementpath():
    from treeindex.search.values import simple_regex

    for pattern in (r"\d+", "[a-z-[aeiou]]", "a{,3}", r"\p{Lu}", "^a$"):
        flags = "m" if pattern == "^a$" else ""
        assert simple_regex(pattern, flags) is None


def test_a_column_with_more_values_than_16_bits_hold():
    xmls = [b'<alpino_ds><node id="%d" word="w%d"/></alpino_ds>' % (i, i)
            for i in range(66_000)]
    block = Block(nodestore.build_block(xmls))
    assert block._sections["a:word"][2] == "u4"
    assert nodestore.build_block(xmls) == nodestore.build(
        nodestore.parse_sentence(x) for x in xmls)
    ids, vocab = block.column("word")
    assert vocab[int(ids[block.sent[65_999] + 2])] == "w65999"


@pytest.mark.parametrize("values", [1, 255, 256, 300])
def test_a_column_is_stored_as_narrow_as_its_values_allow(values):
    """Up to 255 values a column is stored in one byte per element, from 256 in two; the
    C and Python builders agree, and a search reads both alike (widened to 16 bits, as
    blocks written before had them: the engine's arithmetic on ids never wraps at 256)."""
    xmls = [b'<alpino_ds><node id="%d" word="w%d" cat="np"/></alpino_ds>' % (i, i % values)
            for i in range(400)]
    block = Block(nodestore.build_block(xmls))
    assert block._sections["a:word"][2] == ("u1" if values < 256 else "u2")
    assert block._sections["a:cat"][2] == "u1"
    assert nodestore.build_block(xmls) == nodestore.build(
        nodestore.parse_sentence(x) for x in xmls)
    ids, vocab = block.column("word")
    assert ids.dtype == np.uint16
    assert [vocab[int(ids[block.sent[k] + 2])] for k in range(400)] == [
        f"w{k % values}" for k in range(400)]
    assert int(ids.max()) == values and int((ids + 1).max()) == values + 1


@pytest.mark.parametrize("damage", [
    "x'00'",  # not a block
    "substr(data, 1, length(data) / 2)",  # cut short
    "CAST(replace(data, 'sentences', 'sentencez') AS BLOB)",  # a header without counts
    "replace(data, 'sentences', 'sentencez')",  # ... stored as text
])
def test_a_damaged_block_is_searched_through_lxml(tmp_path, damage):
    db = tmp_path / "t.db"
    ingest(db, [CDB, SUITES], workers=0, chunk_bytes=100_000)
    conn = sqlite3.connect(db)
    conn.execute(f"UPDATE node_blocks SET data = {damage} WHERE id = 2")
    conn.commit()
    conn.close()
    for q in ['//node[@cat="np" and node[@rel="det"]]', "//node[count(node) > 3]"]:
        want = list(search(db, q, engine="lxml", workers=0))
        assert list(search(db, q, engine="nodes", workers=0)) == want
        assert list(search(db, q, engine="nodes", workers=2)) == want
        assert count(db, q, engine="nodes") == count(db, q, engine="lxml")
        assert stats(db, q, ("cat",), engine="nodes") == stats(db, q, ("cat",), engine="lxml")


def test_empty_values_and_absent_ones_are_told_apart(tmp_path):
    src = tmp_path / "empty.xml"
    src.write_bytes(b'<treebank>\n<alpino_ds id="e1"><node id="0" cat="top" begin="0" end="2">'
                    b'<node id="1" word="" lemma="x" begin="0" end="1"/>'
                    b'<node id="2" word="De" lemma="de" begin="1" end="2"/></node>'
                    b'<sentence>x De</sentence></alpino_ds>\n</treebank>\n')
    db = tmp_path / "t.db"
    ingest(db, [src], workers=0)
    for q in ['//node[string(@word) = ""]', '//node[@word = ""]', '//node[@word != ""]',
              '//node[lower-case(@word) = "de"]', '//node[upper-case(@word) = ""]',
              '//node[string-length(@word) = 0]', '//node[not(@word)]']:
        p = plan(db, q, engine="nodes")
        assert p.engine is not None, (q, p.why_not)
        fast = [h.id for h in search(db, q, engine="nodes")]
        assert fast == [h.id for h in search(db, q, engine="lxml", workers=0)], q


def test_overlapping_or_missing_blocks_leave_no_sentence_out_or_twice(tmp_path):
    db = tmp_path / "t.db"
    ingest(db, [CDB, SUITES], workers=0, chunk_bytes=100_000)
    conn = sqlite3.connect(db)
    conn.execute("INSERT INTO node_blocks (corpus_id, first_sentence, sentences, data) "
                 "SELECT corpus_id, first_sentence, sentences, data FROM node_blocks "
                 "WHERE id = 2")  # the same block twice
    conn.execute("DELETE FROM node_blocks WHERE id = 4")  # and one gone
    conn.commit()
    conn.close()
    q = '//node[@cat="np" and node[@rel="det"]]'
    assert list(search(db, q, engine="nodes")) == list(search(db, q, engine="lxml"))
    assert count(db, q, engine="nodes") == count(db, q, engine="lxml")


STRING_FUNCTIONS = [
    ('//node[substring(@lemma, string-length(@lemma) - 3) = "heid"]', False),
    ('//node[substring(@lemma, 1, 3) = "ver"]', False),
    ('//node[substring(@word, 2) = "e"]', False),
    ('//node[substring(@lemma, 0.5, 2.5) = "de"]', False),
    ('//node[substring(@lemma, 1.5, 1.5) = "e"]', False),
    ('//node[substring-before(@lemma, "_") = "op"]', False),
    ('//node[substring-after(@lemma, "_") != ""]', False),
    ('//node[substring-after(@lemma, "") = "de"]', False),
    ('//node[translate(@word, "ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz") '
     '= "de"]', False),
    ('//node[translate(@lemma, "aee", "x") = "dx"]', False),
    ('//node[substring(@lemma, 1, 3) = ("ver", "be")]', True),
    ('//node[substring(@lemma, 0.5, 2.5) = "de" and @rel=("det", "hd")]', True),
    ('//node[substring-before(@lemma, "_") = ("op", "in")]', True),
]


@pytest.mark.parametrize("query, two", STRING_FUNCTIONS)
def test_string_functions_run_on_the_node_table(index, query, two):
    p = plan(index, query, engine="nodes")
    assert p.engine is not None, p.why_not
    got = [(h.corpus, h.sentid, h.id) for h in search(index, query, engine="nodes")]
    assert got == expected(query, two)


def test_substring_positions_that_differ_per_node_fall_back_exactly(index):
    q = '//node[substring(@word, @begin mod 3) = "e"]'
    got = [(h.corpus, h.sentid, h.id) for h in search(index, q, engine="nodes")]
    assert got == expected(q, False)


def substring(x: str, start: float, length: float | None, xpath2: bool = False) -> str:
    """XPath's substring() of one value, the obvious way: the characters at positions p
    (1-based) with round(start) <= p < round(start) + round(length); NaN gives ''."""
    import math

    def rounded(v: float) -> float:  # (libxml2: floor(x + 0.5); elementpath: half to even)
        if not math.isfinite(v):
            return v
        return float(round(v)) if xpath2 else float(math.floor(v + 0.5))

    first = rounded(start)
    if xpath2 and length is None and first == -math.inf:
        return ""  # (elementpath's answer; XPath 2.0 says the whole string)
    end = math.inf if length is None else first + rounded(length)
    if math.isnan(first) or math.isnan(end) or end <= 1 or first > len(x):
        return ""
    lo = 1 if first <= 1 else int(math.ceil(first))
    hi = len(x) if end > len(x) else int(math.ceil(end)) - 1  # (the last position taken)
    return x[lo - 1:hi] if hi >= lo else ""


def test_substring_rounds_as_each_engine_does():
    # (libxml2 rounds half up, elementpath half to even; both treat NaN and infinities
    # their own way: the node table gives what the engine it stands in for would)
    import math

    import elementpath
    from lxml import etree


    root = etree.fromstring("<a/>")
    values = [0.0, 0.5, 1, 1.5, 2, 2.5, 3, 3.5, -1, -0.5, -1.5, 10, 1e9, -1e9, math.nan,
              math.inf, -math.inf, 0.49999999999999994, -0.49999999999999994]

    def literal(v: float, two: bool) -> str:
        if math.isnan(v):
            return "xs:double('NaN')" if two else "number('NaN')"
        if math.isinf(v):
            return ("xs:double('%sINF')" if two else "(%s1 div 0)") % ("-" if v < 0 else "")
        return repr(v)

    cases = 0
    for text in ["", "a", "12345", "héid€x"]:
        for start in values:
            for length in [None, *values]:
                for two in (False, True):
                    q = (f"substring('{text}', {literal(start, two)}"
                         + (f", {literal(length, two)})" if length is not None else ")"))
                    want = elementpath.select(root, q) if two else root.xpath(q)
                    assert substring(text, start, length, two) == want, q
                    cases += 1
    assert cases == 2 * 4 * 19 * 20


def test_substring_on_many_values_is_substring_on_each():
    import math
    import random

    import numpy as np

    from treeindex.search.functions import substring_bounds

    rng = random.Random(5)
    values = [0.0, 0.5, 1, 1.5, 2, 2.5, 3, -1, -0.5, -1.5, 10, 1e9, -1e9, math.nan, math.inf,
              -math.inf, 0.49999999999999994, -0.49999999999999994, 4.5]
    texts = ["".join(rng.choice("abcé€") for _ in range(rng.randint(0, 8)))
             for _ in range(5000)]
    starts = [rng.choice(values) if rng.random() < 0.7 else rng.uniform(-3, 10) for _ in texts]
    lengths = [rng.choice(values) if rng.random() < 0.7 else rng.uniform(-3, 10) for _ in texts]
    n = np.array([len(t) for t in texts], dtype=np.float64)
    for two in (False, True):
        for with_length in (False, True):
            lo, hi = substring_bounds(n, np.array(starts),
                                      np.array(lengths) if with_length else None, two)
            assert [t[a:b] for t, a, b in zip(texts, lo.tolist(), hi.tolist())] == [
                substring(t, s, x if with_length else None, two)
                for t, s, x in zip(texts, starts, lengths)]


def test_with_a_limit_the_first_jobs_are_small(tmp_path, monkeypatch):
    """A page of hits (a limit) evaluates one block, then two, then four at a time: a dense
    query's first page is in its first block. Without a limit, four at a time. The hits are
    the first of all hits either way."""
    from treeindex.search import fast

    db = tmp_path / "t.db"
    ingest(db, [CDB, SUITES], workers=0, chunk_bytes=30_000)
    sizes: list[int] = []
    run_job = fast.run_job
    monkeypatch.setattr(fast, "run_job", lambda job: (sizes.append(len(job.rows)),
                                                       run_job(job))[1])
    query = '//node[@cat="np"]'
    every = list(search(db, query, engine="nodes", workers=0))
    assert len({h.corpus for h in every}) == 2 and sizes[:3] == [4, 4, 4]
    for limit in (1, 40, 400):
        sizes.clear()
        got = list(search(db, query, engine="nodes", workers=0, limit=limit))
        assert got == every[:limit]
        assert sizes[0] == 1 and sizes[1:3] in ([], [2], [2, 4]), (limit, sizes)
    assert len(sizes) > 3  # (400 hits: past the small jobs)
