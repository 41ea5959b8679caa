"""Compiling a query: XPath 1.0 with lxml (fast) wherever lxml takes it, else XPath 2.0 with
elementpath (sequences, `some`/`every`, `matches()`, paths that end in a function, ...).

A query is evaluated on each sentence as its own document, `<alpino_ds>` its root, as Dact
and PaQu do; every `node` element it selects is a hit.
"""

from __future__ import annotations

from typing import Any

from lxml import etree

from ..errors import QueryError
from . import limits, xpath1
from .plan import Formula

# evaluated once at compile time: lxml compiles unknown functions and fails only then
_PROBE = etree.fromstring(
    b'<alpino_ds version="1.3"><node begin="0" cat="top" end="1" id="0" rel="top">'
    b'<node begin="0" end="1" id="1" lemma="a" pos="noun" pt="n" rel="hd" word="a"/>'
    b"</node><sentence>a</sentence></alpino_ds>")


_TOO_COMPLEX = ("the query is too complex to evaluate (too many operands in a row, or too "
                "deep): split it into several searches")


class Query:
    """A compiled query (workers are sent its text and compile it once each)."""

    def __init__(self, text: str, lazy: bool = False) -> None:
        """`lazy`: an XPath 2.0 query is compiled by elementpath (whose import costs more
        than a search on the node table takes) only when it is first needed."""
        limits.check(text)
        self.text = text
        self.engine = "lxml"
        self._select: Any = None
        self._condition: Formula | None = None
        try:
            self._compile(lazy)
        except RecursionError:  # (within the limits this is not expected; never a traceback)
            raise QueryError(_TOO_COMPLEX) from None
        if self._select is not None:
            self.select(_PROBE)  # a query that selects attributes or numbers fails here

    def ensure(self) -> None:
        """Compile it now (QueryError if it is not valid)."""
        if self._select is None:
            try:
                self._compile(False)
            except RecursionError:
                raise QueryError(_TOO_COMPLEX) from None
            self.select(_PROBE)

    @property
    def condition(self) -> Formula:
        """What every sentence the query matches meets (search/plan.py)."""
        if self._condition is None:
            self.ensure()
            from .plan import condition

            self._condition = condition(self.text)
        return self._condition

    def _compile(self, lazy: bool) -> None:
        try:  # XPath 1.0 with only XPath 1.0 functions: lxml runs it, elementpath not needed
            parsed = xpath1.parse(self.text)
            if parsed.functions <= xpath1.FUNCTIONS:
                compiled = etree.XPath(self.text)
                compiled(_PROBE)
                self._select = compiled
                self._condition = parsed.condition
                return
        except (xpath1.NotXPath1, etree.XPathError):
            pass
        self.engine = "elementpath"
        if lazy:
            return
        import elementpath
        from elementpath.xpath2 import XPath2Parser

        try:
            selector = elementpath.Selector(self.text, parser=XPath2Parser)
            selector.select(_PROBE)
        except elementpath.ElementPathError as e:
            raise QueryError(_syntax_message(self.text, e)) from None
        self._select = selector.select

    def select(self, root: etree._Element) -> list[etree._Element]:
        """The `node` elements the query selects in a sentence; QueryError for anything
        else (an attribute, a number, a string)."""
        if self._select is None:
            self.ensure()
        try:
            found = self._select(root)
        except RecursionError:
            raise QueryError(_TOO_COMPLEX) from None
        except Exception as e:  # lxml's and elementpath's errors do not cross processes
            raise QueryError(f"the query {self.text!r} failed on a sentence: "
                             f"{type(e).__name__}: {e}") from None
        if not isinstance(found, list):
            found = [found]
        for item in found:
            if not isinstance(item, etree._Element) or item.tag != "node":
                raise QueryError(_not_nodes(self.text, item))
        return found


def _syntax_message(text: str, e: Exception) -> str:
    message = str(e)
    column = getattr(e, "column", None)
    if column is None:
        import re

        m = re.search(r"column (\d+)", message)
        column = int(m.group(1)) if m else None
    flat = " ".join(text.split("\n"))
    caret = f"\n  {flat}\n  {' ' * (max(column, 1) - 1)}^" if column else f"\n  {flat}"
    return f"the query is not valid XPath: {message}{caret}"


def _not_nodes(text: str, item: Any) -> str:
    if isinstance(item, str) and getattr(item, "is_attribute", False):
        what = f"attribute values (@{getattr(item, 'attrname', '?')})"
    elif isinstance(item, etree._Element):
        what = f"<{item.tag}> elements"
    elif isinstance(item, bool):
        what = "a true/false value"
    elif isinstance(item, (int, float)):
        what = "numbers"
    else:
        what = f"{type(item).__name__} values"
    return (f"the query {text!r} selects {what}, not <node> elements: select the nodes "
            "themselves and put the condition in brackets, e.g. //node[@word] instead of "
            "//node/@word, or //node[count(node) > 2] instead of count(//node)")
