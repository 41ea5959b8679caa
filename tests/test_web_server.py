"""`treeindex serve` under hostile use, over HTTP (no browser): a catastrophic query is
stopped at the time limit while other pages answer, queries cannot read files, a crafted
compressed blob cannot make the server allocate without bound, and pages show what is
committed while an ingest writes and after rm and rename."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from conftest import CDB, repeat_treebank, serve, spy

from treeindex import ingest

pytest.importorskip("datasette")

LONG_AS = b"""<?xml version="1.0" encoding="UTF-8"?>
<treebank>
<alpino_ds id="as/1" version="1.3">
  <node begin="0" cat="top" end="2" id="0" rel="top">
    <node begin="0" end="1" id="1" lemma="a" pt="n" rel="--" word="%s!"/>
    <node begin="1" end="2" id="2" lemma="." pt="let" rel="--" word="."/>
  </node>
  <sentence>aaa .</sentence>
</alpino_ds>
</treebank>
""" % (b"a" * 80)
CATASTROPHIC = '//node[matches(@word, "^(a+)+$")]'
LIMIT = 3


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    where = tmp_path_factory.mktemp("serve")
    (where / "as.xml").write_bytes(LONG_AS)
    db = where / "t.db"
    ingest(db, [CDB, where / "as.xml"], workers=0)
    proc, base = serve(db, where / "serve.log", "--time-limit", str(LIMIT),
                       "--search-workers", "2")
    get(base, "/-/treeindex/search", q='//node[@cat="np"]', mode="count")  # workers up
    yield base, db, where, proc
    proc.terminate()
    proc.wait(10)


def get(base: str, path: str, timeout: float = 60, **args: str) -> tuple[float, int, str]:
    url = base + path + ("?" + urllib.parse.urlencode(args) if args else "")
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return time.perf_counter() - started, r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return time.perf_counter() - started, e.code, e.read().decode()


def test_a_catastrophic_query_is_stopped_while_other_pages_answer(server):
    base, _, _, _ = server
    slow: dict = {}
    started = time.perf_counter()
    t = threading.Thread(target=lambda: slow.update(r=get(
        base, "/-/treeindex/search", q=CATASTROPHIC, mode="count")))
    t.start()
    time.sleep(0.5)  # it runs now
    took, status, _ = get(base, "/-/versions.json")
    assert status == 200 and took < 1, took
    took, status, body = get(base, "/-/treeindex/search", q='//node[@cat="np"]',
                             mode="count")
    assert status == 200 and took < 1 and "(all)" in body, took
    t.join()
    took, status, body = slow["r"]
    assert status == 200 and took < 2  # the page comes after 1 s, with the search's progress
    job = re.search(r'data-job="([^"]+)"', body)
    assert job is not None and "ti-cancel" in body
    while True:  # as the page's script asks, until the search ends
        _, status, answer = get(base, "/-/treeindex/job", id=job.group(1))
        state = json.loads(answer)
        if state["state"] != "running":
            break
        time.sleep(0.25)
    elapsed = time.perf_counter() - started
    assert status == 200 and state["state"] == "done"
    assert f"The search was stopped after {LIMIT:g} s, the server's time limit" in \
        state["html"]
    assert LIMIT <= elapsed < LIMIT + 5


def test_a_catastrophic_highlight_on_the_tree_page_is_stopped_too(server):
    base, _, _, _ = server
    took, status, body = get(base, "/-/treeindex/tree", sentid="as/1", corpus="as",
                             highlight=CATASTROPHIC)
    assert status == 200 and "time limit" in body and took < LIMIT + 5


def test_queries_cannot_read_a_file_on_the_server(server, tmp_path):
    base, _, _, _ = server
    secret = tmp_path / "secret.xml"
    secret.write_text("<secret><node>s3cr3t</node></secret>")
    answers = set()
    for query in (f'//node[starts-with(doc("{secret}")//node, "s")]', '//node[doc("/etc")]',
                  '//node[doc("/nonexistent.xml")]', f'//node[unparsed-text("{secret}")]'):
        _, status, body = get(base, "/-/treeindex/search", q=query)
        assert status == 200
        assert "s3cr3t" not in body
        answers.add(body.split('class="message-error"')[1].split('>', 1)[1].split("<")[0])
    assert answers == {  # the same whatever the path: nothing about the server's files
        "the query calls doc(), which reads outside the sentence; a query may only look at "
        "the sentence it is evaluated on, so this function is refused",
        "the query calls unparsed-text(), which reads outside the sentence; a query may only "
        "look at the sentence it is evaluated on, so this function is refused"}


def test_deep_and_long_queries_are_a_message_not_a_500(server):
    base, _, _, _ = server
    deep = "//node[" + "node[" * 100 + "@a" + "]" * 101
    _, status, body = get(base, "/-/treeindex/search", q=deep)
    assert status == 200 and "nests brackets more than 40 deep" in body
    # a long query goes in the body of a POST (the form does so past 4,000 characters)
    import http.cookiejar
    import re

    opener = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    form = opener.open(base + "/-/treeindex/search", timeout=30).read().decode()
    token = re.search(r'name="csrftoken" disabled value="([^"]*)"', form).group(1)
    long = "//node[" + " or ".join(f'@word="w{i}"' for i in range(30000)) + "]"
    data = urllib.parse.urlencode({"q": long, "csrftoken": token}).encode()
    assert len(data) > 500_000
    with opener.open(base + "/-/treeindex/search", data=data, timeout=60) as r:
        assert r.status == 200
        body = r.read().decode()
    assert "the limit of a query" in body


def _peak_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        return int(f.read().split("VmHWM:")[1].split()[0]) / 1024


def test_a_compressed_bomb_in_sql_costs_the_server_no_memory(server):
    base, _, _, proc = server
    server_pid = proc.pid  # (serve execs datasette: the same process)
    before = _peak_mb(server_pid)
    import zstandard

    # (small enough for an address: a zlib bomb is too long for one; tests/test_codec.py)
    bombs = [zstandard.ZstdCompressor(level=19).compress(b"a" * (128 << 20)),
             b"\x28\xb5\x2f\xfd\xe0" + (4 << 30).to_bytes(8, "little") + b"\x01\x00\x00"]
    for bomb in bombs:  # NULL: not a stored sentence, refused before it is inflated
        sql = f"SELECT length(treeindex_xml(CAST(x'{bomb.hex()}' AS BLOB))) AS n"
        _, status, body = get(base, "/t.json", sql=sql, _shape="array")
        assert status == 200 and json.loads(body) == [{"n": None}], body[:300]
    assert _peak_mb(server_pid) < max(before, 100) + 40  # 16 MB per inflation at most
    assert _peak_mb(server_pid) < 300


def test_pages_show_what_is_committed_during_an_ingest_and_after_rm_and_rename(server,
                                                                              tmp_path):
    base, db, _, _ = server
    big = repeat_treebank(tmp_path / "big.xml", 8)
    proc = subprocess.Popen([sys.executable, "-m", "treeindex", "ingest", "-q", "--db",
                             str(db), "--chunk-mb", "0.1", str(big)])
    seen = []
    while proc.poll() is None:
        for path in ("/t/corpora.json?_shape=array", "/t/sentences?_size=3"):
            _, status, body = get(base, path)
            assert status == 200, body[:300]
            assert "malformed" not in body
        _, status, body = get(base, "/-/treeindex/search", q='//node[@cat="np"]', mode="count")
        assert status == 200 and "message-error" not in body, body[-500:]
        seen.append(body)
    assert proc.returncode == 0
    assert len(seen) >= 2  # (pages were read while it wrote)

    def names():
        return [c["name"] for c in json.loads(get(base, "/t/corpora.json", _shape="array")[2])]

    assert "big" in names()
    subprocess.run([sys.executable, "-m", "treeindex", "rename", "--db", str(db), "big",
                    "renamed"], check=True, capture_output=True)
    assert "renamed" in names() and "big" not in names()
    _, _, body = get(base, "/-/treeindex/search", q='//node[@cat="np"]', mode="count")
    assert "renamed" in body
    subprocess.run([sys.executable, "-m", "treeindex", "rm", "--db", str(db), "renamed"],
                   check=True, capture_output=True)
    assert "renamed" not in names()
    _, status, body = get(base, "/-/treeindex/search", q='//node[@cat="np"]', mode="count")
    assert status == 200 and "renamed" not in body and "cdb-sample" in body


def test_no_error_lines_in_the_log_of_ordinary_pages(server):
    """datasette counted the contentless search_terms table and logged an ERROR at start
    and on every database page (issue: rough edges of serve)."""
    base, db, where, _ = server
    pages = [get(base, path) for path in ("/", f"/{db.stem}", f"/{db.stem}/sentences")]
    assert all(status == 200 for _, status, _ in pages)
    assert "search_terms" not in pages[1][2].split("hidden table")[0]  # (listed as hidden)
    log = (where / "serve.log").read_text()
    assert "ERROR" not in log and "table does not support scanning" not in log, log[-2000:]


def test_the_caret_of_a_syntax_error_stands_under_its_character(server):
    import html
    import re

    base = server[0]
    query = '//node[@cat="np" and ]'
    _, status, body = get(base, "/-/treeindex/search", q=query, mode="count")
    assert status == 200
    shown = re.search(r'<pre class="message-error"[^>]*>(.*?)</pre>', body, re.S)
    assert shown, body[-1500:]
    lines = html.unescape(shown.group(1)).splitlines()
    line = next(k for k, text in enumerate(lines) if text.strip() == query)
    assert lines[line + 1].index("^") == lines[line].index("]")


def test_the_search_page_searches_the_chosen_corpora(server):
    base, db, _, _ = server
    _, _, everywhere = get(base, "/-/treeindex/search", q='//node[@rel="--"]', mode="count")
    assert "<td>cdb-sample</td>" in everywhere and "<td>as</td>" in everywhere
    _, status, one = get(base, "/-/treeindex/search?" + urllib.parse.urlencode(
        [("q", '//node[@rel="--"]'), ("mode", "count"), ("corpus", "as")]))
    assert status == 200 and "<td>as</td>" in one and "<td>cdb-sample</td>" not in one
    assert 'name="corpus" value="as" checked' in one
    assert 'name="corpus" value="cdb-sample">' in one  # (offered, not ticked)
    _, _, hits = get(base, "/-/treeindex/search?" + urllib.parse.urlencode(
        [("q", '//node[@rel="hd"]'), ("corpus", "cdb-sample")]))
    assert "corpus=as" not in hits and "corpus=cdb-sample&amp;sentid=" in hits
    assert "corpus=cdb-sample&amp;page=2" in hits  # (the next page keeps the choice)
    assert "mode=count&amp;corpus=cdb-sample'>count all hits and sentences" in hits
    _, _, bad = get(base, "/-/treeindex/search?" + urllib.parse.urlencode(
        [("q", '//node[@rel="hd"]'), ("corpus", "nope")]))
    assert "message-error" in bad and "nope" in bad


def test_a_word_search_shows_the_xpath_it_runs(server):
    import html

    base = server[0]
    _, status, body = get(base, "/-/treeindex/search", words="in verband met")
    query = ('//node[@word="in" and @end = //node[@word="verband" and @end = '
             '//node[@word="met"]/@begin]/@begin]')
    assert status == 200 and f'name="q" value="{html.escape(query)}"' in body
    assert "sentid=cdb%2F0" in body  # its one hit, Dit in verband met ...
    _, _, lemmas = get(base, "/-/treeindex/search", words="verband", lemmas="on")
    assert html.escape('//node[@lemma="verband"]') in lemmas and "sentid=cdb%2F0" in lemmas


def _descendants(pid: int) -> set[int]:
    out: set[int] = set()
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/task/{p}/children") as f:
                kids = [int(c) for c in f.read().split()]
        except OSError:
            continue
        out.update(kids)
        todo += kids
    return out


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs Linux /proc")
def test_search_workers_end_with_their_server_however_it_ends(tmp_path):
    (tmp_path / "as.xml").write_bytes(LONG_AS)
    db = tmp_path / "t.db"
    ingest(db, [tmp_path / "as.xml"], workers=0)
    proc, base = serve(db, tmp_path / "serve.log", "--time-limit", "600")
    slow = threading.Thread(target=lambda: get(base, "/-/treeindex/search", timeout=5,
                                               q=CATASTROPHIC, mode="count"), daemon=True)
    slow.start()
    time.sleep(2.0)  # a worker is inside the catastrophic expression now
    workers = _descendants(proc.pid)
    assert workers
    proc.kill()  # no shutdown of any kind
    proc.wait(10)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(Path(f"/proc/{w}").exists() for w in workers):
        time.sleep(0.2)
    left = [w for w in workers if Path(f"/proc/{w}").exists()
            and "zombie" not in Path(f"/proc/{w}/status").read_text().lower()]
    assert left == []


def test_workers_that_keep_the_node_table_answer_as_the_library(tmp_path):
    """serve --keep-memory: the workers keep superblocks; counts and statistics are the
    library's, also after an ingest while serving (the superblocks follow the file)."""
    from treeindex.search import count

    db = tmp_path / "k.db"
    ingest(db, [CDB], workers=0, chunk_bytes=30_000)
    proc, base = serve(db, tmp_path / "serve.log", "--keep-memory", "64",
                       "--search-workers", "1")
    try:
        for round in range(2):
            for q in ('//node[@cat="np"]', '//node[@rel="su" and @pt="vnw"]'):
                _, status, body = get(base, "/-/treeindex/search", q=q, mode="count")
                assert status == 200
                assert f"<td>(all)</td><td>{count(db, q).hits:,}</td>" in body
            if round == 0:
                ingest(db, [repeat_treebank(tmp_path / "more.xml", 2)], workers=0,
                       chunk_bytes=30_000)
    finally:
        proc.terminate()
        proc.wait(10)


