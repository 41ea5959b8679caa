"""`search`: XPath queries over the sentences of an index, as Dact and PaQu ask them.

The query is evaluated on each sentence as its own document; every `node` element it
selects is a hit. Hits come in document order (corpus, sentence, node), the same for any
number of workers. The library yields them one by one (a generator with a
`progress_callback`); counting and statistics are built on that stream.
"""

from __future__ import annotations

import itertools
import math
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from .. import cores
from ..errors import QueryError, TreeindexError, suggest
from ..store import Index, nodes_from, translate_errors
from ..store.index import CorpusRow
from . import macros as macro_files
from .plan import ANY, All, Either, Formula, Term, describe, match_expression
from .run import SENTENCES_PER_TASK, Hit, SearchTask, run_search_task
from .xpath import Query

if TYPE_CHECKING:
    from concurrent.futures import Executor

__all__ = ["Counts", "Hit", "Plan", "Progress", "Query", "compile_query", "count",
           "frequencies", "plan", "search", "stats", "tally"]

# up to this many candidates lxml is faster than loading the node table's blocks (and numpy)
ENGINE_MIN_CANDIDATES = 1000


@dataclass
class Plan:
    """How a query runs: which sentences of which corpora are evaluated, and why."""

    query: Query
    corpora: list[CorpusRow]  # in document order
    condition: Formula  # what every matching sentence meets (ANY: nothing is known)
    # corpus id -> positions of the candidate sentences; None: every sentence
    candidates: dict[int, list[int]] | None
    terms_from: int | None  # search terms from this sentence id on (None: no search terms)
    older: int  # sentences without search terms (evaluated whatever the condition)
    engine: Any = None  # the query compiled for the node table (search/engine.py), or None
    why_not: str = ""  # why the node table is not used
    nodes_from: int | None = None  # node blocks from this sentence id on (None: none)
    older_nodes: int = 0  # sentences without node blocks (evaluated through lxml)
    bound: int | None = None  # at most this many candidates (counted up to 1,001: _bound)

    @property
    def total(self) -> int:
        return sum(r.sentences for r in self.corpora)

    @property
    def evaluated(self) -> int:
        if self.candidates is None:
            return self.total
        return sum(len(self.candidates.get(r.id, ())) for r in self.corpora)

    def explain(self) -> list[str]:
        engine = "lxml (XPath 1.0)" if self.query.engine == "lxml" else "elementpath (XPath 2.0)"
        if self.engine is not None:
            version = "1.0" if self.query.engine == "lxml" else "2.0"
            lines = [f"query: {self.query.text}",
                     f"engine: node table (XPath {version} on the stored columns, no XML "
                     "parsed)"]
        else:
            lines = [f"query: {self.query.text}", f"engine: {engine}"]
        lines.append(f"condition from the index: {describe(self.condition)}")
        if self.condition is not ANY:
            lines.append(f"search terms: {match_expression(self.condition)}")
        total, n = self.total, self.evaluated
        share = f" ({100 * n / total:.2f}%)" if total else ""
        if self.condition is not ANY and self.candidates is None and \
                self.bound is not None:
            lines.append(f"candidates: not looked up (up to {total:,} sentences: more than "
                         f"{ENGINE_MIN_CANDIDATES:,} have the condition's rarest terms, too "
                         "many to skip blocks of the node table)")
        else:
            lines.append(f"candidates: {n:,} of {total:,} sentences{share}")
        if self.terms_from is None:
            lines.append("note: this index has no search terms: run `treeindex upgrade` once "
                         "to add them, and queries with conditions evaluate fewer sentences")
        elif self.older:
            lines.append(f"note: {self.older:,} sentences were indexed before search terms "
                         "existed and are always evaluated: `treeindex upgrade` adds theirs")
        if self.engine is None:
            lines.append(f"node table not used: {self.why_not}")
        elif self.older_nodes:
            lines.append(f"note: {self.older_nodes:,} sentences were indexed before the node "
                         "table existed and go through lxml: `treeindex upgrade` adds them")
        return lines


ENGINES = ("auto", "nodes", "lxml")


