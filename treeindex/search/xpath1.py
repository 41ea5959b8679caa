"""A small XPath 1.0 parser, for two things only: telling whether lxml can run a query (every
function it calls is an XPath 1.0 function), and deriving the query's condition on search
terms (search/plan.py has the rules) without loading elementpath, which costs a search more
time to import than a selective query takes to run. Anything it does not parse goes to
elementpath, which parses XPath 2.0 and gives the error messages.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .plan import ANY, Formula, Term, both, either, equal_to
from .terms import presence_term

FUNCTIONS = frozenset((
    "last position count id local-name namespace-uri name string concat starts-with "
    "contains substring-before substring-after substring string-length normalize-space "
    "translate boolean not true false lang number sum floor ceiling round").split())
NODE_TYPES = frozenset(("node", "text", "comment", "processing-instruction"))
AXES = frozenset((
    "ancestor ancestor-or-self attribute child descendant descendant-or-self following "
    "following-sibling namespace parent preceding preceding-sibling self").split())
# axes whose name test `node` selects <node> elements (attribute and namespace do not)
_ELEMENT_AXES = AXES - {"attribute", "namespace"}

_TOKEN = re.compile(r"""
    \s*(?:
      (?P<lit>"[^"]*"|'[^']*')
    | (?P<num>\d+(?:\.\d*)?|\.\d+)
    | (?P<op>//|::|!=|<=|>=|\.\.|[/|+\-=<>()\[\].@,$*])
    | (?P<name>[A-Za-z_][\w.\-]*(?::(?:[A-Za-z_][\w.\-]*|\*))?)
    )""", re.VERBOSE)
_OPERATOR_NAMES = {"and", "or", "mod", "div"}


class NotXPath1(Exception):
    """The text is not XPath 1.0 this parser knows: let elementpath decide."""


def tokens(text: str) -> list[tuple[str, str]]:
    """(kind, text) tokens: lit, num, op, name, opname (and, or, mod, div, * as operators)."""
    return scan_tokens(text, _TOKEN, _OPERATOR_NAMES, NotXPath1)


def scan_tokens(text: str, pattern: re.Pattern[str], operator_names: set[str],
                error: type[Exception]) -> list[tuple[str, str]]:
    """The tokens of `pattern`'s groups (lit, num, op, name; a group named comment is an
    error), with names that follow an operand read as operators (also the XPath 2.0
    parser's, search/xast.py)."""
    out: list[tuple[str, str]] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        m = pattern.match(text, pos)
        if not m or m.end() == pos or m.lastgroup == "comment":
            raise error(text[pos:pos + 20])
        pos = m.end()
        kind = m.lastgroup or ""
        value = m.group(kind)
        prev = out[-1] if out else None
        # XPath 1.0, 3.7: after an operand (not @ :: ( [ , nor an operator), a name or *
        # is an operator
        operand_before = prev is not None and (
            prev[0] in ("lit", "num", "name") or (prev[0] == "op" and prev[1] in (
                ")", "]", ".", "..", "*")))
        if value == "*" and operand_before:
            kind = "opname"
        elif kind == "name" and operand_before and value in operator_names:
            kind = "opname"
        out.append((kind, value))
    return out


@dataclass
class Val:
    cond: Formula = ANY
    path: bool = False  # a node-set (a path or a filtered path)
    nodes: bool = False  # a node-set of <node> elements only
    attr: str | None = None  # the node-set is this attribute of <node> elements
    string: str | None = None  # a string literal
    number: bool = False  # a number literal


@dataclass
class Parsed:
    condition: Formula
    functions: set[str] = field(default_factory=set)


def parse(text: str) -> Parsed:
    """Parse an XPath 1.0 expression; NotXPath1 if this parser cannot."""
    p = _Parser(tokens(text))
    v = p.expr(False)
    if p.i != len(p.toks):
        raise NotXPath1(p.toks[p.i][1])
    return Parsed(v.cond if v.path else ANY, p.functions)


class _Parser:
    def __init__(self, toks: list[tuple[str, str]]) -> None:
        self.toks = toks
        self.i = 0
        self.functions: set[str] = set()

    def peek(self, k: int = 0) -> tuple[str, str]:
        j = self.i + k
        return self.toks[j] if j < len(self.toks) else ("end", "")

    def take(self, value: str | None = None) -> tuple[str, str]:
        tok = self.peek()
        if tok[0] == "end" or (value is not None and tok[1] != value):
            raise NotXPath1(tok[1])
        self.i += 1
        return tok

    def at(self, *values: str) -> bool:
        kind, text = self.peek()
        return kind in ("op", "opname") and text in values

    # Expr := OrExpr ...
    def expr(self, ctx: bool) -> Val:
        v = self.and_expr(ctx)
        if not self.at("or"):
            return v
        parts = [_truth(v)]  # combined once: pairwise, 8,000 terms took 14 s
        while self.at("or"):
            self.take()
            parts.append(_truth(self.and_expr(ctx)))
        return Val(either(*parts))

    def and_expr(self, ctx: bool) -> Val:
        v = self.eq_expr(ctx)
        if not self.at("and"):
            return v
        parts = [_truth(v)]
        while self.at("and"):
            self.take()
            parts.append(_truth(self.eq_expr(ctx)))
        return Val(both(*parts))

    def eq_expr(self, ctx: bool) -> Val:
        v = self.rel_expr(ctx)
        while self.at("=", "!="):
            op = self.take()[1]
            w = self.rel_expr(ctx)
            v = Val(_compare(v, w, op == "="))
        return v

    def rel_expr(self, ctx: bool) -> Val:
        v = self.add_expr(ctx)
        while self.at("<", ">", "<=", ">="):
            self.take()
            w = self.add_expr(ctx)
            v = Val(_compare(v, w, False))
        return v

    def add_expr(self, ctx: bool) -> Val:
        v = self.mul_expr(ctx)
        while self.at("+", "-"):
            self.take()
            self.mul_expr(ctx)
            v = Val()
        return v

    def mul_expr(self, ctx: bool) -> Val:
        v = self.unary(ctx)
        while self.at("*", "div", "mod") and self.peek()[0] == "opname":
            self.take()
            self.unary(ctx)
            v = Val()
        return v

    def unary(self, ctx: bool) -> Val:
        if self.at("-"):
            self.take()
            self.unary(ctx)
            return Val()
        v = self.path_expr(ctx)
        while self.at("|"):
            self.take()
            w = self.path_expr(ctx)
            v = Val(either(v.cond, w.cond), path=True, nodes=v.nodes and w.nodes)
        return v

    def path_expr(self, ctx: bool) -> Val:
        kind, text = self.peek()
        primary = kind in ("lit", "num") or (kind == "op" and text in ("(", "$")) or (
            kind == "name" and self.peek(1) == ("op", "(") and text not in NODE_TYPES)
        if not primary:
            return self.location_path(ctx)
        v = self.primary(ctx)
        while self.at("["):
            v = Val(both(v.cond, self.predicate(v.nodes)), path=v.path, nodes=v.nodes)
        if self.at("/", "//"):
            self.take()
            rest = self.relative_path(v.nodes)
            return Val(both(v.cond, rest.cond), path=True, nodes=rest.nodes, attr=rest.attr)
        return v

    def primary(self, ctx: bool) -> Val:
        kind, text = self.take()
        if kind == "lit":
            return Val(string=text[1:-1])
        if kind == "num":
            return Val(number=True)
        if text == "$":
            self.take()  # the variable's name
            return Val(path=True)
        if text == "(":
            v = self.expr(ctx)
            self.take(")")
            return v
        # a function call
        self.functions.add(text)
        self.take("(")
        if not self.at(")"):
            self.expr(ctx)
            while self.at(","):
                self.take()
                self.expr(ctx)
        self.take(")")
        return Val()

    def location_path(self, ctx: bool) -> Val:
        if self.at("/", "//"):
            slash = self.take()[1]
            kind, text = self.peek()
            starts_step = kind == "name" or (kind == "op" and text in (".", "..", "@", "*"))
            if slash == "/" and not starts_step:
                return Val(path=True)  # the root alone
            return self.relative_path(False)
        return self.relative_path(ctx)

    def relative_path(self, ctx: bool) -> Val:
        v = self.step(ctx)
        while self.at("/", "//"):
            self.take()
            w = self.step(v.nodes)
            v = Val(both(v.cond, w.cond), path=True, nodes=w.nodes, attr=w.attr)
        return v

    def step(self, ctx: bool) -> Val:
        if self.at("."):
            self.take()
            return Val(path=True, nodes=ctx)
        if self.at(".."):
            self.take()
            return Val(path=True)
        axis = "child"
        if self.at("@"):
            self.take()
            axis = "attribute"
        elif self.peek()[0] == "name" and self.peek(1) == ("op", "::"):
            axis = self.take()[1]
            self.take("::")
            if axis not in AXES:
                raise NotXPath1(axis)
        kind, test = self.take()
        if kind != "name" and not (kind == "op" and test == "*"):
            raise NotXPath1(test)
        if test in NODE_TYPES and self.at("("):
            self.take()
            if self.peek()[0] == "lit":
                self.take()
            self.take(")")
            test = f"{test}()"
        nodes = axis in _ELEMENT_AXES and test == "node"
        v = Val(path=True, nodes=nodes)
        if axis == "attribute" and ctx and ":" not in test and test != "*":
            v.attr = test
            term = presence_term(test)
            v.cond = Term(term, f"@{test}") if term else ANY
        while self.at("["):
            v.cond = both(v.cond, self.predicate(nodes))
        return v

    def predicate(self, ctx: bool) -> Formula:
        self.take("[")
        v = self.expr(ctx)
        self.take("]")
        return ANY if v.number else _truth(v)


def _truth(v: Val) -> Formula:
    """What holds when the expression is true (as a boolean)."""
    if v.string is not None or v.number:
        return ANY
    return v.cond


def _compare(a: Val, b: Val, equal: bool) -> Formula:
    for x, y in ((a, b), (b, a)):
        if not x.path or not (y.string is not None or y.number):
            continue
        # a node-set compared with a string or number: true only for some node in it
        if equal and x.attr is not None and y.string is not None:
            options = equal_to(x.attr, [y.string])
            if options is not ANY:
                return both(_attr_free(x), options)
        return _attr_free(x)
    return ANY


def _attr_free(v: Val) -> Formula:
    """The conditions of a path without the presence term of its final attribute (which an
    equality with a value implies anyway)."""
    return v.cond
