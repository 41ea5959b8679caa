"""Search terms: what the candidate index (the `search_terms` table) knows of a sentence.

Each sentence is indexed under one term per distinct attribute value of its `<node>`s, as
`name0value`, with every ASCII character that is not a letter or digit written as `x` and two
hex digits (`lemma0de`, `rel0hd`, `word0Parijs`, `lemma0ten0x5fopzichte0x5fvan`...), so that
SQLite's FTS5 `ascii` tokenizer keeps each one whole. A word that is its own lemma gets one
term, `wl0value`, instead of two (70% of the words), so `@word = "x"` looks for `word0x` or
`wl0x`. Attributes that are positions or ids (`begin`, `end`, `id`) get no term; attributes
with long or redundant values (`PRESENCE_ONLY`) get one term for being there, not for their
value; values longer than `MAX_VALUE` bytes get none. FTS5 folds ASCII capitals, so
`word0Parijs` and `word0parijs` are one term: a search then evaluates the query on a few more
sentences, never on fewer.

At ingest the node block builder (`search/_nodes.c`, with the rules in `search/_terms.h`)
makes the same strings from the values it puts in the block's columns, as XML gives them
(the five predefined entities and character references decoded, tab, newline and carriage
return as the spaces XML makes of them): each distinct value of a column is escaped once per
block, and each sentence lists the terms of its nodes' values, each once, in no particular
order (FTS5 with `detail=none` stores the same index whatever the order). What the builder
hands over to lxml gets its terms from lxml's values (`attribute_terms`).
tests/test_extract.py and tests/fuzz.py check that both agree.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from typing import Any

from lxml import etree

NO_TERM = frozenset({"begin", "end", "id"})
PRESENCE_ONLY = frozenset({"index", "frame", "sense", "root", "postag", "pos", "mwu_root",
                           "mwu_sense", "other_id", "dscsense", "sc"})
MAX_VALUE = 100  # bytes (UTF-8)

_KEEP = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")


def escape(text: str) -> str:
    """ASCII letters, digits and non-ASCII characters as they are; any other character as
    `x` + two hex digits."""
    if text.isascii() and text.isalnum():
        return text
    return "".join(ch if ch in _KEEP or ord(ch) >= 0x80 else f"x{ord(ch):02x}"
                   for ch in text)


def is_presence_only(name: str) -> bool:
    return name in PRESENCE_ONLY or name.startswith("his")


def value_terms(name: str, value: str) -> list[str] | None:
    """The terms any of which a sentence with a node whose `@name = value` has, or None when
    the index holds no term for it (then a query cannot use the condition)."""
    term = value_term(name, value)
    if term is None:
        return None
    if name in ("word", "lemma"):
        return [term, value_term("wl", value)]  # type: ignore[list-item]
    return [term]


def value_term(name: str, value: str) -> str | None:
    """The term of `@name = value`, or None when the index holds no term for it."""
    if (name in NO_TERM or is_presence_only(name)
            or len(value.encode("utf-8", "surrogatepass")) > MAX_VALUE):
        return None
    return escape(name) + "0" + escape(value)


def presence_term(name: str) -> str | None:
    """The term of `@name` being there, or None when the index holds none for it."""
    return escape(name) if is_presence_only(name) else None


@lru_cache(maxsize=1 << 16)
def _term(name: str, value: str) -> str | None:
    if name in NO_TERM:
        return None
    if is_presence_only(name):
        return escape(name)
    return value_term(name, value)


def attribute_terms(nodes: Iterable[Iterable[tuple[Any, Any]]]) -> str:
    """The terms of `<node>` elements given as their attributes ((name, value) pairs each),
    space-separated, each once (the node block builder, search/_terms.h, makes the same set
    in C)."""
    seen: dict[str | None, None] = {}
    for attrs in nodes:
        attrib = dict(attrs)
        word = attrib.get("word")
        if word is not None and word == attrib.get("lemma"):
            for name, value in attrib.items():
                seen[_term("wl" if name == "word" else name, value)
                     if name != "lemma" else None] = None
            continue
        for item in attrib.items():
            seen[_term(*item)] = None
    seen.pop(None, None)
    return " ".join(seen)  # type: ignore[arg-type]


def node_terms(nodes: Iterable[etree._Element]) -> str:
    """The terms of these `<node>` elements (lxml's)."""
    return attribute_terms(el.attrib.items() for el in nodes)


def element_terms(elements: Iterable[tuple]) -> str:
    """The terms of a sentence given as its node block elements (search/nodestore.py:
    (kind, parent, size, attributes), kind 1 for a `<node>`)."""
    return attribute_terms(attrs for kind, _, _, attrs in elements if kind == 1)


def sentence_terms(root: etree._Element) -> str:
    """The terms of a parsed sentence (`<alpino_ds>`)."""
    return node_terms(root.iter("node"))


# where a stored sentence is parsed for its terms: no DTD, no entities, no network
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                          collect_ids=False)


def xml_terms(xml: bytes) -> str:
    """The terms of a stored sentence (UTF-8 `<alpino_ds>...</alpino_ds>`, as ingest kept
    it): the node block builder's (C), or lxml's where it hands the sentence over. For
    `upgrade` and `merge`, which have the XML but not the terms."""
    from .nodestore import _nodes

    if _nodes is not None:
        found = _nodes.terms(xml)
        if found is not None:
            return str(found)
    return sentence_terms(etree.fromstring(xml, _PARSER))