def test_the_words_per_million_are_counted_once_per_state_of_the_index(tmp_path, monkeypatch):
    from treeindex import search
    from treeindex.web import pages

    db = str(tmp_path / "w.db")
    ingest(db, [CDB], workers=0)
    real = search.count
    calls = spy(monkeypatch, search, "count")
    first = pages.corpus_words(db, ())
    assert pages.corpus_words(db, ()).hits == first.hits > 0 and len(calls) == 1
    assert pages.corpus_words(db, ("cdb-sample",)).hits == first.hits and len(calls) == 2
    # an ingest changes the file: counted again, and right
    ingest(db, [repeat_treebank(tmp_path / "more.xml", 2)], workers=0)
    again = pages.corpus_words(db, ())
    assert len(calls) == 3 and again.hits == real(db, pages.WORDS, workers=0).hits > first.hits


def test_hit_lines_and_links_are_the_obvious_ones():
    # (the page's faster forms against the obvious ones, on hostile text)
    import random
    from html import escape
    from types import SimpleNamespace
    from urllib.parse import urlencode

    from treeindex.web.pages import _bracketed, hit_link

    rng = random.Random(19)
    alphabet = ["de", "&", "<b>", '"', "'", "é", "x&amp;", "]", "[", "a b", "%", "+", "?", "\u00a0"]
    for _ in range(2000):
        words = [rng.choice(alphabet).replace(" ", "") for _ in range(rng.randint(0, 12))]
        sentence = rng.choice([" ", "  ", "\t"]).join(words)
        marked = set(rng.sample(range(-2, 15), rng.randint(0, 6)))
        obvious = " ".join(
            ('<span class="ti-hit">[' if k in marked and k - 1 not in marked else "")
            + escape(w) + ("]</span>" if k in marked and k + 1 not in marked else "")
            for k, w in enumerate(sentence.split()))
        assert _bracketed(sentence, marked) == obvious
        hit = SimpleNamespace(corpus=rng.choice(alphabet), sentid=" ".join(words[:3]),
                              id=rng.choice([None, "7", "&"]))
        corpora = tuple(rng.sample(alphabet, rng.randint(0, 2)))
        q, n = "//node[@lemma=" + rng.choice(alphabet) + "]", rng.randint(1, 999)
        assert hit_link("db " + q, hit, q, n, corpora) == "/-/treeindex/tree?" + urlencode(
            [("db", "db " + q), ("corpus", hit.corpus), ("sentid", hit.sentid),
             ("hit", hit.id or ""), ("q", q), ("n", n)] + [("in", c) for c in corpora])


def test_search_workers_are_warmed_on_every_index_before_they_take_a_search(tmp_path):
    """The server's workers each search every served index once before they are used (an
    index that cannot be searched is passed over, never an error); a search that comes
    while they warm waits for one of them instead of starting a cold process."""
    from treeindex.web.runner import Runner

    db = tmp_path / "w.db"
    ingest(db, [CDB], workers=0)
    broken = tmp_path / "not-an-index.db"
    broken.write_bytes(b"not SQLite at all" * 100)
    runner = Runner(2, 30)
    try:
        runner.warm((str(db), str(broken), str(tmp_path / "missing.db")))
        assert sorted(w.warmed for w in runner._idle) == [1, 1]
    finally:
        for w in runner._idle:
            w.stop()
    runner = Runner(1, 30)
    warming = threading.Thread(target=runner.warm, args=((str(db),),))
    warming.start()
    try:
        while not runner._starting and warming.is_alive():
            time.sleep(0.001)
        worker = runner._take()  # while it warms
        assert worker.warmed == 1
        worker.stop()
    finally:
        warming.join(30)
        for w in runner._idle:
            w.stop()
