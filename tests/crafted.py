"""Crafted and damaged index files: a good index, copied and changed in one way each, still
carrying treeindex's application id and schema version (so nothing refuses it at the door).

    python3 tests/crafted.py OUT_DIR    # writes good.db and one file per case

Used by tests/test_crafted.py and scripts/probe_crafted.py (every command on every file).
"""

from __future__ import annotations

import shutil
import sqlite3
import struct
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"


def _garbage_zstd() -> bytes:
    # a zstd frame that declares 4 GiB of content and holds none (a bomb's header)
    return b"\x28\xb5\x2f\xfd" + bytes([0xE0]) + struct.pack("<Q", 4 << 30) + bytes([1, 0, 0])


def _zlib_bomb() -> bytes:
    import zlib

    return zlib.compress(b"<" * (64 << 20), 9)  # 64 MB of '<' in about 64 KB


def _block_lies(conn: sqlite3.Connection) -> None:
    blob = conn.execute("SELECT data FROM node_blocks LIMIT 1").fetchone()[0]
    conn.execute("UPDATE node_blocks SET data = ?", (blob[:40] + b"\xff" * 40 + blob[80:],))


# name -> (what it is, SQL statements or a function of the connection)
CASES: dict[str, tuple[str, list[str] | Callable[[sqlite3.Connection], None]]] = {
    "settings-text": ("settings that should be numbers are words", [
        "UPDATE settings SET value = 'many' WHERE key IN ('nodes_from', 'terms_from', "
        "'chunk_mb', 'format')",
        "INSERT OR REPLACE INTO settings (key, value) VALUES ('nodes_from', 'x')"]),
    "xml-garbage": ("a sentence's stored xml is neither zstd nor zlib", [
        "UPDATE sentences SET xml = x'00112233445566778899' WHERE id = 1"]),
    "xml-zstd-bomb": ("a sentence's stored xml declares 4 GiB", lambda c: c.execute(
        "UPDATE sentences SET xml = ? WHERE id = 1", (_garbage_zstd(),))),
    "xml-zlib-bomb": ("a sentence's stored xml inflates to 64 MB", lambda c: c.execute(
        "UPDATE sentences SET xml = ? WHERE id = 1", (_zlib_bomb(),))),
    "spans-outside": ("subtree spans lie outside their sentence", [
        "UPDATE subtrees SET xml_start = 900000, xml_end = 900100"]),
    "huge-n": ("a subtree number near 2^62", [
        "UPDATE subtrees SET n = 4611686018427387904 WHERE id = 1",
        "UPDATE corpus_categories SET subtrees = 4611686018427387904"]),
    "huge-sentences": ("corpora.sentences = 10^15", [
        "UPDATE corpora SET sentences = 1000000000000000, subtrees = 1000000000000000"]),
    "no-corpora": ("the corpora table is missing", ["DROP TABLE corpora"]),
    "no-tables": ("every table is missing", [
        "DROP TABLE corpora", "DROP TABLE sentences", "DROP TABLE subtrees",
        "DROP TABLE settings", "DROP TABLE node_blocks"]),
    "null-integers": ("NULL where integers belong", [
        "CREATE TABLE c2 AS SELECT * FROM corpora", "DROP TABLE corpora",
        "ALTER TABLE c2 RENAME TO corpora",
        "UPDATE corpora SET sentences = NULL, done_bytes = NULL, input_bytes = NULL",
        "UPDATE subtrees SET begin = NULL, end = NULL WHERE id < 5"]),
    "text-integers": ("text where integers belong", [
        "CREATE TABLE c2 AS SELECT * FROM corpora", "DROP TABLE corpora",
        "ALTER TABLE c2 RENAME TO corpora",
        "UPDATE corpora SET sentences = 'lots', done_bytes = 'x', subtrees = 'y'",
        "UPDATE subtrees SET begin = 'b', node = 'n', xml_start = 's' WHERE id < 5"]),
    "corpora-view": ("corpora is a view of one column", [
        "ALTER TABLE corpora RENAME TO corpora_old",
        "CREATE VIEW corpora AS SELECT name FROM corpora_old"]),
    "blocks-garbage": ("a node block is not a block", [
        "UPDATE node_blocks SET data = x'54494E31FFFFFFFF00'"]),
    "blocks-lie": ("a node block's header is overwritten", _block_lies),
    "dictionary-garbage": ("the zstd dictionary is garbage", [
        "UPDATE dictionaries SET data = x'0102030405'"]),
    "dangling-patterns": ("subtrees name patterns that do not exist", [
        "DELETE FROM patterns"]),
    "no-search-terms": ("the search terms table is missing", ["DROP TABLE search_terms"]),
}


def make_good(out: Path) -> Path:
    """A good index of the bundled treebanks (made once per directory)."""
    good = out / "good.db"
    if not good.exists():
        from treeindex import ingest

        sources = sorted((DATA / "treebanks").glob("*.xml"))
        ingest(good, sources, workers=0)
    return good


