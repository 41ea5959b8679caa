"""`ingest`: index treebanks into an SQLite database, in parallel, resumably.

The coordinator (this module) never parses XML. It finds the corpora (`sources.discover`),
asks each corpus's input format to plan tasks from its resume point, and hands the tasks to
worker processes (`pool`), which read and check them (`worker`). Results come back in document
order to the single writer (`store.writer`, in its own thread), which commits each with its
resume point.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Executor
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from . import store
from .cores import workers_for
from .errors import ExitCode, InputError
from .pool import ordered_map, owned_executor, stop_signals
from .search.summary import Summary
from .sources import Corpus, Resume, discover
from .sources.base import changed_file
from .sources.sniff import is_gzip
from .sources.treebank import DEFAULT_CHUNK
from .store import codec
from .store.checkpoints import BackgroundCheckpoints
from .store.writer import (
    CorpusWriter,
    Ids,
    InlineWrite,
    WriteThread,
    delete_corpus,
    prepare,
    register,
)
from .worker import Result, Task, run_task


@dataclass
class Progress:
    """Passed to `progress_callback` after every commit."""

    corpus: str
    bytes_done: int  # input bytes handled in this run (compressed bytes for .gz)
    bytes_total: int  # input bytes this run has to handle
    sentences: int  # sentences indexed in this run
    note: str | None = None  # something to tell the user once (where a corpus resumes)


class Status(StrEnum):
    """What a run did with a corpus."""

    INDEXED = "indexed"
    RESUMED = "resumed"
    REPLACED = "replaced"
    COMPLETE = "complete"  # complete before the run: nothing to do


@dataclass
class CorpusOutcome:
    name: str
    status: Status
    sentences: int = 0  # added in this run
    subtrees: int = 0
    errors: int = 0
    total_sentences: int = 0  # in the index after this run
    total_errors: int = 0


@dataclass
class IngestReport:
    corpora: list[CorpusOutcome] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def errors(self) -> int:
        return sum(c.errors for c in self.corpora)

    @property
    def return_code(self) -> ExitCode:
        """OK: all indexed; SKIPPED: done, but malformed sentences or files were skipped."""
        return ExitCode.SKIPPED if self.errors or self.skipped else ExitCode.OK

    @property
    def exit_code(self) -> int:
        return int(self.return_code)


@dataclass
class _Plan:
    corpus: Corpus
    status: Status
    existing_id: int | None  # row to resume, or to delete first (replace)


def resume_of(conn: sqlite3.Connection, corpus_id: int | None) -> Resume:
    row = conn.execute("SELECT done_bytes, done_files, sentences, errors FROM corpora "
                       "WHERE id = ?", (corpus_id,)).fetchone()
    return Resume(*row)


class _Run:
    """One ingest run: plans tasks, owns the writers, reports progress."""

    def __init__(self, conn: sqlite3.Connection, plans: list[_Plan], opts: dict,
                 progress_callback: Callable[[Progress], None] | None) -> None:
        self.conn = conn
        self.plans = plans
        self.opts = opts
        self.progress_callback = progress_callback
        self.owners: dict[int, tuple[CorpusWriter, int]] = {}
        self.ids = Ids(conn)
        self.summary = Summary(conn)
        prepare(conn)
        self.outcomes: dict[str, CorpusOutcome] = {}
        self.seq = 0
        self.bytes_done = 0
        self.bytes_total = 0
        self.sentences = 0
        self.current: CorpusWriter | None = None
        self.checkpoints: BackgroundCheckpoints | None = None

    def _task(self, kind: str, path: str, start: int = 0, end: int = 0, data: bytes | None = None,
              files: tuple[str, ...] = (), encoding: str = "utf-8") -> Task:
        self.seq += 1
        return Task(self.seq, kind, path, start, end, data, files, encoding,
                    self.opts["max_children"], self.opts["max_nodes"], self.opts["dictionary"])

    def _open(self, plan: _Plan) -> CorpusWriter:
        if plan.status is Status.REPLACED and plan.existing_id is not None:
            delete_corpus(self.conn, plan.existing_id)
        corpus_id = plan.existing_id if plan.status is Status.RESUMED else None
        if corpus_id is None:
            corpus_id = register(self.conn, plan.corpus)
        writer = CorpusWriter(self.conn, plan.corpus, corpus_id, self.ids, self.summary)
        self.outcomes[plan.corpus.name] = CorpusOutcome(plan.corpus.name, plan.status)
        if plan.status is Status.RESUMED and self.progress_callback:
            self.progress_callback(Progress(plan.corpus.name, self.bytes_done, self.bytes_total,
                                            self.sentences, note=resume_note(writer)))
        return writer

    def remaining_bytes(self, plan: _Plan) -> int:
        c = plan.corpus
        if plan.status is not Status.RESUMED:
            return c.input_bytes
        return c.format.remaining_bytes(c, resume_of(self.conn, plan.existing_id))

    def tasks(self, db: WriteThread | InlineWrite) -> Iterator[Task]:
        for plan in self.plans:
            if plan.status is Status.COMPLETE:
                continue
            writer = db.call(self._open, plan)  # in the write thread, in order with the rest
            c = plan.corpus
            n = 0
            for task, mark in self._corpus_tasks(c, writer):
                self.owners[task.seq] = (writer, mark)
                n += 1
                yield task
            # before the corpus can be marked complete (when the next corpus's first result,
            # or the end, is written): the input must be what was planned
            changed = c.changed_file()
            if changed is not None:
                raise changed_file(changed)
            if n == 0:
                db.submit(self._finish, writer)

    def _corpus_tasks(self, c: Corpus, w: CorpusWriter) -> Iterator[tuple[Task, int]]:
        return c.format.plan(c, _resume(w), self.opts["chunk_bytes"], self._task)

    def _finish(self, writer: CorpusWriter) -> None:
        writer.finish()
        out = self.outcomes[writer.corpus.name]
        out.total_sentences = writer.sentences
        out.total_errors = writer.errors

    def _write(self, writer: CorpusWriter, result: Result, mark: int) -> None:
        """Runs in the write thread, one result at a time, in document order."""
        if self.current is not None and writer is not self.current:
            self._finish(self.current)
        self.current = writer
        writer.write(result)
        if self.checkpoints is not None:
            self.checkpoints.written(len(result.chunk) + len(result.nodes or b""))
        out = self.outcomes[writer.corpus.name]
        out.sentences += result.sentences
        out.subtrees += result.subtrees
        out.errors += len(result.errors)
        self.bytes_done += mark
        self.sentences += result.sentences
        if self.progress_callback:
            self.progress_callback(
                Progress(writer.corpus.name, self.bytes_done, self.bytes_total, self.sentences)
            )

    def _finish_last(self) -> None:
        if self.current is not None:
            self._finish(self.current)

    def run(self, executor: Executor, in_flight: int) -> None:
        db: WriteThread | InlineWrite = (WriteThread(maxsize=in_flight) if self.opts.get(
            "write_thread", True) else InlineWrite())
        try:
            for task, result in ordered_map(executor, run_task, self.tasks(db), in_flight):
                writer, mark = self.owners.pop(task.seq)
                db.submit(self._write, writer, result, mark)
            db.submit(self._finish_last)
            db.close()
        except BaseException:
            db.abort()
            raise


def _resume(w: CorpusWriter) -> Resume:
    """Where a corpus's writer stands, as its format plans from it."""
    return Resume(w.done_bytes, w.done_files, w.sentences, w.errors)


