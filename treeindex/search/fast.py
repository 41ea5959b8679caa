"""Running a search on the node table (search/engine.py): block by block, in document order,
hits made only for what is asked (counting and statistics make none).

Per corpus, in document order: each block, and the sentences in no block (indexed before
node blocks existed, ids below settings.nodes_from, or merged from an index without them)
through lxml/elementpath as before (search/run.py). In a block
the engine selects every hit at once; the few sentences the engine does not take (not
`plain`, or a value it leaves to the other engines: `Dynamic`) are parsed and evaluated
there. Candidates from the search terms skip the blocks that hold none.
"""

from __future__ import annotations

import bisect
import itertools
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
from lxml import etree

from ..store import Index
from .block import BLOCK_ERRORS, Block, read
from .engine import Dynamic, Engine, Unsupported
from .hitrecords import hits, sentences_of
from .merged import Fingerprint, MergedBlock, PartView, Superblocks
from .nodestore import build
from .run import _PARSER, SearchTask, run_search_task
from .xpath import _PROBE, Query

_probe: Block | None = None
_OLD_PART = 50_000
_OLD_TASK = 500


def probe_block() -> Block:
    """A small block to try a compiled query on: what the engine does not evaluate shows
    up here, before any data is read."""
    global _probe
    if _probe is None:
        from .nodestore import sentence_elements

        _probe = Block(build([sentence_elements(_PROBE)]))
    return _probe


def compile_engine(query: Query) -> tuple[Engine | None, str]:
    """The query compiled for the node table, or None and why not."""
    try:
        engine = Engine(query.text, query.engine == "elementpath")
        try:
            engine.select(probe_block())
        except Dynamic:
            pass
        return engine, ""
    except Unsupported as e:
        return None, str(e)
    except RecursionError:
        return None, "nested too deeply"


@dataclass
class BlockRow:
    id: int
    first: int  # sentence id
    count: int
    first_seq: int
    nbytes: int = 0  # the blob's length (with the rest: which kept superblock may hold it)

    def fingerprint(self, corpus_id: int) -> Fingerprint:
        return (self.id, corpus_id, self.first, self.count, self.nbytes)


def blocks(index: Index, corpus_id: int) -> list[BlockRow]:
    return [BlockRow(*r) for r in index.conn.execute(
        "SELECT b.id, b.first_sentence, b.sentences, s.seq, length(b.data) "
        "FROM node_blocks AS b JOIN sentences AS s ON s.id = b.first_sentence "
        "WHERE b.corpus_id = ? ORDER BY b.first_sentence", (corpus_id,))]


# superblocks kept in memory by a long-lived process (`treeindex server`), inherited by the
# processes it forks for each query; None in an ordinary command
_kept: Superblocks | None = None


def keep(superblocks: Superblocks | None) -> None:
    global _kept
    _kept = superblocks


def kept_superblocks(db: str) -> int:
    """How many superblocks this process keeps of `db` (0: none, as in any command)."""
    return len(_kept.kept) if _kept is not None and _kept.serves(db) else 0


def kept_for(db: str, row: BlockRow, corpus_id: int) -> tuple[MergedBlock, int, int] | None:
    """(superblock, its number, the part) holding this row's block as it is now."""
    if _kept is None or not _kept.serves(db):
        return None
    at = _kept.find(row.fingerprint(corpus_id))
    if at is None:
        return None
    return _kept.kept[at[0]][1], at[0], at[1]


def _wanted(b: BlockRow, seqs: list[int] | None) -> bool:
    if seqs is None:
        return True
    k = bisect.bisect_left(seqs, b.first_seq)
    return k < len(seqs) and seqs[k] < b.first_seq + b.count


@dataclass
class Selected:
    """What a block's evaluation selected: elements in document order."""

    block: Block | PartView | None  # (None when it came from a worker: read again)
    row: BlockRow
    corpus_id: int
    elements: np.ndarray  # element numbers in the block
    sentence: np.ndarray  # the block sentence (0-based) of each
    # hits from sentences lxml evaluated: block sentence -> [node position]
    other: dict[int, list[int]]

    def load(self, index: Index) -> Block | PartView:
        if self.block is None:
            at = kept_for(str(index.path), self.row, self.corpus_id)
            self.block = PartView(at[0], at[2]) if at else read(index.conn, self.row.id)
        return self.block


def evaluate(index: Index, engine: Engine, query: Query, row: BlockRow, corpus_id: int
             ) -> Selected:
    """Every hit of one block."""
    block = read(index.conn, row.id)
    if block.sentences != row.count or len(block.sent) != row.count + 1:
        raise ValueError("the block does not hold its row's sentences")
    try:
        mask = engine.select(block)
        lxml_sentences = np.flatnonzero(~block.plain)
    except Dynamic:
        mask = np.zeros(block.n, dtype=bool)
        lxml_sentences = np.arange(block.sentences)
    return _finish(index, query, row, corpus_id, block, mask, lxml_sentences,
                   block.derived("sentence_of"))


