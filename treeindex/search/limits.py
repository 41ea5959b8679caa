"""What a query may be, checked before anything compiles or runs it.

A query reads the sentence it is evaluated on and nothing else: functions that reach outside
it (files, collections, the environment, text parsed as XML with its entities) are refused
by name, wherever the name is written and whatever argument it is given, so that the answer
never depends on what exists on the machine. A query is at most `MAX_CHARS` characters after
its macros are expanded and nests brackets at most `MAX_DEPTH` deep: far more than the 107
macros of PaQu's macros file need (the longest, PQ_vorfeld_non_local, expands to 4,843
characters and nests 18 deep), and small enough that every parser on the way stays fast
and far from Python's recursion limit.
"""

from __future__ import annotations

from ..errors import QueryError

MAX_CHARS = 100_000
MAX_DEPTH = 40

# XPath 2.0 and later functions that read files, URIs, collections or the environment, or
# parse text as XML (whose DTD can name a file)
REFUSED = frozenset({
    "doc", "doc-available", "collection", "uri-collection", "unparsed-text",
    "unparsed-text-lines", "unparsed-text-available", "environment-variable",
    "available-environment-variables", "json-doc", "parse-xml", "parse-xml-fragment",
    "transform", "load-xquery-module", "function-lookup", "document",
})

_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.:")


def check(text: str) -> None:
    """QueryError if `text` is too long, nests too deep, or calls a refused function."""
    if len(text) > MAX_CHARS:
        raise QueryError(
            f"the query is {len(text):,} characters long (after its macros are expanded); "
            f"the limit is {MAX_CHARS:,}: split it into several searches")
    depth = deepest = 0
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c in "\"'":  # a string literal ('' and "" inside are escaped quotes: same scan)
            end = text.find(c, i + 1)
            i = n if end < 0 else end + 1
            continue
        if c == "(" and text.startswith("(:", i):  # an XPath 2.0 comment, maybe nested
            level, i = 1, i + 2
            while i < n and level:
                if text.startswith("(:", i):
                    level, i = level + 1, i + 2
                elif text.startswith(":)", i):
                    level, i = level - 1, i + 2
                else:
                    i += 1
            continue
        if c in "([":
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > MAX_DEPTH:
                    raise QueryError(
                        f"the query nests brackets more than {MAX_DEPTH} deep (at character "
                        f"{i + 1}); write the inner conditions side by side with and/or")
            if c == "(":
                _check_call(text, i)
        elif c in ")]":
            depth -= 1
        i += 1


def _check_call(text: str, paren: int) -> None:
    """Refuse the function whose name ends before the `(` at `paren` (spaces and comments
    between them allowed), with or without a prefix such as fn:."""
    j = paren - 1
    while j >= 0:
        if text[j].isspace():
            j -= 1
        elif text[j] == ")" and j > 0 and text[j - 1] == ":":  # a comment before the (
            start = text.rfind("(:", 0, j - 1)
            if start < 0:
                return
            j = start - 1
        else:
            break
    end = j + 1
    while j >= 0 and (text[j] in _NAME_CHARS or ord(text[j]) > 127):
        j -= 1
    name = text[j + 1:end]
    local = name.rsplit(":", 1)[-1].lower()
    if local in REFUSED:
        raise QueryError(
            f"the query calls {name}(), which reads outside the sentence; a query may only "
            "look at the sentence it is evaluated on, so this function is refused")
