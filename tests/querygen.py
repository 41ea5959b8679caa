"""Random XPath queries built from the real attribute names, values and structures of the
bundled sentences, and the reference answer for each: lxml's (XPath 1.0) or elementpath's
(XPath 2.0) on every sentence, the way treeindex chooses between them. Used by
tests/test_search_engine.py (a seeded few hundred in CI) and scripts/fuzz_queries.py (long
runs)."""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import elementpath
from lxml import etree

from treeindex.search.xpath import Query

DATA = Path(__file__).parent / "data"
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)


def bundled_sentences() -> list[bytes]:
    """Every `<alpino_ds>` of tests/data, as bytes."""
    out = []
    for f in sorted(DATA.rglob("*.xml")):
        data = f.read_bytes()
        out += [m.group() for m in re.finditer(rb"<alpino_ds\b.*?</alpino_ds>", data, re.S)]
    return out


class Vocabulary:
    """Attribute names and values as they occur on the sentences' nodes."""

    def __init__(self, roots: Iterable[etree._Element]) -> None:
        values: dict[str, Counter] = {}
        for root in roots:
            for el in root.iter("node"):
                for k, v in el.attrib.items():
                    values.setdefault(k, Counter())[v] += 1
        self.values = {k: [v for v, _ in c.most_common()] for k, c in values.items()}
        self.names = sorted(values)
        self.common = [k for k in ("cat", "rel", "pt", "lemma", "word", "pos", "index",
                                   "postag", "frame", "wvorm", "ntype", "getal", "vwtype")
                       if k in self.values]

    def name(self, rnd: random.Random) -> str:
        if rnd.random() < 0.75:
            return rnd.choice(self.common)
        return rnd.choice(self.names)

    def value(self, rnd: random.Random, name: str) -> str:
        vals = self.values.get(name) or ["x"]
        if rnd.random() < 0.7:
            return rnd.choice(vals[:12])
        return rnd.choice(vals)


AXES = ["child", "descendant", "parent", "ancestor", "following-sibling",
        "preceding-sibling", "following", "preceding", "self", "descendant-or-self",
        "ancestor-or-self"]


def _lit(v: str) -> str:
    return f'"{v}"' if '"' not in v else f"'{v}'"


