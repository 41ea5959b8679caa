"""`treeindex show`: a sentence, a subtree label, or search hits from standard input, as a
text tree, XML, SVG or PNG; the layout puts the words along the bottom in sentence order."""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner
from conftest import CDB, SUITES
from lxml import etree

from treeindex import draw, ingest
from treeindex.cli import cli


def run(*args, input=None, env=None):
    return CliRunner().invoke(cli, [str(a) for a in args], input=input, env=env)


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    db = tmp_path_factory.mktemp("show") / "t.db"
    ingest(db, [CDB, SUITES], workers=0)
    return db


def test_a_sentence_as_a_text_tree(db):
    r = run("show", "--db", db, "cdb/0")
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert lines[0] == "cdb-sample cdb/0"
    assert lines[1] == "Dit in verband met de gemiddeld langere levensduur van de vrouw ."
    assert lines[2] == "top top"
    words = re.findall(r'"([^"]*)"', r.output)
    assert words == "Dit in verband met de gemiddeld langere levensduur van de vrouw .".split()


def test_a_subtree_label_needs_its_corpus_when_ambiguous(db):
    r = run("show", "--db", db, "np-3")
    assert r.exit_code == 1
    assert r.output == ("Error: np-3 is a subtree of 2 corpora (cdb-sample, suites-sample); "
                        "say which with --corpus\n")
    r = run("show", "--db", db, "--corpus", "cdb-sample", "--format", "xml", "np-3")
    assert r.exit_code == 0, r.output
    el = etree.fromstring(r.output.encode())
    assert el.tag == "node" and el.get("cat") == "np"


def test_unknown_names_are_one_line(db):
    r = run("show", "--db", db, "nope/1")
    assert r.exit_code == 1
    assert r.output == ("Error: no sentence with id 'nope/1' and no subtree labelled "
                        "'nope/1'; `treeindex search` or `treeindex query` find them\n")


def test_search_hits_from_standard_input_are_highlighted(db):
    q = '//node[@cat="np" and node[@lemma="de"]]'
    hits = run("search", "--db", db, "--format", "nl", "--limit", 3, q)
    r = run("show", "--db", db, "-", input=hits.output)
    assert r.exit_code == 0, r.output
    marked = [line for line in r.output.splitlines() if line.endswith(" *")]
    assert len(marked) == 3 and all(" np" in m for m in marked)
    for line in ("not json", '{"corpus": 5, "sentid": [1]}', "[1, 2]", '"text"',
                 '{"corpus": "c", "sentid": "s", "id": {}}'):
        bad = run("show", "--db", db, "-", input=hits.output.splitlines()[0] + "\n" + line)
        assert bad.output == ("Error: standard input, line 2: not a search hit; give the "
                              "output of treeindex search --format nl\n"), line


def test_svg_and_png(db, tmp_path):
    out = tmp_path / "t.svg"
    r = run("show", "--db", db, "--format", "svg", "--highlight", '//node[@rel="su"]', "-o",
            out, "cdb/1")
    assert r.exit_code == 0, r.output
    svg = etree.parse(str(out)).getroot()
    assert svg.tag == "{http://www.w3.org/2000/svg}svg"
    assert len(svg.findall(".//{http://www.w3.org/2000/svg}rect[@class='hit']")) >= 1
    pytest.importorskip("PIL")
    png = tmp_path / "t.png"
    assert run("show", "--db", db, "--format", "png", "-o", png, "cdb/1").exit_code == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_layout_words_in_order_parents_above_and_discontinuity():
    xml = b"""<alpino_ds><node id="0" cat="top" rel="top" begin="0" end="3">
      <node id="1" cat="np" rel="su" begin="0" end="3">
        <node id="2" rel="hd" pt="n" word="a" begin="0" end="1"/>
        <node id="3" rel="mod" pt="adj" word="c" begin="2" end="3"/></node>
      <node id="4" rel="hd" pt="ww" word="b" begin="1" end="2"/></node></alpino_ds>"""
    boxes, edges, w, h = draw.layout(etree.fromstring(xml), {"1"})
    by = {b.el.get("id"): b for b in boxes}
    assert by["2"].x < by["4"].x < by["3"].x  # words in sentence order: a b c
    assert by["1"].y < by["2"].y and by["0"].y < by["1"].y
    assert by["1"].hit and not by["0"].hit
    # the np spans a and c around b: its branches cross the top's branch to b
    assert by["2"].x < by["4"].x < by["3"].x and len(edges) == 4


def test_corpus_slash_sentid_macros_and_the_sentence_above_the_tree(db, tmp_path):
    first = run("show", "--db", db, "--corpus", "cdb-sample", "cdb/1")
    assert first.exit_code == 0, first.output
    lines = first.output.splitlines()
    assert lines[0] == "cdb-sample cdb/1"
    assert lines[1].startswith("De verzekeringsmaatschappijen verhelen niet")
    assert run("show", "--db", db, "cdb-sample/cdb/1").output == first.output
    macros = tmp_path / "m.txt"
    macros.write_text('su = """node[@rel="su"]"""\n')
    marked = run("show", "--db", db, "--macros", macros, "--highlight", "//%su%",
                 "cdb-sample/cdb/1")
    assert marked.exit_code == 0, marked.output
    assert any(line.endswith(" *") and "su" in line for line in marked.output.splitlines())
    env = run("show", "--db", db, "--highlight", "//%su%", "cdb-sample/cdb/1",
              env={"TREEINDEX_MACROS": str(macros)})
    assert env.output == marked.output