def evaluate_kept(index: Index, engine: Engine, query: Query, m: MergedBlock,
                  parts: list[tuple[BlockRow, int]], corpus_id: int, counts: bool = False
                  ) -> list[Selected | tuple[int, int, int]]:
    """The hits of some parts of a kept superblock: the query evaluated on all of it at once
    (a value left to the other engines: each part on its own, as `evaluate`). `counts`:
    a part whose sentences are all plain gives its `block_counts` (no selection made)."""
    try:
        mask = engine.select(m)
    except Dynamic:
        return [evaluate(index, engine, query, row, corpus_id) for row, _ in parts]
    elements = np.flatnonzero(mask)
    sentences = m.derived("sentence_of")[elements]
    cut = np.searchsorted(elements, m.offsets).tolist()
    lo = m.offsets.tolist()
    s_lo = m.sentence_offsets.tolist()
    out: list[Selected | tuple[int, int, int]] = []
    if counts:  # hits and sentences per part (no sentence spans two parts)
        new = np.ones(len(sentences), dtype=bool)
        new[1:] = sentences[1:] != sentences[:-1]
        firsts = np.concatenate(([0], np.cumsum(new))).tolist()
    plain = m.parts_plain()
    for row, part in parts:
        if counts and plain[part]:
            a, b = cut[part], cut[part + 1]
            out.append((corpus_id, b - a, firsts[b] - firsts[a]))
            continue
        view = PartView(m, part)
        if plain[part]:  # (every real sentence: no lxml, no copy of the mask)
            a, b = cut[part], cut[part + 1]
            out.append(Selected(view, row, corpus_id, elements[a:b] - lo[part],
                                sentences[a:b] - s_lo[part], {}))
        else:
            out.append(_finish(index, query, row, corpus_id, view,
                               mask[lo[part]:lo[part + 1]].copy(),
                               np.flatnonzero(~view.plain), view.sentence_of()))
    return out


def _finish(index: Index, query: Query, row: BlockRow, corpus_id: int,
            block: Block | PartView, mask: np.ndarray, lxml_sentences: np.ndarray,
            so: np.ndarray) -> Selected:
    """A block's selection, with its sentences that are not plain evaluated by lxml."""
    other: dict[int, list[int]] = {}
    if len(lxml_sentences):
        mask[np.isin(so, lxml_sentences)] = False
        for k in lxml_sentences.tolist():
            (zxml,) = index.conn.execute("SELECT xml FROM sentences WHERE id = ?",
                                         (row.first + k,)).fetchone()
            root = etree.fromstring(index.decode(zxml), _PARSER)
            found = query.select(root)
            if found:
                order = {el: i for i, el in enumerate(root.iter("node"))}
                other[k] = sorted({order[el] for el in found})
    elements = np.flatnonzero(mask)
    return Selected(block, row, corpus_id, elements, so[elements], other)


class Job(NamedTuple):
    """Blocks to evaluate in a worker (or inline): each (row, corpus id)."""

    db: str
    query: str
    rows: tuple
    mode: str  # 'hits' (the selections), 'count' ((hits, sentences)), 'stats' (a Counter),
    # 'lines' (the hits as the lines of `fmt`: records made and formatted where it runs)
    attrs: tuple[str, ...] = ()
    with_xml: bool = False  # (for a block read through lxml: see run_job; lines: the xml)
    details: bool = True
    corpus_names: tuple = ()  # (corpus id, name) of the job's blocks
    fmt: str = ""  # (mode 'lines': formats.hit_line's format)


class Lines(NamedTuple):
    """A block's hits (or an lxml task's), as the lines of a format (formats.hit_line)."""

    sentences: int  # sentences evaluated
    hits: int
    lines: list[str]
    # the hit each line is the line of (its index among the hits), where not every hit has
    # one (xml: a sentence's first hit); None: a line a hit
    at: list[int] | None = None

    def first(self, k: int) -> list[str]:
        """The lines of the first `k` hits."""
        return self.lines[:k] if self.at is None else self.lines[:bisect.bisect_left(self.at, k)]


class LinesTask(NamedTuple):
    """A task for sentences in no node block whose hits are wanted as lines."""

    task: SearchTask
    fmt: str

    @property
    def corpus(self) -> str:  # (the progress line names it)
        return self.task.corpus


def as_lines(hits: Any, fmt: str, sentences: int) -> Lines:
    """Hits as the lines of `fmt` (in the process that made them: a worker's, where there
    are workers)."""
    from .formats import hit_line

    made = list(hits)
    own = [(k, line) for k, h in enumerate(made) if (line := hit_line(h, fmt)) is not None]
    return Lines(sentences, len(made), [line for _, line in own],
                 None if len(own) == len(made) else [k for k, _ in own])


