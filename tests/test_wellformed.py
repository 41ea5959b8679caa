"""The scanner's own well-formedness check (worker/_wellformed.c): it may say "certain" only
for bytes lxml's checking parser accepts; where it is not certain, lxml checks, so every error
keeps libxml2's message and line."""

from __future__ import annotations

import random

import pytest
from conftest import ALPINO, CDB, SUITES, WRPEE
from fuzz import real_sentences, run_both, soundness

from treeindex.worker import extract
from treeindex.worker.check import BadSentence, parse, parsers

pytestmark = pytest.mark.skipif(extract._scan is None, reason="the C extension is not built")
CHECK = parsers("UTF-8")[0]


def lxml_accepts(data: bytes) -> bool:
    try:
        parse(data, CHECK)
    except BadSentence:
        return False
    return True


def wellformed(data: bytes) -> bool:
    return extract._scan.wellformed(data)


def test_every_real_sentence_and_file_is_checked_in_the_scan():
    sentences = real_sentences([CDB, SUITES, WRPEE])
    files = [p.read_bytes() for p in sorted(ALPINO.rglob("*.xml"))]
    assert len(sentences) > 400 and len(files) > 50
    for data in sentences + files:
        assert wellformed(data), data[:200]
        assert lxml_accepts(data)


GOOD = b'<alpino_ds id="a"><node cat="np" rel="su"/><sentence>x</sentence></alpino_ds>'


@pytest.mark.parametrize("data", [
    GOOD,
    b'<?xml version="1.0" encoding="UTF-8"?>\n' + GOOD + b"\n",
    b"<?xml version='1.0' encoding='utf-8' standalone='yes'?>" + GOOD,
    b"<a b='\"' c=\"'\" d='&lt;&#60;&#x3C;&amp;&quot;&apos;&gt;'>]] > &#x10FFFF; \xc2\x85</a>",
    b"<a>\xf0\x9f\x98\x80 \xef\xbf\xbd \xed\x9f\xbf \x7f\t\r\n</a>",
    b"<a\n  b = '1'\r\n/>",
    b"<_a.b-c1><x-y/></_a.b-c1 >",
])
def test_certain_for_plain_well_formed_xml(data):
    assert wellformed(data) and lxml_accepts(data)


@pytest.mark.parametrize("data", [
    # errors libxml2 reports: mismatched and unclosed tags, repeated or unseparated attributes,
    # '<' in a value, bad references, characters XML forbids, bytes that are not UTF-8,
    # "]]>" in text, content after the root
    b"<a><b></a></b>", b"<a>", b"<a></A>", b"<a></ a>", b'<a b="1" b="2"/>', b'<a b="1"c="2"/>',
    b'<a b="<"/>', b"<a b=1/>", b"<a>&#0;</a>", b"<a>&#xD800;</a>", b"<a>&#x110000;</a>",
    b"<a>&#xFFFE;</a>", b"<a>&am;</a>", b"<a>&amp</a>", b"<a>& b</a>", b"<a>&#;</a>",
    b"<a>\x01</a>", b"<a>\x0b</a>", b"<a>\xef\xbf\xbf</a>", b"<a>\xed\xa0\x80</a>",
    b"<a>\xc0\x80</a>", b"<a>\xe0\x80\x80</a>", b"<a>\xf4\x90\x80\x80</a>", b"<a>\xe2\x82</a>",
    b"<a>\x80</a>", b"<a>]]></a>", b"<a/><b/>", b"<a/>x", b"x<a/>", b"", b"<1a/>",
    b'<?xml version="1.1"?><a/>',
    # well-formed, or not, by rules this check leaves to lxml: another declared encoding,
    # comments, CDATA, processing instructions, a DOCTYPE, entities, namespaces, a byte order
    # mark, reserved names
    b'<?xml version="1.0" encoding="ISO-8859-1"?><a>\xe9</a>', b"<a><!-- c --></a>",
    b"<a><![CDATA[x]]></a>", b"<a><?pi x?></a>", b"<!DOCTYPE a><a/>", b"<a>&nbsp;</a>",
    b'<a xmlns="urn:x"/>', b'<p:a xmlns:p="urn:x"/>', b"\xef\xbb\xbf<a/>", b'<a xml:lang="nl"/>',
])
def test_not_certain_for_what_libxml2_rejects_or_the_check_leaves_to_lxml(data):
    assert not wellformed(data)


def test_never_certain_where_lxml_rejects_on_mutated_sentences():
    sentences = real_sentences([CDB, SUITES, WRPEE])
    certain, rejected, wrong = soundness(random.Random(20261201), sentences, 20_000)
    assert not wrong, wrong[0]
    # both sides of the boundary were reached
    assert certain > 1000 and rejected > 10_000


def test_malformed_sentences_keep_lxmls_message_and_line():
    """A task of good and malformed sentences: the same errors (file, offset, line, id,
    libxml2's message) as the pure-Python path, which checks everything with lxml."""
    good = real_sentences([CDB])[:3]
    bad = [good[0].replace(b"</node>", b"</nod>", 1),  # mismatched tags
           good[1].replace(b"<node ", b'<node a="1" a="2" ', 1),  # a repeated attribute
           good[2].replace(b"<sentence", b"\xff<sentence", 1)]  # not UTF-8
    fast, slow = run_both(b"<treebank>\n" + b"\n".join(good + bad) + b"\n</treebank>\n")
    assert len(fast.errors) == 3
    assert fast.errors == slow.errors
    assert all("not well-formed XML" in e[-1] for e in fast.errors)
    assert [s[:4] for s in fast.sentences] == [s[:4] for s in slow.sentences]
