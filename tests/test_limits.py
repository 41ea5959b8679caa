"""What a query may be: nothing that reads outside the sentence, and limits on size and
nesting that give one clear message, never a traceback or an endless parse."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from conftest import CDB

from treeindex import ingest
from treeindex.cli import cli
from treeindex.errors import QueryError
from treeindex.search import compile_query, count, limits


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    db = tmp_path_factory.mktemp("limits") / "t.db"
    ingest(db, [CDB], workers=0)
    return db


@pytest.fixture
def secret(tmp_path):
    path = tmp_path / "secret.xml"
    path.write_text('<secret><node cat="np">hidden</node></secret>')
    return path


@pytest.mark.parametrize("template", [
    '//node[doc("{p}")//node]',
    '//node[fn:doc("{p}")]',
    '//node[doc (: a comment :) ("{p}")]',
    '//node[doc-available("{p}")]',
    '//node[collection("{p}")]',
    '//node[unparsed-text("{p}") = "x"]',
    '//node[unparsed-text-lines("{p}")]',
    '//node[environment-variable("HOME")]',
    '//node[available-environment-variables()]',
    '(doc("{p}")//node)',
    '//node[parse-xml("<!DOCTYPE x [<!ENTITY e SYSTEM \'{p}\'>]><x>&e;</x>")]',
])
def test_a_query_that_reads_outside_the_sentence_is_refused(index, secret, template):
    query = template.replace("{p}", str(secret))
    result = CliRunner().invoke(cli, ["search", "--db", str(index), "--count", query])
    assert result.exit_code == 1
    name = query.split("[", 1)[-1].lstrip("(").split("(")[0].strip()
    assert result.output.startswith(f"Error: the query calls {name}(), which reads outside "
                                    "the sentence"), result.output
    assert "hidden" not in result.output and "Traceback" not in result.output


def test_the_refusal_does_not_depend_on_the_path(index, tmp_path):
    answers = set()
    for path in ("/etc", "/nonexistent/x.xml", tmp_path):
        result = CliRunner().invoke(cli, ["search", "--db", str(index), "--count",
                                          f'//node[doc("{path}")]'])
        answers.add(result.output.replace(str(path), "P"))
    assert len(answers) == 1, answers


def test_the_names_inside_strings_and_as_element_names_are_not_refused(index):
    assert count(index, '//node[@word="doc(x)" or @lemma="collection"]').hits == 0
    compile_query("//node[doc]")  # a child element named doc: nothing is read
    compile_query('//node[starts-with(@word, "doc")]')


def test_deep_nesting_and_long_queries_are_one_message(index):
    deep = "//node[" + "node[" * limits.MAX_DEPTH + "@a" + "]" * (limits.MAX_DEPTH + 1)
    result = CliRunner().invoke(cli, ["search", "--db", str(index), "--count", deep])
    assert result.exit_code == 1
    assert result.output.startswith(f"Error: the query nests brackets more than "
                                    f"{limits.MAX_DEPTH} deep"), result.output
    long = "//node[" + " or ".join(f'@word="w{i}"' for i in range(8000)) + "]"
    assert len(long) > limits.MAX_CHARS
    result = CliRunner().invoke(cli, ["search", "--db", str(index), "--count", long])
    assert result.output == (f"Error: the query, its macros expanded, is longer than "
                             f"{limits.MAX_CHARS:,} characters, the limit of a query: split "
                             "it into several searches\n")
    within = "//node[" + " or ".join(f'@word="w{i}"' for i in range(4000)) + "]"
    assert len(within) < limits.MAX_CHARS
    assert count(index, within).hits == 0  # (parsed in linear time: once 8 s)


def test_too_many_operands_for_the_xpath2_parser_is_one_message():
    many = "//node[" + " or ".join(f'matches(@word, "^w{i}$")' for i in range(3000)) + "]"
    with pytest.raises(QueryError, match="the query is too complex to evaluate"):
        compile_query(many)


def test_macros_that_double_each_other_stop_at_the_limit():
    macros = {"m0": '"a"'} | {f"m{i}": f"(%m{i - 1}%, %m{i - 1}%)" for i in range(1, 31)}
    with pytest.raises(QueryError, match=r"the macro %m1\d% expands to more than 100,000"):
        compile_query("//node[@word = %m30%]", macros)