def resume_note(w: CorpusWriter) -> str:
    c = w.corpus
    assert isinstance(c, Corpus)
    where = c.format.describe(c, _resume(w))
    return (f"{c.name}: resuming after sentence {w.sentences:,} ({w.errors:,} malformed), "
            f"at {where}")


def _dictionary(conn: sqlite3.Connection, plans: list[_Plan]) -> bytes | None:
    """The index's zstd dictionary; trained and stored (committed before any sentence) at the
    first ingest whose inputs hold enough sentences to train on."""
    existing = store.dictionary(conn)
    if existing is not None:
        return existing
    sample: list[bytes] = []
    for plan in plans:
        if plan.status is not Status.COMPLETE:
            left = codec.SAMPLE_BYTES - sum(map(len, sample))
            if left <= 0:
                break
            sample += plan.corpus.format.sample(plan.corpus, left)
    trained = codec.train(sample)
    if trained is not None:
        store.save_dictionary(conn, trained)
    return trained


def _plan(conn: sqlite3.Connection, corpora: list[Corpus], replace: bool) -> list[_Plan]:
    plans: list[_Plan] = []
    problems: list[str] = []
    for c in corpora:
        row = conn.execute(
            "SELECT id, fingerprint, complete, source FROM corpora WHERE name = ?", (c.name,)
        ).fetchone()
        if row is None:
            plans.append(_Plan(c, Status.INDEXED, None))
            continue
        corpus_id, fingerprint, complete, source = row
        if source != c.source_text:  # the name is taken by another input
            problems.append(
                f"{c.source}: the index has a corpus called {c.name!r} already, from {source}; "
                f"give this input its own name with --name NAME (treeindex corpora lists the "
                "names taken)"
            )
        elif replace:
            plans.append(_Plan(c, Status.REPLACED, corpus_id))
        elif fingerprint != c.fingerprint:
            state = "indexed" if complete else "partly indexed"
            problems.append(
                f"{c.source}: differs from the input that was {state} as corpus {c.name!r} "
                f"(from {source}); run again with --replace to index it from scratch"
            )
        else:
            plans.append(_Plan(c, Status.COMPLETE if complete else Status.RESUMED, corpus_id))
    if problems:
        raise InputError("\n".join(problems))
    return plans


