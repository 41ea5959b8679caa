"""Sentence boundaries are found in raw bytes, never inside comments, CDATA, PIs or DOCTYPE."""

from __future__ import annotations

import io

from conftest import CDB, TREEBANKS, WRPEE

from treeindex.sources.split import next_start, pieces, sentence_bytes, sentence_spans


def plan_ranges(data, chunk):
    f = io.BytesIO(data)
    return [(a, a + len(piece)) for a, piece, _ in pieces(f, 0, chunk, f.tell)]

TRICKY = (
    b'<?xml version="1.0"?>\n'
    b'<!DOCTYPE treebank [<!ENTITY x "<alpino_ds>">]>\n'
    b"<treebank><!-- <alpino_ds id='in-comment'> -->\n"
    b'<alpino_ds id="1"><node/><sentence><![CDATA[<alpino_ds id="cdata">]]></sentence>'
    b"</alpino_ds>\n"
    b"<?pi <alpino_ds id='in-pi'> ?><alpino_dsx/>\n"
    b'<alpino_ds\tid="2"><node/></alpino_ds>\n'
    b"</treebank>\n"
)


def test_boundaries_skip_lookalikes():
    spans = list(sentence_spans(TRICKY, 0, len(TRICKY)))
    assert [sentence_bytes(TRICKY[a:b])[:20] for a, b in spans] == [
        b'<alpino_ds id="1"><n', b'<alpino_ds\tid="2"><n']


def test_ranges_cover_the_file_on_boundaries():
    data = CDB.read_bytes()
    for chunk in (1, 5000, 100_000, 10**9):
        ranges = plan_ranges(data, chunk)
        assert ranges[0][0] == 0 and ranges[-1][1] == len(data)
        assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:]))
        assert all(data.startswith(b"<alpino_ds ", a) for a, _ in ranges[1:])
        inside = sum(len(list(sentence_spans(data, a, b))) for a, b in ranges)
        assert inside == data.count(b"<alpino_ds ") == 150


def test_boundary_search_resumes_inside_a_start_tag():
    data = WRPEE.read_bytes()  # all on one line
    first = next_start(data, 0, len(data))
    second = next_start(data, first + 10, len(data))
    assert data[first:first + 10] == data[second:second + 10] == b"<alpino_ds"
    assert second > first


def test_unterminated_comment_hides_the_rest():
    data = b"<treebank><!-- <alpino_ds id='x'></alpino_ds>"
    assert next_start(data, 0, len(data)) == -1


def test_c_find_special_agrees_with_find():
    import random

    import pytest

    from treeindex.sources import split

    if split._find_special is None:
        pytest.skip("the C extension is not built")
    rng = random.Random(7)
    for _ in range(2000):
        data = bytes(rng.choice(b"<!?ab>") for _ in range(rng.randint(0, 40)))
        a = rng.randint(0, len(data))
        b = rng.randint(a, len(data))
        x = data.find(b"<!", a, b)
        y = data.find(b"<?", a, x if x >= 0 else b)
        assert split._find_special(data, a, b) == (y if y >= 0 else x), (data, a, b)


def test_an_unterminated_comment_does_not_buffer_the_rest_of_the_file():
    import pytest

    from treeindex.sources.split import NoBoundary

    data = CDB.read_bytes()
    cut = data.index(b'<alpino_ds id="cdb/50"')
    broken = data[:cut] + b"<!-- never closed " + data[cut:] * 20
    f = io.BytesIO(broken)
    got = []
    with pytest.raises(NoBoundary) as e:
        for offset, piece, _ in pieces(f, 0, 50_000, f.tell, largest=400_000):
            got.append((offset, len(piece)))
    assert e.value.args[0] == got[-1][0] + got[-1][1] <= cut  # where reading stopped
    assert got and all(n <= 400_000 for _, n in got)


def _split_c():
    import pytest

    from treeindex.sources import split

    if split._split is None:
        pytest.skip("the C extension is not built")
    return split._split


def test_c_splitter_agrees_with_python_on_random_bytes():
    """The C splitter (worker/_scan.c `split`) gives the Python one's sentences, ends and lines
    on bytes made of the pieces that matter (tags, look-alikes, truncations, newlines), from
    any start to any limit; where a comment or PI is there it declines (None)."""
    import random

    from treeindex.sources.split import split_lines, split_lines_python

    c_split = _split_c()
    rng = random.Random(20261202)
    parts = [b"<alpino_ds", b"<alpino_ds ", b"<alpino_ds>", b"<alpino_ds/", b"<alpino_dsx",
             b"<alpino_ds\t", b"</alpino_ds>", b"</alpino_ds", b"\n", b"\r\n", b"x", b"<node/>",
             b" id='a'", b">", b"<", b"<!-- c -->", b"<?pi?>"]
    declined = taken = 0
    for _ in range(4000):
        data = b"".join(rng.choice(parts) for _ in range(rng.randint(0, 14)))
        start = rng.randint(0, len(data))
        limit = rng.randint(start, len(data))
        want = split_lines_python(data, start, limit)
        got = c_split(data, start, limit)
        if b"<!" in data[start:limit] or b"<?" in data[start:limit]:
            assert got is None, (data, start, limit)
            declined += 1
        else:
            assert got == want, (data, start, limit)
            taken += 1
        assert split_lines(data, start, limit) == want
    assert declined > 500 and taken > 2000


