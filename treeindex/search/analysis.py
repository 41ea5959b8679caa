"""Static analysis of a syntax tree (search/xast.py) for the node-table engine: which
variables a part uses, whether a predicate depends on positions, and the rewrite of
`some`/`every` into predicates."""

from __future__ import annotations

from collections.abc import Iterator

from .xast import Binary, Call, Filter, Literal, Neg, Number, Path, Quantified, Seq, Step, Var

_SELF = Step("self", "node()")
_REWRITES: dict[int, tuple[object, object]] = {}


def as_predicate(e: Quantified) -> object | None:
    """`some $x in P satisfies C` as `boolean(P[boolean(C')])` and `every ...` as
    `not(P[not(C')])`, where C' is C with `$x` read as `.`: when P is a relative path of
    elements and C looks only at $x (no other variable, no path from the context, no
    position). Evaluated on masks like any path, instead of one row per (context, $x) pair.
    """
    hit = _REWRITES.get(id(e))
    if hit is not None and hit[0] is e:
        return hit[1]
    out = None
    if len(e.bindings) == 1:
        name, source = e.bindings[0]
        test = substitute(e.test, name)
        if isinstance(source, Path) and source.root == "" and source.base is None and \
                source.steps and source.steps[-1].axis not in ("attribute", "fn") and \
                test is not None:
            last = source.steps[-1]
            cond = Call("boolean", (test,)) if e.kind == "some" else Call("not", (test,))
            path = Path("", source.steps[:-1] + (
                Step(last.axis, last.test, last.preds + (cond,)),))
            out = Call("boolean", (path,)) if e.kind == "some" else Call("not", (path,))
    _REWRITES[id(e)] = (e, out)
    return out


def substitute(e: object, name: str) -> object | None:
    """`e` with `$name` as `.`, or None if `e` depends on anything but `$name`."""
    if isinstance(e, Var):
        return Path("", (_SELF,)) if e.name == name else None
    if isinstance(e, (Literal, Number)):
        return e
    if isinstance(e, Path):
        if e.root:
            return e  # an absolute path: the same from anywhere in the sentence
        if isinstance(e.base, Var) and e.base.name == name and \
                not any(uses_vars(st) for st in e.steps):
            return Path("", (_SELF,) + e.steps)
        return None  # a path from the context (or from another expression)
    if isinstance(e, Binary):
        left, right = substitute(e.left, name), substitute(e.right, name)
        return None if left is None or right is None else Binary(e.op, left, right)
    if isinstance(e, Neg):
        inner = substitute(e.operand, name)
        return None if inner is None else Neg(inner)
    if isinstance(e, Call) and e.name not in ("position", "last"):
        args = [substitute(a, name) for a in e.args]
        return None if any(a is None for a in args) else Call(e.name, tuple(args))
    if isinstance(e, Seq):
        items = [substitute(a, name) for a in e.items]
        return None if any(a is None for a in items) else Seq(tuple(items))
    return None


def has_positions(step: Step) -> bool:
    return any(positional(p) for p in step.preds)


def free_vars(e: object, bound: frozenset = frozenset()) -> set[str]:
    """The variables an expression uses that it does not bind itself."""
    if isinstance(e, Var):
        return set() if e.name in bound else {e.name}
    if isinstance(e, Quantified):
        out: set[str] = set()
        inner = set(bound)
        for name, src in e.bindings:
            out |= free_vars(src, frozenset(inner))
            inner.add(name)
        return out | free_vars(e.test, frozenset(inner))
    out = set()
    for part in parts(e):
        out |= free_vars(part, bound)
    return out


def parts(e: object) -> list:
    if isinstance(e, Binary):
        return [e.left, e.right]
    if isinstance(e, Neg):
        return [e.operand]
    if isinstance(e, Call):
        return list(e.args)
    if isinstance(e, Seq):
        return list(e.items)
    if isinstance(e, Path):
        return ([e.base] if e.base is not None else []) + list(e.steps)
    if isinstance(e, Step):
        return ([e.test] if e.axis == "fn" else []) + list(e.preds)
    if isinstance(e, Filter):
        return [e.primary, *e.preds]
    return []


def all_parts(e: object) -> list:
    out = [e]
    for part in parts(e):
        out += all_parts(part)
    if isinstance(e, Quantified):
        for _, src in e.bindings:
            out += all_parts(src)
        out += all_parts(e.test)
    return out


_STATIC: dict[tuple[str, int], tuple[object, bool]] = {}


def uses_vars(e: object) -> bool:
    hit = _STATIC.get(("vars", id(e)))
    if hit is None or hit[0] is not e:
        hit = _STATIC[("vars", id(e))] = (e, bool(free_vars(e)))
    return hit[1]


def _shallow(e: object) -> Iterator[object]:
    """The parts of an expression evaluated in its own context (not in nested steps)."""
    yield e
    if isinstance(e, Binary):
        yield from _shallow(e.left)
        yield from _shallow(e.right)
    elif isinstance(e, Neg):
        yield from _shallow(e.operand)
    elif isinstance(e, Call):
        for a in e.args:
            yield from _shallow(a)
    elif isinstance(e, Quantified):
        for _, src in e.bindings:
            yield from _shallow(src)
        yield from _shallow(e.test)


def positional(pred: object) -> bool:
    """Does the predicate depend on the position (a number, or position()/last())?"""
    hit = _STATIC.get(("pos", id(pred)))
    if hit is None or hit[0] is not pred:
        hit = _STATIC[("pos", id(pred))] = (pred, _positional_now(pred))
    return hit[1]


def _positional_now(pred: object) -> bool:
    if isinstance(pred, (Number, Neg)) or (isinstance(pred, Binary) and pred.op in (
            "+", "-", "*", "div", "mod")):
        return True
    if isinstance(pred, Call) and pred.name in ("count", "number", "floor", "ceiling",
                                                "round", "string-length", "position",
                                                "last"):
        return True
    return any(isinstance(x, Call) and x.name in ("position", "last") for x in _shallow(pred))
