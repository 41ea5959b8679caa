"""`export`: materialize per-category tree files from the index (never from the input).

For each corpus and category: `OUTDIR/<corpus>/<corpus>-<cat>-trees.xml`, a UTF-8 document

    <?xml version="1.0" encoding="UTF-8"?>
    <trees corpus="cdb" cat="np">
    <tree index="np-1"><node ...>...</node></tree>
    ...
    </trees>

Each `<node>` is cut byte for byte out of the stored sentence (ingest recorded its span), so
it is exactly as written in the input and nothing is parsed. Work is split into sentence
ranges that workers turn into per-category fragments; the parent appends them in order to
temporary files and renames each file into place only when it is complete.
"""

from __future__ import annotations

import difflib
import os
import re
import sqlite3
import zlib
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Callable, NamedTuple

from . import db
from .errors import DatabaseError, TreeindexError
from .pool import available_cores, make_executor, ordered_map

SENTENCES_PER_TASK = 400
TMP_PREFIX = ".treeindex-tmp-"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


class ExportTask(NamedTuple):
    db: str
    corpus: str
    seq_from: int
    seq_to: int  # inclusive
    cats: tuple[str, ...] | None  # None: every category
    with_sentence: bool


@dataclass
class Progress:
    corpus: str
    subtrees_done: int
    subtrees_total: int


@dataclass
class ExportReport:
    files: list[Path] = field(default_factory=list)
    subtrees: int = 0
    incomplete: list[str] = field(default_factory=list)  # corpora still being ingested


def file_name(corpus: str, cat: str) -> str:
    """`<corpus>-<cat>-trees.xml`, with characters unsafe in file names replaced by '_'."""
    return f"{_UNSAFE.sub('_', corpus)}-{_UNSAFE.sub('_', cat)}-trees.xml"


def _attr(value: str) -> str:
    return (value.replace("&", "&amp;").replace("<", "&lt;").replace('"', "&quot;")
            .replace("\n", "&#10;").replace("\t", "&#9;").replace("\r", "&#13;"))


_connections: dict[str, sqlite3.Connection] = {}


def _conn(path: str) -> sqlite3.Connection:
    conn = _connections.get(path)
    if conn is None:
        conn = _connections[path] = db.connect_read(Path(path))
    return conn


def run_export_task(task: ExportTask) -> tuple[dict[str, bytes], int]:
    """The `<tree>` elements of a sentence range per category, in numbering order, and how
    many there are."""
    conn = _conn(task.db)
    (corpus_id,) = conn.execute("SELECT id FROM corpora WHERE name = ?", (task.corpus,)).fetchone()
    sentences = conn.execute(
        "SELECT id, sentid, text, xml, first_subtree, subtree_count FROM sentences "
        "WHERE corpus_id = ? AND seq BETWEEN ? AND ? ORDER BY seq",
        (corpus_id, task.seq_from, task.seq_to),
    ).fetchall()
    parts: dict[str, list[bytes]] = {}
    wanted = set(task.cats) if task.cats is not None else None
    if not sentences:
        return {}, 0
    lo = sentences[0][4]
    hi = max(s[4] + s[5] for s in sentences) - 1
    by_id = {s[0]: s for s in sentences}
    current = None
    xml = b""
    head = b""
    for sentence_id, cat, n, a, b in conn.execute(
        "SELECT sentence_id, cat, n, xml_start, xml_end FROM subtrees "
        "WHERE id BETWEEN ? AND ? AND +corpus_id = ? ORDER BY id",  # + : scan the rowid range
        (lo, hi, corpus_id),
    ):
        if wanted is not None and cat not in wanted:
            continue
        if sentence_id != current:
            if sentence_id not in by_id:
                continue
            current = sentence_id
            _, sentid, text, zxml, _, _ = by_id[sentence_id]
            xml = zlib.decompress(zxml)
            head = (
                f' sentid="{_attr(sentid)}" sentence="{_attr(text or "")}">'.encode()
                if task.with_sentence else b">"
            )
        parts.setdefault(cat, []).append(
            b'<tree index="%s-%d"%s%s</tree>\n' % (cat.encode(), n, head, xml[a:b])
        )
    return {cat: b"".join(chunks) for cat, chunks in parts.items()}, sum(map(len, parts.values()))


def _suggest(wanted: str, have: list[str], what: str) -> str:
    close = difflib.get_close_matches(wanted, have, n=len(have), cutoff=0.0)
    return f"unknown {what} {wanted!r}; the {what} in this index are (closest first): " + \
        ", ".join(close)


