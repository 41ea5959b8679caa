"""Differential fuzzing of the worker: mutated real sentences must give the same rows, counts,
errors, node blocks and search terms on the C path and on the pure-Python path. Used by
tests/test_fuzz.py (a short seeded run) and scripts/fuzz.py (a long one)."""

from __future__ import annotations

import random
import re
import sqlite3
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

from treeindex.search import nodestore
from treeindex.sources import split
from treeindex.store import packed
from treeindex.worker import extract
from treeindex.worker.extract import Task, extract_rows, run_task

SNIPPETS = [
    b"<!--", b"-->", b"<!-- <node cat=\"np\"> -->", b'"', b"'", b"&amp;", b"&#65;", b"&#x3e;",
    b"&lt;", b">", b"<", b"&nosuch;", b' a:b="1"', b' xmlns:a="urn:a"', b' xmlns="urn:x"',
    b'<node cat="x"/>', b'<node cat="y" rel="z"><node pt="n"/></node>', b"</node>",
    b"<![CDATA[<node>]]>", b"\r", b"\r\n", b"\t", b"<?pi x?>", b' cat="q"', b' rel="hd"',
    b' begin="3"', b' end="-1"', b' begin="x"', b"<a:node/>", b'<node a:cat="np"/>',
    b"\xc3\xa9", b"\xff", b"\x00", b"<sentence>", b"</sentence>", b' id="s"', b' sentid="t"',
    b"<!DOCTYPE x>", b"]]>", b"  ", b"\n", b"<alpino_ds ", b"<alpino_ds>", b"<alpino_dsx",
    # what libxml2 rejects and the scanner's own check must never accept: mismatched tags,
    # repeated attributes, bad references, characters XML does not allow, bytes that are not
    # UTF-8
    b"</nodes>", b"</Node>", b"<node>", b"</alpino_ds>", b"</ node>", b"</node >", b"<node/ >",
    b' cat="np" cat="np"', b" rel='x'", b' id="1"', b" begin=3", b' a="<"', b" a=\"'\"",
    b'="v"', b' b="1"c="2"', b" xml:lang=\"nl\"", b' xmlfoo="1"', b"<xml/>", b"<_a.b-c/>",
    b"<1a/>", b"&#0;", b"&#x0;", b"&#xD800;", b"&#x110000;", b"&#xFFFE;", b"&#9;", b"&#x9;",
    b"&#99999999;", b"&#0000065;", b"&am;", b"&amp", b"& ", b"&#;", b"&#x;", b"&#X41;",
    b"&#x10FFFF;", b"\x01", b"\x0b", b"\x7f", b"\xef\xbf\xbf", b"\xef\xbf\xbe",
    b"\xef\xbf\xbd", b"\xed\xa0\x80", b"\xed\x9f\xbf", b"\xc0\x80", b"\xc1\xbf",
    b"\xe0\x80\x80", b"\xe0\xa0\x80", b"\xf0\x8f\xbf\xbf", b"\xf0\x90\x80\x80",
    b"\xf4\x90\x80\x80", b"\xf4\x8f\xbf\xbf", b"\xf5\x80\x80\x80", b"\xe2\x82",
    b"\xc2\x85", b"\xf0\x9f\x98\x80", b"\x80", b"]]", b"]>", b"]", b"\xc3",
    # what the search terms make of values: a word that is its own lemma (written alike or
    # not), attributes with a term for being there, no term, a value too long for one
    b' word="de"', b' lemma="de"', b' lemma="&#100;e"', b' word="d&#x65;"', b' wl="de"',
    b' sense="x"', b' his_1="y"', b' index="1"', b' end="2"', b' lemma="' + b"a" * 101 + b'"',
    b' word="' + b"\xc3\xa9" * 50 + b'"', b' pt="a b"', b' x_y="1"', b' x5fy="1"',
]
# declarations put in front of a sentence: the scanner's check accepts only version 1.0 in
# UTF-8; everything else (another encoding declared over UTF-8 bytes, another version, a byte
# order mark, a malformed declaration) goes to lxml
DECLARATIONS = [
    b'<?xml version="1.0"?>', b'<?xml version="1.0" encoding="UTF-8"?>\n',
    b"<?xml version='1.0' encoding='utf-8' standalone='yes'?>", b'<?xml version="1.0" ?>',
    b'<?xml version="1.0" standalone="no"?>', b'<?xml version="1.1"?>',
    b'<?xml version="1.0" encoding="ISO-8859-1"?>', b'<?xml version="1.0" encoding="latin1"?>',
    b'<?xml version="1.0" encoding="UTF-16"?>', b'<?xml version="1.0" encoding="utf8"?>',
    b'<?xml version="1.0" encoding="UTF\r8"?>', b'<?xml version="1.0"encoding="UTF-8"?>',
    b'<?xml encoding="UTF-8" version="1.0"?>', b'<?xml version="1.0" standalone="maybe"?>',
    b"<?xml version=\"1.0'?>", b'<?xml  version = "1.0"  encoding = "UTF-8"  ?>',
    b'<?xml version="1.0"?><!-- c -->', b'\xef\xbb\xbf<?xml version="1.0"?>', b" \n",
    b'<?xml version="1.0"?>x', b'<?XML version="1.0"?>', b"<?xml?>",
]
_SENTENCE = re.compile(rb"<alpino_ds\b.*?</alpino_ds>", re.S)


