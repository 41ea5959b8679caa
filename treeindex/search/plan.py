"""What the candidate index can use of a query: a condition on search terms that every
sentence the query matches meets, derived from the query's parse tree.

The condition is a formula of terms (search/terms.py) with `and` and `or`. It may only drop
sentences that cannot match, so wherever a part of the query is not understood (`not()`, a
function, `!=`, a number, a variable, an axis other than child and descendant under a known
`node`...) that part contributes "anything" (`ANY`), which makes an `or` over it anything and
drops out of an `and`. The rules, for a query whose result is not empty:

- a path or filter (`a/b`, `a//b`, `a[p]`) needs every one of its parts to hold somewhere:
  the `and` of their conditions;
- `p and q`: both; `p or q`, `a | b`: either;
- `@name = "value"`, `"value" = @name`, `@name eq "value"`, and `@name = ("v1", "v2")`:
  a node whose attribute has that value (or one of them), where `@name` belongs to a `node`
  (it stands in a predicate of a `node` step, or ends a path whose last step is `node`);
- `@name` alone in such a place: the attribute is there, for the attributes the index has
  presence terms for (`@index`, ...).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Union

from ..records import record
from .terms import presence_term, value_terms


@record
class Term:
    term: str
    shown: str  # as the query wrote it: @lemma="de"


@record
class All:
    parts: tuple[Formula, ...]


@record
class Either:
    parts: tuple[Formula, ...]


class _Any:
    def __repr__(self) -> str:
        return "ANY"


ANY: Any = _Any()
Formula = Union[Term, All, Either, _Any]  # noqa: UP007 (a runtime alias: 3.9 syntax)


def both(*parts: Formula) -> Formula:
    flat: list[Formula] = []
    for p in parts:
        if p is ANY:
            continue
        flat.extend(p.parts if isinstance(p, All) else (p,))
    unique = tuple(dict.fromkeys(flat))
    return ANY if not unique else unique[0] if len(unique) == 1 else All(unique)


def either(*parts: Formula) -> Formula:
    flat: list[Formula] = []
    for p in parts:
        if p is ANY:
            return ANY
        flat.extend(p.parts if isinstance(p, Either) else (p,))
    unique = tuple(dict.fromkeys(flat))
    return ANY if not unique else unique[0] if len(unique) == 1 else Either(unique)


def condition(xpath: str) -> Formula:
    """The condition every sentence the query matches meets (ANY: none is known), from
    elementpath's parse tree (XPath 2.0; search/xpath1.py does the same for XPath 1.0)."""
    import elementpath
    from elementpath.xpath2 import XPath2Parser

    try:
        root = XPath2Parser().parse(xpath)
    except elementpath.ElementPathError:  # lxml's dialect: run it, but know nothing
        return ANY
    return _cond(root, False)


def _children(tok: Any) -> list[Any]:
    return list(tok)


def _is_node_path(tok: Any) -> bool:
    """Does this expression yield `node` elements only?"""
    sym = tok.symbol
    if sym == "(name)":
        return bool(tok.value == "node")
    if sym == "[":
        return _is_node_path(tok[0])
    if sym in ("/", "//") and len(tok) == 2:
        return _is_node_path(tok[1])
    return False


def _attribute(tok: Any, in_node: bool) -> str | None:
    """The attribute name when `tok` is `@name` of a node (in a node's predicate, or at the
    end of a path whose last step is `node`)."""
    if tok.symbol == "@" and in_node and len(tok) == 1 and tok[0].symbol == "(name)":
        return str(tok[0].value)
    if tok.symbol == "/" and len(tok) == 2 and tok[1].symbol == "@":
        return _attribute(tok[1], _is_node_path(tok[0]))
    return None


def _strings(tok: Any) -> list[str] | None:
    """A string literal, or a parenthesized sequence of them."""
    if tok.symbol == "(string)":
        return [str(tok.value)]
    if tok.symbol == "(" and len(tok) == 1:
        return _strings(tok[0])
    if tok.symbol == ",":
        out: list[str] = []
        for part in tok:
            values = _strings(part)
            if values is None:
                return None
            out.extend(values)
        return out
    return None


def equal_to(name: str, values: list[str]) -> Formula:
    """A node whose @name is one of `values` (ANY where a value has no term); shared by
    the three analyzers (this one, xast's below, search/xpath1.py)."""
    options: list[Formula] = []
    for value in values:
        terms = value_terms(name, value)
        if terms is None:
            return ANY
        shown = f'@{name}="{value}"'
        options.extend(Term(t, shown) for t in terms)
    return either(*options) if options else ANY


