"""The web view in a real browser: `treeindex serve` (datasette with the plugin) driven by
Debian's chromium through Playwright. Trees render in the sentences and subtrees tables, the
search page pages hits and links them to highlighted trees, counts and statistics show bars,
a word `<script>` stays text, and nothing writes to the index. Screenshots are kept in
the test's directory (and in $TREEINDEX_SHOTS when set)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path
from urllib.parse import quote

import pytest
from conftest import CDB, repeat_treebank, serve
from lxml import etree

from treeindex import ingest
from treeindex.search import count, search, stats

playwright = pytest.importorskip("playwright.sync_api")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                reason=f"no chromium at {CHROMIUM}: apt-get install chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-quic"]

HOSTILE = b"""<?xml version="1.0" encoding="UTF-8"?>
<treebank>
<alpino_ds id="evil/1" version="1.3">
  <node begin="0" cat="top" end="3" id="0" rel="top">
    <node begin="0" cat="np" end="2" id="1" rel="--">
      <node begin="0" end="1" id="2" lemma="&lt;script&gt;" pt="n" rel="hd"
            word="&lt;script&gt;alert(1)&lt;/script&gt;"/>
      <node begin="1" end="2" id="3" lemma="x&quot;&gt;&lt;img src=x onerror=alert(2)&gt;"
            pt="n" rel="app" word="&lt;b&gt;bold&lt;/b&gt;"/>
    </node>
    <node begin="2" end="3" id="4" lemma="." pt="let" rel="--" word="."/>
  </node>
  <sentence>&lt;script&gt;alert(1)&lt;/script&gt; &lt;b&gt;bold&lt;/b&gt; .</sentence>
</alpino_ds>
</treebank>
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    where = tmp_path_factory.mktemp("web")
    evil = where / "evil.xml"
    evil.write_bytes(HOSTILE)
    db = where / "t.db"
    ingest(db, [CDB, evil], workers=0)
    before = (db.stat().st_mtime_ns, db.stat().st_size)
    proc, base = serve(db, where / "serve.log")
    yield base, db, where
    proc.terminate()
    proc.wait(10)
    assert (db.stat().st_mtime_ns, db.stat().st_size) == before  # nothing wrote


@pytest.fixture(scope="module")
def page(server):
    _, _, where = server
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS,
                                    headless=True)
        context = browser.new_context(viewport={"width": 1400, "height": 900})
        page = context.new_page()
        dialogs: list[str] = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.dialogs = dialogs  # type: ignore[attr-defined]
        yield page
        browser.close()