# per query and thread: an Engine holds the block it evaluates while it does
_compiled: dict[tuple[str, int], tuple[Query, Engine]] = {}


def adopt(query: Query, engine: Engine) -> None:
    """The query compiled by this thread's plan, for the jobs this thread runs itself."""
    _compiled[(query.text, threading.get_ident())] = (query, engine)


def run_job(job: Job) -> list[Any]:
    """Evaluate a job's blocks (in a worker: its own index connection and compiled query)."""
    key = (job.query, threading.get_ident())
    compiled = _compiled.get(key)
    if compiled is None:
        query = Query(job.query, lazy=True)
        engine, why = compile_engine(query)
        if engine is None:  # pragma: no cover - the parent compiled the same text
            raise Unsupported(why)
        compiled = _compiled[key] = (query, engine)
    query, engine = compiled
    index = Index.for_process(job.db)
    out: list[Any] = []
    names = dict(job.corpus_names)
    for row, corpus_id, sel in _selections(index, engine, query, job):
        if isinstance(sel, tuple):  # (counts, from a kept superblock)
            out.append(sel)
            continue
        try:
            if sel is None:
                sel = evaluate(index, engine, query, row, corpus_id)
            if job.mode == "count":
                out.append(block_counts(sel))
            elif job.mode == "stats":
                out.append(block_stats(index, sel, job.attrs, job.query))
            elif job.mode == "lines":
                out.append(as_lines(hits(index, sel, names.get(corpus_id, ""), job.details,
                                         job.attrs, job.with_xml, job.query),
                                    job.fmt, row.count))
            else:
                sel.block = None  # not sent back: read again for the hits' records
                out.append(sel)
        except BLOCK_ERRORS:  # a damaged block: its sentences through lxml, as if older
            records = job.mode in ("hits", "lines")
            task = SearchTask(job.db, job.query, corpus_id, names.get(corpus_id, ""),
                              row.first_seq, row.first_seq + row.count - 1,
                              job.with_xml and records, job.attrs, job.details and records)
            made = run_search_task(task)
            out.append(as_lines(made.hits, job.fmt, made.sentences) if job.mode == "lines"
                       else Older(made))
    return out


def _selections(index: Index, engine: Engine, query: Query, job: Job
                ) -> Iterator[tuple[BlockRow, int, Selected | tuple[int, int, int] | None]]:
    """Each row of the job with its selection where a kept superblock holds it (each
    superblock evaluated once), else None: evaluated on its own."""
    done: dict[int, dict[int, Selected | tuple[int, int, int]]] = {}
    ats = [kept_for(job.db, row, corpus_id) for row, corpus_id in job.rows]
    for k, ((row, corpus_id), at) in enumerate(zip(job.rows, ats)):
        if at is None:
            yield row, corpus_id, None
            continue
        m, number, _ = at
        if number not in done:  # every row of the job this superblock holds, at once
            parts = [(r, a[2]) for (r, c), a in zip(job.rows[k:], ats[k:])
                     if a is not None and a[1] == number and c == corpus_id]
            sels = evaluate_kept(index, engine, query, m, parts, corpus_id,
                                 job.mode == "count")
            done[number] = dict(zip((r.id for r, _ in parts), sels))
        yield row, corpus_id, done[number].pop(row.id)


class Older(NamedTuple):
    """A block's hits made through lxml (TaskHits), where the block could not be read."""

    hits: Any


BLOCKS_PER_JOB = 4


