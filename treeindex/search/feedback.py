"""What a query asks that no node of the index has: the mistakes that otherwise give a
silent empty result (`@categorie`, `@cat="NP"`, `//nod`, a bare word, `@cat=np`).

The index knows what it holds: the search terms' vocabulary (every attribute value, ASCII
capitals folded, with the sentences that have it) and the node table (each block's exact
attribute names and values). A check costs a few lookups in the vocabulary; the node table
is read (block headers and one column's values, through SQLite's incremental blob reads)
only where the vocabulary cannot tell, e.g. a value with capitals. Each note says what was
not found and what was, with how many sentences have it; the query still runs (`--strict`
makes the notes an error). Nothing is said where the index cannot know (no search terms).
"""

from __future__ import annotations

import difflib
import json
import re
import unicodedata
from collections.abc import Iterable

from ..store import Index
from . import summary
from . import terms as term_rules
from .nodestore import stored_headers, stored_sections
from .xast import NotParsed, tokens

# the elements Alpino writes (alpino_ds.dtd, version 1.18), the UD relations included
ELEMENTS = frozenset((
    "alpino_ds node sentence comments comment metadata meta parser data ud dep conllu root "
    "acl advcl advmod amod appos aux case cc ccomp clf compound conj cop csubj det discourse "
    "dislocated expl fixed flat goeswith iobj list mark nmod nsubj nummod obj obl orphan "
    "parataxis punct ref reparandum vocative xcomp").split())
_STEP_BEFORE = {"/", "//", "[", "(", "::", "|", ","}
_WORD = re.compile(r"[^\s/()\[\]@=\"'<>!,|*$]+")


class _Vocabulary:
    """The index's attribute names and values, looked up as needed."""

    def __init__(self, index: Index) -> None:
        self.index = index
        self._names: set[str] | None = None
        self._summary: bool | None = None

    @property
    def summarized(self) -> bool:
        """Whether the node table's summary covers every block (else the blocks are read)."""
        if self._summary is None:
            self._summary = summary.ready(self.index.conn)
        return self._summary

    def sentences(self, term: str | None) -> int:
        """Sentences with the term, counted up to COUNTED + 1 (reading a frequent term's
        whole list cost 10 ms on the 1 GB index: more than a note may add)."""
        return self.index.term_sentences(term, cap=COUNTED) if term else 0

    def has_value(self, name: str, value: str) -> bool:
        """Whether a node has @name = value (ASCII capitals folded)."""
        found = term_rules.value_terms(name, value)
        return any(self.index.has_term(t) for t in found) if found else True

    def value_sentences(self, name: str, value: str) -> int:
        """Sentences with a node whose @name is value (ASCII capitals folded)."""
        found = term_rules.value_terms(name, value)
        return max((self.sentences(t) for t in found), default=0) if found else 0

    def has_name(self, name: str) -> bool:
        if name in term_rules.NO_TERM:
            return True
        if not _has_capital(name):  # the vocabulary tells
            if term_rules.is_presence_only(name):
                return self.sentences(term_rules.presence_term(name)) > 0
            return bool(self.index.terms_from_prefix(term_rules.escape(name) + "0", 1))
        return name in self.names()  # (capitals: only the node table knows them exactly)

    def names(self, sample: int | None = None) -> set[str]:
        """The attribute names of the node table: from its summary, else from the block
        headers (all of them, or of `sample` blocks spread over the table: enough to
        suggest names)."""
        if self._names is not None:
            return self._names
        if self.summarized:
            self._names = summary.names(self.index.conn)
            return self._names
        raw: set[bytes] = set()
        for _, header in stored_headers(self.index.conn, sample):
            raw.update(_ATTRIBUTE.findall(header))
        names = {json.loads(b'"' + m + b'"') for m in raw}  # (JSON escapes undone)
        if sample is None:
            self._names = names
        return names

    def suggest(self, name: str, value: str) -> list[tuple[str, int]]:
        """Values of @name like `value`, with the sentences that have each: the candidates
        from the values of 16 blocks spread over the node table (counting every value in
        the vocabulary reads every one's list of sentences), their counts looked up."""
        have: set[str] = set()
        for block in _column_values(self.index, name, sample=16):
            have |= {v.decode("utf-8", "replace") for v in block if v}
        return [(v, n) for v, _ in _closest(value, dict.fromkeys(have, 0))
                if (n := self.value_sentences(name, v))]

    def exact_value(self, name: str, value: str) -> bool:
        """Whether some node has exactly @name = value (the node table's values; by its
        summary, for a value with an ASCII capital; where the summary cannot tell, an open
        attribute, yes: no note rather than a wrong one)."""
        if self.summarized and _has_capital(value):
            found = summary.has_value(self.index.conn, name, value)
            return True if found is None else found
        want = value.encode("utf-8")
        for block in _column_values(self.index, name):
            if want in block:
                return True
        return False


