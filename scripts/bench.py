#!/usr/bin/env python3
"""Benchmarks: treeindex against baselines measured in the same run, on the same file.

    python3 scripts/bench.py ingest [--mb 100] [--big-mb 1000] [--workers N] [--against PY]
    python3 scripts/bench.py export [--mb 100]
    python3 scripts/bench.py stages [--mb 100]
    python3 scripts/bench.py timeline [--mb 100]

Inputs are built by scripts/make_corpus.py under /tmp/treeindex-bench (never in the repo).

ingest prints wall times and ratios of
  (a) the parse floor: one process, lxml iterparse + clear-and-delete-siblings, nothing else;
  (b) a plain sequential grinder: same subtree rules, counting only;
  (c) `treeindex ingest` with default workers;
  (d) with --against PYTHON: the same ingest by another install of treeindex (an older
      commit in its own virtualenv), interleaved: the A/B of a change, as (c) / (d);
plus the CPU time of each ingest's processes together (the workers included), which a shared
machine moves less than the wall time, peak memory of all treeindex processes together (sum
of RSS, sampled every 20 ms), its
growth from --mb to --big-mb, and the database size relative to the input.

export prints exporting all categories against the sequential grinder's writing cost
(its total time minus its counting-only time), and peak memory.

stages runs the workers alone and the writer alone (replaying their results); timeline
times one ingest's steps from the process's start (the serial ends before the first result
and after the last one, against the parallel middle).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
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


def measure(cmd: list[str], cpu: list[float] | None = None) -> tuple[float, int]:
    """Run a command; return (wall seconds, peak summed RSS of its process tree in bytes).
    With `cpu`, append the CPU seconds (user + system) of the command and every process it
    waited for (its workers): less moved by a shared machine than the wall time."""
    peak = 0
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    # (in WORK, not here: `python -m treeindex` run in the source tree imports the tree's
    # package whatever the interpreter, and an A/B with --against measured one version twice)
    WORK.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, cwd=WORK)
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
    if cpu is not None:
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
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


def treeindex(*args: str, python: str = sys.executable) -> list[str]:
    return [python, "-m", "treeindex", *args]


def grinder(*args: str) -> list[str]:
    return [sys.executable, str(HERE / "grinder.py"), *args]


def _median(values: list[float]) -> float:
    return statistics.median(values)


def bench_ingest(args: argparse.Namespace) -> None:
    src = corpus(args.mb)
    size = src.stat().st_size
    workers = ["--workers", str(args.workers)] if args.workers else []
    print(f"input: {src} ({size / 1e6:.1f} MB), {os.cpu_count()} cores, "
          f"{args.repeat} interleaved rounds (medians; ratios per round, min-max)")
    a, b, c, d, mem, mem_d = [], [], [], [], [], []
    cpu_a: list[float] = []
    cpu_c: list[float] = []
    cpu_d: list[float] = []
    for _ in range(args.repeat):  # interleaved, so that machine noise hits all alike
        a.append(measure(grinder("floor", str(src)), cpu_a)[0])
        b.append(measure(grinder("count", str(src)))[0])
        db = fresh_db("bench.db")
        wall, peak = measure(treeindex("ingest", "-q", "--db", str(db), *workers, str(src)),
                             cpu_c)
        c.append(wall)
        mem.append(peak)
        if args.against:
            other = fresh_db("bench-against.db")
            wall, peak = measure(treeindex("ingest", "-q", "--db", str(other), *workers,
                                           str(src), python=args.against), cpu_d)
            d.append(wall)
            mem_d.append(peak)
    db_size = db.stat().st_size
    ca = [x / y for x, y in zip(c, a)]
    cb = [x / y for x, y in zip(c, b)]
    print(f"(a) parse floor            {_median(a):7.2f} s")
    print(f"(b) sequential grinder     {_median(b):7.2f} s")
    print(f"(c) treeindex ingest       {_median(c):7.2f} s   = {_median(ca):.2f} x (a) "
          f"[{min(ca):.2f}-{max(ca):.2f}], {_median(cb):.2f} x (b) [{min(cb):.2f}-{max(cb):.2f}]")
    print(f"    peak memory, all processes: {max(mem) / 1e6:.0f} MB")
    ratio = [x / y for x, y in zip(cpu_c, cpu_a)]
    print(f"    CPU, all processes: {_median(cpu_c):.2f} CPU-s = {_median(ratio):.2f} x (a)'s "
          f"[{min(ratio):.2f}-{max(ratio):.2f}]")
    if args.against:
        cd = [x / y for x, y in zip(c, d)]
        da = _median([y / x for x, y in zip(a, d)])
        print(f"(d) {args.against}: {_median(d):.2f} s = {da:.2f} x (a); (c) / (d) = "
              f"{_median(cd):.2f} [{min(cd):.2f}-{max(cd):.2f}], peak memory "
              f"{max(mem_d) / 1e6:.0f} MB")
        cpu_cd = [x / y for x, y in zip(cpu_c, cpu_d)]
        print(f"    CPU: {_median(cpu_d):.2f} CPU-s; (c) / (d) = {_median(cpu_cd):.2f} "
              f"[{min(cpu_cd):.2f}-{max(cpu_cd):.2f}]")
    mem = max(mem)
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
    workers = ["--workers", str(args.workers)] if args.workers else []
    writing, exports, ratios, mem = [], [], [], 0
    for _ in range(args.repeat):
        for d in (out_g, out_t):
            shutil.rmtree(d, ignore_errors=True)
        count, _ = measure(grinder("count", str(src)))
        total, _ = measure(grinder("write", str(src), str(out_g)))
        e, peak = measure(treeindex("export", "-q", "--db", str(db), "--all", *workers,
                                    str(out_t)))
        writing.append(total - count)
        exports.append(e)
        ratios.append(e / (total - count))
        mem = max(mem, peak)
    print(f"input: {src} ({src.stat().st_size / 1e6:.1f} MB), {os.cpu_count()} cores, "
          f"{args.repeat} interleaved rounds (medians)")
    print(f"grinder: {_median(writing):.2f} s spent producing the files "
          "(its total time minus its counting-only time)")
    print(f"treeindex export --all: {_median(exports):.2f} s = {_median(ratios):.2f} x the "
          f"grinder's writing time [{min(ratios):.2f}-{max(ratios):.2f}]")
    print(f"    peak memory, all processes: {mem / 1e6:.0f} MB")


STAGES = r"""
import pickle, resource, sys, time
from pathlib import Path
from treeindex import store
from treeindex.pool import make_executor, ordered_map
from treeindex.sources import discover
from treeindex.sources.treebank import DEFAULT_CHUNK, _pieces
from treeindex.store import codec
from treeindex.store.writer import CorpusWriter, Ids, prepare, register
from treeindex.worker import Task, run_task

