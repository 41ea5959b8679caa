"""The node-table engine's conversions and comparisons (search/engine.py): XPath's
boolean, number and string values of a block's rows, and its general (`=`, `<`, ...) and
value (`eq`, `lt`, ...) comparisons, evaluated once per distinct value of a column's
vocabulary and gathered to the elements.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .part import EnginePart
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
    positions,
)
from .xast import Binary


class Comparisons(EnginePart):
    """Engine's conversions and comparisons (a part of `engine.Engine`)."""

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
