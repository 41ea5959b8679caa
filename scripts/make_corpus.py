#!/usr/bin/env python3
"""Build a large real-derived treebank by repeating real Alpino sentences with unique ids.

    python3 scripts/make_corpus.py --mb 100 /tmp/treeindex-bench/corpus-100.xml

Sentences come from ../shared/corpora/treebanks/{cdb,suites}.xml (or --source files), are
copied byte for byte, and get `id="<original>/r<N>"` so every id is unique. Never commit
the output: build it under /tmp.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_SOURCES = [
    HERE.parent.parent / "shared" / "corpora" / "treebanks" / "cdb.xml",
    HERE.parent.parent / "shared" / "corpora" / "treebanks" / "suites.xml",
]
SENTENCE = re.compile(rb"<alpino_ds\b.*?</alpino_ds>", re.S)
ID = re.compile(rb'^(<alpino_ds id="[^"]*)"')


def make(dest: Path, megabytes: float, sources: list[Path]) -> int:
    blocks = [m.group(0) for src in sources for m in SENTENCE.finditer(src.read_bytes())]
    if not blocks:
        raise SystemExit("no <alpino_ds> sentences in the sources")
    target = int(megabytes * 1e6)
    written, round_, count = 0, 0, 0
    dest.parent.mkdir(parents=True, exist_ok=True)
    with open(dest, "wb") as f:
        head = b'<?xml version="1.0" encoding="UTF-8"?>\n<treebank>\n'
        f.write(head)
        written += len(head)
        while written < target:
            suffix = b"/r%d" % round_
            for b in blocks:
                if ID.match(b):
                    b = ID.sub(rb"\1" + suffix + b'"', b, 1)
                else:
                    b = b.replace(b"<alpino_ds", b'<alpino_ds id="s%d%s"' % (count, suffix), 1)
                f.write(b + b"\n")
                written += len(b) + 1
                count += 1
                if written >= target:
                    break
            round_ += 1
        f.write(b"</treebank>\n")
    return count


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    ap.add_argument("dest", type=Path)
    ap.add_argument("--mb", type=float, default=100.0, help="size in MB (10^6 bytes)")
    ap.add_argument("--source", type=Path, action="append", help="treebank(s) to draw from")
    args = ap.parse_args()
    n = make(args.dest, args.mb, args.source or DEFAULT_SOURCES)
    print(f"{args.dest}: {n:,} sentences, {args.dest.stat().st_size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