src, workers, dbpath = Path(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])
corpus = discover([src], None).corpora[0]
dictionary = codec.train(corpus.format.sample(corpus, codec.SAMPLE_BYTES))
t = time.perf_counter()
try:  # (as ingest plans: the cuts without the pieces' bytes, since stop 41)
    from treeindex.sources.treebank import _ranges
    cuts = [(off, n) for off, n, _, _ in _ranges(src, corpus.input_bytes, 0, DEFAULT_CHUNK)]
except ImportError:
    cuts = [(off, len(data)) for off, data, _ in _pieces(src, corpus.input_bytes, 0,
                                                         DEFAULT_CHUNK)]
tasks = [Task(i, "range", str(src), off, off + n, None, (), "utf-8", 7, 1000, dictionary)
         for i, (off, n) in enumerate(cuts)]
plan_wall = time.perf_counter() - t
pool = make_executor(workers)
t = time.perf_counter()
results = [r for _, r in ordered_map(pool, run_task, tasks, workers + 2)]
parse_wall = time.perf_counter() - t
pool.shutdown()
children = resource.getrusage(resource.RUSAGE_CHILDREN)
worker_cpu = children.ru_utime + children.ru_stime
blobs = [pickle.dumps(r) for r in results]  # what the parent receives
del results
conn = store.connect_write(dbpath)
store.check_settings(conn, dbpath, {"max_children": 7, "max_nodes": 1000})
if dictionary:
    store.save_dictionary(conn, dictionary)
prepare(conn)
writer = CorpusWriter(conn, corpus, register(conn, corpus), Ids(conn))
try:  # (the WAL copied beside the writer, as ingest does since stop 38)
    from treeindex.store.checkpoints import BackgroundCheckpoints
except ImportError:
    BackgroundCheckpoints = None
t = time.perf_counter()
checkpoints = BackgroundCheckpoints(conn) if BackgroundCheckpoints else None
for b in blobs:
    result = pickle.loads(b)
    writer.write(result)
    if checkpoints is not None:
        checkpoints.written(len(result.chunk) + len(result.nodes or b""))
writer.finish()
if checkpoints is not None:
    checkpoints.close()
store.finish(conn)  # (the indexes, ANALYZE, the final checkpoint: as ingest ends)
write_wall = time.perf_counter() - t
print(parse_wall, worker_cpu, plan_wall + write_wall)
"""


def bench_stages(args: argparse.Namespace) -> None:
    """The two halves of an ingest apart: workers alone (results dropped) and the writer alone
    (replaying the same results), to show where the time goes and how N cores would do."""
    src = corpus(args.mb)
    a = measure(grinder("floor", str(src)))[0]
    db = fresh_db("stages.db")
    # (outside the source tree: `python -c` run there would import the tree's package)
    out = subprocess.run([sys.executable, "-c", STAGES, str(src), str(args.workers or
                          os.cpu_count()), str(db)], capture_output=True, text=True, check=True,
                         cwd=WORK)
    parse_wall, worker_cpu, write_wall = map(float, out.stdout.split())
    n = args.workers or os.cpu_count()
    print(f"input: {src} ({src.stat().st_size / 1e6:.1f} MB), {os.cpu_count()} cores")
    print(f"(a) parse floor                      {a:6.2f} s")
    print(f"workers alone ({n}), results dropped   {parse_wall:6.2f} s = "
          f"{parse_wall / a:.2f} x (a); {worker_cpu:.2f} CPU-s in all")
    print(f"the parent alone (plan, receive, write) {write_wall:5.2f} s = "
          f"{write_wall / a:.2f} x (a)")
    for cores in (4, 8, 16):
        wall = max(worker_cpu / (cores - 1), write_wall)
        print(f"  projected on {cores:2d} cores (writer + {cores - 1} workers): about {wall:.2f} s"
              f" = {wall / a:.2f} x (a)")


TIMELINE = r"""
import time
T0 = time.perf_counter()
import sys
from pathlib import Path
import treeindex.indexer as ix
import treeindex.store.connect as connect
import treeindex.store.writer as writer
marks = [(time.perf_counter() - T0, "imports done")]

