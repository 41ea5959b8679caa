"""Cutting the inputs into shards: whole corpora, and large plain treebank files into byte
ranges that start and end on sentence boundaries. The cut is deterministic (the same inputs
and --shard-mb give the same shards), so a rerun finds the shards it published before.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError
from ..sources import Corpus
from ..sources.treebank import is_gzip

# a sentence boundary: the end of one sentence, whitespace, the start of the next
_BOUNDARY = re.compile(rb"</alpino_ds\s*>\s*(<alpino_ds[\s>/])")
_WINDOW = 1 << 20
_FARTHEST = 256 << 20


@dataclass(frozen=True)
class ShardSpec:
    """One shard: a corpus, or a byte range of a corpus's one treebank file."""

    key: str  # names the shard's file: the same inputs and settings give the same key
    index: int  # position in input order
    paths: tuple[str, ...]  # what to ingest (with `name`, the shard is exactly this corpus)
    name: str
    byte_range: tuple[int, int] | None
    first: bool  # the corpus starts with this shard
    last: bool  # and is complete after it
    input_bytes: int  # for progress


def splittable(c: Corpus) -> bool:
    return c.kind == "treebank" and len(c.files) == 1 and not is_gzip(c.source)


def boundary_after(path: Path, at: int, size: int) -> int | None:
    """The first sentence boundary (offset of `<alpino_ds`) at or after `at`, or None when
    none follows within 256 MB (or before the end)."""
    with open(path, "rb") as f:
        f.seek(max(at - 64, 0))
        base = f.tell()
        buf = b""
        while base + len(buf) < size and len(buf) < _FARTHEST:
            buf += f.read(_WINDOW)
            for m in _BOUNDARY.finditer(buf):
                if base + m.start(1) >= at:
                    return base + m.start(1)
    return None


def cuts(c: Corpus, shard_bytes: int, resume_at: int = 0) -> list[tuple[int, int]]:
    """The byte ranges of a splittable corpus's shards, from `resume_at` (a boundary) on."""
    size = c.input_bytes
    points = [resume_at]
    k = resume_at // shard_bytes + 1
    while k * shard_bytes < size:
        b = boundary_after(c.source, k * shard_bytes, size)
        if b is None:
            break
        if b > points[-1]:
            points.append(b)
        k = max(k + 1, b // shard_bytes + 1)
    points.append(size)
    return list(zip(points, points[1:]))


def corpus_paths(c: Corpus) -> tuple[str, ...]:
    """The paths that, with the corpus's name, make discovery find exactly this corpus."""
    if c.kind == "treebank" and len(c.files) > 1:
        return tuple(str(f) for f in c.files)
    return (str(c.source),)


def plan_shards(corpora: list[Corpus], shard_bytes: int, settings: str,
                merged: dict[str, int]) -> list[ShardSpec]:
    """The shards still to do, in input order. `merged`: corpus name -> the byte offset its
    merged shards reach (a corpus merged complete is left out by the caller)."""
    specs: list[ShardSpec] = []
    for c in corpora:
        at = merged.get(c.name, 0)
        ranges: list[tuple[int, int] | None]
        if splittable(c) and (c.input_bytes > shard_bytes or at):
            ranges = list(cuts(c, shard_bytes, at))
        elif at:
            raise InputError(f"{c.source}: corpus {c.name!r} is partly indexed by an ingest "
                             "without --scheduler; finish it that way, or give --replace")
        else:
            ranges = [None]
        for k, r in enumerate(ranges):
            key = hashlib.sha1(f"{c.name}\0{c.source_text}\0{c.fingerprint}\0{r}\0{settings}"
                               .encode("utf-8", "surrogateescape")).hexdigest()[:20]
            specs.append(ShardSpec(key, len(specs), corpus_paths(c), c.name, r,
                                   first=(r is None or r[0] == 0),
                                   last=(k == len(ranges) - 1),
                                   input_bytes=c.input_bytes if r is None else r[1] - r[0]))
    return specs