_ATTRIBUTE = re.compile(rb'\["a:((?:[^"\\]|\\.)*)",')  # an attribute's section in a header


def _column_values(index: Index, name: str, sample: int | None = None
                   ) -> Iterable[set[bytes]]:
    """Each block's values of @name (its vocabulary section), read without the rest (of
    `sample` blocks spread over the table, or of all)."""
    for data, _ in stored_sections(index.conn, "v:" + name, sample):
        yield set(data.split(b"\0"))


def _has_capital(text: str) -> bool:
    """An ASCII capital, which the search terms fold (only the node table tells it)."""
    return any("A" <= c <= "Z" for c in text)


def _plain(text: str) -> str:
    """Lower case, without diacritics: how two spellings of one value are compared."""
    return "".join(c for c in unicodedata.normalize("NFKD", text.lower())
                   if not unicodedata.combining(c))


def _closest(wanted: str, have: dict[str, int], n: int = 3) -> list[tuple[str, int]]:
    same = [v for v in have if _plain(v) == _plain(wanted) and v != wanted]
    close = difflib.get_close_matches(_plain(wanted), [_plain(v) for v in have], n=n,
                                      cutoff=0.6)
    by_plain: dict[str, list[str]] = {}
    for v in have:
        by_plain.setdefault(_plain(v), []).append(v)
    ordered = list(dict.fromkeys(same + [v for p in close for v in by_plain[p]]))
    return [(v, have[v]) for v in ordered[:n]]


def _close_names(name: str, have: set[str]) -> list[str]:
    """Names like `name`: the same but for case, one the start of the other (categorie,
    cat), then by similarity."""
    low = name.lower()
    same = [h for h in sorted(have) if h.lower() == low]
    starts = [h for h in sorted(have, key=len, reverse=True)
              if len(h) >= 2 and (low.startswith(h.lower()) or h.lower().startswith(low))]
    similar = difflib.get_close_matches(name, sorted(have), n=3, cutoff=0.5)
    return list(dict.fromkeys(same + starts + similar))[:3]


COUNTED = 10_000  # sentences counted exactly for a note; beyond, "more than 10,000"


def _in_sentences(n: int) -> str:
    return f"{n:,} sentences" if n <= COUNTED else f"more than {COUNTED:,} sentences"


def _did_you_mean(name: str, options: list[tuple[str, int]]) -> str:
    if not options:
        return ""
    shown = " or ".join(f'{name}="{v}" ({_in_sentences(n)})' for v, n in options)
    return f"; did you mean {shown}?"