def mark(what):
    marks.append((time.perf_counter() - T0, what))

def around(module, name, before, after):
    f = getattr(module, name)
    def timed(*a, **k):
        mark(before)
        r = f(*a, **k)
        mark(after)
        return r
    setattr(module, name, timed)

around(ix, "_dictionary", "planned", "dictionary trained")
around(connect, "build_indexes", "index build begins", "indexes built")
around(connect, "leave_wal", "final checkpoint begins", "final checkpoint done")
mapped = ix.ordered_map
def ordered(*a, **k):
    first = True
    for x in mapped(*a, **k):
        if first:
            mark("first result received")
            first = False
        yield x
    mark("last result received")
ix.ordered_map = ordered
write = writer.CorpusWriter.write
def written(self, result):
    write(self, result)
    mark("result written")
writer.CorpusWriter.write = written
ix.ingest(sys.argv[2], [sys.argv[1]])
mark("end")
for t, what in marks:
    print(f"{t:.4f} {what}")
"""


def bench_timeline(args: argparse.Namespace) -> None:
    """One ingest's steps in time, from the process's start: how much of it is serial."""
    src = corpus(args.mb)
    floor = measure(grinder("floor", str(src)))[0]
    db = fresh_db("timeline.db")
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", TIMELINE, str(src), str(db)],
                         capture_output=True, text=True, check=True, cwd=WORK)
    wall = time.perf_counter() - start
    marks = [(float(t), what) for t, what in (line.split(" ", 1)
                                              for line in out.stdout.splitlines())]
    at = {}
    for t, what in marks:
        at.setdefault(what, []).append(t)
    print(f"input: {src} ({src.stat().st_size / 1e6:.1f} MB), {os.cpu_count()} cores; "
          f"the parse floor {floor:.2f} s, this ingest {wall:.2f} s (the process)")
    for what in ("imports done", "planned", "dictionary trained", "first result received",
                 "last result received", "index build begins", "indexes built",
                 "final checkpoint done", "end"):
        if what in at:
            print(f"  {at[what][0] if what != 'last result received' else at[what][-1]:7.3f} s"
                  f"  {what}")
    written = at.get("result written", [])
    if written:
        print(f"  {written[-1]:7.3f} s  last result written ({len(written)} results)")
    first = at["first result received"][0]
    last = max(at["last result received"][-1], written[-1] if written else 0)
    tail = at["end"][0] - last
    build = at["indexes built"][0] - at["index build begins"][0]
    checkpoint = at["final checkpoint done"][0] - at["final checkpoint begins"][0]
    print(f"serial before the first result {first:.2f} s, after the last one written "
          f"{tail:.2f} s (the index build {build:.2f} s, the final checkpoint "
          f"{checkpoint:.2f} s): {(first + tail) / at['end'][0]:.0%} of the run, "
          f"{(first + tail) / floor:.2f} x the floor; the parallel middle {last - first:.2f} s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="what", required=True)
    i = sub.add_parser("ingest")
    i.add_argument("--mb", type=float, default=100)
    i.add_argument("--big-mb", type=float, default=0, help="also measure memory on this size")
    i.add_argument("--workers", type=int, default=0, help="default: treeindex's default")
    i.add_argument("--keep", action="store_true", help="keep the big input")
    i.add_argument("--repeat", type=int, default=3, help="interleaved rounds")
    i.add_argument("--against", default="", help="another install's python, for an A/B")
    s = sub.add_parser("stages")
    s.add_argument("--mb", type=float, default=100)
    s.add_argument("--workers", type=int, default=0)
    t = sub.add_parser("timeline")
    t.add_argument("--mb", type=float, default=100)
    e = sub.add_parser("export")
    e.add_argument("--mb", type=float, default=100)
    e.add_argument("--workers", type=int, default=0)
    e.add_argument("--repeat", type=int, default=3, help="interleaved rounds")
    args = ap.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    {"ingest": bench_ingest, "export": bench_export, "stages": bench_stages,
     "timeline": bench_timeline}[args.what](args)


if __name__ == "__main__":
    main()
