"""An XPath parser that gives a syntax tree, for the node-table engine (search/engine.py).

It reads XPath 1.0 and the part of XPath 2.0 that Dact and PaQu users write: sequences in
parentheses, `some`/`every ... satisfies`, value comparisons (`eq`, `ne`, ...), variables
and function calls. Anything else (`for`, `if`, `instance of`, `to`, `intersect`, ...)
raises `NotParsed`, and the query goes to lxml or elementpath as before. Linear time: one
pass over the tokens, and nesting is bounded (`MAX_DEPTH`).
"""

from __future__ import annotations

import re

from ..records import record
from .xpath1 import scan_tokens

MAX_DEPTH = 200


class NotParsed(Exception):
    """This parser does not read the query (it may still be valid XPath)."""


@record
class Literal:
    value: str


@record
class Number:
    value: float
    integer: bool  # written without a decimal point (xs:integer in XPath 2.0)


@record
class Var:
    name: str


@record
class Call:
    name: str
    args: tuple


@record
class Seq:
    items: tuple  # (a, b, ...) ; () is the empty sequence


@record
class Binary:
    op: str
    left: object
    right: object


@record
class Neg:
    operand: object


@record
class Step:
    axis: str  # an XPath axis, or 'fn': `test` is a Call evaluated on each node
    test: object  # a name, '*', 'node()', 'text()', ... (a Call for 'fn')
    preds: tuple = ()


@record
class Path:
    """A location path. `root`: '' (relative), '/' or '//'; `base`: a filter expression the
    steps start from (`$x/node`, `(...)/node`), None for a plain path."""

    root: str
    steps: tuple
    base: object = None


@record
class Filter:
    primary: object
    preds: tuple


@record
class Quantified:
    kind: str  # 'some' or 'every'
    bindings: tuple  # ((name, expr), ...)
    test: object


class _State:
    def __init__(self, toks: list) -> None:
        self.toks = toks
        self.i = 0
        self.depth = 0
        self.functions: set = set()


AXES = frozenset((
    "ancestor ancestor-or-self attribute child descendant descendant-or-self following "
    "following-sibling namespace parent preceding preceding-sibling self").split())
_KIND_TESTS = frozenset(("node", "text", "comment", "processing-instruction", "element",
                         "attribute", "document-node", "item", "empty-sequence",
                         "schema-element", "schema-attribute"))
_TOKEN = re.compile(r"""
    \s*(?:
      (?P<lit>"(?:[^"]|"")*"|'(?:[^']|'')*')
    | (?P<num>(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)
    | (?P<op>//|::|!=|<=|>=|<<|>>|\.\.|:=|[/|+\-=<>()\[\].@,$*?])
    | (?P<name>[A-Za-z_][\w.\-]*(?::(?:[A-Za-z_][\w.\-]*|\*))?)
    | (?P<comment>\(:)
    )""", re.VERBOSE)
_OPERATOR_NAMES = {"and", "or", "mod", "div", "idiv", "eq", "ne", "lt", "le", "gt", "ge",
                   "is", "to", "union", "intersect", "except", "instance", "treat",
                   "castable", "cast"}
_COMPARISONS = ("=", "!=", "<", "<=", ">", ">=", "eq", "ne", "lt", "le", "gt", "ge")


def tokens(text: str) -> list[tuple[str, str]]:
    return scan_tokens(text, _TOKEN, _OPERATOR_NAMES, NotParsed)


def parse(text: str) -> tuple[object, set[str]]:
    """The syntax tree of the query and the functions it calls; NotParsed if this parser
    cannot read it."""
    st = _State(tokens(text))
    p = _Parser(st)
    tree = p.expr()
    if st.i != len(st.toks):
        raise NotParsed(st.toks[st.i][1])
    return tree, st.functions