def notes(index: Index, text: str, stats: tuple[str, ...] = ()) -> list[str]:
    """What `text` (macros expanded) and the --stats attributes `stats` ask that no node of
    the index has, one note each (empty: nothing to say, or no search terms to tell)."""
    if index.terms_from() is None:
        return []
    vocab = _Vocabulary(index)
    out: list[str] = []
    body = text.strip()
    if body and body[0] not in "/(":
        if _WORD.fullmatch(body):
            word = body.replace('"', "")
            out.append(
                f"the query {body!r} is a word, not a path: it selects nothing. Search "
                f'//node[@word="{word}"] ({_in_sentences(vocab.value_sentences("word", word))}'
                f') or //node[@lemma="{word}"] '
                f'({_in_sentences(vocab.value_sentences("lemma", word))})')
            return out
        if re.match(r"[A-Za-z_][\w.\-]*\s*[\[/]", body):  # a relative path: node[...]
            out.append(f"the query starts with {body[:12]!r}, not / or (: it is evaluated "
                       "from each sentence's <alpino_ds>, so it finds only what is right "
                       "below it; write //node[...] for every node")
    curly = sorted({c for c in text if c in "\u201c\u201d\u2018\u2019\u201e\u00ab\u00bb"})
    if curly:  # (a word processor's quotes: the query is not valid XPath)
        out.append(f"the query has typographic quotes ({' '.join(curly)}): XPath takes "
                   "straight ones, \" or '")
    try:
        toks = tokens(text)
    except NotParsed:
        return out
    names: dict[str, None] = {}
    compared: list[tuple[str, str]] = []
    elements: dict[str, None] = {}
    for i, (kind, value) in enumerate(toks):
        prev = toks[i - 1] if i else ("op", "/")
        after = toks[i + 1] if i + 1 < len(toks) else ("end", "")
        if kind == "op" and value == "@" and after[0] == "name":
            name = after[1]
            names[name] = None
            rest = toks[i + 2:i + 4]
            if len(rest) == 2 and rest[0] == ("op", "="):
                if rest[1][0] == "lit":
                    compared.append((name, rest[1][1][1:-1]))
                elif rest[1][0] == "name" and (i + 4 >= len(toks) or toks[i + 4][1] not in
                                                ("(", "/", "//", "[", "::", ":")):
                    out.append(f"@{name}={rest[1][1]} compares @{name} with the text of a "
                               f"child element <{rest[1][1]}>, not with a value: quote it, "
                               f'@{name}="{rest[1][1]}"')
        elif kind == "lit" and after == ("op", "=") and toks[i + 2:i + 3] == [("op", "@")] \
                and i + 3 < len(toks):
            compared.append((toks[i + 3][1], value[1:-1]))
        elif (kind == "name" and prev[0] == "op" and prev[1] in _STEP_BEFORE
              and after[1] not in ("(", "::", "$") and ":" not in value
              and not (prev[1] == "::" and i >= 2 and toks[i - 2][1] in ("attribute",))):
            if value not in ELEMENTS:
                elements[value] = None
    for name in elements:
        close = difflib.get_close_matches(name, sorted(ELEMENTS), n=2, cutoff=0.6)
        out.append(f"<{name}> is not an element Alpino writes, so //{name} selects nothing"
                   + (f"; did you mean {' or '.join(close)}?" if close else
                      "; the trees are <node> elements"))
    known: set[str] = set()
    for name, value in dict.fromkeys(compared):
        if name in term_rules.NO_TERM or term_rules.is_presence_only(name) or \
                term_rules.value_term(name, value) is None:
            continue
        if vocab.has_value(name, value):
            if not _has_capital(name):  # (the vocabulary folds capitals)
                known.add(name)  # its name is there too: not looked up again
            if value.isascii() and value != value.lower() and name not in ("word", "lemma") \
                    and not vocab.exact_value(name, value):
                out.append(f'no node has @{name}="{value}" (values are compared exactly, '
                           "capitals too)" + _did_you_mean(name, vocab.suggest(name, value)))
            continue
        if not vocab.has_name(name):
            continue  # (said below, once)
        known.add(name)
        if name in ("word", "lemma"):
            variants = {v: vocab.value_sentences(name, v)
                        for v in dict.fromkeys((value.lower(), value.capitalize(),
                                                _plain(value))) if v != value}
            options = [(v, n) for v, n in variants.items() if n]
        else:
            options = vocab.suggest(name, value)
        out.append(f'no node has @{name}="{value}" in this index'
                   + _did_you_mean(name, options))
    for name in list(names) + [a for a in stats if a not in names]:
        if name == "*" or name in known or vocab.has_name(name):
            continue
        close = _close_names(name, vocab.names(sample=16))
        where = "--stats names @" if name in stats and name not in names else "no node has @"
        out.append(f"{where}{name}" + (" (no node in this index has it)" if where[0] == "-"
                                       else " in this index")
                   + (f"; did you mean {' or '.join('@' + c for c in close)}?" if close
                      else ""))
    return out
