"""Merging indexes: the rows of one corpus of another index (a shard) appended to an index,
in one transaction, as if the same ingest had written them there.

Ids continue where the index stops (sentences, subtrees, errors), a corpus's `seq` and each
category's `n` continue where the corpus's earlier shards stopped, patterns are mapped by
their text (new ones get ids in order of first appearance, as ingest gives them), error lines
of a byte-range shard are moved by the newlines before it, positional ids (`#<seq>`) are
renumbered, and the search terms come from the shard's readable copy (`shard_terms`, which a
cluster's shards keep) or are made again from the stored sentences (any other index).

`merge_indexes` is `treeindex merge`: whole corpora of separately built indexes, in argument
order, resumable (a corpus already merged complete is passed over).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .. import store
from ..errors import DatabaseError, InputError, TreeindexError
from ..pool import stop_signals
from ..search.summary import Summary
from ..store.codec import Decoder


@dataclass
class Merged:
    corpus: str
    sentences: int
    subtrees: int
    errors: int


def _one(conn: sqlite3.Connection, sql: str, params: tuple | dict = ()) -> tuple:
    return tuple(conn.execute(sql, params).fetchone())


def check_compatible(conn: sqlite3.Connection, shard: str, label: str) -> None:
    """Refuse a shard built with other settings (max_children, max_nodes)."""
    mine = dict(conn.execute("SELECT key, value FROM main.settings"))
    theirs = dict(conn.execute(f"SELECT key, value FROM {shard}.settings"))
    for key in store.SETTING_KEYS:
        if key in mine and key in theirs and mine[key] != theirs[key]:
            raise InputError(f"{label}: was built with {key} = {theirs[key]}, the index with "
                             f"{mine[key]}; ingest both with the same settings")
    for key in store.SETTING_KEYS:
        if key not in mine and key in theirs:
            conn.execute("INSERT INTO main.settings (key, value) VALUES (?, ?)",
                         (key, theirs[key]))


def merge_corpus(conn: sqlite3.Connection, shard: str, shard_corpus: int, *, first: bool,
                 last: bool) -> Merged:
    """Append corpus `shard_corpus` of the attached database `shard` to the index (the
    caller holds the transaction). `first`: the corpus starts here (a new corpus row);
    otherwise it continues the index's corpus of that name. `last`: it is complete after."""
    (name, kind, source, fingerprint, input_bytes, input_files, done_bytes, done_files,
     done_lines, sentences, subtrees, errors, positional, complete, started_at,
     finished_at) = _one(conn, f"SELECT name, kind, source, fingerprint, input_bytes, "
                               f"input_files, done_bytes, done_files, done_lines, sentences, "
                               f"subtrees, errors, positional_ids, complete, started_at, "
                               f"finished_at FROM {shard}.corpora WHERE id = ?",
                         (shard_corpus,))
    if first:
        tid = conn.execute(
            "INSERT INTO main.corpora (name, kind, source, fingerprint, input_bytes, "
            "input_files, started_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (name, kind, source, fingerprint, input_bytes, input_files, started_at)).lastrowid
        before = (0, 0, 0, 0, 0, 0)
    else:
        row = conn.execute("SELECT id, sentences, subtrees, errors, positional_ids, "
                           "done_files, done_lines FROM main.corpora WHERE name = ?",
                           (name,)).fetchone()
        if row is None:
            raise DatabaseError(f"corpus {name!r}: its earlier shards are not in the index")
        tid, *rest = row
        before = tuple(rest)
    (seq_off, sub_count, err_count, pos_count, files_before, line_off) = before
    s_min, = _one(conn, f"SELECT coalesce(min(id), 1) FROM {shard}.sentences "
                        f"WHERE corpus_id = ?", (shard_corpus,))
    t_min, = _one(conn, f"SELECT coalesce(min(id), 1) FROM {shard}.subtrees "
                        f"WHERE corpus_id = ?", (shard_corpus,))
    s_max, = _one(conn, "SELECT coalesce(max(id), 0) FROM main.sentences")
    t_max, = _one(conn, "SELECT coalesce(max(id), 0) FROM main.subtrees")
    p = {"c": shard_corpus, "tid": tid, "s_off": s_max + 1 - s_min, "t_off": t_max + 1 - t_min,
         "seq_off": seq_off, "line_off": line_off, "renumber": 1 if positional else 0}

    conn.execute(f"INSERT OR IGNORE INTO main.dictionaries (id, data) "
                 f"SELECT id, data FROM {shard}.dictionaries")
    if _one(conn, f"SELECT count(*) FROM {shard}.corpora")[0] == 1:
        # one corpus (a cluster's shard): its patterns are all used, with ids in order of
        # first appearance, as ingest gives them
        conn.execute(
            f"INSERT INTO main.patterns (pattern) SELECT sp.pattern FROM {shard}.patterns "
            f"AS sp WHERE NOT EXISTS (SELECT 1 FROM main.patterns AS m "
            f"WHERE m.pattern = sp.pattern) ORDER BY sp.id")
    else:  # only this corpus's, in order of first appearance
        conn.execute(
            f"INSERT INTO main.patterns (pattern) SELECT sp.pattern FROM {shard}.subtrees "
            f"AS t JOIN {shard}.patterns AS sp ON sp.id = t.pattern_id WHERE t.corpus_id = :c "
            f"AND NOT EXISTS (SELECT 1 FROM main.patterns AS m WHERE m.pattern = sp.pattern) "
            f"GROUP BY sp.pattern ORDER BY min(t.id)", p)
    # the shard's pattern ids, and (after its first shard) each category's numbers so far
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS merge_patterns "
                 "(sid INTEGER PRIMARY KEY, mid INTEGER)")
    conn.execute("DELETE FROM temp.merge_patterns")
    conn.execute(f"INSERT INTO temp.merge_patterns SELECT sp.id, mp.id FROM {shard}.patterns "
                 f"AS sp JOIN main.patterns AS mp ON mp.pattern = sp.pattern")
    if not first:
        conn.execute("CREATE TEMP TABLE IF NOT EXISTS merge_bases "
                     "(cat TEXT PRIMARY KEY, base INTEGER)")
        conn.execute("DELETE FROM temp.merge_bases")
        conn.execute(f"INSERT INTO temp.merge_bases SELECT c.cat, coalesce(b.subtrees, 0) "
                     f"FROM {shard}.corpus_categories AS c LEFT JOIN main.corpus_categories "
                     f"AS b ON b.corpus_id = :tid AND b.cat = c.cat WHERE c.corpus_id = :c", p)
    conn.execute(
        f"INSERT INTO main.sentences (id, corpus_id, seq, sentid, file, offset, first_subtree, "
        f"subtree_count, text, xml) SELECT id + :s_off, :tid, seq + :seq_off, "
        f"CASE WHEN :renumber AND sentid = '#' || seq THEN '#' || (seq + :seq_off) "
        f"ELSE sentid END, file, offset, first_subtree + :t_off, subtree_count, text, xml "
        f"FROM {shard}.sentences WHERE corpus_id = :c ORDER BY id", p)
    conn.execute(
        "INSERT INTO main.subtrees (id, corpus_id, sentence_id, cat, n, node, rel, begin, "
        "end, children, nodes, depth, level, parent_cat, pattern_id, xml_start, xml_end) "
        "SELECT t.id + :t_off, :tid, t.sentence_id + :s_off, t.cat, "
        + ("t.n" if first else "t.n + b.base") +
        f", t.node, t.rel, t.begin, t.end, t.children, t.nodes, t.depth, t.level, "
        f"t.parent_cat, pm.mid, t.xml_start, t.xml_end FROM {shard}.subtrees AS t "
        f"JOIN temp.merge_patterns AS pm ON pm.sid = t.pattern_id "
        + ("" if first else "JOIN temp.merge_bases AS b ON b.cat = t.cat ") +
        "WHERE t.corpus_id = :c ORDER BY t.id", p)
    if _has_table(conn, shard, "shard_terms"):
        conn.execute(f"INSERT INTO main.search_terms (rowid, terms) SELECT x.id + :s_off, "
                     f"x.terms FROM {shard}.shard_terms AS x JOIN {shard}.sentences AS s "
                     f"ON s.id = x.id WHERE s.corpus_id = :c ORDER BY x.id", p)
    else:  # made again from the stored sentences
        path = Path(next(r[2] for r in conn.execute("PRAGMA database_list") if r[1] == shard))
        failures = _terms_function(conn, path)
        try:
            conn.execute(f"INSERT INTO main.search_terms (rowid, terms) SELECT id + :s_off, "
                         f"treeindex_terms(xml) FROM {shard}.sentences WHERE corpus_id = :c "
                         f"ORDER BY id", p)
        except sqlite3.OperationalError:
            if failures:
                raise failures[0] from None
            raise
    if _has_table(conn, shard, "node_blocks"):  # (a shard without: searched through lxml)
        conn.execute(f"INSERT INTO main.node_blocks (corpus_id, first_sentence, sentences, "
                     f"data) SELECT :tid, first_sentence + :s_off, sentences, data "
                     f"FROM {shard}.node_blocks WHERE corpus_id = :c ORDER BY first_sentence",
                     p)
        summary = Summary(conn)  # (search/summary.py: made again from the blocks)
        for (blob,) in conn.execute(f"SELECT data FROM {shard}.node_blocks "
                                    f"WHERE corpus_id = :c ORDER BY first_sentence", p):
            summary.add_block(blob)
    conn.execute(
        f"INSERT INTO main.errors (corpus_id, file, offset, line, sentid, message) "
        f"SELECT :tid, file, offset, CASE WHEN line IS NOT NULL AND offset IS NOT NULL "
        f"THEN line + :line_off ELSE line END, sentid, message FROM {shard}.errors "
        f"WHERE corpus_id = :c ORDER BY id", p)
    conn.execute(f"INSERT OR IGNORE INTO main.categories (cat) SELECT c.cat FROM "
                 f"{shard}.categories AS c JOIN {shard}.corpus_categories AS cc "
                 f"ON cc.cat = c.cat AND cc.corpus_id = :c ORDER BY c.rowid", p)
    conn.execute(
        f"INSERT INTO main.corpus_categories (corpus_id, cat, subtrees, sentences) "
        f"SELECT :tid, cat, subtrees, sentences FROM {shard}.corpus_categories "
        f"WHERE corpus_id = :c ORDER BY cat ON CONFLICT (corpus_id, cat) DO UPDATE SET "
        f"subtrees = subtrees + excluded.subtrees, sentences = sentences + excluded.sentences",
        p)
    conn.execute(
        "UPDATE main.corpora SET done_bytes = ?, done_files = ?, done_lines = ?, "
        "sentences = ?, subtrees = ?, errors = ?, positional_ids = ?, complete = ?, "
        "finished_at = ? WHERE id = ?",
        (done_bytes, files_before + done_files, line_off + done_lines, seq_off + sentences,
         sub_count + subtrees, err_count + errors, pos_count + positional,
         1 if (last and complete) else 0, finished_at if last else None, tid))
    return Merged(name, sentences, subtrees, errors)