def _select(conn: sqlite3.Connection, cats: list[str] | None, corpora: list[str] | None
            ) -> list[tuple[int, str, int, int, list[tuple[str, int]]]]:
    """(corpus id, name, committed sentences, complete, [(cat, subtrees)]) to export."""
    rows = conn.execute(
        "SELECT id, name, sentences, complete FROM corpora ORDER BY id").fetchall()
    names = [r[1] for r in rows]
    if not rows:
        raise DatabaseError("the index holds no corpora yet; run `treeindex ingest` first")
    for c in corpora or []:
        if c not in names:
            raise TreeindexError(_suggest(c, names, "corpora"))
    known = [r[0] for r in conn.execute(
        "SELECT cat FROM corpus_categories GROUP BY cat ORDER BY sum(subtrees) DESC, cat")]
    for c in cats or []:
        if c not in known:
            raise TreeindexError(_suggest(c, known, "categories"))
    selected = []
    for cid, name, sentences, complete in rows:
        if corpora and name not in corpora:
            continue
        counts = conn.execute(
            "SELECT cat, subtrees FROM corpus_categories WHERE corpus_id = ? AND subtrees > 0 "
            "ORDER BY cat", (cid,)).fetchall()
        if cats is not None:
            counts = [(c, k) for c, k in counts if c in cats]
        selected.append((cid, name, sentences, complete, counts))
    return selected


def export(
    db_path: Path | str,
    outdir: Path | str,
    *,
    cats: list[str] | None = None,
    corpora: list[str] | None = None,
    with_sentence: bool = False,
    force: bool = False,
    workers: int | None = None,
    executor: Executor | None = None,
    progress_callback: Callable[[Progress], None] | None = None,
) -> ExportReport:
    """Write `<corpus>-<cat>-trees.xml` files for `cats` (None: all) of `corpora` (None: all).

    Raises TreeindexError for unknown categories or corpora and for existing files (unless
    `force`). Files appear only complete: an interrupted export leaves none half-written.
    """
    db_path = Path(db_path)
    outdir = Path(outdir)
    conn = db.connect_read(db_path)
    try:
        conn.execute("BEGIN")  # one snapshot for planning, even while an ingest writes
        selected = _select(conn, cats, corpora)
        conn.execute("COMMIT")
    finally:
        conn.close()
    targets = [outdir / name / file_name(name, cat)
               for _, name, _, _, counts in selected for cat, _ in counts]
    existing = [p for p in targets if p.exists()]
    if existing and not force:
        shown = ", ".join(str(p) for p in existing[:5])
        more = f" and {len(existing) - 5} more" if len(existing) > 5 else ""
        raise TreeindexError(
            f"{len(existing)} output files exist already: {shown}{more}; "
            "use --force to replace them"
        )
    report = ExportReport()
    report.incomplete = [name for _, name, _, complete, _ in selected if not complete]
    total = sum(k for *_, counts in selected for _, k in counts)
    n = available_cores() if workers is None else workers
    own = executor is None
    pool = make_executor(n) if own else executor
    try:
        done = 0
        for _, name, sentences, _, counts in selected:
            if not counts:
                continue
            wanted = tuple(c for c, _ in counts) if cats is not None else None
            tasks = (
                ExportTask(str(db_path), name, a, min(a + SENTENCES_PER_TASK - 1, sentences),
                           wanted, with_sentence)
                for a in range(1, sentences + 1, SENTENCES_PER_TASK)
            )
            with _Files(outdir / name, name, [c for c, _ in counts]) as files:
                for _, (fragments, trees) in ordered_map(pool, run_export_task, tasks,
                                                          2 * max(n, 1) + 2):
                    for cat, data in fragments.items():
                        files.write(cat, data)
                    done += trees
                    if progress_callback:
                        progress_callback(Progress(name, done, total))
                report.files += files.commit()
        report.subtrees = done
    finally:
        if own:
            pool.shutdown(wait=True, cancel_futures=True)
    return report


def _alive(pid: str) -> bool:
    try:
        os.kill(int(pid), 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return True


class _Files:
    """The output files of one corpus: written under temporary names, renamed when complete."""

    def __init__(self, directory: Path, corpus: str, cats: list[str]) -> None:
        self.directory = directory
        self.corpus = corpus
        self.cats = cats
        self.open: dict[str, BinaryIO] = {}
        self.tmp: dict[str, Path] = {}

    def __enter__(self) -> _Files:
        self.directory.mkdir(parents=True, exist_ok=True)
        for stale in self.directory.glob(TMP_PREFIX + "*"):
            if not _alive(stale.name[len(TMP_PREFIX):].split("-", 1)[0]):
                stale.unlink()  # left by an export that was killed
        return self

    def write(self, cat: str, data: bytes) -> None:
        f = self.open.get(cat)
        if f is None:
            path = self.directory / f"{TMP_PREFIX}{os.getpid()}-{file_name(self.corpus, cat)}"
            f = self.open[cat] = open(path, "wb")
            self.tmp[cat] = path
            f.write(b'<?xml version="1.0" encoding="UTF-8"?>\n<trees corpus="%s" cat="%s">\n'
                    % (_attr(self.corpus).encode(), _attr(cat).encode()))
        f.write(data)

    def commit(self) -> list[Path]:
        done = []
        for cat, f in self.open.items():
            f.write(b"</trees>\n")
            f.flush()
            os.fsync(f.fileno())
            f.close()
            final = self.directory / file_name(self.corpus, cat)
            os.replace(self.tmp[cat], final)
            done.append(final)
        self.open.clear()
        self.tmp.clear()
        return done

    def __exit__(self, *exc: object) -> None:
        for cat, f in self.open.items():  # not committed: interrupted or failed
            f.close()
            self.tmp[cat].unlink(missing_ok=True)