def _equals(left: Any, right: Any, in_node: bool) -> Formula:
    for a, b in ((left, right), (right, left)):
        name = _attribute(a, in_node)
        values = _strings(b)
        if name is None or values is None:
            continue
        options = equal_to(name, values)
        return ANY if options is ANY else both(_cond(a, in_node), options)
    return _compared(left, right, in_node)


def _is_literal(tok: Any) -> bool:
    return tok.symbol in ("(string)", "(integer)", "(decimal)", "(float)")


def _compared(left: Any, right: Any, in_node: bool) -> Formula:
    """A path compared with a string or number is true only for some node of it: the path's
    own conditions hold. (Compared with a boolean, an empty path can be true: nothing.)"""
    for a, b in ((left, right), (right, left)):
        if _is_literal(b) and a.symbol in ("/", "//", "[", "@", "(name)"):
            return _cond(a, in_node)
    return ANY


def _cond(tok: Any, in_node: bool) -> Formula:
    sym = tok.symbol
    kids = _children(tok)
    if sym in ("/", "//"):
        if len(kids) == 2:
            return both(_cond(kids[0], in_node), _cond(kids[1], _is_node_path(kids[0])))
        return both(*(_cond(k, False) for k in kids))
    if sym == "[":
        base, predicate = kids[0], kids[1]
        if predicate.symbol in ("(integer)", "(decimal)", "(float)"):
            return _cond(base, in_node)
        return both(_cond(base, in_node), _cond(predicate, _is_node_path(base)))
    if sym == "(" and len(kids) == 1:
        return _cond(kids[0], in_node)
    if sym == "and":
        return both(_cond(kids[0], in_node), _cond(kids[1], in_node))
    if sym == "or":
        return either(_cond(kids[0], in_node), _cond(kids[1], in_node))
    if sym in ("|", "union"):
        return either(*(_cond(k, in_node) for k in kids))
    if sym in ("=", "eq") and len(kids) == 2:
        return _equals(kids[0], kids[1], in_node)
    if sym in ("!=", "<", ">", "<=", ">=", "ne", "lt", "gt", "le", "ge") and len(kids) == 2:
        return _compared(kids[0], kids[1], in_node)
    if sym == "@" and in_node and len(kids) == 1 and kids[0].symbol == "(name)":
        term = presence_term(str(kids[0].value))
        return Term(term, f"@{kids[0].value}") if term else ANY
    if sym == "some" and len(kids) >= 3:  # some $x in E satisfies C: E is not empty
        return both(*(_cond(k, in_node) for k in kids[1:-1:2]))
    return ANY


# The same rules on treeindex's own parse tree (search/xast.py), which reads the XPath 2.0
# that the node table evaluates without elementpath (whose import alone costs 0.19 s).

def tree_condition(tree: object) -> Formula:
    """The condition every sentence the query (parsed by xast.parse) matches meets."""
    return _tcond(tree, False)


def _node_step(step: Any) -> bool:
    """Does this step yield `node` elements only? (A name test `node` does, on any axis but
    attribute; `fn` steps yield values.)"""
    return step.axis not in ("attribute", "fn") and step.test == "node"


def _yields_nodes(e: object) -> bool:
    from .xast import Filter, Path

    if isinstance(e, Path):
        return bool(e.steps) and _node_step(e.steps[-1])
    if isinstance(e, Filter):
        return _yields_nodes(e.primary)
    return False


def _tpath(e: Any, in_node: bool) -> Formula:
    """A path needs every step and predicate to hold somewhere."""
    parts: list[Formula] = []
    node = in_node if e.base is None and e.root == "" else False
    if e.base is not None:
        parts.append(_tcond(e.base, in_node))
        node = _yields_nodes(e.base)
    for step in e.steps:
        if step.axis == "fn":
            return both(*parts)  # (a function of each node: its conditions are not known)
        if step.axis == "attribute":
            term = presence_term(step.test) if node and isinstance(step.test, str) else None
            parts.append(Term(term, f"@{step.test}") if term else ANY)
            node = False
            continue
        here = _node_step(step)
        for pred in step.preds:
            parts.append(_tcond(pred, here))
        node = here
    return both(*parts)


