"""The node-table engine: XPath evaluated on the columns of a node block (search/block.py),
every element of the block at once, without parsing XML.

Set at a time, as column stores and the "XPath accelerator" do: a location path is a chain of
masks over the block's elements, each step one array operation (`Block.back`); a predicate
is evaluated once for every element of the block; attribute values are compared on each
column's vocabulary (a few thousand strings) and gathered to the elements, so `matches()`,
`contains()` and friends run once per distinct value, not once per node. Where a value is
needed per context (counts, comparisons of two paths, `some ... satisfies`, the first node of
a path) the path is expanded into (context, node) pairs (`Block.pairs`).

`Engine(...)` raises `Unsupported` for what this engine does not evaluate (the query then
runs on lxml or elementpath, exactly as before); evaluating a block raises `Dynamic` where a
value would need the other engines' own judgement (a number written as 1e3, an XPath 2.0 type
error): that block's sentences then go through lxml/elementpath. Semantics follow the engine the
query would otherwise run on: XPath 1.0 as libxml2 (lxml) evaluates it, or XPath 2.0 as
elementpath does.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import xast
from .analysis import all_parts, has_positions, positional, uses_vars
from .block import INVERSE, Block
from .compare import Comparisons
from .functions import Functions
from .values import (
    Bool,
    Const,
    Dynamic,
    Nodes,
    Num,
    Space,
    Unsupported,
    number1,
    number2,
)
from .xast import Binary, Call, Filter, Literal, Neg, Number, Path, Quantified, Seq, Step, Var

_XPATH1_FUNCTIONS = {"last", "position", "count", "string", "concat", "starts-with",
                     "contains", "string-length", "normalize-space", "boolean", "not",
                     "true", "false", "number", "floor", "ceiling", "round", "substring",
                     "substring-before", "substring-after", "translate"}
_XPATH2_ONLY = {"ends-with", "matches", "lower-case", "upper-case", "exists", "empty"}
_BLOCKED = {"doc", "doc-available", "collection", "uri-collection", "unparsed-text",
            "unparsed-text-lines", "unparsed-text-available", "environment-variable",
            "available-environment-variables", "document"}



class Engine(Comparisons, Functions):
    """A query compiled for the node table."""

    def __init__(self, text: str, xpath2: bool) -> None:
        try:
            self.tree, functions = xast.parse(text)
        except xast.NotParsed as e:
            raise Unsupported(f"not read by the engine's parser ({e})") from None
        blocked = functions & _BLOCKED
        if blocked:
            raise Unsupported(f"calls {sorted(blocked)[0]}()")
        self.xpath2 = xpath2
        self.number = number2 if xpath2 else number1
        allowed = _XPATH1_FUNCTIONS | (_XPATH2_ONLY if xpath2 else set())
        other = functions - allowed
        if other:
            raise Unsupported(f"calls {sorted(other)[0]}()")
        self._check(self.tree)
        self.regexes = {}
        self.numbers = {}
        # can a comparison see an <alpino_ds>'s attributes?
        self.ds_reachable = any(
            isinstance(x, Step) and (x.test == "alpino_ds" or (
                x.test in ("*", "node()") and x.axis not in ("self", "descendant-or-self")))
            for x in all_parts(self.tree))

    # structural checks that need no data: the rest is checked when a probe block runs
    def _check(self, tree: object) -> None:
        if not isinstance(tree, (Path, Binary)) or (isinstance(tree, Binary)
                                                     and tree.op != "|"):
            raise Unsupported("the query is not a location path")

    # --- entry point ----------------------------------------------------------------------

    def select(self, block: Block) -> np.ndarray:
        """The selected elements of the block (a mask); Dynamic, Unsupported as above."""
        self.b = block
        self.cache: dict[Any, Any] = {}
        self.top = Space(block.derived("iota"), {})
        mask = self._top(self.tree)
        if (mask > block.is_node).any():  # (selected, and not a node)
            raise Dynamic("selects other than nodes")  # the other engines' error message
        return mask

    def _top(self, tree: object) -> np.ndarray:
        if isinstance(tree, Binary) and tree.op == "|":
            return self._top(tree.left) | self._top(tree.right)
        if isinstance(tree, Path) and tree.root and tree.base is None:
            return self._absolute(tree)
        raise Unsupported("the query is not an absolute location path")

    # --- paths --------------------------------------------------------------------------

    def _absolute(self, path: Path) -> np.ndarray:
        """Elements an absolute path selects (forward, from the document roots)."""
        key = id(path)
        cached = self.cache.get(key)
        if cached is not None:
            return cached
        steps = list(path.steps)
        if path.root == "//":
            steps.insert(0, Step("descendant-or-self", "node()"))
        if not steps:
            raise Unsupported("the document root")
        self._check_steps(steps)
        cur = self.b.kind == 2
        if steps[0].axis == "descendant-or-self" and steps[0].test == "node()" and \
                len(steps) > 1 and steps[1].axis == "child" and steps[1].test == "node":
            # '//node': every node (each has a parent); positions among its siblings
            cur = self._preds(steps[1], self.b.is_node, "child")
            steps = steps[2:]
            first = False
        else:
            first = True
        for k, step in enumerate(steps):
            cur = self._forward(step, cur, first and k == 0)
        self.cache[key] = cur
        return cur

    def _check_steps(self, steps: list[Step]) -> None:
        for k, step in enumerate(steps):
            if step.axis in ("attribute", "fn", "namespace"):
                raise Unsupported(f"the {step.axis} axis inside a path")
            test = step.test
            if not isinstance(test, str):
                raise Unsupported("a function inside a path")
            if test in ("node", "alpino_ds"):
                continue
            if test in ("*", "node()") and step.axis in (
                    "self", "parent", "ancestor", "ancestor-or-self"):
                continue
            if test == "node()" and step.axis == "descendant-or-self" and not step.preds \
                    and k + 1 < len(steps):
                continue  # '//': the next step names what it selects
            raise Unsupported(f"{step.axis}::{test}")

    def _group(self, step: Step, from_roots: bool) -> str | None:
        """How positions are counted on a step: among a parent's children, one node,
        or in document order from the root."""
        if step.axis == "child":
            return "child"
        if step.axis in ("self", "parent"):
            return "self"
        if from_roots and step.axis in ("descendant", "descendant-or-self"):
            return "sentence"
        return None

    def _forward(self, step: Step, cur: np.ndarray, from_roots: bool) -> np.ndarray:
        group = self._group(step, from_roots)
        if group is None and has_positions(step):
            _, j = self._step_pairs(step, np.flatnonzero(cur))
            out = np.zeros(self.b.n, dtype=bool)
            out[j] = True
            return out
        image = self.b.back(INVERSE[step.axis], cur)
        return self._preds(step, self._test(step, image), group)

    def _step_pairs(self, step: Step, src: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(i, j): j on the step's axis from i, passing its test and predicates, positions
        counted from each i in the axis's direction."""
        i, j = self.b.pairs(step.axis, src)
        keep = self._test(step, np.ones(self.b.n, dtype=bool))[j]
        i, j = i[keep], j[keep]
        reverse = step.axis in _REVERSE
        for pred in step.preds:
            if uses_vars(pred):
                raise Unsupported("a variable inside a path's predicate")
            if not positional(pred):
                keep = self._elem_bool(pred)[j]
                i, j = i[keep], j[keep]
                continue
            order = np.lexsort((-j if reverse else j, i))
            i, j = i[order], j[order]
            starts = np.concatenate(([True], i[1:] != i[:-1])) if len(i) else \
                np.zeros(0, dtype=bool)
            gid = np.cumsum(starts) - 1
            first = np.flatnonzero(starts)
            sizes = np.diff(np.concatenate((first, [len(i)])))
            pos = (np.arange(len(i)) - first[gid] + 1).astype(np.float64)
            last = sizes[gid].astype(np.float64)
            v = self._eval(pred, Space(j, {}), (pos, last))
            if isinstance(v, Const) and len(v.values) == 1 and isinstance(v.values[0], float):
                keep = pos == v.values[0]
            elif isinstance(v, Num):
                keep = v.a == pos
            else:
                keep = self._bool(v, Space(j, {}))
            i, j = i[keep], j[keep]
        return i, j

    def _test(self, step: Step, m: np.ndarray) -> np.ndarray:
        t = step.test
        if t == "node":
            return m & self.b.is_node
        if t == "alpino_ds":
            return m & (self.b.kind == 0)
        if t == "*":
            return m & (self.b.kind != 2)
        if t == "node()":
            return m
        raise Unsupported(f"the node test {t}")

    def _step_mask(self, step: Step) -> np.ndarray:
        """The candidates of a relative step: its test and predicates, every element of the
        block a candidate (positions counted per context, where the axis allows)."""
        key = id(step)
        m = self.cache.get(key)
        if m is None:
            m = self.cache[key] = self._preds(
                step, self._test(step, np.ones(self.b.n, dtype=bool)),
                self._group(step, False))
        return m

    def _preds(self, step: Step, cur: np.ndarray, group: str | None) -> np.ndarray:
        """Apply a step's predicates in order; `group` says how positions are counted
        (None: positions are not supported on this axis)."""
        for pred in step.preds:
            if uses_vars(pred):
                raise Unsupported("a variable inside a path's predicate")
            if not positional(pred):
                cur = cur & self._elem_bool(pred)
                continue
            if group is None:
                raise Unsupported(f"positions on the {step.axis} axis")
            pos, last = self._positions(cur, group)
            v = self._eval(pred, self.top, (pos, last))
            if isinstance(v, Const) and len(v.values) == 1 and isinstance(v.values[0], float):
                cur = cur & (pos == v.values[0])
            elif isinstance(v, Num):
                cur = cur & (v.a == pos)
            else:
                cur = cur & self._bool(v)
        return cur

    def _positions(self, cur: np.ndarray, group: str) -> tuple[np.ndarray, np.ndarray]:
        b = self.b
        n = b.n
        pos = np.zeros(n, dtype=np.float64)
        last = np.zeros(n, dtype=np.float64)
        idx = np.flatnonzero(cur)
        if group == "self":
            pos[idx] = 1
            last[idx] = 1
            return pos, last
        if group == "child":
            key = b.derived("sib_key")[idx]
        elif group == "root":
            key = np.zeros(len(idx), dtype=np.int64)
        else:
            key = b.derived("sentence_of")[idx]
        order = np.argsort(key, kind="stable")
        sk = key[order]
        starts = np.concatenate(([True], sk[1:] != sk[:-1])) if len(sk) else sk.astype(bool)
        gid = np.cumsum(starts) - 1
        first = np.flatnonzero(starts)
        sizes = np.diff(np.concatenate((first, [len(sk)])))
        rank = np.arange(len(sk)) - first[gid] + 1
        pos[idx[order]] = rank
        last[idx[order]] = sizes[gid]
        return pos, last

    def _elem_bool(self, expr: object) -> np.ndarray:
        """The truth of an expression for every element as context (cached per block)."""
        key = id(expr)
        v = self.cache.get(key)
        if v is None:
            v = self.cache[key] = self._bool(self._eval(expr, self.top, None))
        return v

    def _exists(self, ns: Nodes, space: Space, target: np.ndarray | None = None
                ) -> np.ndarray:
        """Per row: does the node-set hold an element of `target` (None: any)?"""
        b = self.b
        if ns.anchor == "abs":
            assert ns.abs_mask is not None
            m = ns.abs_mask if target is None else ns.abs_mask & target
            so = b.derived("sentence_of")
            has = np.zeros(b.sentences, dtype=bool)
            has[so[m]] = True
            return has[self._take(so, self._anchor_rows(ns, space))]
        m = np.ones(b.n, dtype=bool) if target is None else target
        for step in reversed(ns.steps):
            if self._group(step, False) is None and has_positions(step):
                i, j = self._step_pairs(step, b.derived("iota"))
                back = np.zeros(b.n, dtype=bool)
                back[i[m[j]]] = True
                m = back
            else:
                m = b.back(step.axis, self._step_mask(step) & m)
        return self._take(m, self._anchor_rows(ns, space))

    def _take(self, a: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """a[rows]; a copy of `a` when the rows are every element in order (the top space:
        indexing by 0..n-1 costs a millisecond on a superblock)."""
        return a.copy() if rows is self.b.derived("iota") else a[rows]

    def _anchor_rows(self, ns: Nodes, space: Space) -> np.ndarray:
        if ns.anchor in ("ctx", "abs"):
            return space.ctx
        assert ns.var is not None
        return space.vars[ns.var]

    def _pairs(self, ns: Nodes, space: Space) -> tuple[np.ndarray, np.ndarray]:
        """(row, element) for every element of the node-set of every row (unique)."""
        b = self.b
        if ns.anchor == "abs":
            assert ns.abs_mask is not None
            so = b.derived("sentence_of")
            idx = np.flatnonzero(ns.abs_mask)
            per = np.bincount(so[idx], minlength=b.sentences)
            starts = np.concatenate(([0], np.cumsum(per)))
            rs = so[space.ctx]  # (the same sentence for a variable's node)
            counts = per[rs]
            rows = np.repeat(np.arange(space.n), counts)
            offs = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
            return rows, idx[np.repeat(starts[rs], counts) + offs]
        anchor = self._anchor_rows(ns, space)
        rows = np.arange(space.n)
        elems = anchor
        for k, step in enumerate(ns.steps):
            ok = np.zeros(b.n, dtype=bool)
            ok[np.unique(elems)] = True
            if self._group(step, False) is None and has_positions(step):
                i, j = self._step_pairs(step, np.flatnonzero(ok))
            else:
                i, j = b.pairs(step.axis, np.flatnonzero(ok))
                # candidates of this step, predicates on the whole block (positions: per
                # parent)
                keep = self._step_mask(step)[j]
                i, j = i[keep], j[keep]
            # join: rows whose current element is i
            order = np.argsort(i, kind="stable")
            i, j = i[order], j[order]
            lo = np.searchsorted(i, elems, "left")
            hi = np.searchsorted(i, elems, "right")
            counts = hi - lo
            rows = np.repeat(rows, counts)
            offs = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
            elems = j[np.repeat(lo, counts) + offs]
            if len(ns.steps) > 1 and k < len(ns.steps) - 1:
                key = np.unique(rows * b.n + elems)
                rows, elems = key // b.n, key % b.n
        if len(ns.steps) > 1:
            key = np.unique(rows * b.n + elems)
            rows, elems = key // b.n, key % b.n
        return rows, elems

    # --- expressions --------------------------------------------------------------------

    def _eval(self, e: object, space: Space, env: tuple | None) -> Any:
        if isinstance(e, Literal):
            return Const((e.value,))
        if isinstance(e, Number):
            return Const((e.value,))
        if isinstance(e, Seq):
            values: list = []
            for item in e.items:
                if not isinstance(item, (Literal, Number)):
                    raise Unsupported("a sequence of other than literals")
                values.append(item.value)
            if not values:
                raise Unsupported("the empty sequence")
            if not self.xpath2:
                raise Unsupported("a sequence in XPath 1.0")
            return Const(tuple(values))
        if isinstance(e, (Path, Var, Filter)):
            return self._nodes(e, space, env)
        if isinstance(e, Binary):
            return self._binary(e, space, env)
        if isinstance(e, Neg):
            return Num(-self._num(self._eval(e.operand, space, env), space))
        if isinstance(e, Call):
            return self._call(e, space, env)
        if isinstance(e, Quantified):
            return self._quantified(e, space, env)
        raise Unsupported(type(e).__name__)

    def _nodes(self, e: object, space: Space, env: tuple | None) -> Nodes:
        if isinstance(e, Var):
            if e.name not in space.vars:
                raise Unsupported(f"${e.name}")
            return Nodes("var", e.name, ())
        if isinstance(e, Filter):
            raise Unsupported("a filter expression")
        assert isinstance(e, Path)
        steps = list(e.steps)
        anchor, var = "ctx", None
        abs_mask = None
        if e.base is not None:
            if not isinstance(e.base, Var) or e.base.name not in space.vars:
                raise Unsupported("a path from an expression")
            anchor, var = "var", e.base.name
        elif e.root:
            anchor = "abs"
            attr_step = steps[-1] if steps and steps[-1].axis == "attribute" else None
            if attr_step is not None:
                steps = steps[:-1]
            fn_step = steps[-1] if steps and steps[-1].axis == "fn" else None
            if fn_step is not None:
                raise Unsupported("an absolute path ending in a function")
            abs_mask = self._absolute(Path(e.root, tuple(steps)))
            if attr_step is not None:
                self._check_attr(attr_step)
            return Nodes("abs", None, (), attr_step.test if attr_step else None,
                         abs_mask=abs_mask)
        attr = None
        fn = None
        if steps and steps[-1].axis == "attribute":
            self._check_attr(steps[-1])
            attr = steps.pop().test
        elif steps and steps[-1].axis == "fn":
            fn = steps.pop().test
            if uses_vars(fn):
                raise Unsupported("a variable in a path's function")
        self._check_steps(steps)
        # self::node() steps ('.') need no work
        steps = [s for s in steps if not (s.axis == "self" and s.test == "node()"
                                          and not s.preds)]
        return Nodes(anchor, var, tuple(steps), attr, fn)

    def _check_attr(self, step: Step) -> None:
        t = step.test
        if step.preds or not isinstance(t, str) or t in ("*", "node()") or ":" in t or \
                t.endswith("()"):
            raise Unsupported("this attribute test")

    def _binary(self, e: Binary, space: Space, env: tuple | None) -> Any:
        op = e.op
        if op in ("and", "or"):
            a = self._bool(self._eval(e.left, space, env), space)
            if op == "and":
                if not a.any():
                    self._eval(e.right, space, env)  # still checked: Unsupported is static
                    return Bool(a)
                return Bool(a & self._bool(self._eval(e.right, space, env), space))
            return Bool(a | self._bool(self._eval(e.right, space, env), space))
        if op in ("+", "-", "*", "div", "mod"):
            x = self._num(self._eval(e.left, space, env), space)
            y = self._num(self._eval(e.right, space, env), space)
            with np.errstate(all="ignore"):
                if op == "+":
                    return Num(x + y)
                if op == "-":
                    return Num(x - y)
                if op == "*":
                    return Num(x * y)
                if op == "div":
                    return Num(np.divide(x, y))
                return Num(np.fmod(x, y))
        if op == "|":
            raise Unsupported("a union inside a predicate")
        if op in ("=", "!=", "<", "<=", ">", ">="):
            return Bool(self._general(op, self._eval(e.left, space, env),
                                      self._eval(e.right, space, env), space))
        if op in ("eq", "ne", "lt", "le", "gt", "ge"):
            return Bool(self._value_comparison(op, e, space, env))
        raise Unsupported(op)


_REVERSE = {"ancestor", "ancestor-or-self", "preceding", "preceding-sibling", "parent"}