def ingest(
    db_path: Path | str,
    paths: list[Path | str],
    *,
    max_children: int = 7,
    max_nodes: int = 1000,
    workers: int | None = None,
    replace: bool = False,
    name: str | None = None,
    chunk_bytes: int = DEFAULT_CHUNK,
    executor: Executor | None = None,
    progress_callback: Callable[[Progress], None] | None = None,
    byte_range: tuple[int, int] | None = None,
    build_indexes: bool = True,
    scratch: bool = False,
    write_thread: bool = True,
) -> IngestReport:
    """Index the treebanks in `paths` into the database at `db_path`; resume unfinished ones.

    `name`: everything in `paths` is one corpus of that name (a single input, or inputs of one
    kind: one-sentence files, treebank files, compact parts). `replace`: index changed inputs
    again from scratch. `byte_range`: (for a cluster's shards) only these bytes of a single
    plain treebank file, from one sentence boundary to another; `build_indexes=False`: leave
    out the secondary indexes (a shard that is only merged); `scratch`: the database is thrown
    away if the run fails (no journal, no syncing: see store.connect_write); `write_thread=False`:
    write in the calling thread (with workers=0 on a core of its own, the writer thread only
    contends for the GIL).

    Raises InputError or DatabaseError (nothing written) for unusable inputs or databases,
    and Interrupted (what was committed stays, and the same call resumes) on SIGINT/SIGTERM.
    """
    if max_children < 1 or max_nodes < 1:
        raise InputError("--max-children and --max-nodes must be at least 1")
    started = time.perf_counter()
    db_path = Path(db_path)
    with stop_signals() as stop:
        discovery = discover([Path(p) for p in paths], name)
        if byte_range is not None:
            (only,) = discovery.corpora
            only.byte_range = byte_range
        for c in discovery.corpora:
            c.format.check(c)  # before anything is written
        report = IngestReport(skipped=discovery.skipped)
        with store.IngestLock(db_path), store.translate_errors(db_path):
            conn = store.connect_write(db_path, scratch=scratch)
            # long statements (the index build, dropping a corpus for --replace) stop at a
            # signal instead of running to their end
            conn.set_progress_handler(lambda: stop.received is not None, 1_000_000)
            try:
                _run(conn, db_path, discovery.corpora, report, replace, workers, executor,
                     {"max_children": max_children, "max_nodes": max_nodes,
                      "chunk_bytes": chunk_bytes, "build": build_indexes,
                      "write_thread": write_thread}, progress_callback)
            finally:
                conn.close()
    report.seconds = time.perf_counter() - started
    return report


# One core's ingest of plain XML in this process, everything included (reading, parsing,
# scanning, compressing, writing): about 20 MB/s here (1 MB in 0.38 s, 12 MB in 0.97 s, 5
# alternating runs). With it the pool's start cost (cores.py) puts the break-even with 2
# workers at about 3 MB (measured: 1 MB 0.38 s in the process against 0.52 s with 2
# workers; 3 MB 0.62 against 0.60; 6 MB 0.76 against 0.69).
INLINE_BYTES_PER_SECOND = 20e6
# what a byte of a compressed input (.gz, archives, compact corpora) is taken to stand for:
# treebank XML compresses 8-12x, and too many workers cost less than too few
COMPRESSED_RATIO = 10


def _work(run: _Run, plans: list[_Plan], chunk: int) -> tuple[int, float, int]:
    """(input bytes left, seconds of work they are, tasks) of the plans still to run: a
    compressed input's byte counts as COMPRESSED_RATIO, a corpus is one task at least."""
    left = [(p, run.remaining_bytes(p)) for p in plans if p.status is not Status.COMPLETE]
    work = [b * (1 if _plain(p.corpus) else COMPRESSED_RATIO) for p, b in left]
    return (sum(b for _, b in left), sum(work) / INLINE_BYTES_PER_SECOND,
            sum(max(1, -(-w // max(chunk, 1))) for w in work))


def _plain(c: Corpus) -> bool:
    return c.kind in ("treebank", "directory") and not any(is_gzip(f) for f in c.files)


def _run(conn: sqlite3.Connection, db_path: Path, corpora: list[Corpus], report: IngestReport,
         replace: bool, workers: int | None, executor: Executor | None, opts: dict,
         progress_callback: Callable[[Progress], None] | None) -> None:
    store.check_settings(conn, db_path, {k: opts[k] for k in store.SETTING_KEYS})
    plans = _plan(conn, corpora, replace)
    opts["dictionary"] = _dictionary(conn, plans)
    run = _Run(conn, plans, opts, progress_callback)
    run.bytes_total, seconds, tasks = _work(run, plans, opts["chunk_bytes"])
    n = workers_for(workers, executor, seconds, tasks)
    with owned_executor(n, executor) as pool, BackgroundCheckpoints(conn) as checkpoints:
        run.checkpoints = checkpoints
        run.run(pool, in_flight=max(n, 1) + 2)
    for plan in plans:
        out = run.outcomes.get(plan.corpus.name)
        if out is None:
            done = resume_of(conn, plan.existing_id)
            out = CorpusOutcome(plan.corpus.name, Status.COMPLETE,
                                total_sentences=done.sentences, total_errors=done.errors)
        report.corpora.append(out)
    store.finish(conn, build=opts.get("build", True))
