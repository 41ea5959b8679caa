"""The node-table engine's functions (search/engine.py): XPath 1.0's and the XPath 2.0
ones Dact and PaQu users write (`matches`, `ends-with`, `lower-case`, `exists`, ...),
`count()` of a path, and `some`/`every ... satisfies`; string functions run once per
distinct value, not once per node.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import numpy as np

from .analysis import as_predicate, has_positions
from .part import EnginePart
from .values import (
    Bool,
    Const,
    Nodes,
    Num,
    Space,
    Str,
    Unsupported,
    map_str,
    simple_regex,
)
from .xast import Call, Literal, Quantified


class Functions(EnginePart):
    """Engine's function calls and quantified expressions (a part of `engine.Engine`)."""

    def _call(self, e: Call, space: Space, env: tuple | None) -> Any:
        name, args = e.name, e.args
        n = len(args)
        if name in ("position", "last") and n == 0:
            if env is None:
                raise Unsupported(f"{name}() here")
            return Num(env[0] if name == "position" else env[1])
        if name == "true" and n == 0:
            return Bool(np.ones(space.n, dtype=bool))
        if name == "false" and n == 0:
            return Bool(np.zeros(space.n, dtype=bool))
        if name in ("not", "boolean") and n == 1:
            v = self._bool(self._eval(args[0], space, env), space)
            return Bool(~v if name == "not" else v)
        if name in ("exists", "empty") and n == 1:
            v = self._eval(args[0], space, env)
            if not isinstance(v, Nodes):
                raise Unsupported(f"{name}() of other than a path")
            has = self._bool(v, space)
            return Bool(has if name == "exists" else ~has)
        if name == "count" and n == 1:
            v = self._eval(args[0], space, env)
            if not isinstance(v, Nodes) or v.fn is not None:
                raise Unsupported("count() of other than a path")
            return Num(self._count(v, space))
        if name == "number" and n <= 1:
            if n == 0:
                raise Unsupported("number() of an element")
            return Num(self._num(self._eval(args[0], space, env), space))
        if name in ("floor", "ceiling", "round") and n == 1:
            x = self._num(self._eval(args[0], space, env), space)
            if name == "floor":
                return Num(np.floor(x))
            if name == "ceiling":
                return Num(np.ceil(x))
            if self.xpath2:
                raise Unsupported("round() in XPath 2.0")
            return Num(np.floor(x + 0.5))
        if name in ("string", "normalize-space", "lower-case", "upper-case") and n == 1:
            s = self._str(self._eval(args[0], space, env), space)
            f: Callable[[str], str] = {
                "string": lambda x: x,
                "normalize-space": lambda x: " ".join(x.split()) if x.isascii() else " ".join(
                    t for t in re.split(r"[ \t\r\n]+", x) if t),
                "lower-case": str.lower, "upper-case": str.upper}[name]
            return map_str(s, f, self.b.lowered(s.joined) if f is str.lower else None)
        if name == "string-length" and n == 1:
            s = self._str(self._eval(args[0], space, env), space)
            return Num(_lengths(s)[s.ids])
        if name in ("contains", "starts-with", "ends-with") and n == 2:
            s = self._str(self._eval(args[0], space, env), space)
            c = self._eval(args[1], space, env)
            if not (isinstance(c, Const) and len(c.values) == 1
                    and isinstance(c.values[0], str)):
                raise Unsupported(f"{name}() with other than a string literal")
            lit = c.values[0]
            g = {"contains": lambda x: lit in x, "starts-with": lambda x: x.startswith(lit),
                 "ends-with": lambda x: x.endswith(lit)}[name]
            return Bool(np.array([g(x) for x in s.vocab], dtype=bool)[s.ids])
        if name == "substring" and n in (2, 3):
            s = self._str(self._eval(args[0], space, env), space)
            start = self._num(self._eval(args[1], space, env), space)
            length = self._num(self._eval(args[2], space, env), space) if n == 3 else None
            return _substrings(s, start, length, self.xpath2)
        if name in ("substring-before", "substring-after") and n == 2:
            s = self._str(self._eval(args[0], space, env), space)
            lit = self._literal(args[1], name)
            if name == "substring-before":
                return map_str(s, lambda x: x[:x.find(lit)] if lit in x else "")
            return map_str(s, lambda x: x[x.find(lit) + len(lit):] if lit in x else "")
        if name == "translate" and n == 3:
            s = self._str(self._eval(args[0], space, env), space)
            table = _translation(self._literal(args[1], name), self._literal(args[2], name))
            return map_str(s, lambda x: x.translate(table))
        if name == "matches" and n in (2, 3):
            s = self._str(self._eval(args[0], space, env), space)
            pattern = self._literal(args[1], name)
            flags = self._literal(args[2], name) if n == 3 else ""
            rx = self._regex(pattern, flags)
            return Bool(np.array([rx.search(x) is not None for x in s.vocab],
                                 dtype=bool)[s.ids])
        raise Unsupported(f"{name}() with {n} arguments")

    def _literal(self, e: object, name: str) -> str:
        if not isinstance(e, Literal):
            raise Unsupported(f"{name}() with other than a string literal")
        return e.value

    def _regex(self, pattern: str, flags: str) -> re.Pattern[str]:
        """The pattern as elementpath compiles it for matches() (XPath 2.0 regular
        expressions, flags s, m, i, x); an invalid one is left to elementpath's message."""
        key = (pattern, flags)
        rx = self.regexes.get(key)
        if rx is None:
            f = 0
            for c in flags:
                if c not in "smix":
                    raise Unsupported("a regular expression flag")
                f |= getattr(re, c.upper())
            simple = simple_regex(pattern, flags)
            try:
                if simple is not None:
                    rx = re.compile(simple, f)
                else:  # elementpath's translation (its import costs about 0.2 s)
                    from elementpath.regex import RegexError, translate_pattern

                    try:
                        rx = re.compile(translate_pattern(pattern, f, "1.0"), f)
                    except RegexError:
                        raise Unsupported("an invalid regular expression") from None
            except (re.error, OverflowError):
                raise Unsupported("an invalid regular expression") from None
            self.regexes[key] = rx
        return rx

    def _count(self, ns: Nodes, space: Space) -> np.ndarray:
        b = self.b
        if ns.anchor != "abs" and len(ns.steps) == 1 and ns.steps[0].axis in (
                "child", "descendant", "descendant-or-self", "self") and ns.attr is None \
                and not (ns.steps[0].axis != "child" and has_positions(ns.steps[0])):
            step = ns.steps[0]
            m = self._step_mask(step)
            if step.axis == "child":
                p = b.parent[m]
                c = np.bincount(p[p >= 0], minlength=b.n)
            elif step.axis == "self":
                c = m.astype(np.int64)
            else:
                cs = np.concatenate(([0], np.cumsum(m, dtype=np.int64)))
                i = b.derived("iota")
                c = cs[i + 1 + b.size] - cs[i + 1]
                if step.axis == "descendant-or-self":
                    c = c + m
            return self._take(c, self._anchor_rows(ns, space)).astype(np.float64)
        if ns.attr is not None and not ns.steps and ns.anchor != "abs":
            ids, _ = b.column(ns.attr)
            return (self._take(ids, self._anchor_rows(ns, space)) != 0).astype(np.float64)
        rows, elems = self._pairs(ns, space)
        if ns.attr is not None:
            ids, _ = b.column(ns.attr)
            rows = rows[ids[elems] != 0]
        return np.bincount(rows, minlength=space.n).astype(np.float64)

    def _quantified(self, e: Quantified, space: Space, env: tuple | None) -> Any:
        rewritten = as_predicate(e)
        if rewritten is not None:  # some $x in P satisfies C($x)  ==  P[C(.)]
            return self._eval(rewritten, space, env)
        (name, source), *rest = e.bindings
        test: object = e.test if not rest else Quantified(e.kind, tuple(rest), e.test)
        ns = self._eval(source, space, env)
        if not isinstance(ns, Nodes) or ns.attr is not None or ns.fn is not None:
            raise Unsupported("some/every over other than nodes")
        rows, elems = self._pairs(ns, space)
        inner = Space(space.ctx[rows], {**{k: v[rows] for k, v in space.vars.items()},
                                        name: elems})
        ok = self._bool(self._eval(test, inner, None), inner)
        if e.kind == "some":
            return Bool(np.bincount(rows[ok], minlength=space.n) > 0)
        return Bool(np.bincount(rows[~ok], minlength=space.n) == 0)