class Generator:
    def __init__(self, vocab: Vocabulary, seed: int) -> None:
        self.v = vocab
        self.rnd = random.Random(seed)

    def query(self) -> str:
        r = self.rnd
        q = "//node" + self.preds(2)
        roll = r.random()
        if roll < 0.15:
            q += "/" + self.step(1)
        elif roll < 0.22:
            q += "//node" + self.preds(1)
        elif roll < 0.27:
            q = "/alpino_ds/node" + self.preds(2)
        elif roll < 0.32:
            q = f"//node{self.preds(1)} | //node{self.preds(1)}"
        elif roll < 0.36:
            q = "//node" + self.preds(1) + "/" + r.choice(["..", "parent::node",
                                                           "ancestor::node[1]"])
        return q

    def preds(self, depth: int) -> str:
        r = self.rnd
        n = r.choice([1, 1, 1, 2])
        out = ""
        for _ in range(n):
            if r.random() < 0.08:
                out += f"[{r.choice(['1', '2', 'last()', 'position() < 3', 'last() - 1'])}]"
            else:
                out += f"[{self.cond(depth)}]"
        return out

    def step(self, depth: int) -> str:
        r = self.rnd
        axis = r.choice(AXES)
        test = "node" if r.random() < 0.9 else r.choice(["*", "node()"])
        if test != "node" and axis not in ("parent", "ancestor", "self", "ancestor-or-self"):
            test = "node"
        s = f"{axis}::{test}"
        if r.random() < 0.5 and depth > 0:
            s += self.preds(depth - 1)
        return s

    def relpath(self, depth: int) -> str:
        r = self.rnd
        roll = r.random()
        if roll < 0.4:
            return "node" + (self.preds(depth - 1) if depth > 0 and r.random() < 0.6 else "")
        if roll < 0.5:
            return ".."
        if roll < 0.6:
            return ".//node" + (self.preds(depth - 1) if depth > 0 and r.random() < 0.5
                                else "")
        if roll < 0.65:
            return "../node" + (self.preds(depth - 1) if depth > 0 else "")
        path = self.step(depth)
        if r.random() < 0.2:
            path += "/" + self.step(0)
        return path

    def atom(self, depth: int) -> str:
        r = self.rnd
        v = self.v
        a = v.name(r)
        roll = r.random()
        if roll < 0.25:
            return f"@{a}={_lit(v.value(r, a))}"
        if roll < 0.32:
            return f"@{a}!={_lit(v.value(r, a))}"
        if roll < 0.38:
            return f"@{a}"
        if roll < 0.44:
            b = r.choice(["begin", "end", "index", "id"])
            return f"@{b} {r.choice(['<', '>', '<=', '>=', '='])} {r.randint(0, 12)}"
        if roll < 0.52 and depth > 0:
            return self.relpath(depth)
        if roll < 0.58 and depth > 0:
            p = self.relpath(depth)
            return f"{p}/@{a}={_lit(v.value(r, a))}"
        if roll < 0.63 and depth > 0:
            return (f"count({self.relpath(depth)}) {r.choice(['>', '<', '=', '>='])} "
                    f"{r.randint(0, 4)}")
        if roll < 0.68:
            val = v.value(r, a)
            part = val[:r.randint(1, max(1, len(val)))] if val else "e"
            f = r.choice(["contains", "starts-with"])
            return f"{f}(@{a}, {_lit(part)})"
        if roll < 0.695:
            return f"string-length(@{a}) {r.choice(['>', '<', '='])} {r.randint(0, 6)}"
        if roll < 0.71:  # substring(), substring-before/after(), translate()
            val = v.value(r, a) or "de"
            k = r.randint(0, len(val))
            kind = r.choice(["sub", "sub", "end", "before", "after", "translate"])
            if kind == "sub":
                start = r.choice(["0", "0.5", "1", "1.5", "2", "-1", "2.5"])
                length = r.choice(["", ", 1", ", 2.5", ", 3", ", 0.5"])
                return f"substring(@{a}, {start}{length}) = {_lit(val[:3])}"
            if kind == "end":
                return (f"substring(@{a}, string-length(@{a}) - {r.randint(0, 3)}) = "
                        f"{_lit(val[-2:])}")
            if kind in ("before", "after"):
                cut = val[k:k + 1] or "_"
                part = val[:k] if kind == "before" else val[k + 1:]
                return f"substring-{kind}(@{a}, {_lit(cut)}) = {_lit(part)}"
            mapped = val.translate(str.maketrans("aeio", "AEIO", "uD"))
            return f"translate(@{a}, 'aeiouD', 'AEIO') = {_lit(mapped)}"
        if roll < 0.75:
            return f"number(@end) - number(@begin) {r.choice(['>', '<', '='])} {r.randint(0, 6)}"
        if roll < 0.79 and depth > 0:
            b = r.choice(["begin", "end", "index", "rel", "cat", "lemma"])
            other = r.choice(["..", "../node[@rel=\"hd\"]", "node", "//node[@rel=\"su\"]",
                              "ancestor::node", "following-sibling::node"])
            return f"@{b} {r.choice(['=', '!=', '<', '>'])} {other}/@{b}"
        if roll < 0.82 and depth > 0:
            return f"not({self.cond(depth - 1)})"
        if roll < 0.85:
            return f"@{a} = {_lit(v.value(r, a))} or @{v.name(r)}"
        return self.xpath2(depth) if r.random() < 0.7 else f"@{a}"

    def xpath2(self, depth: int) -> str:
        r = self.rnd
        v = self.v
        a = v.name(r)
        roll = r.random()
        if roll < 0.2:
            vals = ", ".join(_lit(v.value(r, a)) for _ in range(r.randint(2, 3)))
            return f"@{a}=({vals})"
        if roll < 0.35 and depth > 0:
            kind = r.choice(["some", "every"])
            p = self.relpath(depth)
            return f"{kind} $x in {p} satisfies $x/@{a}={_lit(v.value(r, a))}"
        if roll < 0.5:
            val = v.value(r, a)
            pat = r.choice([f"^{re.escape(val[:2])}", f"{re.escape(val[-2:])}$", "^[a-z]+$",
                            "e{2}", "^.{3}$", "[0-9]"])
            flags = r.choice(["", "", ', "i"'])
            return f'matches(@{a}, {_lit(pat)}{flags})'
        if roll < 0.6:
            val = v.value(r, a)
            return f"ends-with(@{a}, {_lit(val[-2:] or 'e')})"
        if roll < 0.7:
            f = r.choice(["lower-case", "upper-case"])
            val = v.value(r, a)
            val = val.lower() if f == "lower-case" else val.upper()
            return f"{f}(@{a}) = {_lit(val)}"
        if roll < 0.8 and depth > 0:
            return f"{r.choice(['exists', 'empty'])}({self.relpath(depth)})"
        if roll < 0.9 and depth > 0:
            return f"node[@rel={_lit(v.value(r, 'rel'))}]/number(@begin) > {r.randint(0, 8)}"
        return f"@{a} eq {_lit(v.value(r, a))}"

    def cond(self, depth: int) -> str:
        r = self.rnd
        roll = r.random()
        if roll < 0.2 and depth > 0:
            return f"{self.atom(depth)} and {self.atom(depth - 1)}"
        if roll < 0.3 and depth > 0:
            return f"({self.atom(depth)} or {self.atom(depth - 1)})"
        return self.atom(depth)


