"""`ingest`: index treebanks into an SQLite database, in parallel, resumably.

The coordinator (this module) never parses XML. It classifies inputs from their prologues,
cuts treebank files into byte ranges on sentence boundaries (`split`), and hands the ranges
to worker processes (`pool`), which read and check them (`extract`). Results come back in
document order to the single writer (`writer`, in its own thread), which commits each with its
resume point.
"""

from __future__ import annotations

import sqlite3
import time
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import db
from .errors import InputError
from .extract import Result, Task, run_task
from .inputs import Corpus, discover
from .pool import available_cores, ordered_map, owned_executor, stop_signals
from .split import LARGEST_PIECE, NoBoundary, next_start, pieces
from .writer import CorpusWriter, Ids, WriteThread, delete_corpus, prepare, register

DEFAULT_CHUNK = 2 << 20
FILES_PER_TASK = 256


@dataclass
class Progress:
    """Passed to `progress_callback` after every commit."""

    corpus: str
    bytes_done: int  # input bytes handled in this run (compressed bytes for .gz)
    bytes_total: int  # input bytes this run has to handle
    sentences: int  # sentences indexed in this run
    note: str | None = None  # something to tell the user once (where a corpus resumes)


@dataclass
class CorpusOutcome:
    name: str
    status: str  # 'indexed', 'resumed', 'replaced', 'complete' (nothing to do)
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
    def exit_code(self) -> int:
        """0: all indexed; 3: done, but malformed sentences or files were skipped."""
        return 3 if self.errors or self.skipped else 0


@dataclass
class _Plan:
    corpus: Corpus
    status: str
    existing_id: int | None  # row to resume, or to delete first (replace)


def _first_sentence(corpus: Corpus) -> None:
    """Raise InputError if a treebank file holds no sentence at all (checked before any write)."""
    for _, data, _ in _pieces(corpus, 0, DEFAULT_CHUNK):
        if next_start(data, 0, len(data)) >= 0:
            return
    raise InputError(
        f"{corpus.source}: holds no <alpino_ds> sentences; is it the right file?"
    )


def _pieces(corpus: Corpus, skip: int, chunk: int) -> Iterator[tuple[int, bytes, int]]:
    """Read a treebank file (decompressing .gz) as (offset, bytes, position) pieces of about
    `chunk` bytes; every piece but the first starts at a sentence boundary, the first at
    `skip` (0, or the boundary an interrupted run stopped at). `position` is how far the file
    itself has been read (compressed bytes for .gz), for progress.

    Reads with a fixed buffer: memory stays flat however large the file.
    """
    path = corpus.source
    try:
        with open(path, "rb") as raw:
            if corpus.gzip:
                f: Any = Gunzip(raw)
                left = skip
                while left > 0:
                    got = len(f.read(min(left, 1 << 22)))
                    if got == 0:
                        return
                    left -= got
            else:
                f = raw
                f.seek(skip)
            end = skip
            for offset, data, position in pieces(f, skip, chunk, raw.tell):
                end = offset + len(data)
                yield offset, data, position
            if not corpus.gzip and end != corpus.input_bytes:
                raise changed(corpus)
    except NoBoundary as e:
        raise InputError(
            f"{path}: no <alpino_ds> sentence starts in the {LARGEST_PIECE >> 20} MB after "
            f"byte {e.args[0]}: "
            "an unterminated comment (<!--), CDATA section or processing instruction there "
            "hides the rest of the file; fix it, then run the same command (what was indexed "
            "before that point is kept)"
        ) from None
    except (OSError, EOFError, zlib.error) as e:
        raise InputError(
            f"{path}: cannot be read ({e}); what was read before is indexed; check the file "
            "(for .gz: gzip -t) and run again"
        ) from e


def changed(corpus: Corpus) -> InputError:
    return InputError(
        f"{corpus.source}: changed while it was being indexed (size or modification time "
        "differ from when the ingest started); what was indexed before is kept; when the file "
        "is final, run again with --replace to index it from scratch"
    )


