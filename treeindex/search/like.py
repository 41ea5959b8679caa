"""Search by example: the XPath of a subtree's shape, as GrETEL builds one from the part of
an example sentence a user keeps.

The example node's category (or, for a word, the attributes kept), and for each child to
`depth` levels its relation and category (a word child: its relation and the attributes
kept; an empty co-indexed child: its relation and that it has an index). Children become
predicates of their parent, `node[@rel="su" and @cat="np"]`, each once (two children of one
description ask for one). The example itself always answers the XPath made of it.

The subtrees table's `pattern_id` groups subtrees whose children's (rel, cat-or-pt) pattern
is the same, in order, without the node's own category: `--like` with `--depth 1` and
`--keep pt` asks for the node's category and for those children in any order, and others
besides, so it finds every subtree of that pattern and category, and more.
"""

from __future__ import annotations

from lxml import etree

from ..errors import QueryError

WORD_ATTRIBUTES = ("word", "lemma", "pt", "postag", "pos")


def literal(value: str) -> str:
    """An XPath 1.0 string literal of `value` (concat() where it holds both quotes)."""
    if '"' not in value:
        return f'"{value}"'
    if "'" not in value:
        return f"'{value}'"
    parts = value.split('"')
    return "concat(" + ", '\"', ".join(f'"{p}"' for p in parts) + ")"


def _conditions(node: etree._Element, keep: tuple[str, ...], with_rel: bool) -> list[str]:
    out = []
    if with_rel and node.get("rel") is not None:
        out.append(f"@rel={literal(node.get('rel', ''))}")
    cat = node.get("cat")
    if cat is not None:
        out.append(f"@cat={literal(cat)}")
    elif node.get("word") is not None:
        out += [f"@{a}={literal(node.get(a, ''))}" for a in keep if node.get(a) is not None]
        if not any(node.get(a) is not None for a in keep):
            out.append("@word")
    elif node.get("index") is not None:
        out.append("@index and not(@cat or @word)")
    return out


def _describe(node: etree._Element, keep: tuple[str, ...], depth: int, with_rel: bool
              ) -> str:
    conditions = _conditions(node, keep, with_rel)
    if depth > 0:
        children = [f"node[{_describe(child, keep, depth - 1, True)}]"
                    for child in node.iterchildren("node")]
        conditions += list(dict.fromkeys(children))
    return " and ".join(conditions) if conditions else "true()"


def like_xpath(node: etree._Element, depth: int = 1, keep: tuple[str, ...] = ()) -> str:
    """The XPath of `node`'s shape (see the module's text)."""
    if depth < 0:
        raise QueryError("--depth must be 0 or more")
    unknown = [a for a in keep if a not in WORD_ATTRIBUTES]
    if unknown:
        raise QueryError(f"--keep takes {', '.join(WORD_ATTRIBUTES)} (or nothing); not "
                         f"{', '.join(unknown)}")
    return f"//node[{_describe(node, keep, depth, False)}]"


def example(db: str, what: str, corpus: str | None = None) -> etree._Element:
    """The node WHAT names: a subtree label (`np-17`) or SENTID:NODEID (a node's id in a
    sentence)."""
    from ..show import find

    if ":" in what and not what.rsplit(":", 1)[1].startswith("-"):
        sentid, node_id = what.rsplit(":", 1)
        tree = find(db, sentid, corpus)
        root = tree.root()
        for el in root.iter("node"):
            if el.get("id") == node_id:
                return el
        raise QueryError(f"sentence {sentid!r} has no node with id {node_id!r}; its nodes "
                         f"are numbered 0 to {sum(1 for _ in root.iter('node')) - 1}")
    tree = find(db, what, corpus)
    if tree.label is None:
        raise QueryError(f"{what!r} is a sentence: give a subtree label (np-17) or "
                         "SENTID:NODEID")
    return tree.root()


def words_xpath(text: str, lemmas: bool = False) -> str:
    """The XPath of a word search (as PaQu's): the words of `text` (or, with `lemmas`, their
    lemmas) in this order, each right after the one before; it selects the first word's
    node. ValueError for no words."""
    words = text.split()
    if not words:
        raise ValueError("give one or more words")
    name = "lemma" if lemmas else "word"
    query = f"//node[@{name}={literal(words[-1])}]"
    for word in reversed(words[:-1]):
        query = f"//node[@{name}={literal(word)} and @end = {query}/@begin]"
    return query
