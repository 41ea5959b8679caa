#!/usr/bin/env python3
"""Benchmarks: treeindex against baselines measured in the same run, on the same file.

    python3 scripts/bench.py ingest [--mb 100] [--big-mb 1000] [--workers N]
    python3 scripts/bench.py export [--mb 100]

Inputs are built by scripts/make_corpus.py under /tmp/treeindex-bench (never in the repo).

ingest prints wall times and ratios of
  (a) the parse floor: one process, lxml iterparse + clear-and-delete-siblings, nothing else;
  (b) a plain sequential grinder: same subtree rules, counting only;
  (c) `treeindex ingest` with default workers;
plus peak memory of all treeindex processes together (sum of RSS, sampled every 20 ms), its
growth from --mb to --big-mb, and the database size relative to the input.

export prints exporting all categories against the sequential grinder's writing cost
(its total time minus its counting-only time), and peak memory.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
WORK = Path("/tmp/treeindex-bench")


def _children(pid: int) -> list[int]:
    out = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                out += [int(x) for x in f.read().split()]
    except OSError:
        pass
    return out


def _rss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def tree_rss(pid: int) -> int:
    """Resident memory of a process and all its descendants."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        total += _rss(p)
        todo += _children(p)
    return total


def measure(cmd: list[str]) -> tuple[float, int]:
    """Run a command; return (wall seconds, peak summed RSS of its process tree in bytes)."""
    peak = 0
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, tree_rss(proc.pid))
            time.sleep(0.02)

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    code = proc.wait()
    wall = time.perf_counter() - start
    done.set()
    t.join()
    if code not in (0, 3):
        raise SystemExit(f"{' '.join(cmd)} failed with exit code {code}")
    return wall, peak


def corpus(mb: float) -> Path:
    path = WORK / f"corpus-{mb:g}.xml"
    if not path.exists():
        subprocess.run([sys.executable, str(HERE / "make_corpus.py"), "--mb", str(mb), str(path)],
                       check=True)
    return path


def fresh_db(name: str) -> Path:
    db = WORK / name
    for suffix in ("", "-wal", "-shm", ".ingest-lock"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    return db


def treeindex(*args: str) -> list[str]:
    return [sys.executable, "-m", "treeindex", *args]


def grinder(*args: str) -> list[str]:
    return [sys.executable, str(HERE / "grinder.py"), *args]


def bench_ingest(args: argparse.Namespace) -> None:
    src = corpus(args.mb)
    size = src.stat().st_size
    workers = ["--workers", str(args.workers)] if args.workers else []
    print(f"input: {src} ({size / 1e6:.1f} MB), {os.cpu_count()} cores")
    a, _ = measure(grinder("floor", str(src)))
    b, _ = measure(grinder("count", str(src)))
    db = fresh_db("bench.db")
    c, mem = measure(treeindex("ingest", "-q", "--db", str(db), *workers, str(src)))
    db_size = db.stat().st_size
    print(f"(a) parse floor            {a:7.2f} s")
    print(f"(b) sequential grinder     {b:7.2f} s")
    print(f"(c) treeindex ingest       {c:7.2f} s   = {c / a:.2f} x (a), {c / b:.2f} x (b)")
    print(f"    peak memory, all processes: {mem / 1e6:.0f} MB")
    print(f"    database: {db_size / 1e6:.1f} MB = {db_size / size:.2f} x the input")
    if args.big_mb:
        big = corpus(args.big_mb)
        db = fresh_db("bench-big.db")
        c2, mem2 = measure(treeindex("ingest", "-q", "--db", str(db), *workers, str(big)))
        print(f"(c) on {big.stat().st_size / 1e6:.0f} MB: {c2:.2f} s, peak memory "
              f"{mem2 / 1e6:.0f} MB = {100 * (mem2 / mem - 1):+.0f}% vs {args.mb:g} MB")
        if not args.keep:
            big.unlink()
            fresh_db("bench-big.db")


def bench_export(args: argparse.Namespace) -> None:
    src = corpus(args.mb)
    db = fresh_db("bench.db")
    subprocess.run(treeindex("ingest", "-q", "--db", str(db), str(src)), check=True)
    out_g, out_t = WORK / "grinder-out", WORK / "export-out"
    for d in (out_g, out_t):
        shutil.rmtree(d, ignore_errors=True)
    count, _ = measure(grinder("count", str(src)))
    total, _ = measure(grinder("write", str(src), str(out_g)))
    writing = total - count
    workers = ["--workers", str(args.workers)] if args.workers else []
    e, mem = measure(treeindex("export", "-q", "--db", str(db), "--all", *workers, str(out_t)))
    print(f"input: {src} ({src.stat().st_size / 1e6:.1f} MB), {os.cpu_count()} cores")
    print(f"grinder: {total:.2f} s in all, {count:.2f} s counting only: "
          f"{writing:.2f} s spent producing the files")
    print(f"treeindex export --all: {e:.2f} s = {e / writing:.2f} x the grinder's writing time")
    print(f"    peak memory, all processes: {mem / 1e6:.0f} MB")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="what", required=True)
    i = sub.add_parser("ingest")
    i.add_argument("--mb", type=float, default=100)
    i.add_argument("--big-mb", type=float, default=0, help="also measure memory on this size")
    i.add_argument("--workers", type=int, default=0, help="default: treeindex's default")
    i.add_argument("--keep", action="store_true", help="keep the big input")
    e = sub.add_parser("export")
    e.add_argument("--mb", type=float, default=100)
    e.add_argument("--workers", type=int, default=0)
    args = ap.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    {"ingest": bench_ingest, "export": bench_export}[args.what](args)


if __name__ == "__main__":
    main()