def make_all(out: Path) -> dict[str, Path]:
    """Every crafted file under `out`: {case: path}."""
    out.mkdir(parents=True, exist_ok=True)
    good = make_good(out)
    made = {}
    for name, (_, change) in CASES.items():
        path = out / f"{name}.db"
        for p in out.glob(path.name + "*"):
            p.unlink()
        src = sqlite3.connect(good)
        dst = sqlite3.connect(path)
        src.backup(dst)
        src.close()
        dst.execute("PRAGMA journal_mode = DELETE")
        dst.execute("PRAGMA legacy_alter_table = ON")  # (views name the tables changed)
        if callable(change):
            change(dst)
        else:
            for sql in change:
                dst.execute(sql)
        dst.commit()
        dst.close()
        made[name] = path
    return made


SOURCE = DATA / "treebanks"


def _first_sentid() -> str:
    from lxml import etree

    first = sorted(SOURCE.glob("*.xml"))[0]
    for _, el in etree.iterparse(str(first), tag="alpino_ds"):
        sentence = el.find("sentence")
        return el.get("id") or (sentence.get("sentid") if sentence is not None else None) or "?"
    return "?"


def commands(db: Path, scratch: Path) -> dict[str, list[str]]:
    d = ["--db", str(db)]
    first = sorted(SOURCE.glob("*.xml"))[0]
    sentid = _first_sentid()
    return {
        "corpora": ["corpora", *d],
        "stats": ["stats", *d],
        "errors": ["errors", *d],
        "schema": ["schema"],
        "query": ["query", *d, "SELECT count(*), sum(length(xml)) FROM sentences"],
        "search-count": ["search", *d, "--count", '//node[@cat="np"]'],
        "search-hits": ["search", *d, '//node[@cat="np" and node[@rel="det"]]'],
        "search-broad": ["search", *d, "--count", "//node[count(node) > 5]"],
        "search-lxml": ["search", *d, "--engine", "lxml", "--count", '//node[@cat="np"]'],
        "search-stats": ["search", *d, "--stats", "lemma", '//node[@pt="n"]'],
        "search-xml": ["search", *d, "--format", "xml", '//node[@cat="smain"]'],
        "show-subtree": ["show", *d, "--corpus", first.stem, "np-1"],
        "show-svg": ["show", *d, "--corpus", first.stem, "--format", "svg", "-o",
                     str(scratch / "s.svg"), "np-2"],
        "show-sentence": ["show", *d, "--corpus", first.stem, "--format", "xml", sentid],
        "export": ["export", *d, "--all", str(scratch / "out")],
        "export-np": ["export", *d, "--cat", "np", str(scratch / "out-np")],
        "ingest": ["ingest", "-q", *d, "--workers", "1", str(first)],
        "upgrade": ["upgrade", *d],
        "rename": ["rename", *d, first.stem, "renamed"],
        "rm": ["rm", *d, first.stem],
        "merge": ["merge", str(scratch / "merged.db"), str(db)],
    }


def run_one(case: str, path: Path, name: str, work: Path, timeout: float
            ) -> tuple[str, str, str, str]:
    scratch = work / f"{case}.{name}"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    db = scratch / "index.db"
    shutil.copy(path, db)
    args = commands(db, scratch)[name]
    try:
        r = subprocess.run([sys.executable, "-m", "treeindex", *args], capture_output=True,
                           text=True, timeout=timeout, cwd=scratch)
    except subprocess.TimeoutExpired:
        return case, name, "NO END", f"did not end within {timeout:g} s"
    err = r.stderr.strip()
    if "Traceback" in r.stderr or "Exception ignored" in r.stderr:
        return case, name, "TRACEBACK", err.splitlines()[-1] if err else ""
    if r.returncode != 0:
        lines = err.splitlines()
        if len(lines) != 1:
            return case, name, "MULTI-LINE", " | ".join(lines)[:300]
        return case, name, f"exit {r.returncode}", err
    return case, name, "ok", (err.splitlines() or [""])[-1]


def run_matrix(out: Path, timeout: float = 20.0, jobs: int = 2, only: list[str] | None = None
               ) -> list[tuple[str, str, str, str]]:
    """Every command on every crafted file: (case, command, outcome, last line)."""
    from concurrent.futures import ThreadPoolExecutor

    files = make_all(out / "files")
    if only:
        files = {k: v for k, v in files.items() if k in only}
    names = list(commands(Path("x"), Path("y")))
    work = out / "runs"
    todo = [(case, path, name) for case, path in files.items() for name in names]
    with ThreadPoolExecutor(jobs) as pool:
        return list(pool.map(lambda j: run_one(*j, work, timeout), todo))


BAD = ("NO END", "TRACEBACK", "MULTI-LINE")


if __name__ == "__main__":
    for name, path in make_all(Path(sys.argv[1])).items():
        print(f"{path}  {CASES[name][0]}")