def reference(query: str, roots: list[etree._Element]) -> list[tuple[int, int]] | str:
    """(sentence, node position) of every hit, in order, as treeindex's reference engines
    give them; or the text of the error they raise."""
    try:
        q = Query(query)
    except Exception as e:  # noqa: BLE001 - an invalid query: the error is the answer
        return f"error: {e}"
    out = []
    for k, root in enumerate(roots):
        try:
            found = root.xpath(query) if q.engine == "lxml" else \
                elementpath.select(root, query)
        except Exception as e:  # noqa: BLE001
            return f"error: {type(e).__name__}"
        if not isinstance(found, list):
            return "error: not nodes"
        order = {el: i for i, el in enumerate(root.iter("node"))}
        for el in found:
            if not isinstance(el, etree._Element) or el.tag != "node":
                return "error: not nodes"
        out += [(k, order[el]) for el in sorted(set(found), key=order.__getitem__)]
    return out


def parse_all(xmls: list[bytes]) -> list[etree._Element]:
    return [etree.fromstring(x, _PARSER) for x in xmls]


class Outcome:
    SAME = "same"  # the engine evaluated it and agrees
    FALLBACK = "fallback"  # the engine passed it to lxml/elementpath (Unsupported, Dynamic)
    DIFFERENT = "different"


def engine_hits(query: str, block) -> list[tuple[int, int]] | str:  # type: ignore[no-untyped-def]
    """(sentence, node position) of the node-table engine's hits on a block of sentences,
    or 'fallback' where it leaves the query (or the block) to the other engines."""
    import numpy as np

    from treeindex.search.engine import Dynamic, Engine, Unsupported
    from treeindex.search.fast import compile_engine

    try:
        q = Query(query)
    except Exception:  # noqa: BLE001
        return "fallback"
    engine, _ = compile_engine(q)
    if engine is None:
        return "fallback"
    assert isinstance(engine, Engine)
    try:
        mask = engine.select(block)
    except (Dynamic, Unsupported):
        return "fallback"
    if not block.plain.all():
        return "fallback"
    idx = np.flatnonzero(mask)
    so = block.derived("sentence_of")
    return [(int(so[i]), int(i - block.sent[so[i]] - 2)) for i in idx]


def compare(query: str, roots, block) -> tuple[str, object, object]:  # type: ignore[no-untyped-def]
    """(outcome, reference, engine's answer)."""
    got = engine_hits(query, block)
    if got == "fallback":
        return Outcome.FALLBACK, None, None
    want = reference(query, roots)
    if isinstance(want, str):  # the reference engines raise: the engine must not answer
        return Outcome.DIFFERENT, want, got
    return (Outcome.SAME if got == want else Outcome.DIFFERENT), want, got


def holds(formula, terms: set[str]) -> bool:  # type: ignore[no-untyped-def]
    """Does a sentence with these search terms meet the candidate condition?"""
    from treeindex.search.plan import ANY, All, Either, Term

    if formula is ANY:
        return True
    if isinstance(formula, Term):
        return formula.term in terms
    if isinstance(formula, All):
        return all(holds(p, terms) for p in formula.parts)
    assert isinstance(formula, Either)
    return any(holds(p, terms) for p in formula.parts)


def condition_misses(query: str, want, terms: list[set[str]], roots=None  # type: ignore[no-untyped-def]
                     ) -> list[int] | None:
    """The sentences with a reference hit that the condition from treeindex's parse tree
    (what XPath 2.0 on the node table looks up) would leave out; None where no condition
    is derived (or no hit list to check)."""
    from treeindex.search.plan import ANY, tree_condition
    from treeindex.search.xast import NotParsed, parse

    try:
        formula = tree_condition(parse(query)[0])
    except NotParsed:
        return None
    if formula is ANY:
        return None
    if want is None and roots is not None:  # (compare leaves it out where the engine did)
        want = reference(query, roots)
    if want is None or isinstance(want, str):
        return None
    return sorted(k for k in {k for k, _ in want} if not holds(formula, terms[k]))