def _has_table(conn: sqlite3.Connection, schema: str, name: str) -> bool:
    return conn.execute(f"SELECT count(*) FROM {schema}.sqlite_master WHERE name = ?",
                        (name,)).fetchone()[0] > 0


def _terms_function(conn: sqlite3.Connection, path: Path) -> list[TreeindexError]:
    """Register treeindex_terms(xml) for a shard's sentences; the list it returns receives
    the error of a sentence that cannot be read."""
    from ..search.terms import xml_terms

    decode = Decoder(conn, path)  # (the shard's dictionaries were copied in first)

    def terms(blob: bytes) -> str:
        try:
            return xml_terms(decode(blob))
        except TreeindexError as e:  # SQLite would say only "user-defined function raised
            failures.append(e)  # exception": the statement's caller raises this instead
            raise

    failures: list[TreeindexError] = []
    conn.create_function("treeindex_terms", 1, terms, deterministic=True)
    return failures


def attach(conn: sqlite3.Connection, path: Path, schema: str = "shard") -> None:
    conn.execute(f"ATTACH DATABASE ? AS {schema}", (str(path),))


def merge_indexes(out: Path | str, shards: list[Path | str],
                  progress_callback: Callable[[Merged], None] | None = None) -> list[Merged]:
    """`treeindex merge`: append every corpus of each index in `shards` (argument order, each
    corpus complete) to the index `out`. A corpus name `out` already has is an error, unless
    it is the same corpus already merged complete (then it is passed over: resumable)."""
    out = Path(out)
    for path in map(Path, shards):
        if not path.exists():
            raise InputError(f"{path}: no such index")
        if path.resolve() == out.resolve():
            raise InputError(f"{path}: is the output; give the shards and the output apart")
    done: list[Merged] = []
    with stop_signals() as stop, store.IngestLock(out), store.translate_errors(out):
        conn = store.connect_write(out)
        conn.set_progress_handler(lambda: stop.received is not None, 1_000_000)
        try:
            for path in map(Path, shards):
                with store.translate_errors(path):
                    with store.Index(path):  # is it a treeindex index at all?
                        pass
                    attach(conn, path)
                try:
                    done += _merge_one(conn, path, progress_callback)
                finally:
                    conn.execute("DETACH DATABASE shard")
            store.finish(conn)
        finally:
            conn.close()
    return done


def _merge_one(conn: sqlite3.Connection, path: Path,
               progress_callback: Callable[[Merged], None] | None) -> list[Merged]:
    out = []
    rows = conn.execute("SELECT id, name, source, fingerprint, complete FROM shard.corpora "
                        "ORDER BY id").fetchall()
    for cid, name, source, fingerprint, complete in rows:
        if not complete:
            raise InputError(f"{path}: corpus {name!r} is not completely indexed; finish its "
                             "ingest first (merge takes complete corpora only)")
        have = conn.execute("SELECT source, fingerprint, complete FROM main.corpora "
                            "WHERE name = ?", (name,)).fetchone()
        if have is not None:
            if have == (source, fingerprint, 1):
                continue  # merged by an earlier run
            raise InputError(f"{path}: corpus {name!r} is in the index already (from "
                             f"{have[0]}); rename one (treeindex rename) before merging")
        with store.atomic(conn):
            check_compatible(conn, "shard", str(path))
            merged = merge_corpus(conn, "shard", cid, first=True, last=True)
        out.append(merged)
        if progress_callback:
            progress_callback(merged)
    return out