def real_sentences(paths: list[Path]) -> list[bytes]:
    return [m.group(0) for p in paths for m in _SENTENCE.finditer(p.read_bytes())]


def many_categories(n: int = 100) -> bytes:
    """A sentence whose nodes have more distinct categories than a small table holds."""
    inner = b"".join(b'<node cat="c%d" rel="mod"><node pt="n" word="w"/></node>' % i
                     for i in range(n))
    inner += b"".join(b'<node cat="c%d" rel="mod"><node pt="n" word="w"/></node>' % i
                      for i in range(n))
    return (b'<alpino_ds id="many"><node cat="top" rel="top">' + inner +
            b"</node><sentence>w</sentence></alpino_ds>")


def mutate(rng: random.Random, sentence: bytes) -> bytes:
    data = bytearray(sentence)
    if rng.random() < 0.1:
        data[0:0] = rng.choice(DECLARATIONS)
    for _ in range(rng.randint(1, 4)):
        pos = rng.randint(0, len(data))
        op = rng.random()
        if op < 0.5:
            data[pos:pos] = rng.choice(SNIPPETS)
        elif op < 0.75 and pos < len(data):
            del data[pos:pos + rng.randint(1, 12)]
        elif pos < len(data):
            data[pos] = rng.randrange(256)
    return bytes(data)


@contextmanager
def python_only():
    """The worker without its C parts: the pure-Python scan, splitter and node block
    builder (and with it the search terms)."""
    scan, splitter, builder = extract._scan, split._split, nodestore._nodes
    extract._scan = split._split = nodestore._nodes = None
    try:
        yield
    finally:
        extract._scan, split._split, nodestore._nodes = scan, splitter, builder


def run_both(data: bytes):
    """A task of these bytes through the C path and through the pure-Python path."""
    task = Task(0, "bytes", "t.xml", 0, len(data), data, (), "utf-8", 7, 1000)
    fast = extract_rows(task)
    with python_only():
        slow = extract_rows(task)
    return fast, slow


def pattern_texts(result) -> list[tuple]:
    """The subtree rows of a worker's result with each pattern's text for its number."""
    if not result.patterns:
        return list(result.subtrees)
    text = {n: t for t, n in result.patterns.items()}
    return [r[:12] + (text[r[12]],) + r[13:] for r in result.subtrees]


_AFFINITY = sqlite3.connect(":memory:", check_same_thread=False)
_AFFINITY.execute("CREATE TABLE a (v INTEGER)")


@lru_cache(maxsize=1 << 16)
def stored(value: object) -> object:
    """A begin or end as the index stores it: `subtrees.begin` and `.end` have INTEGER
    affinity, so the Python path's text '05' (lxml's value) and the scanner's 5 are one
    value there, as are '-0' and 0; text that is no number stays text."""
    _AFFINITY.execute("DELETE FROM a")
    _AFFINITY.execute("INSERT INTO a VALUES (?)", (value,))
    return _AFFINITY.execute("SELECT v, typeof(v) FROM a").fetchone()


