"""How the stored sentences are compressed, and how to read them back.

A sentence's `xml` is either a zlib stream (indexes whose inputs were too small to train a
dictionary on, and every index of the first version) or a zstd frame made with the index's
dictionary (table `dictionaries`, trained on a sample of the first input at the first
ingest): about twice as small as zlib on real Alpino sentences, and faster to read. Each blob
says which it is (a zstd frame starts with its magic number and names its dictionary), so
both can live in one index.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

import zstandard

try:  # ISA-L inflates zlib streams 1.7x faster than zlib
    from isal.isal_zlib import decompress as inflate
except ImportError:  # pragma: no cover - platforms without isal wheels
    from zlib import decompress as inflate

ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
ZSTD_LEVEL = 3
DICTIONARY_SIZE = 64 << 10
SAMPLE_BYTES = 2 << 20  # train on about this much of the first input (600 real sentences)
MIN_SAMPLE = 256 << 10  # below this a dictionary is not worth it: zlib


def train(sample: Sequence[bytes]) -> bytes | None:
    """A zstd dictionary for sentences like `sample` (deterministic), or None when the sample
    is too small to train on."""
    if sum(map(len, sample)) < MIN_SAMPLE or len(sample) < 50:
        return None
    try:
        return zstandard.train_dictionary(DICTIONARY_SIZE, list(sample)).as_bytes()
    except zstandard.ZstdError:  # too few distinct samples
        return None


def dictionary_id(data: bytes) -> int:
    return zstandard.ZstdCompressionDict(data).dict_id()


class Decoder:
    """Reads the `xml` of any sentence of an index (dictionaries loaded once each)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.zstd: dict[int, zstandard.ZstdDecompressor] = {}

    def __call__(self, blob: bytes) -> bytes:
        if blob[:4] != ZSTD_MAGIC:
            return inflate(blob)
        dict_id = zstandard.get_frame_parameters(blob).dict_id
        d = self.zstd.get(dict_id)
        if d is None:
            row = self.conn.execute("SELECT data FROM dictionaries WHERE id = ?",
                                    (dict_id,)).fetchone()
            data = zstandard.ZstdCompressionDict(row[0]) if row else None
            d = self.zstd[dict_id] = zstandard.ZstdDecompressor(dict_data=data)
        return d.decompress(blob)


def read_xml(conn: sqlite3.Connection, blob: bytes) -> bytes:
    """The sentence XML of one `sentences.xml` blob (for scripts: `Decoder` reads many)."""
    return Decoder(conn)(blob)
