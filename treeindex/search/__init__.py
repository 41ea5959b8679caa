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
from . import macros as macro_files
from .run import SENTENCES_PER_TASK, Hit, SearchTask, run_search_task
from .xpath import Query

__all__ = ["Counts", "Hit", "Progress", "Query", "compile_query", "count", "frequencies",
           "search", "stats", "tally"]


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
    query = compile_query(xpath, macros)
    with Index(db_path) as index, translate_errors(db_path):
        rows = index.corpora()
    names = [r.name for r in rows]
    for name in corpora or []:
        if name not in names:
            raise QueryError(suggest(name, names, "corpus", "corpora") if names else
                             "the index holds no corpora yet; run `treeindex ingest` first")
    chosen = [r for r in rows if not corpora or r.name in corpora]
    total = sum(r.sentences for r in chosen)
    tasks = (SearchTask(str(db_path), query.text, r.id, r.name, a,
                        min(a + SENTENCES_PER_TASK - 1, r.sentences), with_xml, attrs, details)
             for r in chosen for a in range(1, r.sentences + 1, SENTENCES_PER_TASK))
    n = available_cores() if workers is None else workers
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
