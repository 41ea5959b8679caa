"""`search` is exact: its hits are those of evaluating the query on every sentence of the
input, nothing more, nothing less, in document order, for any number of workers."""

from __future__ import annotations

import functools
import os
import signal

import elementpath
import pytest
from conftest import ALPINO, CDB, SUITES, WRPEE, spy
from lxml import etree
from reference import sentences

from treeindex import cores, ingest
from treeindex.errors import QueryError
from treeindex.search import count, search, stats
from treeindex.search.run import run_search_task

SOURCES = [(CDB, "cdb-sample"), (SUITES, "suites-sample"), (WRPEE, "WRPEE-dummy"),
           (ALPINO / "Titaantjes", "Titaantjes"), (ALPINO / "cdb", "cdb")]

# The kinds of question the Dact manual, its cookbook and PaQu's examples ask.
QUERIES_1 = [
    '//node[@cat="np"]',
    '//node[@cat="np" and node[@rel="det"]]',
    '//node[@cat="np" and node[@rel="det" and @lemma="de"] and node[@rel="hd" and @pt="n"]]',
    '//node[@rel="su" and @index and not(@cat or @word)]',
    '//node[@cat="smain" and node[@rel="obj2"]]',
    '//node[node[@rel="obj1"] and node[@rel="obj2"]]',
    '//node[@pt="ww" and @wvorm="pv"]',
    '//node[@lemma="de"]',
    '//node[@cat="pp" and node[@rel="hd" and @lemma="in"]]',
    '//node[@rel="mod" and @cat="pp"]',
    '//node[@cat="ssub" and node[@rel="su"]]',
    '//node[node[@rel="hd"]/@begin < node[@rel="obj1"]/@begin]',
    '//node[@cat="conj"]',
    '//node[@rel="cnj" and @cat="np"]',
    '//node[count(node) > 3]',
    '//node[@word="is"]',
    '//node[starts-with(@lemma, "ver")]',
    '//node[contains(@word, "-")]',
    '//node[@cat="np"]//node[@pt="adj"]',
    '//node[@cat="whq"]',
    '//node[../@cat="np" and @rel="mod"]',
    '//node[@rel="hd" and ../@cat="pp"]',
    '//node[@cat and not(node[@rel="hd"])]',
    '//node[@pt="vnw" and @vwtype="pers"]',
    '//node[@rel="vc" and @cat="inf"]',
    '//node[@begin="0" and @word]',
    '//node[number(@end) - number(@begin) > 5 and @cat="np"]',
    '//node[@index = //node[@rel="su"]/@index and not(@word or @cat)]',
    '//node[@cat="np"][1]',
    '//node[@rel="top"]/node[last()]',
    '//node[@cat="du"] | //node[@cat="sv1"]',
    '//node[@cat="np" and not(.//node[@cat="np"])]',
]
QUERIES_2 = [
    '//node[@rel=("hd","cmp")]',
    '//node[matches(@lemma, "^ge.*d$")]',
    '//node[ends-with(@word, "heid")]',
    '//node[some $n in node satisfies $n/@rel="obj2"]',
    '//node[@cat and (every $n in node satisfies $n/@word)]',
    '//node[node[@rel="mod"]/number(@begin) > 3]',
    '//node[@cat="np" and lower-case(node[@rel="hd"]/@word) = "jaar"]',
]


@functools.lru_cache(maxsize=1)
def all_sentences() -> list[tuple[str, str, etree._Element]]:
    """Every sentence of the input, parsed by the independent reference reader."""
    return [(corpus, sid, root) for source, corpus in SOURCES
            for sid, root in sentences(source)]


def expected(query: str, two: bool) -> list[tuple[str, str, str | None]]:
    out = []
    for corpus, sid, root in all_sentences():
        found = (elementpath.select(root, query) if two else root.xpath(query))
        order = {el: i for i, el in enumerate(root.iter("node"))}
        for el in sorted(set(found), key=order.__getitem__):
            out.append((corpus, sid, el.get("id")))
    return out


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    db = tmp_path_factory.mktemp("search") / "t.db"
    ingest(db, [s for s, _ in SOURCES], workers=2)
    return db


@pytest.mark.parametrize("query, two", [(q, False) for q in QUERIES_1] +
                         [(q, True) for q in QUERIES_2])
def test_hits_are_exactly_those_of_every_sentence(index, query, two):
    got = [(h.corpus, h.sentid, h.id) for h in search(index, query, workers=0)]
    assert got == expected(query, two)


def test_workers_do_not_change_the_hits(index, monkeypatch):
    import treeindex.search as searching

    q = '//node[@cat="np" and node[@rel="det"]]'
    one = list(search(index, q, workers=0))
    two = list(search(index, q, workers=2))  # (small: evaluated here, no worker started)
    assert one == two and len(one) > 100
    monkeypatch.setattr(cores, "POOL_START", 0.0)  # (workers after the first jobs)
    monkeypatch.setattr(cores, "POOL_START_PER_WORKER", 0.0)
    started = spy(monkeypatch, searching, "_results")
    assert list(search(index, q, workers=2, engine="nodes")) == one
    every = "//node[@cat]"  # (every sentence, in tasks of 40: enough for 2 workers)
    monkeypatch.setattr(searching, "SENTENCES_PER_TASK", 40)
    assert list(search(index, every, workers=2, engine="lxml")) == \
        list(search(index, every, workers=0, engine="lxml"))
    assert [c.args[2] for c in started if c.args[2]] == [2, 2]


