"""The single writer: the only code that changes an index.

It receives worker results in document order and, for each, copies the packed sentence and
subtree rows in with SQL (continuing ids and each category's numbers), records errors,
updates the maintained counts and moves the corpus's resume point, all in one transaction.
Whatever is committed is therefore complete and consistent; an interrupted ingest resumes
from the last commit. It runs in one write thread (`WriteThread`).
"""

from __future__ import annotations

import queue
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import Future
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from .connect import atomic


class CorpusInfo(Protocol):
    """What the store needs to know of a corpus (sources.Corpus is one)."""

    @property
    def name(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def source_text(self) -> str: ...  # as stored (names that are not UTF-8 escaped)
    @property
    def fingerprint(self) -> str: ...
    @property
    def input_bytes(self) -> int: ...
    @property
    def files(self) -> list[Path]: ...
    @property
    def label(self) -> str | None: ...  # the file error rows name when a sentence has none
    @property
    def skipped(self) -> list[tuple[str, str]]: ...  # (file, reason) of files passed over


class Batch(Protocol):
    """What the writer needs of a worker's result (worker.contract.Result is one)."""

    @property
    def chunk(self) -> bytes: ...  # the rows, in the packed format of store/packed.py
    @property
    def sentences(self) -> int: ...
    @property
    def subtrees(self) -> int: ...
    @property
    def cat_counts(self) -> dict[str, list[int]]: ...  # cat -> [subtrees, sentences]
    # (file or None, offset or None, line (relative to the task's first line) or None,
    #  sentid or None, message)
    @property
    def errors(self) -> list[tuple]: ...
    @property
    def newlines(self) -> int: ...  # newlines in the task's bytes (numbering lines)
    @property
    def end(self) -> int | None: ...  # the offset the task ends at (None: counts units)
    @property
    def files(self) -> int: ...  # units (files, entries) the task read
    @property
    def nodes(self) -> bytes | None: ...  # the node block of the sentences (or None)

_INSERT_ERROR = (
    "INSERT INTO errors (corpus_id, file, offset, line, sentid, message) VALUES (?, ?, ?, ?, ?, ?)"
)
_UPSERT_COUNTS = (
    "INSERT INTO corpus_categories (corpus_id, cat, subtrees, sentences) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (corpus_id, cat) DO UPDATE SET subtrees = excluded.subtrees, "
    "sentences = excluded.sentences"
)


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def delete_corpus(conn: sqlite3.Connection, corpus_id: int, transaction: bool = True) -> None:
    """Remove a corpus and everything indexed for it (its own transaction, unless the caller
    holds one: `transaction=False`)."""
    if transaction:
        with atomic(conn):
            delete_corpus(conn, corpus_id, transaction=False)
        return
    for table in ("subtrees", "sentences", "errors", "corpus_categories", "node_blocks"):
        conn.execute(f"DELETE FROM {table} WHERE corpus_id = ?", (corpus_id,))
    conn.execute("DELETE FROM corpora WHERE id = ?", (corpus_id,))


def register(conn: sqlite3.Connection, corpus: CorpusInfo) -> int:
    """Add a corpus (and the files skipped beside it), in one transaction."""
    with atomic(conn):
        return _register(conn, corpus)


def _register(conn: sqlite3.Connection, corpus: CorpusInfo) -> int:
    cur = conn.execute(
        "INSERT INTO corpora (name, kind, source, fingerprint, input_bytes, input_files, "
        "started_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (corpus.name, corpus.kind, corpus.source_text, corpus.fingerprint, corpus.input_bytes,
         len(corpus.files), now()),
    )
    corpus_id = cur.lastrowid
    assert corpus_id is not None
    return corpus_id


