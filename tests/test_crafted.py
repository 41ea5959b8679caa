"""Crafted and damaged index files (tests/crafted.py): every command on every file ends, with
a one-line error or a normal end, never a traceback or an endless loop."""

from __future__ import annotations

import crafted
import pytest


@pytest.fixture(scope="module")
def matrix(tmp_path_factory):
    return crafted.run_matrix(tmp_path_factory.mktemp("crafted"), timeout=60)


def test_no_traceback_and_no_endless_loop_on_any_crafted_file(matrix):
    bad = [r for r in matrix if r[2] in crafted.BAD]
    assert not bad, bad
    assert len(matrix) == len(crafted.CASES) * 21


@pytest.mark.parametrize("case, needle", [
    ("settings-text", "not a valid treeindex index: the setting terms_from is 'many', not a "
                      "number"),
    ("huge-sentences", "not a valid treeindex index: the corpora count "
                       "3,000,000,000,000,000 sentences, but the highest sentence id is"),
    ("no-corpora", "not a valid treeindex index: the table corpora is missing"),
    ("corpora-view", "not a valid treeindex index: corpora is a view, not a table"),
    ("null-integers", "has counts that are not whole numbers"),
    ("text-integers", "has counts that are not whole numbers"),
    ("huge-n", "not a whole number within its corpus's"),
])
def test_a_file_refused_at_the_door_says_what_is_wrong_for_every_command(matrix, case,
                                                                          needle):
    runs = [r for r in matrix if r[0] == case and r[1] != "schema"]
    assert runs and all(r[2] == "exit 1" and needle in r[3] for r in runs), runs


@pytest.mark.parametrize("case, command, needle", [
    ("xml-garbage", "export", "a stored sentence is neither zstd nor zlib"),
    ("xml-zstd-bomb", "export", "declares 4,294,967,296 bytes, more than the 16 MB"),
    ("xml-zlib-bomb", "export", "inflates to more than 16 MB"),
    ("xml-zstd-bomb", "merge", "declares 4,294,967,296 bytes"),
    ("spans-outside", "show-subtree", "subtree np-1 spans bytes 900000..900100, which are "
                                      "not a <node> of its sentence"),
    ("spans-outside", "export-np", "subtree np-1 spans bytes 900000..900100"),
    ("dictionary-garbage", "search-count", "a stored sentence cannot be decompressed"),
])
def test_damage_found_where_it_is_read_is_one_line(matrix, case, command, needle):
    (run,) = [r for r in matrix if r[:2] == (case, command)]
    assert run[2] == "exit 1" and needle in run[3] and "not a valid treeindex index" in run[3], \
        run