_PARENT = os.getpid()


def _dies_in_a_worker(task):
    """run_search_task, except that a worker process is killed by it (out of memory, kill)."""
    if os.getpid() != _PARENT:
        os.kill(os.getpid(), signal.SIGKILL)
    return run_search_task(task)


def test_a_worker_that_dies_ends_the_search_with_what_to_do(index, monkeypatch):
    import treeindex.search as searching
    from treeindex.errors import WorkerDied

    monkeypatch.setattr(cores, "POOL_START", 0.0)
    monkeypatch.setattr(cores, "POOL_START_PER_WORKER", 0.0)
    monkeypatch.setattr(searching, "SENTENCES_PER_TASK", 40)
    monkeypatch.setattr(searching, "run_search_task", _dies_in_a_worker)
    with pytest.raises(WorkerDied) as e:
        list(search(index, "//node[@cat]", workers=2, engine="lxml"))
    assert str(e.value) == (
        "a worker process died (killed by a signal, or out of memory: see `dmesg`); nothing "
        "was changed: run the search again, with a lower --workers if it happens again")


def _where(item):
    return item, os.getpid()


@pytest.mark.parametrize("start, weights, here", [
    (60.0, [1] * 8, 8),  # little work: no worker started
    (0.0, [1] * 8, 1),  # more than starting workers costs: the rest in them, after one
    (0.0, [8], 1),  # (nothing left after it: none started)
    (60.0, [1, 1, None, 1], 2),  # unknown cost: that one and the rest in workers
])
def test_a_search_starts_workers_only_for_work_worth_them(monkeypatch, start, weights, here):
    import treeindex.search as searching

    monkeypatch.setattr(cores, "POOL_START", start)
    monkeypatch.setattr(cores, "POOL_START_PER_WORKER", 0.0)
    got = list(searching._inline_first(_where, range(len(weights)), 2, 8,
                                       lambda k: weights[k]))
    assert [item for item, _ in got] == list(range(len(weights)))  # in order
    assert [pid == os.getpid() for _, (_, pid) in got] == \
        [k < here for k in range(len(weights))]


def test_a_limit_near_starts_no_workers(monkeypatch):
    """With a limit that the hits so far say is near, the work left is what reaching it
    needs, not all that is left: a listing of 5,000 dense hits started two workers for the
    whole file and took 1.15 x its time in the process."""
    import treeindex.search as searching

    projected = []

    def worth(work, tasks, n):
        projected.append(tasks)
        return 0

    monkeypatch.setattr(cores, "workers_worth", worth)
    # 8 items of weight 1; after each, 100 hits found so far per item, a limit of 250
    found = [0]

    def run(k):
        found[0] += 100
        return k

    got = list(searching._inline_first(run, range(8), 2, 8, lambda k: 1,
                                       lambda done: searching._needed(done, found[0], 250)))
    assert got == [(k, k) for k in range(8)]
    # 1.5 items still needed after the first (not 7), 0.5 after the second, then none
    assert projected == [2, 1]
    assert searching._needed(4, 0, 250) is None and searching._needed(4, 100, None) is None
    assert searching._needed(4, 300, 250) == 0


def test_hit_records(index):
    hit = next(h for h in search(index, '//node[@cat="np" and node[@rel="det"]]', workers=0)
               if h.corpus == "cdb-sample")
    assert hit.label is not None and hit.label.startswith("np-")
    assert hit.words == hit.sentence.split()[hit.begin:hit.end] or hit.words
    assert hit.positions == sorted(hit.positions)
    word = next(search(index, '//node[@word]', workers=0))
    assert word.label is None and word.words == [word.sentence.split()[word.begin]]


def test_count_and_stats(index):
    q = '//node[@rel="hd" and @pt="n"]'
    hits = list(search(index, q, workers=0))
    counts = count(index, q, workers=0)
    assert counts.hits == len(hits)
    assert counts.sentences == len({(h.corpus, h.seq) for h in hits})
    table = stats(index, q, ("lemma",), workers=0)
    assert sum(n for _, n in table) == len(hits)
    assert [n for _, n in table] == sorted((n for _, n in table), reverse=True)


@pytest.mark.parametrize("query", ['//node[@lemma="de"]', '//node[@cat="np" and node[@rel="det"]]',
                                   '//node[@word and not(@lemma="de")]'])
