"""The sentence checker: lxml, with no DTD, no entity expansion and no network."""

from __future__ import annotations

from typing import Any

from lxml import etree

from ..sources.sniff import utf8_codec


class BadSentence(Exception):
    """One sentence cannot be indexed: recorded in `errors` with its line and id (internal to
    the worker, never raised to the caller)."""

    def __init__(self, message: str, line: int | None = None, sentid: str | None = None):
        super().__init__(message)
        self.line = line
        self.sentid = sentid


class _WellFormed:
    """A parser target without callbacks: libxml2 checks a sentence without building a tree,
    three times faster than parsing it into one."""

    def close(self) -> None:
        return None


def _parser(encoding: str, target: Any = None) -> etree.XMLParser:
    """No DTD, no entity expansion, no network."""
    return etree.XMLParser(encoding=None if utf8_codec(encoding) else encoding,
                           resolve_entities=False, no_network=True, load_dtd=False,
                           huge_tree=False, collect_ids=False, target=target)


def parsers(encoding: str) -> tuple[etree.XMLParser, etree.XMLParser]:
    """(checking parser, tree parser)."""
    return _parser(encoding, _WellFormed()), _parser(encoding)


def parse(raw: bytes, parser: etree.XMLParser) -> Any:
    """The root element (a tree parser), or None (the checking parser); BadSentence if the
    bytes are not well-formed."""
    try:
        return etree.fromstring(raw, parser)
    except etree.XMLSyntaxError as e:
        raise BadSentence(f"not well-formed XML: {e.msg}", e.lineno or None) from None