def shot(page, where: Path, name: str) -> None:
    path = where / f"{name}.png"
    page.screenshot(path=str(path), full_page=False)
    keep = os.environ.get("TREEINDEX_SHOTS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(keep) / path.name)


def test_sentences_render_as_trees_and_words_stay_text(server, page):
    base, _, where = server
    page.goto(base + "/t/sentences?sentid=evil/1")
    svg = page.locator("td.col-xml svg.treeindex-tree")
    assert svg.count() == 1
    texts = svg.locator("text").all_text_contents()
    assert any("<script>al" in t for t in texts)  # the word, as text (fitted)
    assert page.locator("svg script, td img").count() == 0
    assert page.dialogs == []
    shot(page, where, "sentence-tree")
    page.goto(base + "/t/sentences?_size=5")
    assert page.locator("td.col-xml svg.treeindex-tree").count() == 5
    # thumbnails: no wider than the cell's limit, each a link to its tree's page
    widths = [float(w) for w in page.locator("td.col-xml svg.treeindex-tree").evaluate_all(
        "svgs => svgs.map(s => s.getAttribute('width'))")]
    assert max(widths) <= 480
    page.locator("td.col-xml a.ti-thumb").first.click()
    assert page.url.split("?")[0].endswith("/-/treeindex/tree")
    assert page.locator("svg.treeindex-tree rect").count() > 3


def test_subtrees_render_as_trees(server, page):
    base, _, where = server
    page.goto(base + "/t/subtrees?_size=3&cat=np")
    trees = page.locator("td.col-node svg.treeindex-tree")
    assert trees.count() == 3
    assert trees.first.locator("text").filter(has_text="np").count() >= 1


def test_search_pages_hits_and_links_them_to_highlighted_trees(server, page):
    base, _, where = server
    page.goto(base + "/-/treeindex/search")
    page.fill("input[name=q]", '//node[@cat="np" and node[@rel="det" and @lemma="de"]]')
    page.click("input[type=submit]")
    hits = page.locator("ol.ti-hits li")
    assert hits.count() == 50
    first = hits.first.locator(".ti-hit")  # the hit's words, one bracketed run
    assert first.count() == 1 and first.inner_text().startswith("[")
    assert first.inner_text().endswith("]") and " " in first.inner_text()
    shot(page, where, "search")
    first_text = hits.first.inner_text()
    page.click("text=next")
    assert page.locator("ol.ti-hits li").first.get_attribute("value") == "51"
    page.click("text=previous")
    assert page.locator("ol.ti-hits li").first.inner_text() == first_text
    page.locator("ol.ti-hits li a").first.click()
    assert page.locator("svg.treeindex-tree rect.hit").count() == 1
    shot(page, where, "tree")
    tree_url = page.url
    # every node's attributes: a tooltip on its box, and a row of the panel under the tree
    boxes = page.locator("svg.treeindex-tree g.ti-node")
    assert boxes.count() == page.locator("svg.treeindex-tree rect").count()
    assert "rel=" in boxes.first.locator("title").text_content()
    page.click("details.ti-nodes summary")
    rows = page.locator("details.ti-nodes tbody tr")
    assert rows.count() == boxes.count() and rows.nth(1).is_visible()
    assert page.locator("details.ti-nodes tr.ti-hit-row").count() == 1
    assert page.locator("svg.treeindex-tree > title").text_content().startswith(
        page.locator("h2").last.inner_text())
    # from a hit's tree to the next hit's and back
    assert page.locator("a.ti-prev").count() == 0
    first_tree = page.locator("h2").last.inner_text()
    page.click("a.ti-next")
    assert page.locator("svg.treeindex-tree rect.hit").count() == 1
    second = page.locator("a.ti-prev")
    assert second.count() == 1 and second.inner_text() == "previous hit (1)"
    second.click()
    assert page.locator("h2").last.inner_text() == first_tree
    page.goto(tree_url)
    page.click("a.ti-like")  # search by example: subtrees of the hit's shape
    assert page.locator("input[name=q]").input_value().startswith('//node[@cat="np" and ')
    assert page.locator("ol.ti-hits li").count() >= 1
    shot(page, where, "like")
    page.goto(tree_url)  # any node of the tree is a link to the same
    nodes = page.locator("svg.treeindex-tree a.ti-node-link")
    assert nodes.count() == page.locator("svg.treeindex-tree rect").count()
    nodes.first.click()  # the top node: its shape, and its own sentence among the hits
    assert page.locator("input[name=q]").input_value().startswith('//node[@cat="top" and ')
    assert page.locator("ol.ti-hits li").count() >= 1


def test_counts_and_statistics_with_bars(server, page):
    base, _, where = server
    page.goto(base + "/-/treeindex/search?q=%2F%2Fnode%5B%40rel%3D%22hd%22%5D&mode=stats"
                     "&attrs=pt")
    rows = page.locator("table.ti tr")
    assert rows.count() > 3
    assert page.locator(".ti-bar").count() == rows.count() - 1
    shot(page, where, "stats")
    # relative frequencies: percent of the hits, and per million words of the corpora
    _, db, _ = server
    words = count(db, "//node[@word]").hits
    table = stats(db, '//node[@rel="hd"]', ("pt",))
    first = rows.nth(1).locator("td").all_inner_texts()
    assert first[:2] == [table[0][0][0], f"{table[0][1]:,}"]
    assert first[3] == f"{table[0][1] * 1e6 / words:,.1f}"
    assert f"{words:,} words" in page.locator("p.ti-words").inner_text()
    page.goto(base + "/-/treeindex/search?q=%2F%2Fnode%5B%40cat%3D%22np%22%5D&mode=count")
    assert "(all)" in page.locator("table.ti").inner_text()
    last = page.locator("table.ti tr").last.locator("td").all_inner_texts()
    hits = count(db, '//node[@cat="np"]').hits
    assert last[:2] == ["(all)", f"{hits:,}"] and last[3] == f"{hits * 1e6 / words:,.1f}"


def test_hostile_search_input_and_bad_queries_are_text(server, page):
    base, _, _ = server
    page.goto(base + "/-/treeindex/search?q=" + urllib.request.quote(
        '//node[@word="<script>alert(1)</script>"]'))
    assert page.locator("ol.ti-hits li").count() == 1
    assert "[<script>alert(1)</script>]" in page.locator("ol.ti-hits").inner_text()
    page.goto(base + "/-/treeindex/search?q=" + urllib.request.quote("//node[@cat="))
    assert "the query is not valid XPath" in page.locator(".message-error").inner_text()
    assert page.dialogs == []


def test_sql_functions(server):
    base, _, _ = server
    sql = "select treeindex_xml(xml) as x, treeindex_svg(xml) as s from sentences limit 1"
    with urllib.request.urlopen(base + "/t.json?_shape=array&sql=" +
                                urllib.request.quote(sql)) as r:
        row = json.load(r)[0]
    assert row["x"].startswith("<alpino_ds") and row["s"].startswith("<svg")


def test_serve_refuses_what_is_not_an_index(tmp_path):
    bad = tmp_path / "notes.db"
    bad.write_text("not a database")
    r = subprocess.run([sys.executable, "-m", "treeindex", "serve", str(bad)],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1
    assert r.stderr == f"Error: {bad}: is not an SQLite database; give another --db\n"


def test_a_long_tree_fits_the_window_and_can_be_seen_at_full_size(server, page):
    base, _, where = server
    page.goto(base + "/-/treeindex/search?q=" + quote(
        '//node[@cat="top" and count(.//node[@word]) > 25]'))
    page.locator("ol.ti-hits li a").first.click()
    svg = page.locator("svg.treeindex-tree")
    full = float(svg.get_attribute("width"))
    assert full > 1400  # wider than the window
    assert page.locator("input.ti-fit").is_checked()
    box = svg.bounding_box()
    assert box is not None and box["width"] <= 1400
    top = page.locator("svg.treeindex-tree rect").first.bounding_box()  # the root's box
    assert top is not None and 0 <= top["x"] and top["x"] + top["width"] <= 1400
    shot(page, where, "tree-fitted")
    page.click("label[for=ti-fit]")
    assert not page.locator("input.ti-fit").is_checked()
    box = svg.bounding_box()
    assert box is not None and abs(box["width"] - full) < 1  # full size, scrolled
    assert page.locator("div.ti-tree").evaluate("d => d.scrollWidth > d.clientWidth")


def test_downloads_stream_every_hit_and_the_statistics(server, page):
    import csv
    import io

    base, db, where = server
    q = '//node[@cat="np" and node[@rel="det"]]'
    page.goto(base + "/-/treeindex/search?q=" + quote(q))
    links = page.locator("a.ti-download")
    assert links.count() == 3
    with page.expect_download() as info:
        links.first.click()
    got = Path(info.value.path()).read_text(encoding="utf-8")
    rows = list(csv.reader(io.StringIO(got)))
    want = list(search(db, q))
    assert rows[0][:3] == ["corpus", "sentid", "id"] and len(rows) == len(want) + 1 > 50
    assert [(r[0], r[1], r[2]) for r in rows[1:]] == [(h.corpus, h.sentid, h.id) for h in want]

    def fetch(href: str) -> bytes:
        with urllib.request.urlopen(base + href, timeout=60) as r:
            assert "attachment" in r.headers["content-disposition"]
            return r.read()

    hrefs = links.evaluate_all("links => links.map(a => a.getAttribute('href'))")
    lines = fetch(hrefs[1]).decode().splitlines()
    assert [json.loads(x)["id"] for x in lines] == [h.id for h in want]
    treebank = etree.fromstring(fetch(hrefs[2]))
    assert len(treebank.findall("alpino_ds")) == len({(h.corpus, h.sentid) for h in want})
    page.goto(base + "/-/treeindex/search?mode=stats&attrs=pt&q=" + quote('//node[@rel="hd"]'))
    stats_href = page.locator("a.ti-download").get_attribute("href")
    table = list(csv.reader(io.StringIO(fetch(stats_href).decode())))
    assert table[0] == ["pt", "count", "percent_of_hits", "per_million_words"]
    assert [(r[0], int(r[1])) for r in table[1:]] == \
        [(v[0] or "[missing]", n) for v, n in stats(db, '//node[@rel="hd"]', ("pt",))]
    # hostile text stays text in the links; a bad query is one line in the download
    bad = fetch("/-/treeindex/download?format=csv&q=" + quote('//node[@cat="np" and'))
    assert bad.decode().strip().startswith("treeindex: ")


SLOW = '//node[@cat and (for $x in node return $x/@rel) = "su"]'  # (elementpath: slow)


@pytest.fixture(scope="module")
def slow_server(tmp_path_factory):
    where = tmp_path_factory.mktemp("slow")
    db = where / "slow.db"
    ingest(db, [repeat_treebank(where / "more.xml", 12, sources=(CDB,))], workers=0)
    proc, base = serve(db, where / "serve.log", "--search-workers", "1")
    yield base, db, where
    proc.terminate()
    proc.wait(10)


def test_a_long_search_shows_its_progress_and_then_its_results(slow_server, page):
    base, db, where = slow_server
    page.goto(base + "/-/treeindex/search?mode=count&q=" + quote(SLOW))
    text = page.locator(".ti-progress-text")
    text.filter(has_text=" of 1,800 sentences").wait_for(timeout=5000)  # (the page: 1 s)
    shot(page, where, "progress")
    page.locator("table.ti").wait_for(timeout=60000)  # then the results replace it
    last = page.locator("table.ti tr").last.locator("td").all_inner_texts()
    assert last[:2] == ["(all)", f"{count(db, SLOW).hits:,}"]
    assert page.locator(".ti-job").count() == 0


def test_a_long_search_can_be_cancelled(slow_server, page):
    base, db, where = slow_server
    nothing = SLOW.replace('"su"', '"nothing"')  # (no hits: the page's search reads all)
    page.goto(base + "/-/treeindex/search?q=" + quote(nothing))
    page.locator(".ti-progress-text").filter(has_text=" of 1,800 sentences").wait_for(
        timeout=5000)
    page.click("button.ti-cancel")
    page.locator("p.ti-cancelled").wait_for(timeout=10000)
    assert page.locator(".ti-job").count() == 0
    # its worker was stopped and replaced: the next search (the only worker) answers
    page.goto(base + "/-/treeindex/search?mode=count&q=" + quote('//node[@cat="np"]'))
    assert "(all)" in page.locator("table.ti").inner_text()
