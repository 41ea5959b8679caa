"""How the stored sentences are compressed: zstd with a dictionary trained on the first input,
zlib where the input is too small to train on, and both readable in one index."""

from __future__ import annotations

import re
import sqlite3
import zlib

import pytest
import zstandard
from conftest import ALPINO, WRPEE, dump, repeat_treebank

from treeindex import ingest
from treeindex.errors import DatabaseError
from treeindex.export import export
from treeindex.store import Index
from treeindex.store.codec import MAX_XML, ZSTD_MAGIC, Decoder


def kinds(db):
    conn = sqlite3.connect(db)
    blobs = [x for (x,) in conn.execute("SELECT xml FROM sentences")]
    conn.close()
    return sum(b[:4] == ZSTD_MAGIC for b in blobs), sum(b[:4] != ZSTD_MAGIC for b in blobs)


def stored_xml(db):
    conn = sqlite3.connect(db)
    decode = Decoder(conn)
    out = [decode(x) for (x,) in conn.execute("SELECT xml FROM sentences ORDER BY id")]
    conn.close()
    return out


def test_a_big_enough_input_is_stored_with_a_dictionary(tmp_path):
    src = repeat_treebank(tmp_path / "big.xml", 3)
    db = tmp_path / "t.db"
    ingest(db, [src], workers=2)
    zstd, other = kinds(db)
    assert zstd > 0 and other == 0
    assert sqlite3.connect(db).execute("SELECT count(*) FROM dictionaries").fetchone() == (1,)
    raw = src.read_bytes()
    assert all(x in raw for x in stored_xml(db))  # byte for byte the input's sentences
    total = sqlite3.connect(db).execute("SELECT sum(length(xml)) FROM sentences").fetchone()[0]
    assert total < sum(map(len, stored_xml(db))) / 5  # about 6x on real sentences


def test_a_small_input_is_stored_with_zlib_and_a_later_one_trains_the_dictionary(tmp_path):
    db = tmp_path / "t.db"
    ingest(db, [WRPEE], workers=0)  # 11 sentences: nothing to train on
    assert kinds(db) == (0, 11)
    ingest(db, [repeat_treebank(tmp_path / "big.xml", 3)], workers=0)
    zstd, other = kinds(db)
    assert zstd > 0 and other == 11
    with Index(db) as index:  # both kinds read back, also through export
        assert index.sentence(1).xml.startswith(b"<alpino_ds")
    report = export(db, tmp_path / "out", workers=0)
    assert report.subtrees > 0


def test_the_dictionary_does_not_depend_on_workers_chunks_or_interruptions(tmp_path):
    src = repeat_treebank(tmp_path / "big.xml", 3)
    a, b = tmp_path / "a.db", tmp_path / "b.db"
    ingest(a, [src, ALPINO / "cdb"], workers=0, chunk_bytes=1 << 20)
    ingest(b, [src, ALPINO / "cdb"], workers=2, chunk_bytes=30_000)
    assert dump(a) == dump(b)
    assert sqlite3.connect(a).execute("SELECT id, data FROM dictionaries").fetchall() == \
        sqlite3.connect(b).execute("SELECT id, data FROM dictionaries").fetchall()



@pytest.mark.parametrize("blob, message", [
    (zlib.compress(b"<" * (MAX_XML + 1), 9), "inflates to more than 16 MB"),
    (zstandard.ZstdCompressor().compress(b"<" * (MAX_XML + 1)),
     "declares 16,777,217 bytes, more than the 16 MB a sentence may be"),
    (b"\x28\xb5\x2f\xfd\xe0" + (4 << 30).to_bytes(8, "little") + b"\x01\x00\x00",
     "declares 4,294,967,296 bytes"),
    (b"\x00\x11\x22\x33", "is neither zstd nor zlib"),
    (zlib.compress(b"<alpino_ds/>")[:-6], "is cut short"),
    (ZSTD_MAGIC + b"\x00", "is not a zstd frame"),
])
def test_a_blob_that_is_damaged_or_too_big_is_refused_before_it_is_inflated(blob, message):
    decode = Decoder(sqlite3.connect(":memory:"), "x.db")
    with pytest.raises(DatabaseError, match="x.db: not a valid treeindex index: a stored "
                                            "sentence " + re.escape(message)):
        decode(blob)


def test_a_frame_without_its_size_is_inflated_at_most_to_the_bound():
    stream = zstandard.ZstdCompressor(write_content_size=False).compressobj()
    blob = stream.compress(b"<" * (MAX_XML + 10)) + stream.flush()
    with pytest.raises(DatabaseError, match="cannot be decompressed"):
        Decoder(sqlite3.connect(":memory:"))(blob)
    small = zstandard.ZstdCompressor(write_content_size=False).compress(b"<alpino_ds/>")
    assert Decoder(sqlite3.connect(":memory:"))(small) == b"<alpino_ds/>"
