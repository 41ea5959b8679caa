"""The C fast path and the pure-Python path of the worker give the same rows, the same
search terms and the same node blocks."""

from __future__ import annotations

import os

import pytest
from conftest import ALPINO, CDB, SUITES, WRPEE
from test_split import plan_ranges

from treeindex.worker import extract
from treeindex.worker.extract import Task, extract_rows


def tasks():
    out = []
    for src in (CDB, SUITES, WRPEE):
        data = src.read_bytes()
        for a, b in plan_ranges(data, 50_000):
            out.append(Task(0, "range", str(src), a, b, None, (), "utf-8", 7, 1000))
    for d in ALPINO.iterdir():
        files = tuple(str(p) for p in sorted(d.iterdir()))
        out.append(Task(0, "files", str(d), 0, 0, None, files, "utf-8", 7, 1000))
    return out


def normalized(result):
    # the Python path leaves begin/end as text (SQLite stores both as integers)
    rows = [r[:5] + tuple(None if v is None else int(v) for v in r[5:7]) + r[7:]
            for r in result.subtrees]
    # search terms: the same set (the order is the C builder's: @word and @lemma after a
    # node's other attributes); the node blocks byte for byte
    sentences = [s[:-1] + (sorted(s[-1].split()),) for s in result.sentences]
    return rows, sentences, result.cat_counts, result.errors, result.nodes


@pytest.mark.skipif(extract._scan is None, reason="the C extension is not built")
def test_c_and_python_paths_agree(monkeypatch):
    fast = [normalized(extract_rows(t)) for t in tasks()]
    from treeindex.search import nodestore

    monkeypatch.setattr(extract, "_scan", None)
    monkeypatch.setattr(nodestore, "_nodes", None)
    slow = [normalized(extract_rows(t)) for t in tasks()]
    assert fast == slow
    assert sum(len(f[0]) for f in fast) > 3000


def test_c_extension_is_built():
    """CI has a compiler: the fast path must be there (set TREEINDEX_PURE_PYTHON=1 where not)."""
    if os.environ.get("TREEINDEX_PURE_PYTHON") == "1":
        pytest.skip("pure-Python install requested")
    assert extract._scan is not None, "treeindex._scan was not compiled: install with a C compiler"
    from treeindex.search import nodestore
    from treeindex.store import packed

    assert nodestore._nodes is not None, "treeindex.search._nodes was not compiled"
    assert packed._pack is not None, "treeindex.store._pack was not compiled"


def test_sentences_the_c_path_hands_over(tmp_path):
    """Comments, CDATA, entities and '>' in attribute values go to the Python path."""
    data = CDB.read_bytes()
    s = data.index(b'<alpino_ds id="cdb/1"')
    node = data.index(b"<node", data.index(b"<node", s) + 1)
    data = (data[:node] + b"<!-- a <node> in a comment -->" + data[node:])
    s = data.index(b'<alpino_ds id="cdb/2"')
    word = data.index(b'rel="', s)
    data = data[:word] + b'extra="a &gt; b > c" ' + data[word:]
    s = data.index(b'<alpino_ds id="cdb/3"')
    rel = data.index(b'rel="', s)
    data = data[:rel] + b'rel="&#115;u" x' + data[rel + 3:]
    src = tmp_path / "odd.xml"
    src.write_bytes(data)
    task = Task(0, "range", str(src), 0, len(data), None, (), "utf-8", 7, 1000)
    result = extract_rows(task)
    assert not result.errors
    from reference import subtrees
    expected = subtrees(src)
    from fuzz import pattern_texts

    assert [(r[1], r[3], r[4], r[12]) for r in pattern_texts(result)] == [
        (e["cat"], e["node"], e["rel"], e["pattern"]) for e in expected]


def test_namespaced_sentences_go_to_the_python_path():
    """With a namespace, lxml's <node> is not the scanner's: both paths must agree anyway."""
    from treeindex.worker import extract

    if extract._scan is None:
        pytest.skip("the C extension is not built")
    raw = (ALPINO / "cdb" / "1.xml").read_bytes().split(b"?>", 1)[1].strip()
    ns = raw.replace(b"<alpino_ds ", b'<alpino_ds xmlns="urn:x" ', 1)
    tally = extract._scan.Tally()
    assert extract._scan.scan(ns, 7, 1000, 0, tally) is None
    assert tally.counts() == {}  # a sentence handed over changes nothing
    assert extract._scan.scan(raw, 7, 1000, 0, tally) is not None
    assert tally.counts()["top"] == [1, 1]