def test_whole_words_tooltips_and_a_caption_in_the_svg(db, tmp_path):
    """Words are not cut, the leaves' boxes do not overlap, every box has its node's
    attributes as a tooltip, and the picture names its sentence, corpus and id."""
    long = b"""<alpino_ds id="x"><node id="0" cat="top" rel="top" begin="0" end="3">
      <node id="1" cat="np" rel="su" begin="0" end="2">
        <node id="2" rel="det" pt="lid" word="de" lemma="de" begin="0" end="1"/>
        <node id="3" rel="hd" pt="n" word="veiligheidsgordelcontroleurs" postag="N(soort,mv)"
              lemma="veiligheid_gordel_controleur" begin="1" end="2"/></node>
      <node id="4" rel="hd" pt="ww" word="slapen" lemma="slapen" begin="2" end="3"/></node>
      <sentence>de veiligheidsgordelcontroleurs slapen</sentence></alpino_ds>"""
    root = etree.fromstring(long)
    out = etree.fromstring(draw.svg(root, caption="c x: de veiligheidsgordelcontroleurs "
                                                  "slapen").encode())
    ns = {"s": "http://www.w3.org/2000/svg"}
    texts = [t.text for t in out.iterfind(".//s:text", ns)]
    assert "veiligheidsgordelcontroleurs" in texts and not any("…" in t for t in texts)
    assert out.find("s:title", ns).text == "c x: de veiligheidsgordelcontroleurs slapen"
    tips = [t.text for t in out.iterfind(".//s:g/s:title", ns)]
    assert len(tips) == 5
    assert "lemma=veiligheid_gordel_controleur\npostag=N(soort,mv)" in tips[3]
    boxes, _, width, _ = draw.layout(root)
    leaves = sorted((b for b in boxes if b.el.find("node") is None), key=lambda b: b.x)
    for a, b in zip(leaves, leaves[1:]):
        assert a.x + a.width / 2 <= b.x - b.width / 2  # side by side, not overlapping
    assert leaves[-1].x + leaves[-1].width / 2 <= width
    svg = run("show", "--db", db, "--format", "svg", "cdb/1")
    assert svg.exit_code == 0
    title = etree.fromstring(svg.stdout_bytes).find("s:title", ns).text
    assert title.startswith("cdb-sample cdb/1: De verzekeringsmaatschappijen ")


def test_an_empty_node_stands_in_its_own_constituent_dashed_and_linked():
    """Alpino gives an empty co-indexed node its antecedent's span: drawn at that @begin it
    split the antecedent ('heel [obj1:1] wat'). It stands before its parent's first word,
    dashed, with a dashed link under the words to its antecedent's words."""
    xml = b"""<alpino_ds><node id="0" cat="top" rel="top" begin="0" end="5">
      <node id="1" cat="smain" rel="--" begin="0" end="5">
        <node id="2" rel="mod" pt="vnw" word="Er" begin="0" end="1"/>
        <node id="3" rel="hd" pt="ww" word="werden" begin="1" end="2"/>
        <node id="4" cat="np" rel="su" index="1" begin="2" end="4">
          <node id="5" rel="det" pt="vnw" word="heel" begin="2" end="3"/>
          <node id="6" rel="hd" pt="n" word="wat" begin="3" end="4"/></node>
        <node id="7" cat="ppart" rel="vc" begin="2" end="5">
          <node id="8" rel="obj1" index="1" begin="2" end="4"/>
          <node id="9" rel="hd" pt="ww" word="geschud" begin="4" end="5"/></node>
      </node></node></alpino_ds>"""
    root = etree.fromstring(xml)
    boxes, _, _, _ = draw.layout(root)
    x = {b.el.get("id"): b.x for b in boxes}
    assert x["5"] < x["6"] < x["8"] < x["9"]  # heel wat [obj1:1] geschud
    out = etree.fromstring(draw.svg(root).encode())
    ns = {"s": "http://www.w3.org/2000/svg"}
    dashed = out.findall(".//s:rect[@stroke-dasharray]", ns)
    assert len(dashed) == 1
    links = out.findall(".//s:g[@class='ti-coindex']", ns)
    assert len(links) == 1
    path = [tuple(map(float, p.split(","))) for p in
            links[0].find("s:polyline", ns).get("points").split()]
    assert path[0][0] == round(x["8"], 1)  # from the empty node, down, to the np's words
    under = links[0].find("s:line", ns)  # the np (its antecedent): its words underlined
    assert float(under.get("x1")) < x["5"] < x["6"] < float(under.get("x2"))
    assert path[-1][0] == round(x["6"], 1) and path[-1][1] == float(under.get("y1"))