class Gunzip:
    """Decompresses a .gz file as a stream (all members), and treats a file that ends too
    early like a truncated XML file: everything before the cut is read, then end of file (the
    unfinished sentence is then recorded as truncated). gzip.GzipFile raises instead, losing
    the data it had decompressed in that call."""

    def __init__(self, raw: Any) -> None:
        self.raw = raw
        self.z = zlib.decompressobj(wbits=31)
        self.pending = b""
        self.truncated = False

    def read(self, n: int) -> bytes:
        while len(self.pending) < n:
            if self.z.eof:  # a member ended: another may follow
                rest = self.z.unused_data or self.raw.read(1 << 20)
                if not rest:
                    break
                self.z = zlib.decompressobj(wbits=31)
                self.pending += self.z.decompress(rest)
                continue
            block = self.raw.read(1 << 20)
            if not block:
                self.truncated = True  # the stream stopped inside a member
                break
            self.pending += self.z.decompress(block)
        out, self.pending = self.pending[:n], self.pending[n:]
        return out


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
        prepare(conn)
        self.outcomes: dict[str, CorpusOutcome] = {}
        self.seq = 0
        self.bytes_done = 0
        self.bytes_total = 0
        self.sentences = 0
        self.current: CorpusWriter | None = None

    def _task(self, kind: str, path: str, start: int = 0, end: int = 0, data: bytes | None = None,
              files: tuple[str, ...] = (), encoding: str = "utf-8") -> Task:
        self.seq += 1
        return Task(self.seq, kind, path, start, end, data, files, encoding,
                    self.opts["max_children"], self.opts["max_nodes"])

    def _open(self, plan: _Plan) -> CorpusWriter:
        if plan.status == "replaced" and plan.existing_id is not None:
            delete_corpus(self.conn, plan.existing_id)
        corpus_id = plan.existing_id if plan.status == "resumed" else None
        if corpus_id is None:
            corpus_id = register(self.conn, plan.corpus)
        writer = CorpusWriter(self.conn, plan.corpus, corpus_id, self.ids)
        self.outcomes[plan.corpus.name] = CorpusOutcome(plan.corpus.name, plan.status)
        if plan.status == "resumed" and self.progress_callback:
            self.progress_callback(Progress(plan.corpus.name, self.bytes_done, self.bytes_total,
                                            self.sentences, note=resume_note(writer)))
        return writer

    def remaining_bytes(self, plan: _Plan) -> int:
        c = plan.corpus
        if plan.status != "resumed":
            return c.input_bytes
        row = self.conn.execute(
            "SELECT done_bytes, done_files FROM corpora WHERE id = ?", (plan.existing_id,)
        ).fetchone()
        if c.kind == "directory":
            return sum(c.sizes[row[1]:])
        return c.input_bytes if c.gzip else max(c.input_bytes - row[0], 0)

    def tasks(self, db: WriteThread) -> Iterator[Task]:
        for plan in self.plans:
            if plan.status == "complete":
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
            if not c.unchanged():
                raise changed(c)
            if n == 0:
                db.submit(self._finish, writer)

    def _corpus_tasks(self, c: Corpus, w: CorpusWriter) -> Iterator[tuple[Task, int]]:
        chunk = self.opts["chunk_bytes"]
        if c.kind == "directory":
            files = c.files[w.done_files:]
            sizes = c.sizes[w.done_files:]
            i = 0
            while i < len(files):
                j, total = i, 0
                while j < len(files) and j - i < FILES_PER_TASK and (total < chunk or j == i):
                    total += sizes[j]
                    j += 1
                yield self._task("files", str(c.source), files=tuple(map(str, files[i:j]))), total
                i = j
        else:
            last = w.done_bytes if not c.gzip else 0
            for offset, data, position in _pieces(c, w.done_bytes, chunk):
                if c.gzip:  # workers get the bytes: they cannot seek into a gzip stream
                    task = self._task("bytes", str(c.source), offset, offset + len(data), data,
                                      encoding=c.encoding)
                else:  # workers read their own byte range
                    task = self._task("range", str(c.source), offset, offset + len(data),
                                      encoding=c.encoding)
                yield task, position - last
                last = position

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
        db = WriteThread(maxsize=in_flight)
        try:
            for task, result in ordered_map(executor, run_task, self.tasks(db), in_flight):
                writer, mark = self.owners.pop(task.seq)
                db.submit(self._write, writer, result, mark)
            db.submit(self._finish_last)
            db.close()
        except BaseException:
            db.abort()
            raise


