"""The candidate index: a query's condition only drops sentences that cannot match, on every
query of the exactness tests and the analyzers' own hard cases; selective queries evaluate
few sentences; older indexes get the search terms with `treeindex upgrade`."""

from __future__ import annotations

import re
import sqlite3

import elementpath
import pytest
from click.testing import CliRunner
from conftest import CDB, SUITES, spy
from lxml import etree
from test_search import QUERIES_1, QUERIES_2, SOURCES, all_sentences

from treeindex import ingest
from treeindex.cli import cli
from treeindex.search import plan, search
from treeindex.search.plan import ANY, condition, match_expression, tree_condition
from treeindex.search.terms import xml_terms
from treeindex.search.xast import NotParsed
from treeindex.search.xast import parse as parse_tree
from treeindex.search.xpath1 import parse
from treeindex.store import Index

# where an analyzer could go wrong: booleans, numbers, axes, unions, variables, attributes
# of other elements, comparisons between node-sets
HARD = [
    '//node[@cat="np"] = false()',
    '//node[not(@cat="np" = false())]',
    '//node[(node[@rel="det"]) = false()]',
    '//node[node[@rel="su"]/@index = ../node/@index]',
    '//node[@lemma != "de"]',
    '//node[../@cat="np"]',
    '//node[ancestor::node/@cat="du"]',
    '//node[self::node[@cat="np"]]',
    '//node[@cat="np"][2]',
    '(//node[@lemma="de"])[1] | //node[@cat="whq"]',
    '//node[@lemma="de" or count(node) > 2][node/@pt = "n"]',
    '//node[@cat = "np"]/node[@rel="hd"]',
    '/alpino_ds/node//node[@cat="pp"]',
    '//sentence/../node',
    '//node[../../sentence]',
    '//node[@word = "De"]',
    '//node[@lemma = "Nederland" or @lemma = "Parijs"]',
    '//node[@index]',
    '//node[@pt = 3]',
    '//node[@begin = "0"]',
    '//node[@cat="np" and node[@rel="det"]/@lemma = "de"]',
    '//node[@cat="np" and not(node[@rel="det"]/@lemma = "de")]',
]


def matching(query: str, two: bool) -> set[tuple[str, str]]:
    out = set()
    for corpus, sid, root in all_sentences():
        if elementpath.select(root, query) if two else root.xpath(query):
            out.add((corpus, sid))
    return out


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    db = tmp_path_factory.mktemp("candidates") / "t.db"
    ingest(db, [s for s, _ in SOURCES], workers=2)
    return db


def candidates(db, formula) -> set[tuple[str, str]]:
    with Index(db) as index:
        names = {r.id: r.name for r in index.corpora()}
        found = index.candidates(match_expression(formula), index.terms_from() or 1)
        return {(names[c], sid) for c, seqs in found.items() for (sid,) in (
            index.conn.execute("SELECT sentid FROM sentences WHERE corpus_id = ? AND seq = ?",
                               (c, q)).fetchone() for q in seqs)}


@pytest.mark.parametrize("query, two", [(q, False) for q in QUERIES_1 + HARD] +
                         [(q, True) for q in QUERIES_2])
def test_candidates_hold_every_matching_sentence(index, query, two):
    want = matching(query, two)
    formulas = [condition(query)]  # elementpath's parse tree: XPath 1.0 and 2.0
    if not two:
        formulas.append(parse(query).condition)  # the XPath 1.0 parser
    try:
        formulas.append(tree_condition(parse_tree(query)[0]))  # treeindex's parse tree
    except NotParsed:
        pass
    for formula in formulas:
        if formula is ANY:
            continue
        got = candidates(index, formula)
        assert want <= got, (query, formula, sorted(want - got)[:3])


def test_selective_queries_evaluate_few_sentences(index):
    p = plan(index, '//node[@lemma="Parijs"]')
    assert 0 < p.evaluated < p.total / 50
    p = plan(index, '//node[@cat="pp" and node[@rel="hd" and @lemma="in"] and '
                    'node[@rel="obj1" and node[@word="Amsterdam"]]]')
    assert p.evaluated < p.total / 50
    assert plan(index, '//node[count(node) > 5]').candidates is None


def test_both_analyzers_agree_on_xpath1(index):
    for query in QUERIES_1 + HARD:
        a, b = condition(query), parse(query).condition
        if a is ANY or b is ANY:
            continue
        assert candidates(index, a) == candidates(index, b), query


