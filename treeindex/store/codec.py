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
import threading
from collections.abc import Callable, Sequence
from typing import Any

import zstandard

from ..errors import DatabaseError

_decompressobj: Any = None


def _inflater() -> Any:
    """A zlib decompressor: ISA-L's, which inflates zlib streams 1.7x faster than zlib's,
    imported at the first zlib blob (5-10 ms that a command on an index of zstd frames, the
    usual kind, need not pay)."""
    global _decompressobj
    if _decompressobj is None:
        try:
            from isal.isal_zlib import decompressobj
        except ImportError:  # pragma: no cover - platforms without isal wheels
            from zlib import decompressobj  # type: ignore[assignment]
        _decompressobj = decompressobj
    return _decompressobj()

# A sentence's XML is never larger than this: ingest records a larger one as a malformed
# sentence, and nothing stored or handed in (the web view's SQL functions) is inflated past
# it, so a crafted frame that declares gigabytes costs nothing.
MAX_XML = 16 << 20

ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
ZSTD_LEVEL = 3
DICTIONARY_SIZE = 64 << 10
# train on about this much of the first input (600 real sentences), FASTCOVER with `accel`
# 10: 0.13 s against 0.19 s at accel 1 (the one step of an ingest before any worker starts),
# and the stored sentences 0.5% smaller on the real suites (1 MB: 0.075 s, but 3.5% larger)
SAMPLE_BYTES = 2 << 20
TRAIN_ACCEL = 10
# FASTCOVER's segment and d-mer sizes, fixed: without them zstd tries some 40 pairs and
# keeps the best, which took 4 x as long (2 MB: 49-67 ms against 12-15 ms) for no smaller
# sentences. Measured on the sentences after the sample (docs/design.md, stop 38): the real
# suites' 7.87 MB with the pairs zstd chose, 7.82 MB with these (each suite within -27% (ovis:
# zstd chose k=50 there) and +1%); an ingest of the real treebanks of shared/corpora, where
# zstd chose these, is unchanged (the generated benchmark input: zstd chose k=1024, and its
# sentences are 1.3% larger with 1511).
TRAIN_K = 1511
TRAIN_D = 8
MIN_SAMPLE = 256 << 10  # below this a dictionary is not worth it: zlib


def train(sample: Sequence[bytes]) -> bytes | None:
    """A zstd dictionary for sentences like `sample` (deterministic), or None when the sample
    is too small to train on."""
    if sum(map(len, sample)) < MIN_SAMPLE or len(sample) < 50:
        return None
    try:
        return zstandard.train_dictionary(DICTIONARY_SIZE, list(sample), k=TRAIN_K,
                                          d=TRAIN_D, accel=TRAIN_ACCEL).as_bytes()
    except zstandard.ZstdError:  # too few distinct samples
        return None


# zstd contexts are one per thread: one is not safe to share (python-zstandard lets go of the
# GIL while it works: two tasks run in threads of one process, through one compressor, failed
# with "Src size is incorrect")
_local = threading.local()


def zstd_compressor(level: int, dictionary: bytes | None = None) -> Callable[[bytes], bytes]:
    """This thread's zstd compress function at `level`, with `dictionary` (made once per
    thread, level and dictionary)."""
    made: dict[tuple, Callable[[bytes], bytes]] | None = getattr(_local, "compressors", None)
    if made is None:
        made = _local.compressors = {}
    c = made.get((level, dictionary))
    if c is None:
        data = zstandard.ZstdCompressionDict(dictionary) if dictionary is not None else None
        c = made[level, dictionary] = zstandard.ZstdCompressor(level=level,
                                                               dict_data=data).compress
    return c


def zstd_decompressor() -> zstandard.ZstdDecompressor:
    """This thread's zstd decompressor without a dictionary (the node table's sections)."""
    d = getattr(_local, "decompressor", None)
    if d is None:
        d = _local.decompressor = zstandard.ZstdDecompressor()
    return d


def dictionary_id(data: bytes) -> int:
    return zstandard.ZstdCompressionDict(data).dict_id()


class Decoder:
    """Reads the `xml` of any sentence of an index (dictionaries loaded once each).

    A blob that is neither format, is damaged, or would inflate past MAX_XML raises
    DatabaseError ("not a valid treeindex index: ..."), naming `path` when given."""

    def __init__(self, conn: sqlite3.Connection, path: object = None) -> None:
        self.conn = conn
        self.path = path
        self.zstd: dict[int, zstandard.ZstdDecompressor] = {}

    def damaged(self, what: str) -> DatabaseError:
        where = f"{self.path}: " if self.path is not None else ""
        return DatabaseError(f"{where}not a valid treeindex index: a stored sentence {what}; "
                             "build the index again into a new --db")

    def __call__(self, blob: bytes) -> bytes:
        if not isinstance(blob, bytes):
            raise self.damaged(f"is {type(blob).__name__}, not compressed XML")
        if blob[:4] != ZSTD_MAGIC:
            inflater = _inflater()
            try:
                xml = inflater.decompress(blob, MAX_XML + 1)
            except Exception as e:  # zlib.error, IsalError: damaged
                raise self.damaged(f"is neither zstd nor zlib ({e})") from None
            if len(xml) > MAX_XML:
                raise self.damaged(f"inflates to more than {MAX_XML >> 20} MB")
            if not inflater.eof:
                raise self.damaged("is cut short")
            return xml
        try:
            params = zstandard.get_frame_parameters(blob)
        except zstandard.ZstdError as e:
            raise self.damaged(f"is not a zstd frame ({e})") from None
        if params.content_size != zstandard.CONTENTSIZE_UNKNOWN and \
                params.content_size > MAX_XML:
            raise self.damaged(f"declares {params.content_size:,} bytes, more than the "
                               f"{MAX_XML >> 20} MB a sentence may be")
        d = self.zstd.get(params.dict_id)
        if d is None:
            try:
                row = self.conn.execute("SELECT data FROM dictionaries WHERE id = ?",
                                        (params.dict_id,)).fetchone() if params.dict_id else None
                data = zstandard.ZstdCompressionDict(row[0]) if row else None
                d = zstandard.ZstdDecompressor(dict_data=data)
            except (sqlite3.Error, zstandard.ZstdError, TypeError) as e:
                raise self.damaged(f"names a dictionary that cannot be read ({e})") from None
            self.zstd[params.dict_id] = d
        try:
            return d.decompress(blob, max_output_size=MAX_XML)
        except zstandard.ZstdError as e:
            raise self.damaged(f"cannot be decompressed ({e})") from None


def read_xml(conn: sqlite3.Connection, blob: bytes) -> bytes:
    """The sentence XML of one `sentences.xml` blob (for scripts: `Decoder` reads many)."""
    return Decoder(conn)(blob)
