"""Notes on what a query asks that no node of the index has (search/feedback.py): each
mistake a new user makes gets its note, with what the index does have; the queries of the
exactness tests get none."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from conftest import CDB, SUITES, WRPEE
from test_search import QUERIES_1, QUERIES_2

from treeindex import ingest
from treeindex.cli import cli
from treeindex.search import notes


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    db = tmp_path_factory.mktemp("feedback") / "t.db"
    ingest(db, [CDB, SUITES, WRPEE], workers=0)
    return db


MISTAKES = [
    ('//node[@categorie="np"]', "no node has @categorie in this index; did you mean @cat?"),
    ('//node[@Cat="np"]', "no node has @Cat in this index; did you mean @cat"),
    ("//node[@cat=np]", '@cat=np compares @cat with the text of a child element <np>, not '
                        'with a value: quote it, @cat="np"'),
    ('//node[@cat="NP"]', 'no node has @cat="NP" (values are compared exactly, capitals too); '
                          'did you mean cat="np" ('),
    ('//node[@cat="nnp"]', 'no node has @cat="nnp" in this index; did you mean cat="np" ('),
    ('//nod[@cat="np"]', "<nod> is not an element Alpino writes, so //nod selects nothing; "
                         "did you mean node"),
    ("huis", "the query 'huis' is a word, not a path: it selects nothing. Search "
             '//node[@word="huis"] ('),
    ('node[@cat="np"]', "the query starts with 'node[@cat=\"n', not / or (: it is evaluated "
                        "from each sentence's <alpino_ds>"),
    ("//node[@cat=\u201cnp\u201d]", "the query has typographic quotes (\u201c \u201d): XPath "
                                    "takes straight ones"),
    ('//node[@word="Dít"]', 'no node has @word="Dít" in this index; did you mean word="dit" '
                            '('),
]


@pytest.mark.parametrize("query, note", MISTAKES)
def test_each_mistake_gets_its_note(index, query, note):
    found = notes(index, query)
    assert len(found) == 1 and found[0].startswith(note), found


@pytest.mark.parametrize("query", QUERIES_1 + QUERIES_2)
def test_the_exactness_queries_get_no_note(index, query):
    assert notes(index, query) == []


def test_notes_go_to_stderr_and_strict_makes_them_an_error(index):
    runner = CliRunner()
    result = runner.invoke(cli, ["search", "--db", str(index), "--count",
                                 '//node[@categorie="np"]'])
    assert result.exit_code == 0
    assert result.stderr == ("note: no node has @categorie in this index; did you mean "
                             "@cat?\n")
    assert "(all)" in result.stdout
    strict = runner.invoke(cli, ["search", "--db", str(index), "--strict", "--count",
                                 '//node[@categorie="np"]'])
    assert strict.exit_code == 1
    assert strict.stderr == ("Error: no node has @categorie in this index; did you mean "
                             "@cat? (--strict)\n")
    stats = runner.invoke(cli, ["search", "--db", str(index), "--stats", "lemm",
                                '//node[@cat="np"]'])
    assert stats.stderr.startswith("note: --stats names @lemm (no node in this index has "
                                   "it); did you mean @lemma?")


def test_counts_past_the_cap_are_said_as_such(index, monkeypatch):
    """A frequent value's count stops at COUNTED (reading its whole list of sentences cost
    more than a note may add): "more than N sentences"."""
    from treeindex.search import feedback

    exact = notes(index, '//node[@cat="NP"]')[0]
    monkeypatch.setattr(feedback, "COUNTED", 5)
    capped = notes(index, '//node[@cat="NP"]')[0]
    assert capped.endswith('did you mean cat="np" (more than 5 sentences)?'), capped
    assert "(more than" not in exact and exact.split("(")[0] == capped.split("(")[0]