def test_c_splitter_agrees_with_python_on_the_bundled_treebanks():
    from treeindex.sources.split import next_start, split_lines_python

    c_split = _split_c()
    for path in sorted(TREEBANKS.glob("*.xml")):
        data = path.read_bytes()
        first = next_start(data, 0, len(data))
        spans, lines = c_split(data, first, len(data))
        assert (spans, lines) == split_lines_python(data, first, len(data)), path
        assert spans and all(e > a for a, _, e, _ in spans) and lines == data.count(
            b"\n", first)
        # cut short in the middle of a sentence: the last one is truncated
        cut = spans[-1][0] + 20
        assert c_split(data, first, cut) == split_lines_python(data, first, cut)
        assert c_split(data, first, cut)[0][-1][2] == -1


def _cuts_both_ways(tmp_path, data, base, stop, chunk, largest):
    """(offset, length, position) of `pieces` and of `range_cuts` over the same bytes, or
    the offset each raised NoBoundary at."""
    from treeindex.sources.split import LARGEST_PIECE, NoBoundary, range_cuts

    largest = largest or LARGEST_PIECE
    path = tmp_path / "t.xml"
    path.write_bytes(data)
    out = []
    with open(path, "rb") as raw:
        raw.seek(base)

        class Upto:  # (as treebank._Upto: the file no further than `stop`)
            def read(self, n):
                return raw.read(max(0, min(n, stop - raw.tell())))
        try:
            out.append([(o, len(p), pos) for o, p, pos in
                        pieces(Upto(), base, chunk, raw.tell, largest=largest)])
        except NoBoundary as e:
            out.append(("no boundary", e.offset))
        try:
            out.append(list(range_cuts(raw.fileno(), base, stop, chunk, largest=largest)))
        except NoBoundary as e:
            out.append(("no boundary", e.offset))
    return out


def test_range_cuts_are_the_cuts_pieces_makes(tmp_path):
    """The planner's cuts of a plain file, found in a buffer read in place, are those of
    `pieces` (offsets, lengths, how far it read), on random bytes made of what matters
    (boundaries, look-alikes, comments, CDATA, PIs, one left open), from any boundary to any
    end (a shard's, or a file shorter than planned), with chunk and largest piece sizes that
    make it grow its buffer and give up."""
    import random

    rng = random.Random(20261203)
    parts = [b'<alpino_ds id="a"><node/></alpino_ds>\n', b"<alpino_ds>", b"<alpino_dsx/>",
             b"<alpino_ds", b"x" * 50, b"\n", b"<!-- <alpino_ds> -->", b"<!-- open ",
             b"<![CDATA[<alpino_ds>]]>", b"<?pi <alpino_ds ?>", b"-->", b"?>", b"]]>",
             b"<!-- open "] + [b"y" * 20_000] * 4  # (pieces reads 64 KB past a chunk:
    # long stretches without a boundary make it read more, and give up)
    raised = grew = 0
    for _ in range(250):
        data = b"".join(rng.choice(parts) for _ in range(rng.randint(0, 40)))
        starts = [0] + [i for i in range(len(data)) if data.startswith(b"<alpino_ds id", i)]
        base = rng.choice(starts)
        stop = rng.choice([len(data), rng.randint(base, len(data)), len(data) + 100])
        chunk = rng.choice([1, 30, 200, 1000, 40_000])
        largest = rng.choice([None, 1, 70_000, 150_000])
        old, new = _cuts_both_ways(tmp_path, data, base, stop, chunk, largest)
        assert old == new, (data, base, stop, chunk, largest)
        if old and old[0] == "no boundary":
            raised += 1
        else:  # a piece found only after reading twice as much
            grew += any(n > chunk + (64 << 10) for _, n, _ in old)
    real = CDB.read_bytes()
    for chunk in (1, 5000, 100_000):
        old, new = _cuts_both_ways(tmp_path, real, 0, len(real), chunk, None)
        assert old == new and len(old) > 1
    assert raised > 10 and grew > 10, (raised, grew)