@pytest.mark.parametrize("kind", ["c", "python"])
def test_a_tally_numbers_categories_and_patterns_as_the_rows_come(kind):
    """Each task numbers in a tally of its own (the C scanner's, or worker/scan.py's where
    it is not built; the Python path numbers through the C one too): each category's
    subtrees 1, 2, ..., its sentences once each, and each children pattern by its first
    appearance; nothing of one tally carries over into another."""
    from treeindex.worker.scan import Tally

    if kind == "c" and extract._scan is None:
        pytest.skip("the C extension is not built")
    make = extract._scan.Tally if kind == "c" else Tally
    t = make()
    t.sentence()
    assert [t.subtree("np"), t.subtree("pp"), t.subtree("np")] == [1, 1, 2]
    assert [t.pattern("det:lid hd:n"), t.pattern("hd:vz obj1:np"), t.pattern("det:lid hd:n")] \
        == [1, 2, 1]
    t.sentence()
    assert t.subtree("np") == 3 and t.subtree("smain") == 1 and t.subtree("np") == 4
    assert t.counts() == {"np": [4, 2], "pp": [1, 1], "smain": [1, 1]}
    assert list(t.counts()) == ["np", "pp", "smain"]  # (in order of first appearance)
    assert t.patterns() == {"det:lid hd:n": 1, "hd:vz obj1:np": 2}
    assert t.pattern("") == 3 and t.pattern("\u00e9:x") == 4 and t.subtree("\u00e9") == 1
    other = make()
    assert other.counts() == {} and other.subtree("np") == 1 and other.pattern("x") == 1
    many = make()  # (past the C tables' first sizes)
    assert [many.pattern(f"p{k}") for k in range(5000)] == list(range(1, 5001))
    assert [many.pattern(f"p{k}") for k in range(0, 5000, 7)] == list(range(1, 5001, 7))
    many.sentence()
    assert [many.subtree(f"c{k % 300}") for k in range(900)] == [k // 300 + 1 for k in range(900)]
    assert many.counts()["c7"] == [3, 1] and len(many.patterns()) == 5000


def under_secrets(code: str, *args: str) -> list[list[str]]:
    """The output words of `code` run in processes with three hash secrets (PYTHONHASHSEED 1,
    2 and random), where tests/ is importable."""
    import subprocess
    import sys

    here = os.path.dirname(__file__)
    return [subprocess.run([sys.executable, "-c", code, *args], capture_output=True,
                           text=True, check=True, cwd=here,
                           env={**os.environ, "PYTHONHASHSEED": secret, "PYTHONPATH": here}
                           ).stdout.split() for secret in ("1", "2", "random")]


@pytest.mark.skipif(extract._scan is None, reason="the C extension is not built")
def test_the_tallys_hash_seed_differs_by_process_and_changes_no_number():
    """The C tally's tables hash with a seed drawn per process (from Python's hash secret),
    so that colliding keys cannot be prepared in the input; its numbers and their order
    never depend on it."""
    out = under_secrets(
        "import json; from treeindex.worker._scan import Tally, tally_seed; t = Tally(); "
        "t.sentence(); n = [t.pattern(f'p{k % 3001}:x') for k in range(20000)]; "
        "c = [t.subtree(f'c{k % 257}') for k in range(5000)]; print(tally_seed(), "
        "json.dumps([n, c, t.counts(), list(t.patterns().items())]).replace(' ', ''))")
    assert len({o[0] for o in out}) == 3 and "0" not in {o[0] for o in out}
    assert len({o[1] for o in out}) == 1 and len(out[0][1]) > 100_000


@pytest.mark.skipif(extract._scan is None, reason="the C extension is not built")
def test_the_node_builders_hash_seed_differs_by_process_and_changes_no_byte():
    """The node block builder's value and term tables hash with a seed drawn per process
    too: the blocks and the search terms it makes are the same bytes whatever the seed."""
    out = under_secrets(
        "import hashlib, sys; from fuzz import real_sentences; from pathlib import Path; "
        "from treeindex.search import _nodes; from treeindex.search.nodestore import "
        "BlockBuilder; b = BlockBuilder(); sents = real_sentences([Path(sys.argv[1]), "
        "Path(sys.argv[2])]); terms = b.add_all(sents); block = b.finish(); "
        "print(_nodes.table_seed(), len(sents), len(block), "
        "hashlib.sha1(block + repr(terms).encode()).hexdigest())", str(CDB), str(WRPEE))
    assert len({o[0] for o in out}) == 3 and "0" not in {o[0] for o in out}
    assert len({tuple(o[1:]) for o in out}) == 1 and int(out[0][1]) > 100


@pytest.mark.skipif(extract._scan is None, reason="the C extension is not built")
def test_the_scanners_rows_carry_the_numbers_of_the_tally_they_are_given():
    """The scanner numbers its rows in the tally it is given: scanning sentences into one
    tally, or each into a fresh one, the same rows but for n and the pattern numbers, which
    continue across the sentences of one tally."""
    from fuzz import real_sentences

    scan = extract._scan.scan
    sentences = real_sentences([CDB])[:30]
    one = extract._scan.Tally()
    together = [scan(x, 7, 1000, 0, one, False)[1] for x in sentences]
    assert sum(map(len, together)) > 50
    numbers = {n: t for t, n in one.patterns().items()}
    counted: dict = {}
    for x, rows in zip(sentences, together):
        alone = extract._scan.Tally()
        rows_alone = scan(x, 7, 1000, 0, alone, False)[1]
        texts = {n: t for t, n in alone.patterns().items()}
        assert [numbers[r[12]] for r in rows] == [texts[r[12]] for r in rows_alone]
        for r, r_alone in zip(rows, rows_alone):
            counted[r[1]] = counted.get(r[1], 0) + 1
            assert r[2] == counted[r[1]] and r_alone[2] <= r[2]
            assert r[:2] + r[3:12] + r[13:] == r_alone[:2] + r_alone[3:12] + r_alone[13:]
    assert {c: v[0] for c, v in one.counts().items()} == counted


def _hide_spans(monkeypatch):
    """The treebank reader without its fast path: sentences one RawSentence at a time."""
    from treeindex import sources

    real = sources.reader

    def reader(kind):
        read = real(kind)

        def without(task):
            got = read(task)
            got.spans = None
            return got
        return without
    monkeypatch.setattr(extract.sources, "reader", reader)


@pytest.mark.skipif(extract._scan is None, reason="the C extension is not built")
def test_the_fast_loop_over_spans_gives_what_the_sentences_give(monkeypatch, tmp_path):
    """A treebank task's UTF-8 spans, looped over without an object per sentence, give the
    same result, byte for byte, as its sentences one by one: on the real treebanks, and on
    one with sentences that are malformed, handed over, too large, truncated, and in a
    second file of a corpus (which names each sentence's file)."""
    from treeindex.worker.extract import run_task

    data = CDB.read_bytes()
    starts = [i for i in range(len(data)) if data.startswith(b"<alpino_ds", i)]
    odd = bytearray(data[:starts[40]])
    at = data.index(b"<node ", starts[3])
    odd[at:at] = b"<x>"  # mismatched tags: malformed
    odd = bytes(odd).replace(b'<node ', b'<!-- c --><node ', 1)  # a comment: handed over
    odd = odd.replace(b'id="cdb/5"', b'id=""')  # an empty id: a positional one
    big = data[starts[20]:starts[21]].replace(b'<node ', b'<node pad="' + b"p" * 30_000 + b'" ', 1)
    odd += big + data[starts[40]:starts[42]] + data[starts[42]:starts[42] + 500]  # truncated
    src = tmp_path / "odd.xml"
    src.write_bytes(odd)
    found = []
    for path, files in ((CDB, ()), (SUITES, ()), (WRPEE, ()), (src, ()),
                        (src, ("file", "last"))):
        text = path.read_bytes()
        for a, b in plan_ranges(text, 50_000):
            found.append(Task(0, "range", str(path), a, b, None, files, "utf-8", 7, 1000))
    found.append(Task(0, "bytes", "odd.xml", 0, len(odd), odd, (), "utf-8", 7, 1000))
    monkeypatch.setattr(extract, "MAX_XML", 30_000)  # (the large sentence: an error row)
    fast = [run_task(t) for t in found]
    _hide_spans(monkeypatch)
    slow = [run_task(t) for t in found]
    assert fast == slow
    errors = [e for r in fast for e in r.errors]
    assert {e[4].split(" ")[0] for e in errors} >= {"is", "truncated:"}
    assert any("mismatch" in e[4] for e in errors), errors
    assert sum(r.sentences for r in fast) > 400
    assert b'id="cdb/5"' in data and b'id=""' in odd


def test_a_task_leaves_nothing_for_the_cycle_collector(monkeypatch):
    """A worker frees each task's bytes as soon as the task is done: nothing of it may wait
    for Python's cycle collector (an unstarted iterator that held its TaskInput, which holds
    it, kept 24 MB more in each worker until the collector ran)."""
    import gc
    import weakref

    from treeindex import sources
    from treeindex.worker.extract import run_task

    data = CDB.read_bytes()
    task = Task(0, "range", str(CDB), 0, len(data), None, (), "utf-8", 7, 1000)
    made = []
    real = sources.reader

    def reader(kind):
        read = real(kind)

        def watched(task):
            got = read(task)
            made.append(weakref.ref(got))
            return got
        return watched
    monkeypatch.setattr(extract.sources, "reader", reader)
    gc.collect()
    gc.disable()
    try:
        read = sources.reader("range")(task)
        assert read.spans is not None
        del read
        run_task(task)
        assert len(made) == 2
        assert [r() for r in made] == [None, None]
    finally:
        gc.enable()


@pytest.mark.skipif(extract._scan is None, reason="the C extension is not built")
def test_the_checks_pass_reads_the_tags_as_the_tag_reader_does():
    """A sentence the check is certain of is read in the check's own pass (verify=True); one
    lxml checked, by the scanner's tag reader (verify=False). Both must find the same rows,
    counts, patterns, ids and text, and hand over the same sentences: on every real
    sentence, on mutated ones, and on the cases each handles on its own (a declaration, a
    <sentence> with an element in it, values that need decoding, truncated bytes)."""
    import random

    from fuzz import mutate, real_sentences

    scan, wellformed = extract._scan.scan, extract._scan.wellformed
    real = real_sentences([CDB, SUITES, WRPEE])
    one = real[7]
    assert one.count(b"<sentence") == 1 and b'cat="' in one and b'rel="' in one
    crafted = [
        b'<?xml version="1.0" encoding="UTF-8"?>' + one,  # a declaration: handed over
        one.replace(b"</sentence>", b"<b>x</b></sentence>", 1),  # not text alone
        one.replace(b"<sentence", b'<sentence sentid="a&amp;b"', 1),  # decoded: handed over
        one.replace(b'id="', b'id="x&#65;', 1),
        one.replace(b'cat="', b'cat="&lt;', 1),
        one.replace(b'rel="', b'rel="\n', 1),
        one.replace(b'pt="', b'pt="a\tb', 1) if b'pt="' in one else one,
        one.replace(b"<sentence", b'<sentence sentid="s1"', 1),  # used: alpino_ds has an id?
        one.replace(b"</sentence>", b"&amp; &#233;</sentence>", 1),  # text decoded
        one.replace(b"</sentence>", b"\r</sentence>", 1),  # a carriage return: lxml's
        one.replace(b"<sentence", b"<sentence/><x", 1).replace(b"</sentence>", b"</x>", 1),
        one.replace(b'<node ', b'<node\tfoo="&amp;" ', 1),  # an attribute it does not read
        one.replace(b"<node ", b"<node  ", 1).replace(b"</node>", b"</node >", 1),
    ]
    truncated = [one[:n] for n in range(0, len(one), max(1, len(one) // 200))]
    truncated += [b"<alpino_ds><sentence>abc<a", b"<alpino_ds><sentence>abc</sent",
                  b"<alpino_ds><sentence>x</sentence><node cat='a'><node/></node>"]
    rng = random.Random(4201)
    mutated = [mutate(rng, real[rng.randrange(len(real))]) for _ in range(6000)]
    certain = handed = 0
    for x in real + crafted + truncated + mutated:
        got = scan(x, 7, 1000, 3, tally := extract._scan.Tally(), True)
        if got is False:  # not certain: the tag reader's alone (after lxml's check)
            assert not wellformed(x)
            continue
        assert wellformed(x)
        certain += 1
        want = scan(x, 7, 1000, 3, want_tally := extract._scan.Tally(), False)
        assert (got, tally.counts(), tally.patterns()) == (
            want, want_tally.counts(), want_tally.patterns()), x[:300]
        handed += got is None
    assert certain > len(real) + 300 and handed >= 8, (certain, handed)
    def scanned(x):
        return scan(x, 7, 1000, 0, extract._scan.Tally(), True)

    assert scanned(crafted[0]) is None and scanned(crafted[1]) is None
    assert scanned(crafted[8])[4].endswith("& \u00e9")
    assert scanned(crafted[12])[0] == scanned(one)[0]