class _Parser:
    def __init__(self, st: _State) -> None:
        self.st = st

    def peek(self, k: int = 0) -> tuple[str, str]:
        j = self.st.i + k
        return self.st.toks[j] if j < len(self.st.toks) else ("end", "")

    def take(self, value: str | None = None) -> tuple[str, str]:
        tok = self.peek()
        if tok[0] == "end" or (value is not None and tok[1] != value):
            raise NotParsed(tok[1])
        self.st.i += 1
        return tok

    def at(self, *values: str) -> bool:
        kind, text = self.peek()
        return kind in ("op", "opname") and text in values

    def enter(self) -> None:
        self.st.depth += 1
        if self.st.depth > MAX_DEPTH:
            raise NotParsed("nesting")

    def expr(self) -> object:
        self.enter()
        kind, text = self.peek()
        if kind == "name" and text in ("some", "every") and self.peek(1) == ("op", "$"):
            v = self.quantified()
        elif kind == "name" and text in ("for", "let", "if") and self.peek(1)[1] in ("$", "("):
            raise NotParsed(text)
        else:
            v = self.or_expr()
        self.st.depth -= 1
        return v

    def quantified(self) -> object:
        kind = self.take()[1]
        bindings = []
        while True:
            self.take("$")
            name = self.take()[1]
            if self.peek() != ("name", "in"):
                raise NotParsed("in")
            self.take()
            bindings.append((name, self.or_expr()))
            if not self.at(","):
                break
            self.take()
        if self.peek() != ("name", "satisfies"):
            raise NotParsed("satisfies")
        self.take()
        return Quantified(kind, tuple(bindings), self.expr())

    def or_expr(self) -> object:
        v = self.and_expr()
        while self.at("or"):
            self.take()
            v = Binary("or", v, self.and_expr())
        return v

    def and_expr(self) -> object:
        v = self.comparison()
        while self.at("and"):
            self.take()
            v = Binary("and", v, self.comparison())
        return v

    def comparison(self) -> object:
        v = self.additive()
        if self.at(*_COMPARISONS):
            op = self.take()[1]
            v = Binary(op, v, self.additive())
            if self.at(*_COMPARISONS):  # XPath 2.0 does not chain comparisons
                raise NotParsed(op)
        elif self.at("is", "<<", ">>", "to", "instance", "treat", "castable", "cast"):
            raise NotParsed(self.peek()[1])
        return v

    def additive(self) -> object:
        v = self.multiplicative()
        while self.at("+", "-"):
            op = self.take()[1]
            v = Binary(op, v, self.multiplicative())
        return v

    def multiplicative(self) -> object:
        v = self.unary()
        while self.at("*", "div", "mod", "idiv") and self.peek()[0] == "opname":
            op = self.take()[1]
            v = Binary(op, v, self.unary())
        return v

    def unary(self) -> object:
        if self.at("-"):
            self.take()
            self.enter()
            neg = Neg(self.unary())
            self.st.depth -= 1
            return neg
        if self.at("+"):
            raise NotParsed("+")
        v = self.path_expr()
        while self.at("|", "union"):
            self.take()
            v = Binary("|", v, self.path_expr())
        if self.at("intersect", "except"):
            raise NotParsed(self.peek()[1])
        return v

    def path_expr(self) -> object:
        kind, text = self.peek()
        if kind == "name" and text in ("some", "every") and self.peek(1) == ("op", "$"):
            return self.quantified()  # (elementpath takes one as an operand, too)
        primary = kind in ("lit", "num") or (kind == "op" and text in ("(", "$")) or (
            kind == "name" and self.peek(1) == ("op", "(") and text not in _KIND_TESTS)
        if not primary:
            return self.location_path()
        v = self.primary()
        preds = []
        while self.at("["):
            preds.append(self.predicate())
        if preds:
            v = Filter(v, tuple(preds))
        if self.at("/", "//"):
            slash = self.take()[1]
            steps = self.relative_steps(slash == "//")
            return Path("", tuple(steps), v)
        return v

    def primary(self) -> object:
        kind, text = self.take()
        if kind == "lit":
            q = text[0]
            return Literal(text[1:-1].replace(q + q, q))
        if kind == "num":
            if "e" in text or "E" in text:
                raise NotParsed(text)  # xs:double literals: leave them to the engines
            return Number(float(text), "." not in text)
        if text == "$":
            return Var(self.take()[1])
        if text == "(":
            self.enter()
            if self.at(")"):
                self.take()
                self.st.depth -= 1
                return Seq(())
            items = [self.expr()]
            while self.at(","):
                self.take()
                items.append(self.expr())
            self.take(")")
            self.st.depth -= 1
            return items[0] if len(items) == 1 else Seq(tuple(items))
        if kind != "name":
            raise NotParsed(text)
        name = text[3:] if text.startswith("fn:") else text
        if ":" in name:
            raise NotParsed(text)
        self.st.functions.add(name)
        self.take("(")
        self.enter()
        args = []
        if not self.at(")"):
            args.append(self.expr())
            while self.at(","):
                self.take()
                args.append(self.expr())
        self.take(")")
        self.st.depth -= 1
        return Call(name, tuple(args))

    def location_path(self) -> object:
        if self.at("/", "//"):
            slash = self.take()[1]
            kind, text = self.peek()
            starts_step = kind == "name" or (kind == "op" and text in (".", "..", "@", "*"))
            if slash == "/" and not starts_step:
                return Path("/", ())
            return Path(slash, tuple(self.relative_steps(False)))
        return Path("", tuple(self.relative_steps(False)))

    def relative_steps(self, descendant_first: bool) -> list[Step]:
        steps: list[Step] = []
        if descendant_first:
            steps.append(Step("descendant-or-self", "node()"))
        steps.append(self.step())
        while self.at("/", "//"):
            if self.take()[1] == "//":
                steps.append(Step("descendant-or-self", "node()"))
            steps.append(self.step())
        return steps

    def step(self) -> Step:
        if self.at("."):
            self.take()
            if self.at("["):
                raise NotParsed(".[")
            return Step("self", "node()")
        if self.at(".."):
            self.take()
            if self.at("["):
                raise NotParsed("..[")
            return Step("parent", "node()")
        axis = "child"
        if self.at("@"):
            self.take()
            axis = "attribute"
        elif self.peek()[0] == "name" and self.peek(1) == ("op", "::"):
            axis = self.take()[1]
            self.take("::")
            if axis not in AXES:
                raise NotParsed(axis)
        if axis == "child" and self.peek()[0] == "name" and self.peek(1) == ("op", "(") \
                and self.peek()[1] not in _KIND_TESTS:
            return Step("fn", self.primary())  # XPath 2.0: a path that ends in a function
        kind, test = self.take()
        if kind != "name" and not (kind in ("op", "opname") and test == "*"):
            raise NotParsed(test)
        if test in _KIND_TESTS and self.at("("):
            self.take()
            if not self.at(")"):
                raise NotParsed(test)
            self.take(")")
            test = f"{test}()"
        elif self.at("("):
            raise NotParsed(test)
        preds = []
        while self.at("["):
            preds.append(self.predicate())
        return Step(axis, test, tuple(preds))

    def predicate(self) -> object:
        self.take("[")
        v = self.expr()
        self.take("]")
        return v
