"""Find sentence boundaries in raw treebank bytes without parsing XML.

A boundary is the `<` of an `<alpino_ds` start tag that is real markup: text that merely
looks like one inside a comment, a CDATA section, a processing instruction or the DOCTYPE
is skipped. (In well-formed XML a literal `<` cannot occur in attribute values or text, so
those need no tracking.) Only `bytes.find` is used, so a scan runs at memory speed.

The functions work on anything with `find` and slicing: `bytes`, `bytearray`, `mmap`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO

try:  # memchr-speed search for comment/PI openers, and the splitter (treeindex/worker/_scan.c)
    from ..worker._scan import find_special as _find_special  # type: ignore[import-not-found,unused-ignore]
    from ..worker._scan import split as _split  # type: ignore[import-not-found,unused-ignore]
except ImportError:  # pragma: no cover - no C compiler at install
    _find_special = _split = None

START = b"<alpino_ds"
END = b"</alpino_ds>"
_AFTER_NAME = frozenset(b" \t\r\n>/")
_DELIMITERS = (b" ", b"\t", b"\r", b"\n", b">", b"/")
_DOCTYPE_END = re.compile(rb"\]\s*>")


class Unterminated(Exception):
    """A comment, CDATA section or processing instruction does not end before `limit`
    (internal to the splitter: callers turn it into an InputError)."""

    def __init__(self, at: int) -> None:
        super().__init__(at)
        self.at = at  # where the construct starts


def skip_markup(buf: Any, q: int, limit: int) -> int:
    """Return the position just after the special construct that starts at `q`."""
    head = bytes(buf[q : q + 9])
    if head.startswith(b"<!--"):
        close, start = b"-->", q + 4
    elif head.startswith(b"<![CDATA["):
        close, start = b"]]>", q + 9
    elif head.startswith(b"<?"):
        close, start = b"?>", q + 2
    elif head.startswith(b"<!DOCTYPE"):
        gt = buf.find(b">", q, limit)
        bracket = buf.find(b"[", q, gt if gt >= 0 else limit)
        if bracket < 0:
            if gt < 0:
                raise Unterminated(q)
            return gt + 1
        m = _DOCTYPE_END.search(bytes(buf[bracket:limit]))
        if m is None:
            raise Unterminated(q)
        return bracket + m.end()
    else:  # some other <! declaration
        close, start = b">", q + 2
    e = buf.find(close, start, limit)
    if e < 0:
        raise Unterminated(q)
    return e + len(close)


def _next_special(buf: Any, a: int, b: int) -> int:
    if _find_special is not None and isinstance(buf, bytes):
        return _find_special(buf, a, b)
    x = buf.find(b"<!", a, b)
    y = buf.find(b"<?", a, x if x >= 0 else b)
    return y if y >= 0 else x


def _find_mark(buf: Any, mark: bytes, a: int, b: int) -> int:
    """Position of the first b"<" + mark in [a, b), or -1; memchr-fast, as the marks ('!',
    '?') are rare and '<' is everywhere."""
    i = a + 1
    while True:
        h = buf.find(mark, i, b)
        if h < 0:
            return -1
        if buf[h - 1] == 60:  # '<'
            return h - 1
        i = h + 1


class _Specials:
    """The next '<!' and '<?' in a stretch of input, each searched for once: a run of many
    comments costs linear time, not a rescan per comment."""

    def __init__(self, buf: Any) -> None:
        self.buf = buf
        # mark -> (searched from, searched up to, first found there or -1)
        self.found = {b"!": (0, 0, -1), b"?": (0, 0, -1)}

    def next(self, pos: int, upto: int) -> int:
        """The first '<!' or '<?' in [pos, upto), or -1."""
        best = -1
        for mark, (since, to, at) in self.found.items():
            if since > pos or (0 <= at < pos) or (at < 0 and to < upto):
                start = max(pos, to - 1) if (since <= pos and at < 0) else pos
                at = _find_mark(self.buf, mark, start, upto)
                self.found[mark] = (pos, upto, at)
            if 0 <= at < upto and (best < 0 or at < best):
                best = at
        return best


def next_start(buf: Any, pos: int, limit: int, at_least: int = 0) -> int:
    """Position of the next real `<alpino_ds` tag in `[max(pos, at_least), limit)`, or -1.

    `pos` must lie outside comments, CDATA and the like (a boundary, a point inside a start
    tag, or the start of the data); constructs are tracked from there on, so `at_least` may
    fall anywhere. A construct left open at `limit` ends the search (-1): the caller decides
    whether more data is to come (streams) or the input is truncated. Linear time.
    """
    specials = _Specials(buf)
    p = buf.find(START, max(pos, at_least), limit)
    while True:
        if p < 0:
            return -1
        q = specials.next(pos, p)
        if q < 0:
            if p + len(START) >= limit:
                return -1  # cannot tell yet whether the name goes on
            if buf[p + len(START)] in _AFTER_NAME:
                return p
            pos = p + len(START)
            p = buf.find(START, max(pos, at_least), limit)
            continue
        try:
            pos = skip_markup(buf, q, limit)
        except Unterminated:
            return -1
        if pos > p:
            p = buf.find(START, max(pos, at_least), limit)


def sentence_spans(buf: Any, start: int, limit: int) -> Iterator[tuple[int, int]]:
    """Split `buf[start:limit]` (which begins at a boundary) into per-sentence ranges.

    Each range runs from one `<alpino_ds` to the next (or to `limit`), so it holds one
    sentence plus whatever follows it (whitespace, `</treebank>`).
    """
    if _next_special(buf, start, limit) < 0:
        # no comment, CDATA, PI or DOCTYPE anywhere: every "<alpino_ds" + delimiter is a tag
        find = buf.find
        cur = find(START, start, limit)
        while cur >= 0:
            nxt = find(START, cur + len(START), limit)
            while nxt >= 0 and buf[nxt + len(START):nxt + len(START) + 1] not in _DELIMITERS:
                nxt = find(START, nxt + len(START), limit)
            if cur >= 0 and buf[cur + len(START):cur + len(START) + 1] in _DELIMITERS:
                yield cur, (nxt if nxt >= 0 else limit)
            cur = nxt
        return
    cur = next_start(buf, start, limit)
    while cur >= 0:
        nxt = next_start(buf, cur + len(START), limit)
        yield cur, (nxt if nxt >= 0 else limit)
        cur = nxt


def sentence_bytes(buf: bytes, start: int = 0, limit: int | None = None) -> bytes | None:
    """The `<alpino_ds ...>...</alpino_ds>` starting at `start` (a span from `sentence_spans`),
    or None if it never closes before `limit`."""
    e = buf.rfind(END, start, len(buf) if limit is None else limit)
    if e < 0:
        return None
    return buf[start : e + len(END)]


def split_lines(buf: bytes, start: int, limit: int
                ) -> tuple[list[tuple[int, int, int, int]], int]:
    """The sentences of `buf[start:limit]` (which begins at a boundary) and its lines:
    ([(a, b, e, line), ...], newlines). Each sentence runs from a to b as `sentence_spans`
    gives them; e is the end of its `sentence_bytes` (-1: truncated, no `</alpino_ds>` before
    b); line counts the newlines in [start, a), newlines those in [start, limit).

    In C (worker/_scan.c `split`, one call per task) unless a comment, CDATA section,
    processing instruction or DOCTYPE is there; `split_lines_python` is the reference."""
    if _split is not None and isinstance(buf, bytes):
        fast = _split(buf, start, limit)
        if fast is not None:
            return fast  # type: ignore[no-any-return,unused-ignore]
    return split_lines_python(buf, start, limit)


def split_lines_python(buf: bytes, start: int, limit: int
                       ) -> tuple[list[tuple[int, int, int, int]], int]:
    """`split_lines` in Python: the obvious way, and the reference for the C splitter."""
    spans = []
    line, counted = 0, start
    for a, b in sentence_spans(buf, start, limit):
        e = buf.rfind(END, a, b)
        line += buf.count(b"\n", counted, a)
        counted = a
        spans.append((a, b, e + len(END) if e >= 0 else -1, line))
    return spans, line + buf.count(b"\n", counted, limit)


SLACK = 64 << 10


LARGEST_PIECE = 256 << 20


class NoBoundary(Exception):
    """No sentence boundary within the largest piece allowed: see `pieces` (internal: the
    treebank format turns it into an InputError)."""

    def __init__(self, offset: int) -> None:
        super().__init__(offset)
        self.offset = offset  # where the piece without a boundary starts


def pieces(f: BinaryIO, base: int, chunk: int, position: Callable[[], int],
           largest: int = LARGEST_PIECE) -> Iterator[tuple[int, bytes, int]]:
    """Read a binary stream as (offset, bytes, position()) pieces of about `chunk` bytes;
    every piece but the first starts at a sentence boundary. `base` is the stream's offset in
    the file (where it was positioned: 0, or a boundary), `position` tells how far the file
    has been read (for progress). Reads with a bounded buffer: memory stays flat. Where no
    boundary follows within `largest` bytes (an unterminated comment or CDATA section turns
    the rest of a file into one construct) it raises NoBoundary(offset) rather than buffer
    the rest of the file.
    """
    held = _Stream(f)
    for offset, cut, _ in _cuts(held, base, chunk, largest):
        yield offset, held.data[:cut], position()


def range_cuts(fd: int, base: int, stop: int, chunk: int, largest: int = LARGEST_PIECE
               ) -> Iterator[tuple[int, int, int]]:
    """`pieces` of a plain file's bytes from `base` (0 or a boundary) up to `stop`, as
    (offset, length, how far the file has been read), for tasks that read their own byte
    ranges: the same cuts, found in one buffer that each read fills in place (`os.preadv`),
    so that no piece is copied into a bytes object of its own (0.07 -> 0.02 CPU-s per 100
    MB). Where the file ends before `stop` (it became shorter), the pieces end there, as
    `pieces` ends on a short read."""
    return _cuts(_InPlace(fd, base, stop), base, chunk, largest)


def _cuts(held: _Stream | _InPlace, base: int, chunk: int, largest: int
          ) -> Iterator[tuple[int, int, int]]:
    """The cuts of `pieces` and `range_cuts` as (offset, length, how far was read): each at
    the first boundary after `chunk` bytes, found in what `held` holds (a little more than
    a chunk, read again twice as much while no boundary shows; NoBoundary past `largest`)."""
    eof = False  # (learnt from a read that returns nothing)
    while True:
        # a little more than a chunk, so that the cut (the first boundary after `chunk`
        # bytes) is usually found without reading, or rescanning, more
        while not eof and held.length <= chunk:
            eof = not held.more(chunk + SLACK - held.length)
        if not held.length:
            return
        pos = len(START) if held.data.startswith(START, 0, held.length) else 0
        cut = next_start(held.data, pos, held.length, at_least=chunk)
        while cut < 0 and not eof:
            if held.length >= max(largest, chunk + SLACK):
                raise NoBoundary(base)
            # doubling: each rescan covers twice as much
            eof = not held.more(max(SLACK, held.length))
            cut = next_start(held.data, pos, held.length, at_least=chunk)
        if cut < 0:
            cut = held.length
        yield base, cut, base + held.length
        held.drop(cut)
        base += cut


class _Stream:
    """What `pieces` holds of a stream: one bytes object, read onto its end."""

    def __init__(self, f: BinaryIO) -> None:
        self.f = f
        self.data = b""

    @property
    def length(self) -> int:
        return len(self.data)

    def more(self, n: int) -> int:
        """Read up to `n` bytes more; how many came (0: the end)."""
        block = self.f.read(n)
        self.data += block
        return len(block)

    def drop(self, cut: int) -> None:
        self.data = self.data[cut:]


class _InPlace:
    """What `range_cuts` holds of a file: the bytes from `base` on, in one bytearray that
    `os.preadv` fills in place (`length` of them; the rest of it is stale)."""

    def __init__(self, fd: int, base: int, stop: int) -> None:
        self.fd, self.base, self.stop = fd, base, stop
        self.data = bytearray()
        self.length = 0

    def more(self, n: int) -> int:
        """Read up to `n` bytes more, short only at the end (of the file or of `stop`); how
        many came."""
        want = min(self.length + n, self.stop - self.base)
        if want > len(self.data):
            self.data += bytes(want - len(self.data))
        have = self.length
        while have < want:
            with memoryview(self.data) as view:
                got = os.preadv(self.fd, [view[have:want]], self.base + have)
            if got <= 0:
                break
            have += got
        got, self.length = have - self.length, have
        return got

    def drop(self, cut: int) -> None:
        """Forget the first `cut` bytes (the rest moved to the front: one read a piece)."""
        self.data[:self.length - cut] = self.data[cut:self.length]
        self.base += cut
        self.length -= cut


_ID = re.compile(rb"<alpino_ds\b[^>]*?\sid\s*=\s*[\"']([^\"'<>]*)[\"']")


def guess_id(segment: bytes) -> str | None:
    """alpino_ds/@id read from the raw bytes of a sentence that could not be parsed."""
    m = _ID.match(segment)
    return m.group(1).decode("utf-8", "replace") if m else None