def plan(db_path: Path | str, xpath: str, *, corpora: list[str] | None = None,
         macros: dict[str, str] | None = None, engine: str = "auto") -> Plan:
    """Compile the query and find its candidate sentences in the index's search terms.
    `engine`: 'auto' (the node table unless few candidates make parsing them faster),
    'nodes' (the node table wherever it evaluates the query), 'lxml' (parse every candidate
    with lxml or elementpath). QueryError for a bad query or an unknown corpus or macro."""
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}")
    db_path = Path(db_path)
    query = compile_query(xpath, macros, lazy=True)
    with Index(db_path) as index, translate_errors(db_path):
        rows = index.corpora()
        names = [r.name for r in rows]
        for name in corpora or []:
            if name not in names:
                raise QueryError(suggest(name, names, "corpus", "corpora") if names else
                                 "the index holds no corpora yet; run `treeindex ingest` "
                                 "first")
        chosen = [r for r in rows if not corpora or r.name in corpora]
        nodes = nodes_from(index.conn)
        compiled = None
        if engine != "lxml" and nodes is not None and query.engine == "elementpath":
            # XPath 2.0 on the node table needs neither elementpath nor its condition
            compiled, why = _compile_engine(query)
        if compiled is None:
            query.ensure()  # (a QueryError for a query that is not valid)
        formula = query.condition if compiled is None else _tree_condition(query.text)
        first = index.terms_from()
        older = 0
        if first is not None:
            older = index.conn.execute("SELECT count(*) FROM sentences WHERE id < ?",
                                       (first,)).fetchone()[0]
        p = Plan(query, chosen, formula, None, first, older)
        p.nodes_from = nodes
        lookup = formula is not ANY and first is not None
        if compiled is not None:
            p.engine = compiled
            # the candidates skip blocks; a broad condition, whose lookup costs more than
            # it can skip, is not looked up
            p.bound = _bound(formula, index) + older if lookup else None
            if p.bound is not None and p.bound > ENGINE_MIN_CANDIDATES:
                lookup = False
        elif engine == "lxml":
            p.why_not = "asked for (--engine lxml)"
        elif p.nodes_from is None:
            p.why_not = ("this index has no node table: run `treeindex upgrade` once to add "
                         "it")
        else:
            # at most this many candidates (the rarest term's sentences, and those without
            # terms): a broad query skips the lookup, which cannot skip a block anyway
            p.bound = _bound(formula, index) + older if lookup else None
            if engine == "nodes" or p.bound is None or p.bound > ENGINE_MIN_CANDIDATES:
                p.engine, p.why_not = _compile_engine(query)
                if p.engine is not None and p.bound is not None and \
                        p.bound > ENGINE_MIN_CANDIDATES:
                    lookup = False
            else:
                p.why_not = (f"at most {p.bound:,} candidate sentences (fewer than "
                             f"{ENGINE_MIN_CANDIDATES:,}): parsing them is faster")
        if lookup and first is not None:
            p.candidates = index.candidates(match_expression(formula), first)
        if p.engine is not None:
            p.older_nodes = index.conn.execute(
                "SELECT count(*) FROM sentences WHERE id < ?", (p.nodes_from,)).fetchone()[0]
    return p


def _tree_condition(text: str) -> Formula:
    """The condition of an XPath 2.0 query from treeindex's own parse tree (elementpath's
    import costs more than a selective search takes)."""
    from .plan import tree_condition
    from .xast import NotParsed, parse

    try:
        return tree_condition(parse(text)[0])
    except (NotParsed, RecursionError):
        return ANY


def _compile_engine(query: Query) -> tuple[Any, str]:
    from .fast import compile_engine

    return compile_engine(query)


def _bound(formula: Formula, index: Index) -> int:
    """At most how many sentences meet the formula: the fewest of an `and`, the sum of an
    `or`, each term's sentences counted up to ENGINE_MIN_CANDIDATES + 1 (all that the
    choice of engine needs: counting a frequent term's whole list cost 10 ms at 1 GB, 42 ms
    for the np/det/noun query, and grows with the index). So a bound past
    ENGINE_MIN_CANDIDATES means "more than that"."""
    if isinstance(formula, Term):
        return index.term_sentences(formula.term, cap=ENGINE_MIN_CANDIDATES)
    if isinstance(formula, All):
        return min(_bound(f, index) for f in formula.parts)
    if isinstance(formula, Either):
        return sum(_bound(f, index) for f in formula.parts)
    raise ValueError("ANY has no bound")


