#!/usr/bin/env python3
"""Write a treebank file's sentences as an Alpino compact corpus (X.data.dz + X.index), the
way Alpino's TreebankTools/IndexedCorpus does: each sentence a one-sentence XML file (entry
`<n>.xml`), the entries concatenated, the data a dictzip file (chunks of 58,315 bytes, each
deflated and ended with a full flush).

    python3 scripts/make_compact.py /tmp/treeindex-bench/corpus-100.xml /tmp/treeindex-bench/c100

For benchmarks (scripts/bench_compact.py); build them under /tmp, never in the repo.
"""

from __future__ import annotations

import argparse
import re
import struct
import zlib
from pathlib import Path

CHUNK = 58315
B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
SENTENCE = re.compile(rb"<alpino_ds\b.*?</alpino_ds>", re.S)


def b64(n: int) -> str:
    out = ""
    while True:
        out = B64[n % 64] + out
        n //= 64
        if not n:
            return out


def write(entries: list[tuple[str, bytes]], stem: Path) -> None:
    data = b"".join(e for _, e in entries)
    with open(f"{stem}.index", "w", encoding="utf-8") as f:
        offset = 0
        for name, entry in entries:
            f.write(f"{name}\t{b64(offset)}\t{b64(len(entry))}\n")
            offset += len(entry)
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    chunks = [c.compress(data[i:i + CHUNK]) + c.flush(zlib.Z_FULL_FLUSH)
              for i in range(0, len(data), CHUNK)]
    tail = c.flush(zlib.Z_FINISH)
    ra = struct.pack(f"<HHH{len(chunks)}H", 1, CHUNK, len(chunks), *map(len, chunks))
    extra = b"RA" + struct.pack("<H", len(ra)) + ra
    if len(extra) > 65535:
        raise SystemExit("too much data for one dictzip file (about 1.9 GB at most)")
    with open(f"{stem}.data.dz", "wb") as f:
        f.write(b"\x1f\x8b\x08\x04" + struct.pack("<I", 0) + b"\x00\x03")
        f.write(struct.pack("<H", len(extra)) + extra)
        for chunk in chunks:
            f.write(chunk)
        f.write(tail)
        f.write(struct.pack("<II", zlib.crc32(data), len(data) & 0xFFFFFFFF))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("treebank", type=Path)
    ap.add_argument("stem", type=Path)
    args = ap.parse_args()
    decl = b'<?xml version="1.0" encoding="UTF-8"?>\n'
    entries = [(f"{i}.xml", decl + m.group(0) + b"\n")
               for i, m in enumerate(SENTENCE.finditer(args.treebank.read_bytes()), 1)]
    write(entries, args.stem)
    print(f"{args.stem}.data.dz + .index: {len(entries):,} entries")


if __name__ == "__main__":
    main()
