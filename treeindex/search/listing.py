"""Every hit of a query as the lines `treeindex search --format F` prints, made where the
blocks are evaluated.

`search` yields hit records, which its caller formats: in the calling process, after the
workers have selected the hits. For a whole listing that process was the bottleneck
(about 60 us a hit on this machine: the record 35, its line and writing it 25), whatever
the cores. Here each job makes its block's records and their lines itself (fast.Lines),
in a worker where there are workers, and the calling process only writes them: the
listing scales with the workers. A job is one block, so that at most N + 2 blocks' lines
are in memory at once. The lines are byte for byte those of
`formats.hit_lines(search(...), fmt)` (tests/test_listing.py). With a limit, the lines of
the first `limit` hits: at most N + 2 blocks' lines (N workers) are made beyond it, and
thrown away.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from ..store import Index, translate_errors
from . import Plan, Progress, _engine_hits, _engine_run, _parsed_hits, plan, unchanged
from .formats import FORMATS, framed, hit_lines, own_lines
from .run import Hit


def search_lines(
    db_path: Path | str,
    xpath: str,
    fmt: str,
    *,
    corpora: list[str] | None = None,
    macros: dict[str, str] | None = None,
    workers: int | None = None,
    limit: int | None = None,
    engine: str = "auto",
    progress_callback: Callable[[Progress], None] | None = None,
) -> Iterator[str]:
    """The lines of every hit of `xpath` in `fmt` (formats.FORMATS), in document order, with
    what the format puts around them; of the first `limit` hits only, with a limit.
    QueryError as `search`."""
    if fmt not in FORMATS:
        raise ValueError(f"fmt must be one of {FORMATS}")
    db_path = Path(db_path)
    p = plan(db_path, xpath, corpora=corpora, macros=macros, engine=engine)
    with_xml = fmt == "xml"
    if p.engine is None:  # (every candidate parsed: the records are made where they are)
        yield from hit_lines(_parsed_hits(p, db_path, limit, (), with_xml, True, workers,
                                          None, progress_callback), fmt)
        return
    from . import fast  # (the node table's, with numpy: not for the lxml path)

    if fast.kept_superblocks(str(db_path)):  # (a server's: a job is a whole superblock, too
        # many lines at once; its threads share one core's Python anyway)
        yield from hit_lines(_engine_hits(p, db_path, limit, (), with_xml, True, workers,
                                          progress_callback), fmt)
    else:
        yield from framed(_engine_lines(p, db_path, fmt, limit, workers, progress_callback),
                          fmt)


def _engine_lines(p: Plan, db_path: Path, fmt: str, limit: int | None, workers: int | None,
                  progress_callback: Callable[[Progress], None] | None) -> Iterator[str]:
    from . import fast

    found = [0]
    names = {r.id: r.name for r in p.corpora}
    with_xml = fmt == "xml"
    with translate_errors(db_path), Index(db_path) as index, index.snapshot():
        for kind, part in _engine_run(p, db_path, index, "lines", with_xml, (), True,
                                      workers, progress_callback, found, fmt, limit):
            left = None if limit is None else limit - found[0]
            if isinstance(part, fast.Lines):
                found[0] += part.hits
                yield from (part.lines if left is None or part.hits < left
                            else part.first(left))
            else:  # the first block (fast.jobs): its records made here, as they are written
                hits = part.hits if kind == "old" else fast.hits(
                    index, part, names[part.corpus_id], True, (), with_xml, p.query.text)
                yield from own_lines(_counted(hits, found, left), fmt)
            if limit is not None and found[0] >= limit:
                return  # (as `search` with a limit: what follows is not looked at)
    unchanged(db_path, p)


def _counted(hits: Iterable[Hit], found: list[int], left: int | None) -> Iterator[Hit]:
    for hit in itertools.islice(hits, left):
        found[0] += 1
        yield hit