def _sizes(first: int) -> Iterator[int]:
    """Sentences per task: `first`, then twice as many each time, up to SENTENCES_PER_TASK."""
    size = max(1, min(first, SENTENCES_PER_TASK))
    while True:
        yield size
        size = min(2 * size, SENTENCES_PER_TASK)


def _tasks(p: Plan, db: str, with_xml: bool, attrs: tuple[str, ...], details: bool,
           limit: int | None = None) -> Iterator[SearchTask]:
    """The search's tasks in document order. With a `limit` the first tasks are small (a
    quarter more sentences than hits wanted, then doubling), so that a first page of hits
    evaluates about as many sentences as it shows hits, not a whole task's 500."""
    sizes = _sizes(limit + limit // 4 if limit is not None else SENTENCES_PER_TASK)
    for r in p.corpora:
        if p.candidates is None:
            a = 1
            while a <= r.sentences:
                b = min(a + next(sizes) - 1, r.sentences)
                yield SearchTask(db, p.query.text, r.id, r.name, a, b, with_xml, attrs,
                                 details)
                a = b + 1
            continue
        seqs = [q for q in p.candidates.get(r.id, ()) if q <= r.sentences]
        k = 0
        while k < len(seqs):
            part = tuple(seqs[k:k + next(sizes)])
            k += len(part)
            yield SearchTask(db, p.query.text, r.id, r.name, part[0], part[-1], with_xml,
                             attrs, details, part)


@dataclass
class Progress:
    corpus: str
    sentences_done: int
    sentences_total: int
    hits: int


def notes(db_path: Path | str, xpath: str, macros: dict[str, str] | None = None,
          stats: tuple[str, ...] = ()) -> list[str]:
    """What the query (and the --stats attributes) ask that no node of the index has
    (search/feedback.py): one note each, empty when all is there or nothing can be told."""
    from . import feedback, limits

    try:
        text = macro_files.expand(xpath, macros or {})
        limits.check(text)
    except QueryError:
        return []  # (the search says why)
    db_path = Path(db_path)
    with translate_errors(db_path), Index(db_path) as index:
        return feedback.notes(index, text, stats)


def compile_query(xpath: str, macros: dict[str, str] | None = None, lazy: bool = False
                  ) -> Query:
    """The query with its %macros% expanded, compiled; QueryError if it is not valid.
    `lazy`: XPath 2.0 is compiled by elementpath only when first needed."""
    return Query(macro_files.expand(xpath, macros or {}).strip(), lazy)


def search(
    db_path: Path | str,
    xpath: str,
    *,
    corpora: list[str] | None = None,
    macros: dict[str, str] | None = None,
    workers: int | None = None,
    limit: int | None = None,
    engine: str = "auto",
    attrs: tuple[str, ...] = (),
    with_xml: bool = False,
    details: bool = True,
    executor: Executor | None = None,
    progress_callback: Callable[[Progress], None] | None = None,
) -> Iterator[Hit]:
    """Yield the hits of `xpath` in the index at `db_path`, in document order.

    `attrs`: attributes of each hit to return in `Hit.values`; `with_xml`: the sentence's
    XML on each sentence's first hit; `details=False` leaves out words, positions and labels
    (faster, for counting). Stops after `limit` hits. Raises QueryError for a bad query, an
    unknown corpus or macro.
    """
    db_path = Path(db_path)
    p = plan(db_path, xpath, corpora=corpora, macros=macros, engine=engine)
    if p.engine is not None:
        yield from _engine_hits(p, db_path, limit, attrs, with_xml, details, workers,
                                progress_callback)
        return
    yield from _parsed_hits(p, db_path, limit, attrs, with_xml, details, workers, executor,
                            progress_callback)


def _parsed_hits(p: Plan, db_path: Path, limit: int | None, attrs: tuple[str, ...],
                 with_xml: bool, details: bool, workers: int | None,
                 executor: Executor | None,
                 progress_callback: Callable[[Progress], None] | None) -> Iterator[Hit]:
    """`search`'s hits of a plan without the node table: every candidate parsed."""
    total = p.evaluated
    if progress_callback and p.corpora:  # (the total, at once: nothing searched yet)
        progress_callback(Progress(p.corpora[0].name, 0, total, 0))
    tasks = _tasks(p, str(db_path), with_xml, attrs, details, limit)
    n = cores.available_cores() if workers is None else workers
    if executor is None and n > 0:  # (workers only where they gain more than they cost)
        results = _inline_first(run_search_task, tasks, n, total, _task_sentences,
                                lambda done: _needed(done, found, limit))
    else:
        results = _results(run_search_task, tasks, n, executor)
    done = found = 0
    with translate_errors(db_path):
        for task, result in results:
            done += result.sentences
            for hit in result.hits:
                if limit is not None and found >= limit:
                    return
                found += 1
                yield hit
            if progress_callback:
                progress_callback(Progress(task.corpus, done, total, found))
            if limit is not None and found >= limit:
                return
    unchanged(db_path, p)


def _task_sentences(task: SearchTask) -> int:
    return len(task.seqs) if task.seqs is not None else task.last_seq - task.first_seq + 1


T = TypeVar("T")
R = TypeVar("R")


def _results(fn: Callable[[T], R], items: Iterable[T], n: int, executor: Executor | None,
             width: int | None = None) -> Iterator[tuple[T, R]]:
    """(item, fn(item)) in order: in this process when no worker is wanted, without loading
    the pool (and concurrent.futures and logging with it: 10 ms of a selective search's 0.2
    s), else in `n` worker processes or the `executor`, `width` + 2 items in flight (`n` + 2
    unless given)."""
    if n == 0 and executor is None:
        for item in items:
            yield item, fn(item)
        return
    from ..pool import ordered_map, owned_executor

    with owned_executor(n, executor, "nothing was changed: run the search again") as pool:
        yield from ordered_map(pool, fn, items, max(n if width is None else width, 1) + 2)


def unchanged(db_path: Path, p: Plan) -> None:
    """TreeindexError if a corpus searched was removed or replaced (rm, rename, ingest
    --replace) while the search ran: workers read their own states of the index, so what
    was found of it may be incomplete; said, never silently short."""
    with Index(db_path) as index:
        for r in p.corpora:
            if index.corpus_stamp(r.id) != r.stamp:
                raise TreeindexError(
                    f"{db_path}: corpus {r.name!r} was removed, renamed or replaced while it "
                    "was searched, so what was found of it may be incomplete: search again")


def _needed(done: int, found: int, limit: int | None) -> float | None:
    """The work (in the weight of `done`) a search with a limit still needs, projected from
    the hits `found` in the work done so far; None: all that is left (no limit, no hit
    yet)."""
    return None if limit is None or not found else done * max(limit - found, 0) / found


def _inline_first(fn: Callable[[T], R], items: Iterable[T], n: int, total: int,
                  weight: Callable[[T], int | None],
                  needed: Callable[[int], float | None] | None = None
                  ) -> Iterator[tuple[T, R]]:
    """(item, fn(item)) in order: in this process while what is left, projected from the
    time `fn` took for the `weight` done so far out of `total`, would gain less from worker
    processes (at most `n`, and no more than the items left) than starting them costs
    (`cores.workers_worth`); then the rest in them. An item of unknown
    weight (None) and all after it go to `n` workers. The first item counts half its time:
    it took twice as long as the next, the first of everything in the process (waiting for
    a second to be timed kept a listing of dense hits from its workers for two items'
    records, a second on 1 GB). `needed(done)`: at most this much of what is left is wanted
    (a limit that the hits so far say is near), None: all of it."""
    it = iter(items)
    took = 0.0
    done = counted = 0
    for item in it:
        w = weight(item)
        if w is None:
            yield from _results(fn, itertools.chain((item,), it), n, None)
            return
        start = time.perf_counter()
        result = fn(item)
        took += (time.perf_counter() - start) / (2 if not counted else 1)
        done += w
        counted += 1
        yield item, result
        left = total - done
        wanted = needed(done) if needed is not None else None
        if wanted is not None:
            left = min(left, math.ceil(wanted))
        if left <= 0:
            continue
        # (the items left counted as those so far weighed)
        workers = cores.workers_worth(took * left / done, -(-left * counted // done), n)
        if workers:
            rest = next(it, None)
            if rest is not None:
                yield from _results(fn, itertools.chain((rest,), it), workers, None,
                                    workers)
            return


# superblocks kept in memory (`treeindex server`) from which threads evaluate them
PARALLEL_MIN_KEPT = 4


def _engine_run(p: Plan, db_path: Path, index: Index, mode: str, with_xml: bool,
                attrs: tuple[str, ...], details: bool, workers: int | None,
                progress_callback: Callable[[Progress], None] | None,
                found: list[int], fmt: str = "", limit: int | None = None
                ) -> Iterator[tuple[str, Any]]:
    """('old', a TaskHits) and ('block', its result in `mode`) in document order; the
    blocks evaluated by worker processes where there are enough of them. Mode 'lines':
    both are fast.Lines of `fmt`. `limit`: the caller stops after so many hits (`found`,
    which it counts): small first jobs (fast.jobs), and workers started only for the work
    the hits so far say that needs."""
    from . import fast

    total = p.evaluated
    done = 0
    db = str(db_path)
    if progress_callback and p.corpora:  # (the total, at once: nothing searched yet)
        progress_callback(Progress(p.corpora[0].name, 0, total, 0))
    rows = {r.id: fast.blocks(index, r.id) for r in p.corpora}
    def old(r: Any, seqs: list[int]) -> Any:
        task = fast.old_task(db, p.query, r, seqs, with_xml, attrs, details)
        return fast.LinesTask(task, fmt) if mode == "lines" else task

    items = fast.jobs(rows, db, p.query, p.corpora, p.candidates, mode, attrs, old,
                      with_xml, details, limit is not None, fmt)
    n = cores.available_cores() if workers is None else workers
    # the query as the plan compiled it, for the jobs this thread runs (not compiled again)
    fast.adopt(p.query, p.engine)
    kept = fast.kept_superblocks(db)
    threads = None
    width = n  # (jobs in flight: this + 2)
    if kept:  # superblocks in memory: threads (numpy lets go of the GIL in its array work;
        # a worker process forked from a server's child costs 0.1 s at 1 GB)
        if kept >= PARALLEL_MIN_KEPT and n > 1:
            from concurrent.futures import ThreadPoolExecutor

            threads = ThreadPoolExecutor(n, thread_name_prefix="treeindex-kept")
        else:
            width = 0
        n = 0
    if n > 0:  # (workers only for work that gains more from them than they cost to start:
        # with one, never)
        results = _inline_first(fast.run_item, items, n,
                                fast.wanted_bytes(rows, p.candidates), fast.job_bytes,
                                lambda done: _needed(done, found[0], limit))
    else:
        results = _results(fast.run_item, items, n, threads, width)
    try:
        for (kind, job), result in results:
            if kind == "old":
                done += result.sentences
                yield "old", result
                corpus = job.corpus
            else:
                for part in result:
                    if isinstance(part, fast.Older):
                        yield "old", part.hits
                    else:
                        yield "block", part
                done += sum(row.count for row, _ in job.rows)
                corpus = dict(job.corpus_names)[job.rows[-1][1]]
            if progress_callback:
                progress_callback(Progress(corpus, min(done, total), total, found[0]))
    finally:
        if threads is not None:
            threads.shutdown(cancel_futures=True)


def _engine_hits(p: Plan, db_path: Path, limit: int | None, attrs: tuple[str, ...],
                 with_xml: bool, details: bool, workers: int | None,
                 progress_callback: Callable[[Progress], None] | None) -> Iterator[Hit]:
    from . import fast

    found = [0]
    names = {r.id: r.name for r in p.corpora}
    with translate_errors(db_path), Index(db_path) as index, index.snapshot():
        for kind, item in _engine_run(p, db_path, index, "hits", with_xml, attrs, details,
                                      workers, progress_callback, found, limit=limit):
            if kind == "old":
                records: Iterable[Hit] = item.hits
            else:
                records = fast.hits(index, item, names[item.corpus_id], details, attrs,
                                    with_xml, p.query.text)
            for hit in records:
                if limit is not None and found[0] >= limit:
                    return
                found[0] += 1
                yield hit
    unchanged(db_path, p)


@dataclass
class Counts:
    """Hits and matching sentences per corpus (in index order) and in all."""

    corpora: dict[str, tuple[int, int]] = field(default_factory=dict)  # name -> (hits, sents)

    @property
    def hits(self) -> int:
        return sum(h for h, _ in self.corpora.values())

    @property
    def sentences(self) -> int:
        return sum(s for _, s in self.corpora.values())


def tally(hits: Iterable[Hit]) -> Counts:
    """Hits and matching sentences per corpus, of a stream of hits."""
    counts: dict[str, int] = {}
    sentences: dict[str, set[int]] = {}
    for hit in hits:
        counts[hit.corpus] = counts.get(hit.corpus, 0) + 1
        sentences.setdefault(hit.corpus, set()).add(hit.seq)
    return Counts({c: (n, len(sentences[c])) for c, n in counts.items()})


def frequencies(hits: Iterable[Hit]) -> list[tuple[tuple[str | None, ...], int]]:
    """How often each combination of the hits' `values` (the attributes asked for, None when
    missing) occurs, most frequent first (then by the values)."""
    return _ranked(Counter(hit.values for hit in hits))


def _ranked(table: Counter[tuple]) -> list[tuple[tuple[str | None, ...], int]]:
    """Most frequent first, then by the values."""
    return sorted(table.items(), key=lambda kv: (-kv[1], tuple(v or "" for v in kv[0])))


def count(db_path: Path | str, xpath: str, *, corpora: list[str] | None = None,
          macros: dict[str, str] | None = None, engine: str = "auto",
          progress_callback: Callable[[Progress], None] | None = None,
          **kwargs: Any) -> Counts:
    """Hits and matching sentences of `xpath`, per corpus and in all (on the node table:
    no hit is made, only counted)."""
    db_path = Path(db_path)
    p = plan(db_path, xpath, corpora=corpora, macros=macros, engine=engine)
    if p.engine is None:  # (the plan of engine="lxml": candidates looked up)
        return tally(_parsed_hits(p, db_path, None, (), False, False, kwargs.get("workers"),
                                  kwargs.get("executor"), progress_callback))
    names = {r.id: r.name for r in p.corpora}
    table: dict[str, list] = {}
    found = [0]
    workers = kwargs.get("workers")
    with translate_errors(db_path), Index(db_path) as index, index.snapshot():
        for kind, item in _engine_run(p, db_path, index, "count", False, (), False, workers,
                                      progress_callback, found):
            if kind == "old":
                for hit in item.hits:
                    c = table.setdefault(hit.corpus, [0, set(), 0])
                    c[0] += 1
                    c[1].add(hit.seq)
                continue
            corpus_id, n, sents = item
            if n:  # (blocks hold no sentence of the lxml part: their counts add up)
                c = table.setdefault(names[corpus_id], [0, set(), 0])
                c[0] += n
                c[2] += sents
                found[0] += n
    unchanged(db_path, p)
    return Counts({name: (n, len(s) + k) for name, (n, s, k) in table.items()})


def stats(db_path: Path | str, xpath: str, attrs: tuple[str, ...], *,
          corpora: list[str] | None = None, macros: dict[str, str] | None = None,
          engine: str = "auto", progress_callback: Callable[[Progress], None] | None = None,
          **kwargs: Any) -> list[tuple[tuple[str | None, ...], int]]:
    """How often each combination of the hits' `attrs` occurs (None: missing)."""
    db_path = Path(db_path)
    p = plan(db_path, xpath, corpora=corpora, macros=macros, engine=engine)
    if p.engine is None:  # (the plan of engine="lxml": candidates looked up)
        return frequencies(_parsed_hits(p, db_path, None, attrs, False, False,
                                        kwargs.get("workers"), kwargs.get("executor"),
                                        progress_callback))
    table: Counter[tuple] = Counter()
    found = [0]
    with translate_errors(db_path), Index(db_path) as index, index.snapshot():
        for kind, item in _engine_run(p, db_path, index, "stats", False, attrs, False,
                                      kwargs.get("workers"), progress_callback, found):
            if kind == "old":
                table.update(hit.values for hit in item.hits)
            else:
                found[0] += sum(item.values())
                table.update(item)
    unchanged(db_path, p)
    return _ranked(table)
