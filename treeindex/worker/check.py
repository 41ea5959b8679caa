"""The sentence checker: lxml, with no DTD, no entity expansion and no network."""

from __future__ import annotations

from lxml import etree

from ..sources.sniff import utf8_codec


class BadSentence(Exception):
    def __init__(self, message: str, line: int | None = None, sentid: str | None = None):
        super().__init__(message)
        self.line = line
        self.sentid = sentid


class _WellFormed:
    """A parser target without callbacks: libxml2 checks a sentence without building a tree,
    three times faster than parsing it into one."""

    def close(self) -> None:
        return None


def parsers(encoding: str) -> tuple[etree.XMLParser, etree.XMLParser]:
    """(checking parser, tree parser): no DTD, no entity expansion, no network."""
    options = dict(
        encoding=None if utf8_codec(encoding) else encoding,
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
        collect_ids=False,
    )
    return etree.XMLParser(target=_WellFormed(), **options), etree.XMLParser(**options)


def parse(raw: bytes, parser: etree.XMLParser) -> etree._Element | None:
    try:
        return etree.fromstring(raw, parser)
    except etree.XMLSyntaxError as e:
        raise BadSentence(f"not well-formed XML: {e.msg}", e.lineno or None) from None


