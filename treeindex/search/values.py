"""The values of the node-table engine (search/engine.py): per-row arrays, node-sets, and
what turns strings into numbers and compares them exactly as lxml (XPath 1.0, libxml2) and
elementpath (XPath 2.0) do."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


class Unsupported(Exception):
    """The engine does not evaluate this query (it runs on lxml or elementpath)."""


class Dynamic(Exception):
    """This block needs lxml or elementpath (a value the engine does not judge itself)."""


_LIBXML2_NUMBER = re.compile(
    r"[ \t\r\n]*(-?(?:\d+(?:\.\d*)?|\.\d+))(?:[eE]([+-]?)(\d*))?[ \t\r\n]*\Z")
_XSD_DOUBLE = re.compile(r"[ \t\r\n]*[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?[ \t\r\n]*\Z")
_SPECIAL = {"INF": math.inf, "-INF": -math.inf, "NaN": math.nan}


def number1(v: str) -> float:
    """XPath 1.0 number() of a string, as libxml2 computes it (an exponent is read, even
    without digits; no plus sign, no INF)."""
    m = _LIBXML2_NUMBER.match(v)
    if not m:
        return math.nan
    mantissa, sign, exponent = m.groups()
    return float(mantissa + (f"e{sign}{exponent}" if exponent else ""))


def number2(v: str) -> float:
    """XPath 2.0 number() as elementpath computes it (an xs:double cast; NaN where it
    fails); Dynamic where this engine is not sure to agree."""
    if _XSD_DOUBLE.match(v):
        return float(v)
    t = v.strip(" \t\r\n")
    if t in _SPECIAL:
        return _SPECIAL[t]
    if not v.isascii() or t.lower().lstrip("+-") in ("inf", "infinity", "nan"):
        raise Dynamic(v)
    return math.nan


UNSURE = object()

# --- values -----------------------------------------------------------------------------
# Every value is per row: a row is a context element (or, inside `some`/`every`, a pair of a
# context element and a variable's node). Scalars are numpy arrays over the rows.


@dataclass
class Space:
    ctx: np.ndarray  # element per row
    vars: dict[str, np.ndarray]  # variable -> element per row

    @property
    def n(self) -> int:
        return len(self.ctx)


@dataclass
class Str:
    vocab: list[str]  # vocab[0] == '' (also for absent)
    ids: np.ndarray  # per row
    unique: bool = True  # no value twice in vocab (but '' may be at 0 and elsewhere)
    joined: str | None = None  # "\0".join(vocab), where it was kept (a kept superblock)


@dataclass
class Num:
    a: np.ndarray


@dataclass
class Bool:
    a: np.ndarray


@dataclass
class Const:
    values: tuple  # str or float values (a literal, or a sequence of them)


@dataclass
class Nodes:
    """A node-set per row: the elements `steps` reach from the anchor, then optionally one
    of their attributes, or a function of each of them (a path ending in a function)."""

    anchor: str  # 'ctx', 'var', 'abs'
    var: str | None
    steps: tuple  # Step, element axes only
    attr: str | None = None
    fn: Any = None  # an expression evaluated with each final element as context
    abs_mask: np.ndarray | None = None  # anchor 'abs': the elements of the absolute path


FLIP = {"=": "=", "!=": "!=", "<": ">", ">": "<", "<=": ">=", ">=": "<="}


def compare(op: str, x: Any, y: Any) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        if op == "=":
            return np.asarray(x == y)
        if op == "!=":
            return np.asarray((x != y) & ~np.isnan(x) & ~np.isnan(y))
        if op == "<":
            return np.asarray(x < y)
        if op == "<=":
            return np.asarray(x <= y)
        if op == ">":
            return np.asarray(x > y)
        return np.asarray(x >= y)


def compare_strings(op: str, x: str, y: str) -> bool:
    return {"<": x < y, "<=": x <= y, ">": x > y, ">=": x >= y, "=": x == y,
            "!=": x != y}[op]


def any_pair(op: str, ra: np.ndarray, xa: np.ndarray, rb: np.ndarray, xb: np.ndarray,
              n: int) -> np.ndarray:
    """Per row: some value of side a and some value of side b compare true."""
    out = np.zeros(n, dtype=bool)
    if op in ("<", "<=", ">", ">="):
        lo_a = np.full(n, np.inf)
        hi_a = np.full(n, -np.inf)
        lo_b = np.full(n, np.inf)
        hi_b = np.full(n, -np.inf)
        ka, kb = ~np.isnan(xa), ~np.isnan(xb)
        np.minimum.at(lo_a, ra[ka], xa[ka])
        np.maximum.at(hi_a, ra[ka], xa[ka])
        np.minimum.at(lo_b, rb[kb], xb[kb])
        np.maximum.at(hi_b, rb[kb], xb[kb])
        has = (np.bincount(ra[ka], minlength=n) > 0) & (np.bincount(rb[kb], minlength=n) > 0)
        if op == "<":
            return has & (lo_a < hi_b)
        if op == "<=":
            return has & (lo_a <= hi_b)
        if op == ">":
            return has & (hi_a > lo_b)
        return has & (hi_a >= lo_b)
    if op == "=":
        ka, kb = ~np.isnan(xa), ~np.isnan(xb)
        ra, xa, rb, xb = ra[ka], xa[ka], rb[kb], xb[kb]
        if not len(ra) or not len(rb):
            return out
        _, inv = np.unique(np.concatenate([xa, xb]), return_inverse=True)
        k = int(inv.max()) + 1
        keys_a = ra.astype(np.int64) * k + inv[:len(xa)]
        keys_b = rb.astype(np.int64) * k + inv[len(xa):]
        out[ra[np.isin(keys_a, keys_b)]] = True
        return out
    # '!=': some pair of unequal (non-NaN) values
    ka, kb = ~np.isnan(xa), ~np.isnan(xb)
    has_a = np.bincount(ra[ka], minlength=n) > 0
    has_b = np.bincount(rb[kb], minlength=n) > 0
    lo = np.full(n, np.inf)
    hi = np.full(n, -np.inf)
    for r, x in ((ra[ka], xa[ka]), (rb[kb], xb[kb])):
        np.minimum.at(lo, r, x)
        np.maximum.at(hi, r, x)
    return has_a & has_b & (lo != hi)


def map_str(s: Str, f: Callable[[str], str], done: str | None = None) -> Str:
    """f of every value (the same ids: values may now repeat). `done`: f of the joined
    values, where a kept superblock has it already."""
    if done is not None:
        return Str(Joined(done, len(s.vocab)), s.ids, unique=False,  # type: ignore[arg-type]
                   joined=done)
    if f is str.lower or f is str.upper:
        # one call on the values joined by NUL (which XML values cannot hold, and neither
        # case mapping makes): the same values, 5 x faster on a superblock's words (the
        # final-sigma rule stops at NUL as at the end of a value); split only if read
        joined = f(s.joined if s.joined is not None else "\0".join(s.vocab))
        return Str(Joined(joined, len(s.vocab)), s.ids, unique=False,  # type: ignore[arg-type]
                   joined=joined)
    return Str([f(x) for x in s.vocab], s.ids, unique=False)


class Joined(Sequence):
    """Values held as one NUL-joined string, split into a list only when read one by one
    (`positions` and len() need only the string)."""

    def __init__(self, joined: str, n: int) -> None:
        self.joined = joined
        self.n = n
        self._values: list[str] | None = None

    def values(self) -> list[str]:
        if self._values is None:
            self._values = self.joined.split("\0")
        return self._values

    def __len__(self) -> int:
        return self.n

    def __iter__(self) -> Iterator[str]:
        return iter(self.values())

    def __getitem__(self, k: Any) -> Any:
        return self.values()[k]

    def index(self, *args: Any) -> int:
        return self.values().index(*args)


def positions(vocab: list[str], c: str, joined: str | None = None, limit: int = 64
              ) -> list[int] | None:
    """The indexes of the values equal to c, found in the values joined by NUL (`joined`,
    where known; None: more than `limit` of them, then compare one by one)."""
    inner = joined if joined is not None else "\0".join(vocab)
    joined = "\0" + inner + "\0"
    needle = "\0" + c + "\0"
    out: list[int] = []
    at = joined.find(needle)
    while at >= 0:
        if len(out) == limit:
            return None
        out.append(joined.count("\0", 0, at))
        at = joined.find(needle, at + len(c) + 1)
    return out


# patterns that read the same in XPath and Python but for '.' and '$' (translated below as
# elementpath does): no backslash, classes without subtraction, counted repeats only
_SIMPLE_REGEX = re.compile(r"(?:[^\\\[\]{}]|\[\^?[^\\\[\]]+\]|\{\d+(?:,\d*)?\})*\Z")


def simple_regex(pattern: str, flags: str) -> str | None:
    """The Python form of a simple XPath pattern (None: leave it to elementpath)."""
    if "m" in flags or "x" in flags or not _SIMPLE_REGEX.match(pattern):
        return None
    out = []
    in_class = False
    for ch in pattern:
        if ch == "[":
            in_class = True
        elif ch == "]":
            in_class = False
        elif not in_class and ch == "." and "s" not in flags:
            ch = r"[^\r\n]"
        elif not in_class and ch == "$":
            ch = r"$(?!\n\Z)"
        out.append(ch)
    return "".join(out)