def jobs(rows: dict[int, list[BlockRow]], db: str, query: Query, corpora: list,
         candidates: dict | None, mode: str, attrs: tuple[str, ...],
         old_task: Callable[[Any, list[int]], Any], with_xml: bool = False,
         details: bool = True, first: bool = False, fmt: str = ""
         ) -> Iterator[tuple[str, Any]]:
    """In document order, corpus by corpus: ('old', a search task for sentences in no
    block: indexed before the node table existed, or merged from an index without one) and
    ('blocks', a Job). `first`: the first hits are wanted soon (a limit: a page of hits):
    the first jobs are of one block, then two, then BLOCKS_PER_JOB (a dense query's first
    page is in its first block); mode 'lines': a block a job (its lines in memory at once),
    the first in mode 'hits'. `rows`: each corpus's blocks (`blocks`)."""
    sizes = (itertools.repeat(1) if mode == "lines"  # (a block's lines at a time, N + 2 jobs
             # in flight)
             else itertools.chain((1, 2) if first else (), itertools.repeat(BLOCKS_PER_JOB)))
    size = next(sizes)
    # lines: the first block's records are made by the caller as it writes them (a pipe
    # into `head` gets its first lines after one block's selection, not its lines)
    lazy = mode == "lines"

    def job(group: list) -> Job:
        nonlocal lazy
        this, lazy = ("hits" if lazy else mode), False
        return Job(db, query.text, tuple(group), this, attrs, with_xml, details,
                   ((r.id, r.name),), fmt)

    for r in corpora:
        seqs = None if candidates is None else candidates.get(r.id, [])
        covered = 1  # the next position a block would start at
        group: list[tuple[BlockRow, int]] = []
        group_kept: int | None = None
        for row in rows[r.id] + [BlockRow(0, 0, 0, r.sentences + 1)]:
            if row.first_seq > covered:  # a gap: through lxml
                if group:
                    yield "blocks", job(group)
                    group = []
                hi = min(row.first_seq, r.sentences + 1)
                for lo in range(covered, hi, _OLD_PART):  # (memory: a part at a time)
                    top = min(lo + _OLD_PART, hi)
                    old = list(range(lo, top)) if seqs is None else [
                        q for q in seqs[bisect.bisect_left(seqs, lo):
                                        bisect.bisect_left(seqs, top)]]
                    for k in range(0, len(old), _OLD_TASK):
                        yield "old", old_task(r, old[k:k + _OLD_TASK])
            if row.first_seq > r.sentences:
                break
            if row.first_seq < covered or row.count < 1:
                continue  # (overlapping or empty: a damaged index; the rest is a gap)
            if _wanted(row, seqs):
                at = kept_for(db, row, r.id)
                if group and (at[1] if at else None) != group_kept:
                    yield "blocks", job(group)  # (a job: a kept superblock, or a few blocks)
                    group = []
                group.append((row, r.id))
                group_kept = at[1] if at else None
                if group_kept is None and len(group) >= size:
                    yield "blocks", job(group)
                    group = []
                    size = next(sizes)
            covered = max(covered, row.first_seq + row.count)
        if group:
            yield "blocks", job(group)


def wanted_bytes(rows: dict[int, list[BlockRow]], candidates: dict | None) -> int:
    """The stored bytes of the blocks a search evaluates (`rows`: each corpus's blocks):
    its work, as far as the node table goes."""
    return sum(b.nbytes for cid, listed in rows.items() for b in listed
               if _wanted(b, None if candidates is None else candidates.get(cid, [])))


def job_bytes(item: tuple[str, Any]) -> int | None:
    """The stored bytes of a job's blocks; None for sentences read through lxml (their
    cost per byte is another)."""
    kind, job = item
    return sum(row.nbytes for row, _ in job.rows) if kind == "blocks" else None


def run_item(item: tuple[str, Any]) -> Any:
    """A worker's entry point for either kind of job."""
    kind, job = item
    if kind == "blocks":
        return run_job(job)
    if isinstance(job, LinesTask):
        made = run_search_task(job.task)
        return as_lines(made.hits, job.fmt, made.sentences)
    return run_search_task(job)


def block_counts(sel: Selected) -> tuple[int, int, int]:
    """(corpus id, hits, matching sentences) of a block."""
    n = len(sel.elements) + sum(len(v) for v in sel.other.values())
    if not sel.other:  # (sentence numbers are sorted: count where they change)
        k = len(sel.sentence)
        return sel.corpus_id, n, int(k and (np.count_nonzero(np.diff(sel.sentence)) + 1))
    return sel.corpus_id, n, len(sentences_of(sel))


def block_stats(index: Index, sel: Selected, attrs: tuple[str, ...], query: str
                ) -> Counter[tuple]:
    """How often each combination of the attributes occurs among a block's hits."""
    out: Counter[tuple] = Counter()
    b = sel.load(index)
    if len(sel.elements):
        cols = [b.column(a) for a in attrs]
        stacked = np.stack([ids[sel.elements] for ids, _ in cols], axis=1)
        combos, counts = np.unique(stacked, axis=0, return_counts=True)
        for combo, c in zip(combos.tolist(), counts.tolist()):
            out[tuple(vocab[v] if v else None for v, (_, vocab) in zip(combo, cols))] += c
    if sel.other:
        extra = Selected(b, sel.row, sel.corpus_id, np.array([], dtype=np.int64),
                         np.array([], dtype=np.int64), sel.other)
        for h in hits(index, extra, "", False, attrs, False, query):
            out[h.values] += 1
    return out


def old_task(db: str, query: Query, corpus: Any, seqs: list[int], with_xml: bool,
             attrs: tuple[str, ...], details: bool) -> SearchTask:
    """The task for sentences in no node block, through lxml/elementpath."""
    return SearchTask(db, query.text, corpus.id, corpus.name, seqs[0], seqs[-1], with_xml,
                      attrs, details, tuple(seqs))
