"""treeindex.records: the immutable records of the query syntax trees behave as the frozen
dataclasses they replace (constructor, defaults, equality by type and fields, hash, repr,
no assignment, pickling)."""

from __future__ import annotations

import pickle

import pytest

from treeindex.search.plan import All, Term
from treeindex.search.xast import Literal, Path, Step, Var, parse


def test_constructor_defaults_equality_and_hash():
    step = Step("child", "node")
    assert step.preds == () and step == Step("child", "node", ()) == Step(
        axis="child", test="node", preds=())
    assert step != Step("child", "x") and hash(step) == hash(Step("child", "node"))
    assert Literal("x") != Var("x")  # same fields, other type: not equal
    assert len({Term("a", "@a"), Term("a", "@a"), Term("b", "@b")}) == 2
    assert repr(Path("/", ())) == "Path(root='/', steps=(), base=None)"
    with pytest.raises(TypeError):
        Step("child")
    with pytest.raises(TypeError):
        Step("child", "node", (), "extra")
    with pytest.raises(TypeError):
        Step("child", "node", colour="red")


def test_no_assignment_and_pickling():
    tree, _ = parse('//node[@cat="np" and node[@rel=("su","obj1")]]')
    with pytest.raises(AttributeError):
        tree.root = "/"  # type: ignore[misc]
    again = pickle.loads(pickle.dumps(tree))
    assert again == tree and hash(again) == hash(tree)
    formula = All((Term("cat0np", '@cat="np"'),))
    assert pickle.loads(pickle.dumps(formula)) == formula