SPECIAL = b"""<?xml version="1.0" encoding="UTF-8"?>
<treebank>
<alpino_ds id="s1" version="1.3">
  <node begin="0" cat="top" end="3" id="0" rel="top">
    <node begin="0" end="1" id="1" lemma="AT&amp;T" pos="name" pt="n" rel="--" word="AT&amp;T"/>
    <node begin="1" end="2" id="2" lemma="&quot;x'" pt="let" rel="--" word="&#34;x&apos;"/>
    <node begin="2" end="3" id="3" lemma="caf\xc3\xa9" pt="n" rel="--" word="Caf&#xE9;"/>
  </node>
  <sentence>AT&amp;T "x' Caf\xc3\xa9</sentence>
</alpino_ds>
<alpino_ds id="s2" version="1.3">
  <node begin="0" cat="top" end="3" id="0" rel="top">
    <node begin="0" end="1" id="1" lemma="a  b" pt="n" rel="--" word="a&#10;b"/>
    <node begin="1" end="2" id="2" lemma="cr\r\nlf" pt="n" rel="--" word="tab\there"/>
    <node begin="2" end="3" id="3" lemma="it's" pt="n" rel="--" word="it&apos;s"/>
  </node>
  <sentence>a b</sentence>
</alpino_ds>
</treebank>
"""


@pytest.mark.parametrize("query, sentid", [
    ('//node[@word="AT&T"]', "s1"),
    ('//node[@lemma="AT&T"]', "s1"),
    ("//node[@pt='let' and @word = concat('\"', \"x'\")]", "s1"),
    ('//node[@word="it\'s"]', "s2"),
    ('//node[@lemma="it\'s"]', "s2"),
    ('//node[@word="Café"]', "s1"),
    ('//node[@word="café"]', None),
    ('//node[@lemma="café"]', "s1"),
    ('//node[@word="a\nb"]', "s2"),
    ('//node[@word="tab here"]', "s2"),
    ('//node[@word="tab\there"]', None),
    ('//node[@lemma="cr lf"]', "s2"),  # a line end \r\n in a value: one space
    ('//node[@lemma="cr  lf"]', None),
])
def test_values_with_references_and_whitespace_are_found(tmp_path, query, sentid):
    src = tmp_path / "special.xml"
    src.write_bytes(SPECIAL)
    db = tmp_path / "t.db"
    ingest(db, [src], workers=0)
    got = [h.sentid for h in search(db, query, workers=0)]
    assert got == ([sentid] if sentid else [])
    tree = etree.parse(str(src))
    brute = [s.get("id") for s in tree.iter("alpino_ds")
             if etree.fromstring(etree.tostring(s)).xpath(query)]
    assert got == brute


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def make_older(db) -> None:
    """What an index of schema version 2 looks like: no search terms."""
    conn = sqlite3.connect(db)
    conn.executescript("DROP TABLE search_terms; DELETE FROM settings WHERE key = 'terms_from';"
                       "UPDATE settings SET value = '2' WHERE key = 'schema_version';")
    conn.close()