class Ids:
    """Hands out sentence and subtree ids in write order, shared by the writers of one run,
    so that both grow with document order within a corpus."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.sentence: int = conn.execute(
            "SELECT coalesce(max(id), 0) + 1 FROM sentences").fetchone()[0]
        self.subtree: int = conn.execute(
            "SELECT coalesce(max(id), 0) + 1 FROM subtrees").fetchone()[0]


def prepare(conn: sqlite3.Connection) -> None:
    """Attach the schema worker chunks are loaded into, and the per-write category bases."""
    # the temporary tables below and the statement journals of the copies (SQLite's undo of
    # one statement within the transaction) in memory, not in files under /var/tmp: an
    # ingest of 100 MB wrote 14 MB into 67 such files (the new patterns' insert 16-19 ->
    # 10.5 ms; the whole writer's time within the noise). Both are bounded by one result.
    # (Set before the tables: a change of temp_store drops them; build_indexes sets files
    # back, for its sorter's threads.)
    conn.execute("PRAGMA temp_store=MEMORY")
    conn.execute("ATTACH DATABASE ':memory:' AS chunk")
    # WITHOUT ROWID: each subtree row's category finds its base in one b-tree, not an index
    # and then the table (the copy of a 100 MB's 250,000 rows 0.235-0.241 -> 0.212-0.217 s)
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS bases (cat TEXT PRIMARY KEY, base INTEGER) "
                 "WITHOUT ROWID")
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS pattern_ids (i INTEGER PRIMARY KEY, id INTEGER)")


# The chunk's pattern numbers -> the index's pattern ids: one look-up of each pattern among
# those the index has (a look-up to find the new ones and another for every id had been
# two: 0.077 -> 0.068 s on 100 MB, whose 12,204 patterns are almost all new; less the more
# are known); the new ones, in order of first appearance (so the same ids however the
# input was cut), are added, and their ids looked up.
_PATTERN_IDS = (
    "INSERT INTO temp.pattern_ids (i, id) SELECT p.i, m.id FROM chunk.p AS p "
    "LEFT JOIN patterns AS m ON m.pattern = p.pattern"
)
_NEW_PATTERNS = (
    "INSERT INTO patterns (pattern) SELECT p.pattern FROM temp.pattern_ids AS x "
    "JOIN chunk.p AS p ON p.i = x.i WHERE x.id IS NULL ORDER BY x.i"
)
_NEW_PATTERN_IDS = (
    "UPDATE temp.pattern_ids SET id = (SELECT m.id FROM chunk.p AS p JOIN patterns AS m "
    "ON m.pattern = p.pattern WHERE p.i = pattern_ids.i) WHERE id IS NULL"
)
_COPY_SENTENCES = (
    "INSERT INTO sentences (id, corpus_id, seq, sentid, file, offset, first_subtree, "
    "subtree_count, text, xml) "
    "SELECT :sentence + s.i - 1, :corpus, :seq + s.i, coalesce(s.sentid, '#' || (:seq + s.i)), "
    "s.file, s.offset, :subtree + s.first, s.nsub, s.text, s.xml "
    "FROM chunk.s AS s ORDER BY s.i"
)
_COPY_TERMS = (
    "INSERT INTO search_terms (rowid, terms) SELECT :sentence + s.i - 1, s.terms "
    "FROM chunk.s AS s ORDER BY s.i"
)
# a shard of a cluster ingest keeps its terms readable too, for the merge (treeindex/cluster)
_COPY_SHARD_TERMS = (
    "INSERT INTO shard_terms (id, terms) SELECT :sentence + s.i - 1, s.terms "
    "FROM chunk.s AS s ORDER BY s.i"
)
_COPY_SUBTREES = (
    "INSERT INTO subtrees (id, corpus_id, sentence_id, cat, n, node, rel, begin, end, children, "
    "nodes, depth, level, parent_cat, pattern_id, xml_start, xml_end) "
    "SELECT :subtree + t.k - 1, :corpus, :sentence + t.i, t.cat, b.base + t.local_n, t.node, "
    "t.rel, t.begin, t.end, t.children, t.nodes, t.depth, t.level, t.parent_cat, p.id, "
    "t.xml_start, t.xml_end "
    "FROM chunk.t AS t JOIN temp.bases AS b ON b.cat = t.cat "
    "JOIN temp.pattern_ids AS p ON p.i = t.pattern ORDER BY t.k"
)


class BlockObserver(Protocol):
    """Told of each node block in its transaction (search/summary.py keeps the summary of
    the node table), and told to read its state again when a transaction was undone."""

    def add_block(self, blob: bytes) -> None: ...
    def reload(self) -> None: ...


class CorpusWriter:
    """Writes the results of one corpus, in order."""

    def __init__(self, conn: sqlite3.Connection, corpus: CorpusInfo, corpus_id: int,
                 ids: Ids, blocks: BlockObserver | None = None) -> None:
        self.conn = conn
        self.ids = ids
        self.blocks = blocks
        self.corpus = corpus
        self.id = corpus_id
        row = conn.execute(
            "SELECT done_bytes, done_files, done_lines, sentences, subtrees, errors, "
            "positional_ids FROM corpora WHERE id = ?",
            (corpus_id,),
        ).fetchone()
        (self.done_bytes, self.done_files, self.done_lines, self.sentences, self.subtrees,
         self.errors, self.positional) = row
        self.counts: dict[str, list[int]] = {
            cat: [subtrees, sentences]
            for cat, subtrees, sentences in conn.execute(
                "SELECT cat, subtrees, sentences FROM corpus_categories WHERE corpus_id = ?",
                (corpus_id,),
            )
        }
        self.file_label = corpus.label
        # files passed over beside the corpus: recorded once, with its first batch (or its
        # end), so that they follow the rows of the corpus before it in the errors table
        # however many results of that corpus are in flight when this one is planned. A
        # corpus that has written nothing yet (no batch moves neither resume point) has
        # not recorded them either.
        fresh = not (self.done_bytes or self.done_files or self.sentences or self.errors)
        self.skipped_pending = list(corpus.skipped) if fresh else []
        self.shard = conn.execute(
            "SELECT count(*) FROM sqlite_master WHERE name = 'shard_terms'").fetchone()[0] > 0

    def write(self, result: Batch) -> None:
        """Copy a worker's packed rows in: ids and numbers continue where the index stops."""
        cid = self.id
        counts = self.counts
        base = {}
        for cat, (subtrees, sentences) in result.cat_counts.items():
            c = counts.get(cat)
            if c is None:
                c = counts[cat] = [0, 0]
            base[cat] = c[0]
            c[0] += subtrees
            c[1] += sentences
        error_rows = [(cid, file, None, None, None, reason)
                      for file, reason in self.skipped_pending] + [
            (cid, file or self.file_label, offset,
             (self.done_lines + line) if (line is not None and offset is not None) else line,
             sentid, message)
            for file, offset, line, sentid, message in result.errors
        ]
        params = {"sentence": self.ids.sentence, "subtree": self.ids.subtree, "corpus": cid,
                  "seq": self.sentences}
        conn = self.conn
        conn.deserialize(result.chunk, name="chunk")
        conn.execute("DELETE FROM temp.bases")
        conn.executemany("INSERT INTO temp.bases (cat, base) VALUES (?, ?)", base.items())
        positional = conn.execute(
            "SELECT count(*) FROM chunk.s WHERE sentid IS NULL").fetchone()[0]
        done_bytes = self.done_bytes if result.end is None else result.end
        # a byte-resumed task that ends a file of several (end 0, one file done) moves the
        # resume point to the start of the next file, where lines count from the start again
        next_file = result.end == 0 and result.files > 0
        done_lines = 0 if next_file else self.done_lines + result.newlines
        try:
            with atomic(conn):
                self._copy(result, params, error_rows, base, done_bytes, done_lines,
                           positional)
        except BaseException:
            self._reload()
            raise
        self.ids.sentence += result.sentences
        self.ids.subtree += result.subtrees
        self.done_bytes = done_bytes
        self.done_files += result.files
        self.done_lines = done_lines
        self.sentences += result.sentences
        self.subtrees += result.subtrees
        self.errors += len(error_rows)
        self.positional += positional
        self.skipped_pending = []

    def _copy(self, result: Batch, params: dict, error_rows: list[tuple],
              base: dict[str, int], done_bytes: int, done_lines: int, positional: int) -> None:
        """The statements of one batch's transaction."""
        conn, cid, counts = self.conn, self.id, self.counts
        conn.execute("DELETE FROM temp.pattern_ids")
        conn.execute(_PATTERN_IDS)
        if conn.execute(_NEW_PATTERNS).rowcount:
            conn.execute(_NEW_PATTERN_IDS)
        conn.execute(_COPY_SENTENCES, params)
        # a shard keeps its terms readable for the merge, which fills the index's FTS5 table
        # (filling the shard's own too would be work thrown away)
        conn.execute(_COPY_SHARD_TERMS if self.shard else _COPY_TERMS, params)
        conn.execute(_COPY_SUBTREES, params)
        if result.nodes is not None and result.sentences:
            conn.execute("INSERT INTO node_blocks (corpus_id, first_sentence, sentences, data) "
                         "VALUES (?, ?, ?, ?)", (cid, params["sentence"], result.sentences,
                                                 result.nodes))
            if self.blocks is not None:
                self.blocks.add_block(result.nodes)
        if error_rows:
            conn.executemany(_INSERT_ERROR, error_rows)
        if base:
            conn.executemany(
                "INSERT OR IGNORE INTO categories (cat) VALUES (?)", [(c,) for c in base]
            )
            conn.executemany(_UPSERT_COUNTS, [(cid, cat, *counts[cat]) for cat in base])
        conn.execute(
            "UPDATE corpora SET done_bytes = ?, done_files = ?, done_lines = ?, "
            "sentences = ?, subtrees = ?, errors = ?, positional_ids = ? WHERE id = ?",
            (done_bytes, self.done_files + result.files, done_lines,
             self.sentences + result.sentences, self.subtrees + result.subtrees,
             self.errors + len(error_rows), self.positional + positional, cid),
        )

    def _reload(self) -> None:
        """Back to what is committed (after a failed transaction)."""
        self.__init__(self.conn, self.corpus, self.id, self.ids,  # type: ignore[misc]
                      self.blocks)
        if self.blocks is not None:
            self.blocks.reload()

    def finish(self) -> None:
        with atomic(self.conn):
            if self.skipped_pending:  # a corpus without a single batch
                self.conn.executemany(_INSERT_ERROR, [
                    (self.id, file, None, None, None, reason)
                    for file, reason in self.skipped_pending])
                self.errors += len(self.skipped_pending)
                self.conn.execute("UPDATE corpora SET errors = ? WHERE id = ?",
                                  (self.errors, self.id))
                self.skipped_pending = []
            self.conn.execute(
                "UPDATE corpora SET complete = 1, finished_at = ? WHERE id = ?",
                (now(), self.id))