def test_a_limited_search_evaluates_about_as_many_sentences_as_it_wants_hits(
        index, query, monkeypatch):
    # (the first tasks are small when there is a limit: a web page's first hits)
    import treeindex.search as library

    calls = spy(monkeypatch, library, "run_search_task")
    whole = list(search(index, query, workers=0, engine="lxml"))
    everything = sum(c.result.sentences for c in calls)
    for limit in (1, 7, 50, 51, 400):
        calls.clear()
        got = list(search(index, query, workers=0, engine="lxml", limit=limit))
        tasks = [c.result.sentences for c in calls]
        assert got == whole[:limit]
        assert tasks[0] <= limit + limit // 4
        assert all(b <= max(2 * a, limit + limit // 4) for a, b in zip(tasks, tasks[1:]))
        if len(whole) > 4 * limit:
            assert sum(tasks) < everything


def test_limit_and_corpus(index):
    assert len(list(search(index, "//node", limit=7, workers=2))) == 7
    only = {h.corpus for h in search(index, '//node[@cat="np"]', corpora=["WRPEE-dummy"])}
    assert only == {"WRPEE-dummy"}
    with pytest.raises(QueryError) as e:
        list(search(index, "//node", corpora=["cbd"]))
    assert str(e.value).startswith("unknown corpus 'cbd'; the corpora in this index are "
                                   "(closest first): cdb")


def test_macros(index):
    macros = {"np": 'node[@cat="np"]', "det_np": '//%np%[node[@rel="det"]]'}
    assert list(search(index, "%det_np%", macros=macros, workers=0)) == \
        list(search(index, '//node[@cat="np"][node[@rel="det"]]', workers=0))


def test_the_xml_of_matching_sentences_reads_again(index, tmp_path):
    hits = [h for h in search(index, '//node[@cat="whq"]', with_xml=True, workers=0)]
    xmls = [h.xml for h in hits if h.xml is not None]
    assert len(xmls) == len({(h.corpus, h.seq) for h in hits}) > 0
    out = tmp_path / "whq.xml"
    out.write_bytes(b"<treebank>\n" + b"\n".join(xmls) + b"\n</treebank>\n")
    assert len(etree.parse(str(out)).getroot()) == len(xmls)


@pytest.mark.parametrize("what", ["count", "stats", "hits"])
def test_a_corpus_removed_during_a_search_is_said_never_silently_short(tmp_path, what):
    from conftest import repeat_treebank

    from treeindex.errors import TreeindexError
    from treeindex.manage import remove

    big = repeat_treebank(tmp_path / "big.xml", 6)
    db = tmp_path / "t.db"
    ingest(db, [CDB, big], workers=0, chunk_bytes=100_000)
    calls = []

    def progress(p):  # the corpus goes after the search has begun
        calls.append(p)
        if len(calls) == 1:
            remove(db, ["big"])

    query = "//node[count(node) > 1]"
    with pytest.raises(TreeindexError, match=r"corpus 'big' was removed, renamed or replaced "
                                             r"while it was searched"):
        if what == "count":
            count(db, query, engine="lxml", workers=0, progress_callback=progress)
        elif what == "stats":
            stats(db, query, ("cat",), engine="lxml", workers=0, progress_callback=progress)
        else:
            list(search(db, query, engine="lxml", workers=0, progress_callback=progress))
    assert calls
    assert count(db, query, workers=0).corpora.keys() == {"cdb-sample"}


def test_on_the_node_table_a_search_reads_one_state_of_the_index(tmp_path):
    """The node table's search reads in one snapshot; a removal that gets in (WAL mode, as
    while an ingest writes or a server reads) is said at the end."""
    import sqlite3

    from conftest import repeat_treebank

    from treeindex.errors import DatabaseError, TreeindexError
    from treeindex.manage import remove

    big = repeat_treebank(tmp_path / "big.xml", 6)
    db = tmp_path / "t.db"
    ingest(db, [CDB, big], workers=0, chunk_bytes=100_000)
    query = "//node[count(node) > 1]"
    whole = count(db, query, engine="nodes", workers=0)
    outcomes = []

    def progress(p):
        if not outcomes:
            try:
                remove(db, ["big"])
                outcomes.append("removed")
            except DatabaseError as e:  # rollback mode: the search's snapshot holds it off
                outcomes.append(str(e))

    keep = sqlite3.connect(db)  # a reader keeps the index in WAL mode after the removal
    keep.execute("PRAGMA journal_mode=WAL")
    try:
        got = count(db, query, engine="nodes", workers=0, progress_callback=progress)
        assert outcomes and "locked" in outcomes[0] and got == whole
    except TreeindexError as e:
        assert outcomes == ["removed"]
        assert "corpus 'big' was removed, renamed or replaced while it was searched" in str(e)
    keep.close()


def test_a_search_starts_no_more_workers_than_it_has_jobs_left(monkeypatch):
    # (on 64 cores, a pool of 64 for the last 2 jobs: forks for nothing, 5-8 ms each)
    import treeindex.search as searching

    monkeypatch.setattr(cores, "POOL_START", 0.0)
    monkeypatch.setattr(cores, "POOL_START_PER_WORKER", 0.0)
    started = spy(monkeypatch, searching, "_results")
    got = list(searching._inline_first(_where, range(3), 8, 3, lambda k: 1))
    assert [item for item, _ in got] == [0, 1, 2]
    assert [(c.args[2], c.args[4]) for c in started] == [(2, 2)]