def resume_note(w: CorpusWriter) -> str:
    c = w.corpus
    if c.kind == "directory":
        where = f"file {w.done_files + 1:,} of {len(c.files):,}"
    else:
        where = f"byte {w.done_bytes:,}" + (" (of the decompressed data)" if c.gzip else
                                            f" of {c.input_bytes:,}")
    return (f"{c.name}: resuming after sentence {w.sentences:,} ({w.errors:,} malformed), "
            f"at {where}")


def _plan(conn: sqlite3.Connection, corpora: list[Corpus], replace: bool) -> list[_Plan]:
    plans: list[_Plan] = []
    problems: list[str] = []
    for c in corpora:
        row = conn.execute(
            "SELECT id, fingerprint, complete, source FROM corpora WHERE name = ?", (c.name,)
        ).fetchone()
        if row is None:
            plans.append(_Plan(c, "indexed", None))
        elif replace:
            plans.append(_Plan(c, "replaced", row[0]))
        elif row[1] != c.fingerprint:
            state = "indexed" if row[2] else "partly indexed"
            problems.append(
                f"{c.source}: differs from the input that was {state} as corpus {c.name!r} "
                f"(from {row[3]}); run again with --replace to index it from scratch"
            )
        elif row[2]:
            plans.append(_Plan(c, "complete", row[0]))
        else:
            plans.append(_Plan(c, "resumed", row[0]))
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
    chunk_bytes: int = DEFAULT_CHUNK,
    executor: Executor | None = None,
    progress_callback: Callable[[Progress], None] | None = None,
) -> IngestReport:
    """Index the treebanks in `paths` into the database at `db_path`; resume unfinished ones.

    Raises InputError or DatabaseError (nothing written) for unusable inputs or databases,
    and Interrupted (what was committed stays, and the same call resumes) on SIGINT/SIGTERM.
    """
    if max_children < 1 or max_nodes < 1:
        raise InputError("--max-children and --max-nodes must be at least 1")
    started = time.perf_counter()
    db_path = Path(db_path)
    with stop_signals() as stop:
        discovery = discover([Path(p) for p in paths])
        for c in discovery.corpora:
            if c.kind == "treebank":
                _first_sentence(c)
        report = IngestReport(skipped=discovery.skipped)
        with db.IngestLock(db_path), db.translate_errors(db_path):
            conn = db.connect_write(db_path)
            # long statements (the index build, dropping a corpus for --replace) stop at a
            # signal instead of running to their end
            conn.set_progress_handler(lambda: stop.received is not None, 1_000_000)
            try:
                _run(conn, db_path, discovery.corpora, report, replace, workers, executor,
                     {"max_children": max_children, "max_nodes": max_nodes,
                      "chunk_bytes": chunk_bytes}, progress_callback)
            finally:
                conn.close()
    report.seconds = time.perf_counter() - started
    return report


def _run(conn: sqlite3.Connection, db_path: Path, corpora: list[Corpus], report: IngestReport,
         replace: bool, workers: int | None, executor: Executor | None, opts: dict,
         progress_callback: Callable[[Progress], None] | None) -> None:
    db.check_settings(conn, db_path, {k: opts[k] for k in db.SETTING_KEYS})
    plans = _plan(conn, corpora, replace)
    run = _Run(conn, plans, opts, progress_callback)
    run.bytes_total = sum(run.remaining_bytes(p) for p in plans if p.status != "complete")
    n = available_cores() if workers is None else workers
    with owned_executor(n, executor) as pool:
        run.run(pool, in_flight=max(n, 1) + 2)
    for plan in plans:
        out = run.outcomes.get(plan.corpus.name)
        if out is None:
            total = conn.execute(
                "SELECT sentences, errors FROM corpora WHERE id = ?", (plan.existing_id,)
            ).fetchone()
            out = CorpusOutcome(plan.corpus.name, "complete", total_sentences=total[0],
                                total_errors=total[1])
        report.corpora.append(out)
    db.finish(conn)
