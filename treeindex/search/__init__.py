"""`search`: XPath queries over the sentences of an index, as Dact and PaQu ask them.

The query is evaluated on each sentence as its own document; every `node` element it
selects is a hit. Hits come in document order (corpus, sentence, node), the same for any
number of workers. The library yields them one by one (a generator with a
`progress_callback`); counting and statistics are built on that stream.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import QueryError, suggest
from ..pool import available_cores, ordered_map, owned_executor
from ..store import Index, translate_errors
from ..store.index import CorpusRow
from . import macros as macro_files
from .plan import ANY, Formula, describe, match_expression
from .run import SENTENCES_PER_TASK, Hit, SearchTask, run_search_task
from .xpath import Query

__all__ = ["Counts", "Hit", "Plan", "Progress", "Query", "compile_query", "count",
           "frequencies", "plan", "search", "stats", "tally"]

# candidates that one process evaluates faster than it starts workers
INLINE_CANDIDATES = 400


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
        lines = [f"query: {self.query.text}", f"engine: {engine}",
                 f"condition from the index: {describe(self.condition)}"]
        if self.condition is not ANY:
            lines.append(f"search terms: {match_expression(self.condition)}")
        total, n = self.total, self.evaluated
        share = f" ({100 * n / total:.2f}%)" if total else ""
        lines.append(f"candidates: {n:,} of {total:,} sentences{share}")
        if self.terms_from is None:
            lines.append("note: this index has no search terms: run `treeindex upgrade` once "
                         "to add them, and queries with conditions evaluate fewer sentences")
        elif self.older:
            lines.append(f"note: {self.older:,} sentences were indexed before search terms "
                         "existed and are always evaluated: `treeindex upgrade` adds theirs")
        return lines


def plan(db_path: Path | str, xpath: str, *, corpora: list[str] | None = None,
         macros: dict[str, str] | None = None) -> Plan:
    """Compile the query and find its candidate sentences in the index's search terms.
    QueryError for a bad query or an unknown corpus or macro."""
    db_path = Path(db_path)
    query = compile_query(xpath, macros)
    with Index(db_path) as index, translate_errors(db_path):
        rows = index.corpora()
        names = [r.name for r in rows]
        for name in corpora or []:
            if name not in names:
                raise QueryError(suggest(name, names, "corpus", "corpora") if names else
                                 "the index holds no corpora yet; run `treeindex ingest` "
                                 "first")
        chosen = [r for r in rows if not corpora or r.name in corpora]
        formula = query.condition
        first = index.terms_from()
        older = 0
        if first is not None:
            older = index.conn.execute("SELECT count(*) FROM sentences WHERE id < ?",
                                       (first,)).fetchone()[0]
        candidates = None
        if formula is not ANY and first is not None:
            candidates = index.candidates(match_expression(formula), first)
    return Plan(query, chosen, formula, candidates, first, older)


def _tasks(p: Plan, db: str, with_xml: bool, attrs: tuple[str, ...], details: bool
           ) -> Iterator[SearchTask]:
    for r in p.corpora:
        if p.candidates is None:
            for a in range(1, r.sentences + 1, SENTENCES_PER_TASK):
                yield SearchTask(db, p.query.text, r.id, r.name, a,
                                 min(a + SENTENCES_PER_TASK - 1, r.sentences), with_xml,
                                 attrs, details)
            continue
        seqs = [q for q in p.candidates.get(r.id, ()) if q <= r.sentences]
        for k in range(0, len(seqs), SENTENCES_PER_TASK):
            part = tuple(seqs[k:k + SENTENCES_PER_TASK])
            yield SearchTask(db, p.query.text, r.id, r.name, part[0], part[-1], with_xml,
                             attrs, details, part)


@dataclass
class Progress:
    corpus: str
    sentences_done: int
    sentences_total: int
    hits: int


def compile_query(xpath: str, macros: dict[str, str] | None = None) -> Query:
    """The query with its %macros% expanded, compiled; QueryError if it is not valid."""
    return Query(macro_files.expand(xpath, macros or {}).strip())


def search(
    db_path: Path | str,
    xpath: str,
    *,
    corpora: list[str] | None = None,
    macros: dict[str, str] | None = None,
    workers: int | None = None,
    limit: int | None = None,
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
    p = plan(db_path, xpath, corpora=corpora, macros=macros)
    total = p.evaluated
    tasks = _tasks(p, str(db_path), with_xml, attrs, details)
    n = available_cores() if workers is None else workers
    if total <= INLINE_CANDIDATES and executor is None:
        n = 0
    done = found = 0
    with translate_errors(db_path), owned_executor(n, executor) as pool:
        for task, result in ordered_map(pool, run_search_task, tasks, max(n, 1) + 2):
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
    table: Counter[tuple] = Counter(hit.values for hit in hits)
    return sorted(table.items(), key=lambda kv: (-kv[1], tuple(v or "" for v in kv[0])))


def count(db_path: Path | str, xpath: str, **kwargs: object) -> Counts:
    """Hits and matching sentences of `xpath`, per corpus and in all."""
    return tally(search(db_path, xpath, details=False, **kwargs))  # type: ignore[arg-type]


def stats(db_path: Path | str, xpath: str, attrs: tuple[str, ...], **kwargs: object
          ) -> list[tuple[tuple[str | None, ...], int]]:
    """How often each combination of the hits' `attrs` occurs (None: missing)."""
    return frequencies(search(db_path, xpath, attrs=attrs, details=False,
                              **kwargs))  # type: ignore[arg-type]