class WriteThread:
    """The one thread that touches the database during an ingest (as in datasette).

    The coordinator hands it work in order: `submit` queues a call (bounded, so results
    cannot pile up), `call` queues one and waits for its result. SQLite does its work with
    the GIL released, so writing overlaps with planning and receiving results. The first
    error stops the thread; it is raised again in the caller at its next submit, call or
    close. `abort` drops whatever is still queued: what was committed stays.
    """

    def __init__(self, maxsize: int) -> None:
        self._queue: queue.Queue = queue.Queue(maxsize)
        self._error: BaseException | None = None
        self._stop = False
        # set by the thread as it ends: what close and abort wait for (Thread.join, left by a
        # stop signal, can report a thread that still runs as ended: Python 3.11)
        self._ended = threading.Event()
        self._thread = threading.Thread(target=self._run, name="treeindex-writer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._loop()
        finally:
            self._ended.set()

    def _loop(self) -> None:
        while True:
            # never a wait without end: whatever happens to a notification (a stop in the
            # main thread used to spend one on a stale waiter), `abort` is seen within 0.1 s
            try:
                item = self._queue.get(timeout=0.1)
            except queue.Empty:
                if self._stop:
                    return
                continue
            if item is None:
                return
            fn, args, done = item
            if self._stop or self._error is not None:
                if done is not None:
                    done.set_exception(self._error or RuntimeError("the writer was stopped"))
                continue
            try:
                result = fn(*args)
            except BaseException as e:  # handed to the coordinator
                self._error = e
                if done is not None:
                    done.set_exception(e)
                continue
            if done is not None:
                done.set_result(result)

    def _put(self, item: tuple | None) -> None:
        while True:
            if self._error is not None:
                raise self._error
            try:
                self._queue.put(item, timeout=0.05)
                return
            except queue.Full:
                continue

    def submit(self, fn: Callable[..., Any], *args: Any) -> None:
        self._put((fn, args, None))

    def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        done: Future = Future()
        self._put((fn, args, done))
        return done.result()

    def close(self) -> None:
        """Wait until everything queued is written; raise the thread's error, if any."""
        self._put(None)
        self._ended.wait()
        if self._error is not None:
            raise self._error

    def abort(self) -> None:
        """Stop after the current transaction, dropping what is queued; return only once
        the thread has ended. An exception raised meanwhile (a stop signal's) is raised
        again after that: the caller closes the connection next, and closing it while the
        thread runs a statement crashed the process (SIGSEGV, seen under load)."""
        self._stop = True
        pending: BaseException | None = None
        sent = False
        while not self._ended.is_set():
            try:
                if not sent:
                    try:
                        self._queue.put(None, timeout=0.05)
                        sent = True
                    except queue.Full:
                        continue
                self._ended.wait(0.1)
            except BaseException as e:  # noqa: BLE001 - raised again below
                pending = pending or e
        if pending is not None:
            raise pending


class InlineWrite:
    """WriteThread's interface, written in the caller's thread: for a process that has one
    core to itself (a cluster's shard), where a second thread only contends for the GIL."""

    def __init__(self, maxsize: int = 0) -> None:
        pass

    def submit(self, fn: Callable[..., Any], *args: Any) -> None:
        fn(*args)

    def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        return fn(*args)

    def close(self) -> None:
        pass

    def abort(self) -> None:
        pass
