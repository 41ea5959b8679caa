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

import math
import re
from collections.abc import Callable
from typing import Any

import numpy as np

from . import xast
from .analysis import all_parts, as_predicate, has_positions, positional, uses_vars
from .block import INVERSE, Block
from .values import (
    FLIP,
    UNSURE,
    Bool,
    Const,
    Dynamic,
    Nodes,
    Num,
    Space,
    Str,
    Unsupported,
    any_pair,
    compare,
    compare_strings,
    map_str,
    number1,
    number2,
    positions,
    simple_regex,
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


class Engine:
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
        self.regexes: dict[tuple[str, str], re.Pattern[str]] = {}
        self.numbers: dict[str, Any] = {}
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

    # --- conversions --------------------------------------------------------------------

    def _bool(self, v: Any, space: Space | None = None) -> np.ndarray:
        if isinstance(v, Bool):
            return v.a
        if isinstance(v, Nodes):
            if v.fn is not None:
                raise Unsupported("the truth of a path ending in a function")
            return self._exists_attr(v, space or self.top, None)
        if isinstance(v, Num):
            return (v.a != 0) & ~np.isnan(v.a)
        if isinstance(v, Str):
            nonempty = np.array([bool(s) for s in v.vocab])
            return nonempty[v.ids]
        if isinstance(v, Const):
            raise Unsupported("a constant's truth")
        raise Unsupported(type(v).__name__)

    def _exists_attr(self, ns: Nodes, space: Space, value_ok: np.ndarray | None
                     ) -> np.ndarray:
        """Per row: an element of the set has the attribute (with a value in `value_ok`,
        a mask over the column's vocabulary)."""
        target = None
        if ns.attr is not None:
            if value_ok is None:
                target = self.b.ids(ns.attr) != 0
            else:
                ok = value_ok.copy()
                ok[0] = False
                target = ok[self.b.ids(ns.attr)]
        return self._exists(ns, space, target)

    def _num(self, v: Any, space: Space) -> np.ndarray:
        if isinstance(v, Num):
            return v.a
        if isinstance(v, Const):
            if len(v.values) != 1:
                raise Unsupported("a sequence as a number")
            x = v.values[0]
            return np.full(space.n, x if isinstance(x, float) else self.number(x))
        if isinstance(v, Bool):
            return v.a.astype(np.float64)
        if isinstance(v, (Str, Nodes)):
            s = self._str(v, space)
            nums, unsure = self._numbers(s.vocab)
            if unsure[s.ids].any():
                raise Dynamic("a value the engines may read differently")
            return nums[s.ids]
        raise Unsupported(type(v).__name__)

    def _str(self, v: Any, space: Space) -> Str:
        if isinstance(v, Str):
            return v
        if isinstance(v, Const):
            if len(v.values) != 1:
                raise Unsupported("a sequence as a string")
            x = v.values[0]
            if not isinstance(x, str):
                raise Unsupported("a number as a string")
            return Str(["", x], np.ones(space.n, dtype=np.int64))
        if isinstance(v, Nodes):
            if v.attr is None:
                raise Unsupported("the string value of an element")
            ids, vocab = self.b.column(v.attr)
            joined = self.b.joined(v.attr)
            if v.anchor != "abs" and not v.steps:
                return Str(vocab, self._take(ids, self._anchor_rows(v, space)), joined=joined)
            rows, elems = self._pairs(v, space)
            present = ids[elems] != 0
            rows, elems = rows[present], elems[present]
            if self.xpath2 and len(rows) and (np.bincount(rows) > 1).any():
                raise Dynamic("more than one item where XPath 2.0 wants one")
            first = np.full(space.n, -1, dtype=np.int64)
            # the first in document order: the smallest element number
            order = np.lexsort((elems, rows))
            r, el = rows[order], elems[order]
            head = np.concatenate(([True], r[1:] != r[:-1])) if len(r) else r.astype(bool)
            first[r[head]] = el[head]
            out = np.where(first >= 0, ids[np.maximum(first, 0)], 0)
            return Str(vocab, out, joined=joined)
        raise Unsupported(f"{type(v).__name__} as a string")

    # --- comparisons --------------------------------------------------------------------

    def _numbers(self, vocab: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """number() of each value ('' and absent: NaN), and which values are unsure (the
        engines may differ on them: Dynamic if one is used)."""
        key = id(vocab)
        hit = self.cache.get(("num", key))
        if hit is not None and hit[0] is vocab:
            return hit[1], hit[2]
        nums = np.full(len(vocab), math.nan)
        unsure = np.zeros(len(vocab), dtype=bool)
        known = self.numbers  # across blocks: begin, end and id repeat everywhere
        for k, x in enumerate(vocab):
            if x:
                v = known.get(x)
                if v is None:
                    try:
                        v = self.number(x)
                    except Dynamic:
                        v = UNSURE
                    if len(known) < 1_000_000:
                        known[x] = v
                if v is UNSURE:
                    unsure[k] = True
                else:
                    nums[k] = v
        self.cache[("num", key)] = (vocab, nums, unsure)
        return nums, unsure

    def _cast_check(self, vocab: list[str], used: np.ndarray, nums: np.ndarray,
                    unsure: np.ndarray) -> None:
        """Dynamic where a value that is used is unsure, or (XPath 2.0: a cast to a number
        fails with an error) not a number."""
        bad = unsure.copy()
        if self.xpath2:
            bad |= np.isnan(nums)
        bad[0] = False
        if (bad & used).any():
            raise Dynamic("a value the engines may read differently")

    def _vocab_test(self, vocab: list[str], op: str, consts: tuple, absent: bool = True,
                    used: str | None = None, unique: bool = True, joined: str | None = None
                    ) -> np.ndarray:
        """For each value of a vocabulary: does `value op c` hold for some constant c?
        `absent`: entry 0 stands for no value (a column), else for the empty string.
        `used`: the column, whose values that comparisons can reach are checked for
        numbers the engines may read differently (None: all values)."""
        out = np.zeros(len(vocab), dtype=bool)
        for c in consts:
            if isinstance(c, float) or (not self.xpath2 and op not in ("=", "!=")):
                nums, unsure = self._numbers(vocab)
                if not absent and self.xpath2 and isinstance(c, float):
                    raise Unsupported("a string compared with a number in XPath 2.0")
                reach = self._used(used) if used is not None else None
                self._cast_check(vocab, np.ones(len(vocab), dtype=bool) if reach is None
                                 else reach, nums, unsure)
                y = c if isinstance(c, float) else self.number(c)
                out |= compare(op, nums, np.float64(y))
            elif op in ("=", "!="):
                if unique and c:  # the one place it can be
                    eq = np.zeros(len(vocab), dtype=bool)
                    try:
                        eq[vocab.index(c, 1 if absent else 0)] = True
                    except ValueError:
                        pass
                else:  # '' stands at 0 and may stand elsewhere; mapped values repeat
                    found = positions(vocab, c, joined) if "\0" not in c else []
                    if found is None:
                        eq = np.array([x == c for x in vocab], dtype=bool)
                    else:
                        eq = np.zeros(len(vocab), dtype=bool)
                        eq[found] = True
                out |= eq if op == "=" else ~eq
            else:
                out |= np.array([compare_strings(op, x, c) for x in vocab])
        if absent:
            out[0] = False
        return out

    def _used(self, name: str) -> np.ndarray | None:
        """The values of a column that comparisons can reach: those on <node> elements,
        unless the query can reach <alpino_ds> (None: all)."""
        if self.ds_reachable:
            return None
        key = ("used", name)
        u = self.cache.get(key)
        if u is None:
            ids, vocab = self.b.column(name)
            u = np.zeros(len(vocab), dtype=bool)
            u[ids[self.b.is_node]] = True
            self.cache[key] = u
        return u

    def _general(self, op: str, a: Any, b: Any, space: Space) -> np.ndarray:
        if isinstance(a, Const) and not isinstance(b, Const):
            a, b, op = b, a, FLIP[op]
        if isinstance(a, Const) and isinstance(b, Const):
            raise Unsupported("a comparison of two constants")
        if isinstance(a, Bool) or isinstance(b, Bool):
            if self.xpath2:
                raise Unsupported("a boolean in an XPath 2.0 comparison")
            x = self._bool(a, space).astype(np.float64)
            y = self._bool(b, space).astype(np.float64) if not isinstance(b, Const) else \
                np.full(space.n, float(bool(b.values[0])))
            return compare(op, x, y)
        if isinstance(a, Nodes) and isinstance(b, Const):
            if a.fn is not None:
                return self._exists(a, space, self._fn_compare(a, op, b))
            if a.attr is None:
                raise Unsupported("the string value of an element")
            if op == "=" and all(isinstance(c, str) for c in b.values):
                # the common case: look the strings up, compare ids (no vocabulary read)
                ids = self.b.ids(a.attr)
                wanted = [k for k in (self.b.value_id(a.attr, c) for c in b.values) if k]
                if not wanted:
                    target = np.zeros(self.b.n, dtype=bool)
                else:  # (a comparison per value: np.isin sorts, 3 x slower for a few)
                    target = ids == wanted[0]
                    for k in wanted[1:]:
                        target |= ids == k
                return self._exists(a, space, target)
            ids, vocab = self.b.column(a.attr)
            return self._exists_attr(a, space, self._vocab_test(vocab, op, b.values,
                                                                used=a.attr))
        if isinstance(b, Const):  # a row value with constants
            if len(b.values) != 1 and not self.xpath2:
                raise Unsupported("a sequence")
            if isinstance(a, Num):
                out = np.zeros(space.n, dtype=bool)
                for c in b.values:
                    if self.xpath2 and not isinstance(c, float):
                        raise Unsupported("a number compared with a string")
                    num = float(c) if isinstance(c, float) else self.number(c)
                    out |= compare(op, a.a, np.float64(num))
                return out
            s = self._str(a, space)
            return self._vocab_test(s.vocab, op, b.values, absent=False,
                                    unique=s.unique, joined=s.joined)[s.ids]
        # two row-dependent sides: pairs where node-sets are involved
        return self._pairwise(op, a, b, space)

    def _fn_compare(self, ns: Nodes, op: str, c: Const) -> np.ndarray:
        """Elements whose function value (a path ending in a function) compares true."""
        v = self._eval(ns.fn, self.top, None)
        if isinstance(v, Num):
            out = np.zeros(self.b.n, dtype=bool)
            for x in c.values:
                if not isinstance(x, float):
                    raise Unsupported("a number compared with a string")
                out |= compare(op, v.a, np.float64(x))
            return out
        if isinstance(v, Str):
            return self._vocab_test(v.vocab, op, c.values, absent=False,
                                    unique=v.unique, joined=v.joined)[v.ids]
        raise Unsupported("this function at the end of a path")

    def _values(self, v: Any, space: Space) -> tuple[np.ndarray, np.ndarray, list[str] | None]:
        """(row per value, the values as vocabulary ids or numbers, vocab) of one side."""
        if isinstance(v, Nodes):
            if v.attr is None or v.fn is not None:
                raise Unsupported("the string value of an element")
            ids, vocab = self.b.column(v.attr)
            if v.anchor != "abs" and not v.steps:
                rows = np.arange(space.n)
                vals = self._take(ids, self._anchor_rows(v, space))
            else:
                rows, elems = self._pairs(v, space)
                vals = ids[elems]
            keep = vals != 0
            return rows[keep], vals[keep], vocab
        if isinstance(v, Num):
            return np.arange(space.n), v.a, None
        if isinstance(v, Str):
            return np.arange(space.n), v.ids, v.vocab
        raise Unsupported(type(v).__name__)

    def _pairwise(self, op: str, a: Any, b: Any, space: Space) -> np.ndarray:
        ra, va, voca = self._values(a, space)
        rb, vb, vocb = self._values(b, space)
        if self.xpath2:
            # elementpath: untyped values compare as numbers with a number, and with each
            # other in <, <=, >, >=; as strings with a string, and with each other in = !=
            both_untyped = isinstance(a, Nodes) and isinstance(b, Nodes)
            numeric = voca is None or vocb is None or (
                both_untyped and op not in ("=", "!="))
        else:
            numeric = voca is None or vocb is None or op not in ("=", "!=")
        if numeric:
            sides: list[np.ndarray] = []
            for v, voc in ((va, voca), (vb, vocb)):
                if voc is None:
                    sides.append(v)
                    continue
                nums, unsure = self._numbers(voc)
                used = np.zeros(len(voc), dtype=bool)
                used[v] = True
                self._cast_check(voc, used, nums, unsure)
                sides.append(nums[v])
            return any_pair(op, ra, sides[0], rb, sides[1], space.n)
        # strings: map both vocabularies onto one
        assert voca is not None and vocb is not None
        if op in ("=", "!="):
            index: dict[str, int] = {}
            ma = np.array([index.setdefault(x, len(index)) for x in voca])
            mb = np.array([index.setdefault(x, len(index)) for x in vocb])
            return any_pair(op, ra, ma[va].astype(np.float64), rb, mb[vb].astype(np.float64),
                             space.n)
        # XPath 2.0 string order: rank the union of the values by code point
        union = sorted(set(voca) | set(vocb))
        rank = {x: k for k, x in enumerate(union)}
        ma = np.array([rank[x] for x in voca], dtype=np.float64)
        mb = np.array([rank[x] for x in vocb], dtype=np.float64)
        return any_pair(op, ra, ma[va], rb, mb[vb], space.n)

    def _value_comparison(self, op: str, e: Binary, space: Space, env: tuple | None
                          ) -> np.ndarray:
        general = {"eq": "=", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}[op]
        a = self._eval(e.left, space, env)
        b = self._eval(e.right, space, env)
        if isinstance(a, Const):
            a, b, general = b, a, FLIP[general]
        if not (isinstance(b, Const) and len(b.values) == 1 and isinstance(b.values[0], str)):
            raise Unsupported("a value comparison with other than a string")
        if not isinstance(a, Nodes) or a.attr is None:
            raise Unsupported("a value comparison of other than an attribute")
        if a.anchor == "abs" or a.steps:
            s = self._str(a, space)  # raises Dynamic where a row has more than one
            ok = self._vocab_test(s.vocab, general, b.values,  # empty: no comparison
                                  unique=s.unique, joined=s.joined)
            return ok[s.ids]
        ids, vocab = self.b.column(a.attr)
        return self._vocab_test(vocab, general, b.values, used=a.attr)[
            self._take(ids, self._anchor_rows(a, space))]

    # --- functions ----------------------------------------------------------------------

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


_REVERSE = {"ancestor", "ancestor-or-self", "preceding", "preceding-sibling", "parent"}


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