@pytest.mark.parametrize("cores, slow", [(64, False), (64, True), (2, True)])
def test_upgrade_starts_the_workers_its_work_is_worth(tmp_path, monkeypatch, cores, slow):
    from test_search_engine import without_node_table

    import treeindex.upgrade as upgrading
    from treeindex import cores as cores_module

    db = tmp_path / "old.db"
    ingest(db, [CDB, SUITES], workers=0)
    expected = dump_search(db)
    make_older(db)
    without_node_table(db)
    conn = sqlite3.connect(db)
    (sentences,) = conn.execute("SELECT count(*) FROM sentences").fetchone()
    conn.close()
    monkeypatch.setattr(upgrading, "IDS_PER_TASK", 100)
    monkeypatch.setattr(upgrading, "SENTENCES_PER_BLOCK", 100)
    tasks = -(-sentences // 100)
    assert 2 < tasks < 64
    monkeypatch.setattr(cores_module, "available_cores", lambda: cores)
    if slow:  # (as if each sentence took long: the work then pays for workers)
        monkeypatch.setattr(upgrading, "SECONDS_PER_SENTENCE", 1.0)
    started = spy(monkeypatch, upgrading, "owned_executor")
    upgrading.upgrade(db)
    want = min(cores, tasks) if slow else 0  # (a few hundred sentences: none)
    assert [c.args[0] for c in started] == [want, want]
    assert dump_search(db) == expected


def dump_search(db) -> list:
    """Every hit of a few queries, with its sentence's candidates and the engine's answer."""
    return [[(h.corpus, h.sentid, h.id) for h in search(db, q, workers=0)]
            for q in QUERIES_1[:6]] + [plan(db, QUERIES_1[1]).evaluated]


def test_upgrade_gives_an_older_index_its_search_terms(tmp_path):
    db = tmp_path / "old.db"
    ingest(db, [CDB, SUITES], workers=0)
    query = '//node[@cat="pp" and node[@lemma="in"]]'
    before = [(h.corpus, h.sentid, h.id) for h in search(db, query, workers=0)]
    make_older(db)
    explained = run("search", "--db", db, "--explain", query)
    assert explained.exit_code == 0, explained.output
    assert "note: this index has no search terms: run `treeindex upgrade`" in explained.output
    total = re.search(r"candidates: ([\d,]+) of ([\d,]+)", explained.output)
    assert total and total.group(1) == total.group(2)
    assert [(h.corpus, h.sentid, h.id) for h in search(db, query, workers=0)] == before

    result = run("upgrade", "--db", db, "--workers", 2)
    assert result.exit_code == 0, result.output
    assert re.search(r"[\d,]+ sentences got search terms", result.output)
    explained = run("search", "--db", db, "--explain", query)
    assert "note:" not in explained.output
    m = re.search(r"candidates: ([\d,]+) of ([\d,]+)", explained.output)
    assert m and int(m.group(1).replace(",", "")) < int(m.group(2).replace(",", ""))
    assert [(h.corpus, h.sentid, h.id) for h in search(db, query, workers=0)] == before
    again = run("upgrade", "--db", db)
    assert again.exit_code == 0 and "0 sentences got search terms" in again.output


def test_an_older_index_ingested_into_keeps_exact_results(tmp_path):
    """Sentences from before the search terms are always evaluated; new ones have terms."""
    db = tmp_path / "old.db"
    ingest(db, [CDB], workers=0)
    make_older(db)
    ingest(db, [SUITES], workers=0)
    query = '//node[@lemma="in"]'
    p = plan(db, query)
    assert p.older > 0 and p.candidates is not None
    got = [(h.corpus, h.sentid, h.id) for h in search(db, query, workers=0)]
    fresh = tmp_path / "fresh.db"
    ingest(fresh, [CDB, SUITES], workers=0)
    assert got == [(h.corpus, h.sentid, h.id) for h in search(fresh, query, workers=0)]
    assert run("upgrade", "--db", db, "-q").exit_code == 0
    assert plan(db, query).older == 0
    assert [(h.corpus, h.sentid, h.id) for h in search(db, query, workers=0)] == got


def test_removed_corpora_leave_no_wrong_hits(tmp_path):
    """rm leaves the removed sentences' terms (FTS5 without content cannot forget them); the
    ids they name may be given to new sentences: they only add candidates."""
    db = tmp_path / "t.db"
    ingest(db, [CDB, SUITES], workers=0)
    assert run("rm", "--db", db, "suites-sample").exit_code == 0
    src = tmp_path / "again.xml"
    src.write_bytes(CDB.read_bytes())
    ingest(db, [src], workers=0)
    query = '//node[@cat="np" and node[@lemma="de"]]'
    got = [(h.corpus, h.sentid, h.id) for h in search(db, query, workers=0)]
    fresh = tmp_path / "fresh.db"
    ingest(fresh, [CDB, src], workers=0)
    assert got == [(h.corpus, h.sentid, h.id) for h in search(fresh, query, workers=0)]


def test_explain_shows_the_condition_and_the_candidates(index):
    result = run("search", "--db", index, "--explain", '//node[@cat="np" and '
                 'node[@rel="det" and @lemma="de"]]')
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[1] == "engine: lxml (XPath 1.0)"
    assert lines[2] == 'condition from the index: @cat="np" and @rel="det" and @lemma="de"'
    assert lines[3] == ('search terms: ("cat0np" AND "rel0det" AND ("lemma0de" OR '
                        '"wl0de"))')
    assert re.fullmatch(r"candidates: [\d,]+ of [\d,]+ sentences \([\d.]+%\)", lines[4])
    none = run("search", "--db", index, "--explain", "//node[count(node) > 5]")
    assert ("condition from the index: nothing (every sentence is a candidate)"
            in none.output)


@pytest.mark.parametrize("seed", range(4))
def test_the_parse_tree_condition_holds_for_every_generated_query(seed):
    """The condition XPath 2.0 gets on the node table (from treeindex's own parse tree) is
    met by every sentence the reference engines find a hit in, for generated queries."""
    import querygen

    xmls = querygen.bundled_sentences()[::3]
    roots = querygen.parse_all(xmls)
    terms = [set(xml_terms(x).split()) for x in xmls]
    gen = querygen.Generator(querygen.Vocabulary(roots), 500 + seed)
    known = 0
    for _ in range(120):
        q = gen.query()
        misses = querygen.condition_misses(q, querygen.reference(q, roots), terms)
        if misses is None:
            continue
        known += 1
        assert misses == [], (q, misses)
    assert known >= 30  # (conditions were derived: not a test that passes on ANY)


def test_xpath2_on_the_node_table_looks_up_a_selective_condition(index, monkeypatch):
    query = '//node[@lemma=("Parijs","Amsterdam") and some $n in node satisfies $n/@rel="hd"]'
    p = plan(index, query)
    assert p.engine is not None and p.query.engine == "elementpath"
    assert describe_lines(p)[2] == ('condition from the index: @lemma="Parijs" or '
                                    '@lemma="Amsterdam"')
    assert p.candidates is not None and 0 < p.evaluated < p.total / 20
    assert [(h.corpus, h.sentid, h.id) for h in search(index, query)] == \
        [(h.corpus, h.sentid, h.id) for h in search(index, query, engine="lxml")]
    import treeindex.search

    monkeypatch.setattr(treeindex.search, "ENGINE_MIN_CANDIDATES", 100)  # (a small index)
    broad = plan(index, '//node[@rel=("su","obj1")]')
    assert broad.candidates is None and broad.bound is not None and broad.bound > 100
    assert "candidates: not looked up (up to" in "\n".join(broad.explain())


def describe_lines(p) -> list[str]:
    return p.explain()


# values whose terms two values make alike (an attribute named wl and a word that is its own
# lemma; a literal "x5f" and an escaped "_"; a '0' in a name against the one after it), and
# what the rules turn into no term, one for being there, or one for a word and its lemma
TERM_CASES = [
    b'<alpino_ds><node cat="top" wl="de"><node word="de" lemma="de" wl="de" rel="hd"/>'
    b'<node x_y="1" xx5fy="1" a0="b" a="0b"/><node lemma="x5f" pt="_"/><node lemma="_"/>'
    b'</node></alpino_ds>',
    b'<alpino_ds><node cat="top"><node word="&amp;" lemma="&#38;"/><node word="a&#x9;b"'
    b' lemma="a b"/><node his_1="1" his="2" sense="x" index="1" begin="0" end="1" id="3"/>'
    b'</node></alpino_ds>',
    b'<alpino_ds><node cat="top"><node lemma="' + b"a" * 100 + b'" word="' + b"a" * 101
    + b'"/><node word="\xc3\xa9" lemma="\xc3\xa9" pt="\xc3\xa9!"/></node></alpino_ds>',
    b'<alpino_ds><node cat="top"><ud><node cat="np"/></ud><node word="w" lemma="w"/>'
    b'</node></alpino_ds>',  # (a node outside the tree: handed over to lxml)
    b'<!DOCTYPE alpino_ds [<!ENTITY e "ent">]><alpino_ds><node cat="top" word="&e;"/>'
    b'</alpino_ds>',
    # empty values (a column's first value empty: its vocabulary holds no byte yet)
    b'<alpino_ds><node cat="top" zz=""><node word="" lemma="" genus="" pos=""/></node>'
    b'</alpino_ds>',
]


@pytest.mark.parametrize("builder", ["c", "python"])
def test_the_block_builder_makes_the_terms_of_the_rules(builder, monkeypatch):
    """Ingest's terms come from the node block builder, as it puts the values in its
    columns (C: search/_terms.h): for every sentence the set the Python rules make of
    lxml's values (terms.node_terms), each string once, sentence after sentence in one
    block, through handovers to lxml; `xml_terms` (upgrade, merge) gives the same."""
    import querygen

    from treeindex.search import nodestore
    from treeindex.search.terms import sentence_terms

    if builder == "python":
        monkeypatch.setattr(nodestore, "_nodes", None)
    elif nodestore._nodes is None:  # pragma: no cover
        pytest.skip("the C builder was not compiled")
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    xmls = querygen.bundled_sentences()[:300] + TERM_CASES + querygen.bundled_sentences()[300:400]
    block = nodestore.BlockBuilder()
    for x in xmls:
        want = sorted(sentence_terms(etree.fromstring(x, parser)).split(" "))
        got = block.add(x).split(" ")
        assert sorted(got) == want and len(set(got)) == len(got), x
        assert sorted(xml_terms(x).split(" ")) == want
    terms = set(block.add(TERM_CASES[0]).split())
    assert {"wl0de", "xx5fy01", "a00b", "lemma0x5f", "pt0x5f", "cat0top"} <= terms
    assert not {"word0de", "lemma0de"} & terms
    case = set(block.add(TERM_CASES[1]).split())
    # (a tab written as a reference stays a tab: not the lemma's space)
    assert {"wl0x26", "word0ax09b", "lemma0ax20b", "his", "hisx5f1", "sense", "index"} <= case
    assert not any(t.startswith(("begin0", "end0", "id0", "sense0")) for t in case)
    long = set(block.add(TERM_CASES[2]).split())
    assert "lemma0" + "a" * 100 in long and not any(t.startswith("word0") for t in long)
    empty = set(block.add(TERM_CASES[5]).split(" "))
    assert {"zz0", "wl0", "genus0", "pos"} <= empty
