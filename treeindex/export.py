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

import functools
import hashlib
import os
import re
import signal
from collections.abc import Callable, Iterator
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from .cores import workers_for
from .errors import DatabaseError, TreeindexError, suggest
from .pool import ordered_map, owned_executor, stop_signals
from .store import CorpusRow, Index, translate_errors

SENTENCES_PER_TASK = 400
TMP_PREFIX = ".treeindex-tmp-"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
_PLAIN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,79}")


class ExportTask(NamedTuple):
    db: str
    corpus_id: int
    corpus: tuple  # (name, fingerprint, started_at) when planned: a replaced corpus differs
    first: int  # subtree ids first..last (a range of whole sentences)
    last: int
    # cat -> (temporary file, offset, size): where this task's trees of that cat go
    places: dict[str, tuple[str, int, int]]
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


def safe_name(name: str) -> str:
    """`name` as a file name: itself when it is plain (letters, digits, '.', '_', '-', not
    starting with '.' or '-', at most 80 characters); else its plain characters (others
    become '_', at most 60) and '~' with 16 hex digits of its SHA-1. Plain names never hold
    '~', so distinct names always get distinct file names, none leaves OUTDIR ('..') or is
    hidden, and the same name always gets the same file name."""
    if _PLAIN.fullmatch(name):
        return name
    digest = hashlib.sha1(name.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return f"{_UNSAFE.sub('_', name)[:60].lstrip('.-') or '_'}~{digest}"


def file_name(corpus: str, cat: str) -> str:
    """`<corpus>-<cat>-trees.xml`, each name made safe by `safe_name`."""
    return f"{safe_name(corpus)}-{safe_name(cat)}-trees.xml"


@functools.lru_cache(maxsize=4096)
def _attr_bytes(value: str) -> bytes:
    """`attribute_value(value)` in UTF-8 (categories repeat endlessly: computed once each)."""
    return attribute_value(value).encode()


def attribute_value(value: str) -> str:
    """`value` escaped for an XML attribute in double quotes."""
    return (value.replace("&", "&amp;").replace("<", "&lt;").replace('"', "&quot;")
            .replace("\n", "&#10;").replace("\t", "&#9;").replace("\r", "&#13;"))


def run_export_task(task: ExportTask) -> int:
    """Write the `<tree>` elements of a range of subtrees into their files, each category at
    the offset the parent planned for it; return how many trees were written."""
    index = Index.for_process(task.db)
    with index.snapshot():  # one state of the index for the check and the rows
        if index.corpus_stamp(task.corpus_id) != task.corpus:
            raise TreeindexError(
                f"{task.db}: corpus {task.corpus[0]!r} was replaced or removed (by an ingest) "
                "while it was being exported; its files were not written: run the export again"
            )
        parts = _trees(index, task)
    trees = 0
    for cat, chunks in parts.items():
        path, offset, size = task.places[cat]
        data = b"".join(chunks)
        if len(data) != size:
            raise TreeindexError(
                f"internal error: {len(data)} bytes of {cat} trees where {size} were planned; "
                "please report this (the export was not written)")
        try:
            fd = os.open(path, os.O_WRONLY)
            try:
                os.pwrite(fd, data, offset)
            finally:
                os.close(fd)
        except OSError as e:
            raise write_error(Path(path), e) from None
        trees += len(chunks)
    return trees


def write_error(path: Path, e: OSError) -> TreeindexError:
    final = path
    if path.name.startswith(TMP_PREFIX):  # .treeindex-tmp-<pid>-<final name>
        final = path.parent / path.name[len(TMP_PREFIX):].split("-", 1)[1]
    return TreeindexError(
        f"{final}: cannot be written ({e.strerror or e}); no incomplete file was left: "
        "free space (or fix permissions), then run the export again"
    )


def _trees(index: Index, task: ExportTask) -> dict[str, list[bytes]]:
    parts: dict[str, list[bytes]] = {cat: [] for cat in task.places}
    current = None
    xml = head = b""
    for sentence_id, cat, n, a, b in index.spans(task.corpus_id, task.first, task.last):
        chunks = parts.get(cat)
        if chunks is None:
            continue
        if sentence_id != current:
            current = sentence_id
            sentence = index.sentence(sentence_id)
            xml = sentence.xml
            head = (f' sentid="{attribute_value(sentence.sentid)}" '
                    f'sentence="{attribute_value(sentence.text or "")}">'.encode()
                    if task.with_sentence else b">")
        node = (xml[a:b] if type(a) is int and type(b) is int and 0 <= a < b <= len(xml)
                else b"")
        if not node.startswith(b"<node"):  # (inline: this runs once per subtree)
            node = index.cut(xml, a, b, f"{cat}-{n}")  # the message of a damaged span
        chunks.append(b'<tree index="%s-%d"%s%s</tree>\n' % (_attr_bytes(cat), n, head, node))
    return parts


def _escaped_length(column: str) -> str:
    """SQL for the UTF-8 length of `attribute_value(column)`."""
    extra = " + ".join(
        f"{k} * (length({column}) - length(replace({column}, {char}, '')))"
        for char, k in (("'&'", 4), ("'<'", 3), ("'\"'", 5), ("char(10)", 4), ("char(9)", 3),
                        ("char(13)", 4))
    )
    return f"(length(CAST({column} AS BLOB)) + {extra})"


def _plan_sizes(index: Index, corpus_id: int, first: int, last: int,
                with_sentence: bool) -> list[tuple[str, int, int]]:
    """(cat, trees, bytes) of the `<tree>` elements of subtrees first..last, from the index
    alone: what each task will write, so that every task knows its offsets in advance."""
    if with_sentence:
        sentid_len = _escaped_length("s.sentid")
        text_len = _escaped_length("coalesce(s.text, '')")
        sql = (
            "SELECT t.cat, count(*), sum(46 + length(t.n) "
            f"+ t.xml_end - t.xml_start + {sentid_len} + {text_len}) "
            "FROM subtrees t JOIN sentences s ON s.id = t.sentence_id "
            "WHERE t.id BETWEEN ? AND ? AND +t.corpus_id = ? GROUP BY t.cat")
    else:
        sql = ("SELECT cat, count(*), sum(24 + length(n) + xml_end - xml_start) FROM subtrees "
               "WHERE id BETWEEN ? AND ? AND +corpus_id = ? GROUP BY cat")
    # each tree also holds its category, escaped: counted here, once per category
    return [(cat, k, size + k * len(_attr_bytes(cat)))
            for cat, k, size in index.conn.execute(sql, (first, last, corpus_id))]


class _Selected(NamedTuple):
    corpus: CorpusRow
    counts: list[tuple[str, int]]  # (cat, subtrees) to export


def _select(index: Index, cats: list[str] | None, corpora: list[str] | None
            ) -> list[_Selected]:
    rows = index.corpora()
    names = [r.name for r in rows]
    if not rows:
        raise DatabaseError("the index holds no corpora yet; run `treeindex ingest` first")
    for c in corpora or []:
        if c not in names:
            raise TreeindexError(suggest(c, names, "corpus", "corpora"))
    known = index.categories()
    for c in cats or []:
        if c not in known:
            raise TreeindexError(suggest(c, known, "category", "categories"))
    selected = []
    for row in rows:
        if corpora and row.name not in corpora:
            continue
        counts = index.corpus_categories(row.id)
        if cats is not None:
            counts = [(c, k) for c, k in counts if c in cats]
        selected.append(_Selected(row, counts))
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
    `force`), Interrupted on SIGTERM and SIGHUP (KeyboardInterrupt on Ctrl-C). Files appear
    only complete: an interrupted export leaves none half-written.
    """
    with stop_signals((signal.SIGTERM, signal.SIGHUP)):
        return _export(Path(db_path), Path(outdir), cats, corpora, with_sentence, force,
                       workers, executor, progress_callback)


def _export(db_path: Path, outdir: Path, cats: list[str] | None, corpora: list[str] | None,
            with_sentence: bool, force: bool, workers: int | None, executor: Executor | None,
            progress_callback: Callable[[Progress], None] | None) -> ExportReport:
    with Index(db_path) as index, index.snapshot(), translate_errors(db_path):
        selected = _select(index, cats, corpora)  # one state, even while an ingest writes
    targets = [outdir / safe_name(c.corpus.name) / file_name(c.corpus.name, cat)
               for c in selected for cat, _ in c.counts]
    existing = [p for p in targets if p.exists()]
    if existing and not force:
        shown = ", ".join(str(p) for p in existing[:5])
        more = f" and {len(existing) - 5} more" if len(existing) > 5 else ""
        raise TreeindexError(
            f"{len(existing)} output files exist already: {shown}{more}; "
            "use --force to replace them"
        )
    report = ExportReport()
    report.incomplete = [c.corpus.name for c in selected if not c.corpus.complete]
    total = sum(k for c in selected for _, k in c.counts)
    n = workers_for(workers, executor, total * SECONDS_PER_TREE,
                    sum(-(-c.corpus.sentences // SENTENCES_PER_TASK) for c in selected
                        if c.counts))
    with (translate_errors(db_path), owned_executor(n, executor, _AFTER_DEATH) as pool,
          Index(db_path) as index):
        done = 0
        for c in selected:
            if not c.counts:
                continue
            name = c.corpus.name
            with _Files(outdir / safe_name(name), name, [k for k, _ in c.counts]) as files:
                tasks = _tasks(index, str(db_path), c.corpus, files, with_sentence)
                for _, trees in ordered_map(pool, run_export_task, tasks, max(n, 1) + 2):
                    done += trees
                    if progress_callback:
                        progress_callback(Progress(name, done, total))
                report.files += files.commit()
        report.subtrees = done
    return report


# One core's export in this process: about 16 us a tree (1 MB of input, 2,393 trees, in
# 0.28 s; 12 MB, 28,684 trees, in 0.70 s; 5 alternating runs). With the pool's start cost
# (cores.py) the break-even with 2 workers is about 9,000 trees (measured: 7,096 trees 0.34
# s in the process against 0.42 s with 2 workers; 28,684 trees 0.70 against 0.55 s).
SECONDS_PER_TREE = 16e-6

_AFTER_DEATH = ("the files written before it are complete and no other was left behind: run "
                "the export again with --force")


def _tasks(index: Index, db_path: str, c: CorpusRow, files: _Files,
           with_sentence: bool) -> Iterator[ExportTask]:
    """Tasks of SENTENCES_PER_TASK sentences, each told where its trees go in every file."""
    for a in range(1, c.sentences + 1, SENTENCES_PER_TASK):
        b = min(a + SENTENCES_PER_TASK - 1, c.sentences)
        span = index.subtree_range(c.id, a, b)
        if span is None:
            continue
        first, last = span
        places = {}
        for cat, _, size in _plan_sizes(index, c.id, first, last, with_sentence):
            if cat in files.cats:
                places[cat] = files.reserve(cat, size)
        if places:
            yield ExportTask(db_path, c.id, c.stamp, first, last, places, with_sentence)


def _alive(pid: str) -> bool:
    try:
        os.kill(int(pid), 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return True


class _Files:
    """The output files of one corpus: created under temporary names, filled by the workers
    at planned offsets, and renamed into place only when complete."""

    def __init__(self, directory: Path, corpus: str, cats: list[str]) -> None:
        self.directory = directory
        self.corpus = corpus
        self.cats = set(cats)
        self.tmp: dict[str, Path] = {}
        self.end: dict[str, int] = {}

    def __enter__(self) -> _Files:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise TreeindexError(f"{self.directory}: cannot be created ({e.strerror}); give "
                                 "another OUTDIR, or fix its permissions") from None
        for stale in self.directory.glob(TMP_PREFIX + "*"):
            if not _alive(stale.name[len(TMP_PREFIX):].split("-", 1)[0]):
                stale.unlink()  # left by an export that was killed
        return self

    def reserve(self, cat: str, size: int) -> tuple[str, int, int]:
        """The place for `size` more bytes of `cat` trees: (path, offset, size)."""
        if cat not in self.tmp:
            path = self.directory / f"{TMP_PREFIX}{os.getpid()}-{file_name(self.corpus, cat)}"
            head = (b'<?xml version="1.0" encoding="UTF-8"?>\n<trees corpus="%s" cat="%s">\n'
                    % (attribute_value(self.corpus).encode(), attribute_value(cat).encode()))
            self.tmp[cat] = path
            try:
                path.write_bytes(head)
            except OSError as e:
                raise write_error(path, e) from None
            self.end[cat] = len(head)
        offset = self.end[cat]
        self.end[cat] += size
        return str(self.tmp[cat]), offset, size

    def commit(self) -> list[Path]:
        done = []
        for cat, path in self.tmp.items():
            try:
                with open(path, "r+b") as f:
                    f.seek(self.end[cat])
                    f.write(b"</trees>\n")
                    f.truncate()
                    f.flush()
                    os.fsync(f.fileno())
            except OSError as e:
                raise write_error(path, e) from None
        # every file is complete before any is renamed into place
        for cat, path in self.tmp.items():
            final = self.directory / file_name(self.corpus, cat)
            os.replace(path, final)
            done.append(final)
        self.tmp.clear()
        return done

    def __exit__(self, *exc: object) -> None:
        for path in self.tmp.values():  # not committed: interrupted or failed
            path.unlink(missing_ok=True)