def normalized(result) -> tuple:
    # begin/end: as the index stores them (C gives ints where the value is a number)
    rows = [r[:5] + tuple(stored(v) for v in r[5:7]) + r[7:]
            for r in pattern_texts(result)]
    # the search terms: the same set (each once), in any order (FTS5 stores the same index);
    # the node block: the C builder's from the bytes against the Python one's from lxml's
    # elements, byte for byte
    # (split at spaces only: str.split() would also cut at U+0085 and the like, which a term
    # keeps as FTS5's ascii tokenizer does)
    sentences = [s[:-1] + (sorted(s[-1].split(" ") if s[-1] else []),)
                 for s in result.sentences]
    assert all(len(set(s[-1])) == len(s[-1]) for s in sentences), "a term twice"
    return rows, sentences, result.cat_counts, result.errors, result.nodes


def differences(rng: random.Random, sentences: list[bytes], rounds: int, per_task: int = 20,
                tally: dict[str, int] | None = None):
    """Yield (data, fast, slow) for every task of mutated sentences where the paths differ.
    `tally` counts the sentences tried and those recorded as malformed."""
    scan = extract._scan
    assert scan is not None, "the C extension is not built"
    for _ in range(rounds):
        picked = [mutate(rng, rng.choice(sentences)) for _ in range(per_task)]
        data = b"<treebank>\n" + b"\n".join(picked) + b"\n</treebank>\n"
        task = Task(0, "bytes", "fuzz.xml", 0, len(data), data, (), "utf-8", 7, 1000)
        fast_rows = extract_rows(task)
        fast = normalized(fast_rows)
        if tally is not None:
            tally["sentences"] = tally.get("sentences", 0) + per_task
            tally["malformed"] = tally.get("malformed", 0) + len(fast_rows.errors)
        with python_only():
            slow = normalized(extract_rows(task))
        if fast != slow:
            yield data, fast, slow
        elif packed._pack is not None:  # the C packer's image: as packing those rows makes it
            if tally is not None:
                tally["packed"] = tally.get("packed", 0) + per_task
            # (run_task also takes the worker's loop over the task's spans, extract_rows
            # without a packer the one over its sentences: all else must be the same too)
            result = run_task(task)
            made = (image(result.chunk), result.cat_counts, result.errors, result.newlines,
                    result.nodes)
            expected = (image(packed.pack(fast_rows.sentences, fast_rows.subtrees,
                                          fast_rows.patterns)), fast_rows.cat_counts,
                        fast_rows.errors, fast_rows.newlines, fast_rows.nodes)
            if made != expected:
                yield data, made, expected


def image(chunk: bytes) -> list[list[tuple]]:
    """A packed image's schema, then its rows, table by table in order, each value with its
    SQLite type; AssertionError if SQLite's integrity check finds fault with it."""
    import sqlite3

    conn = sqlite3.connect(":memory:")
    try:
        conn.deserialize(chunk)
        check = conn.execute("PRAGMA integrity_check").fetchall()
        assert check == [("ok",)], check
        # (the tables' root pages too: the writer reads image after image with the schema
        # SQLite read from the first, store/packed.py)
        out = [conn.execute("SELECT type, name, tbl_name, rootpage, sql FROM sqlite_schema "
                            "ORDER BY rowid").fetchall()]
        for table in ("s", "t", "p"):
            columns = [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]
            types = ", ".join(f"typeof({c})" for c in columns)
            out.append(conn.execute(f"SELECT *, {types} FROM {table} ORDER BY 1").fetchall())
        return out
    finally:
        conn.close()


def soundness(rng: random.Random, sentences: list[bytes], n: int) -> tuple[int, int, list[bytes]]:
    """Check `n` mutated sentences with the scanner's own well-formedness check and with
    lxml's checking parser: (how many the scanner called certainly well-formed, how many lxml
    rejected, the sentences the scanner called well-formed that lxml rejects: must be none)."""
    from treeindex.worker.check import BadSentence, parse, parsers

    check = parsers("UTF-8")[0]
    certain = rejected = 0
    wrong: list[bytes] = []
    for _ in range(n):
        data = mutate(rng, rng.choice(sentences))
        try:
            parse(data, check)
            ok = True
        except BadSentence:
            ok = False
            rejected += 1
        if extract._scan.wellformed(data):
            certain += 1
            if not ok:
                wrong.append(data)
    return certain, rejected, wrong
