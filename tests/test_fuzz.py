"""The C scanner and the Python path agree on mutated real sentences (a short seeded run;
`python3 scripts/fuzz.py` runs a long one)."""

from __future__ import annotations

import random
import time

import pytest
from conftest import CDB, SUITES, WRPEE
from fuzz import differences, many_categories, normalized, real_sentences, run_both

from treeindex.worker import extract
from treeindex.worker.extract import Task, extract_rows

pytestmark = pytest.mark.skipif(extract._scan is None, reason="the C extension is not built")


def test_mutated_sentences_give_the_same_rows_on_both_paths():
    sentences = real_sentences([CDB, SUITES, WRPEE])
    found = list(differences(random.Random(20261126), sentences, rounds=150))
    assert not found, found[0]


def test_undeclared_prefixes_are_malformed_on_both_paths():
    sentence = real_sentences([CDB])[0].replace(b"<node ", b'<node a:b="1" ', 1)
    fast, slow = run_both(sentence)
    assert normalized(fast) == normalized(slow)
    assert len(fast.errors) == 1 and "prefix" in fast.errors[0][-1].lower()


def test_more_than_64_categories_in_one_sentence_are_counted_once_each():
    fast, slow = run_both(many_categories(100))
    assert normalized(fast) == normalized(slow)
    assert fast.cat_counts["c70"] == [2, 1]
    assert all(sentences == 1 for _, sentences in fast.cat_counts.values())


@pytest.mark.parametrize("path", ["c", "python"])
def test_pathological_sentences_take_linear_time(path, monkeypatch):
    """An unbalanced quote in a commented-out node made a regular expression backtrack for
    ever; every input must cost time linear in its size (a generous budget: the old code
    took 20 s for 40 such letters, and never ended for more)."""
    if path == "python":
        monkeypatch.setattr(extract, "_scan", None)
    real = real_sentences([CDB])[0]
    cut = real.index(b"<node", real.index(b"<node") + 1)
    for hostile in (b'<!-- <node begin="0" cat="np end="2" -->' * 2000,
                    b"<!-- <node " + b'a"' * 20000 + b" -->",
                    b"<!-- " + b"<node x='" * 20000 + b" -->",
                    b"<?pi " + b"<node " * 20000 + b"?>"):
        data = real[:cut] + hostile + real[cut:]
        task = Task(0, "bytes", "t.xml", 0, len(data), data, (), "utf-8", 7, 1000)
        started = time.perf_counter()
        result = extract_rows(task)
        assert time.perf_counter() - started < 5
        assert not result.errors and len(result.sentences) == 1