def _tattribute(e: Any, in_node: bool) -> tuple[str, Formula] | None:
    """(name, the conditions of the path to it) when `e` is `@name` of a node: alone in a
    node's predicate, or at the end of a path whose step before it is `node`."""
    from .xast import Path

    if not isinstance(e, Path) or not e.steps:
        return None
    last = e.steps[-1]
    if last.axis != "attribute" or last.preds or not isinstance(last.test, str) or \
            last.test == "*":
        return None
    if len(e.steps) == 1 and e.base is None and e.root == "":
        return (last.test, ANY) if in_node else None
    before = e.steps[-2] if len(e.steps) > 1 else None
    if (before is not None and _node_step(before)) or \
            (before is None and e.base is not None and _yields_nodes(e.base)):
        return last.test, _tpath(Path(e.root, e.steps[:-1], e.base), in_node)
    return None


def _tstrings(e: object) -> list[str] | None:
    from .xast import Literal, Seq

    if isinstance(e, Literal):
        return [e.value]
    if isinstance(e, Seq) and e.items:
        out: list[str] = []
        for item in e.items:
            values = _tstrings(item)
            if values is None:
                return None
            out.extend(values)
        return out
    return None


def _tequals(left: object, right: object, in_node: bool) -> Formula:
    for a, b in ((left, right), (right, left)):
        found = _tattribute(a, in_node)
        values = _tstrings(b)
        if found is None or values is None:
            continue
        name, path = found
        options = equal_to(name, values)
        return ANY if options is ANY else both(path, options)
    return _tcompared(left, right, in_node)


def _tcompared(left: object, right: object, in_node: bool) -> Formula:
    """A path compared with a string or number is true only for some node of it."""
    from .xast import Literal, Number, Path

    for a, b in ((left, right), (right, left)):
        if isinstance(b, (Literal, Number)) and isinstance(a, Path):
            return _tcond(a, in_node)
    return ANY


def _tcond(e: object, in_node: bool) -> Formula:
    from .xast import Binary, Call, Filter, Path, Quantified

    if isinstance(e, Path):
        return _tpath(e, in_node)
    if isinstance(e, Filter):
        here = _yields_nodes(e.primary)
        return both(_tcond(e.primary, in_node),
                    *(_tcond(p, here) for p in e.preds))
    if isinstance(e, Binary):
        if e.op == "and":
            return both(_tcond(e.left, in_node), _tcond(e.right, in_node))
        if e.op in ("or", "|"):
            return either(_tcond(e.left, in_node), _tcond(e.right, in_node))
        if e.op in ("=", "eq"):
            return _tequals(e.left, e.right, in_node)
        if e.op in ("!=", "<", ">", "<=", ">=", "ne", "lt", "gt", "le", "ge"):
            return _tcompared(e.left, e.right, in_node)
        return ANY
    if isinstance(e, Quantified) and e.kind == "some":  # the sequences are not empty
        return both(*(_tcond(expr, in_node) for _, expr in e.bindings))
    if isinstance(e, Call) and e.name == "exists" and len(e.args) == 1:
        return _tcond(e.args[0], in_node)
    return ANY


def terms(formula: Formula) -> Iterator[Term]:
    if isinstance(formula, Term):
        yield formula
    elif isinstance(formula, (All, Either)):
        for p in formula.parts:
            yield from terms(p)


def match_expression(formula: Formula) -> str:
    """The formula as an FTS5 MATCH expression."""
    if isinstance(formula, Term):
        return f'"{formula.term}"'
    if isinstance(formula, All):
        return "(" + " AND ".join(match_expression(p) for p in formula.parts) + ")"
    if isinstance(formula, Either):
        return "(" + " OR ".join(match_expression(p) for p in formula.parts) + ")"
    raise ValueError("ANY has no MATCH expression")


def describe(formula: Formula) -> str:
    """The formula as the query wrote its parts: @cat="np" and (@rel="hd" or ...)."""
    if isinstance(formula, Term):
        return formula.shown
    if isinstance(formula, (All, Either)):
        joiner = " and " if isinstance(formula, All) else " or "
        shown: list[str] = []
        for p in formula.parts:
            text = describe(p)
            if isinstance(p, (All, Either)) and (" and " in text or " or " in text):
                text = f"({text})"
            if text not in shown:
                shown.append(text)
        return shown[0] if len(shown) == 1 else joiner.join(shown)
    return "nothing (every sentence is a candidate)"