def _translation(source: str, target: str) -> dict[int, int | None]:
    """translate()'s mapping: each character of `source` to the one at its place in
    `target`, or away where `target` is shorter; the first occurrence counts."""
    table: dict[int, int | None] = {}
    for k, c in enumerate(source):
        table.setdefault(ord(c), ord(target[k]) if k < len(target) else None)
    return table


def _lengths(s: Str) -> np.ndarray:
    """The length of each value (in characters, as XPath counts them)."""
    return np.array([len(x) for x in s.vocab], dtype=np.float64)


def _substrings(s: Str, start: np.ndarray, length: np.ndarray | None, xpath2: bool
                ) -> Str:
    """substring() of every row, computed once per value: where start and length are the
    same for every row of a value (constants, or numbers of the value itself, as in
    substring(@lemma, string-length(@lemma) - 3)); otherwise Unsupported (lxml's)."""
    per = []
    for a in [start] + ([length] if length is not None else []):
        f = np.zeros(len(s.vocab))
        f[s.ids] = a
        if not np.array_equal(f[s.ids], a, equal_nan=True):
            raise Unsupported("substring() with positions that differ between nodes "
                              "of one value")
        per.append(f)
    lo, hi = substring_bounds(_lengths(s), per[0], per[1] if length is not None else None,
                              xpath2)
    return Str([x[a:b] for x, a, b in zip(s.vocab, lo.tolist(), hi.tolist())], s.ids,
               unique=False)


def substring_bounds(n: np.ndarray, start: np.ndarray, length: np.ndarray | None,
                     xpath2: bool) -> tuple[np.ndarray, np.ndarray]:
    """XPath's substring() for many values at once: the slice [lo:hi] of each value of
    length n, taking the characters at positions p (1-based) with round(start) <= p <
    round(start) + round(length), '' where either is NaN. Rounded as the engine the node
    table stands in for rounds: libxml2 floor(x + 0.5), elementpath half to even (and its
    substring(s, -INF) is '' where XPath 2.0 says the whole string)."""
    with np.errstate(invalid="ignore"):
        finite = np.isfinite(start)
        first = np.where(finite, np.round(start) if xpath2 else np.floor(start + 0.5), start)
        if length is None:
            end = np.full(len(n), np.inf)
        else:
            rl = np.where(np.isfinite(length),
                          np.round(length) if xpath2 else np.floor(length + 0.5), length)
            end = first + rl
        empty = np.isnan(first) | np.isnan(end) | (end <= 1) | (first > n)
        if xpath2 and length is None:
            empty |= first == -np.inf
        lo = np.where(first <= 1, 1.0, np.ceil(np.where(empty, 1.0, first)))
        hi = np.where(end > n, n, np.ceil(np.where(empty, 1.0, end)) - 1)
        empty |= hi < lo
    lo = np.where(empty, 0, lo - 1).astype(np.int64)
    hi = np.where(empty, 0, hi).astype(np.int64)
    return lo, hi
