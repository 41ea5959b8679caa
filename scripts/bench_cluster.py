#!/usr/bin/env python3
"""Cluster benchmark: `treeindex ingest --scheduler` against a local ingest, in one run.

    python3 scripts/bench_cluster.py [--mb 100] [--big-mb 1000] [--repeat 3] [--shard-mb 25]

Starts a Dask scheduler and two worker processes (one thread each) on 127.0.0.1, then:
(a) local ingest of the input (`treeindex ingest`, all cores) and (b) cluster ingest of the
same input, interleaved, medians: wall time and the ratio b/a; then once each on --big-mb;
the client's peak memory (its own process: the cluster's processes are not the client's),
for --mb and --big-mb;
(c) the merge alone: shards built in this process, then merged into a fresh index as the
client does (input MB/s, subtree rows/s, and the final index build's share).
Inputs are built by scripts/make_corpus.py under /tmp/treeindex-bench (never in the repo).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench import WORK, corpus, fresh_db, measure, treeindex  # noqa: E402


def start_cluster(where: Path) -> tuple[list[subprocess.Popen], Path]:
    where.mkdir(parents=True, exist_ok=True)
    file = where / "scheduler.json"
    file.unlink(missing_ok=True)
    procs = [subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_scheduler",
                               "--host", "127.0.0.1", "--port", "0", "--scheduler-file",
                               str(file), "--no-dashboard"], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True, cwd=WORK)]
    while not file.exists():
        if procs[0].poll() is not None:  # (no dask here: it says so, instead of waiting)
            raise SystemExit(f"the dask scheduler ended ({procs[0].returncode}) before it "
                             f"started: is dask[distributed] installed for {sys.executable}? "
                             "pip install -e '.[cluster]'")
        time.sleep(0.1)
    for k in range(2):
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "distributed.cli.dask_worker", "--scheduler-file",
             str(file), "--nworkers", "1", "--nthreads", "1", "--no-dashboard", "--host",
             "127.0.0.1", "--name", f"w{k}"], stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, start_new_session=True, cwd=WORK))
    import distributed

    with distributed.Client(scheduler_file=str(file)) as c:
        c.wait_for_workers(2, timeout=60)
    return procs, file


def client_peak(cmd: list[str]) -> tuple[float, int]:
    """Wall time and the peak RSS of the command's own process (not its children)."""
    start = time.perf_counter()
    # (outside the source tree: `python -m treeindex` run there, and dask's workers started
    # there, would import the tree's package whatever the interpreter)
    proc = subprocess.Popen(["/usr/bin/time", "-f", "%M", *cmd], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, cwd=WORK)
    _, err = proc.communicate()
    wall = time.perf_counter() - start
    if proc.returncode not in (0, 3):
        raise SystemExit(f"{' '.join(cmd)} failed: {err}")
    return wall, int(err.strip().splitlines()[-1]) * 1024


def merge_alone(src: Path, shard_mb: float) -> str:
    """Build the shards here (one process), then time merging them as the client does."""
    from treeindex import store
    from treeindex.cluster.client import ShardJob, _merge, run_shard
    from treeindex.cluster.shards import plan_shards
    from treeindex.sources import discover
    from treeindex.store import codec

    corpora = discover([src], None).corpora
    sample = corpora[0].format.sample(corpora[0], codec.SAMPLE_BYTES)
    dictionary = codec.train(sample)
    specs = plan_shards(corpora, int(shard_mb * (1 << 20)), "bench", {})
    with tempfile.TemporaryDirectory(dir=WORK) as d:
        paths = [Path(run_shard(ShardJob(s, d, dictionary, 7, 1000, 2 << 20))) for s in specs]
        out = fresh_db("merge-bench.db")
        conn = store.connect_write(out)
        store.check_settings(conn, out, {"max_children": 7, "max_nodes": 1000})
        if dictionary:
            store.save_dictionary(conn, dictionary)
        start = time.perf_counter()
        for s, p in zip(specs, paths):
            _merge(conn, p, s)
        merged = time.perf_counter() - start
        start = time.perf_counter()
        store.finish(conn)
        built = time.perf_counter() - start
        rows = conn.execute("SELECT count(*) FROM subtrees").fetchone()[0]
        conn.close()
    mb = src.stat().st_size / 1e6
    total = merged + built
    return (f"merge alone: {len(specs)} shards, {mb:.0f} MB, {rows:,} subtree rows: "
            f"{merged:.2f} s merging + {built:.2f} s index build = {mb / total:.0f} MB/s, "
            f"{rows / total / 1e3:.0f}k subtree rows/s; merging alone {mb / merged:.0f} MB/s "
            f"({rows / merged / 1e3:.0f}k rows/s); index build {100 * built / total:.0f}%")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=float, default=100)
    ap.add_argument("--big-mb", type=float, default=1000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--shard-mb", type=float, default=25)
    args = ap.parse_args()
    src = corpus(args.mb)
    procs, file = start_cluster(WORK / "cluster")
    try:
        local, remote, mem = [], [], []
        for _ in range(args.repeat):
            db = fresh_db("local-c.db")
            local.append(measure(treeindex("ingest", "-q", "--db", str(db), str(src)))[0])
            db = fresh_db("cluster-c.db")
            t, peak = client_peak(treeindex("ingest", "-q", "--scheduler", str(file),
                                            "--shard-mb", str(args.shard_mb), "--db",
                                            str(db), str(src)))
            remote.append(t)
            mem.append(peak)
        a, b = statistics.median(local), statistics.median(remote)
        print(f"input {src.stat().st_size / 1e6:.0f} MB, 2 workers x 1 thread, --shard-mb "
              f"{args.shard_mb:g}, {args.repeat} interleaved rounds, medians")
        print(f"(a) local ingest {a:.2f} s   (b) cluster ingest {b:.2f} s = {b / a:.2f} x (a); "
              f"client peak RSS {max(mem) / 1e6:.0f} MB")
        if args.big_mb:
            big = corpus(args.big_mb)
            db = fresh_db("local-big.db")
            t_local = measure(treeindex("ingest", "-q", "--db", str(db), str(big)))[0]
            fresh_db("local-big.db")
            db = fresh_db("cluster-big.db")
            t, peak = client_peak(treeindex("ingest", "-q", "--scheduler", str(file),
                                            "--shard-mb", str(args.shard_mb), "--db",
                                            str(db), str(big)))
            print(f"{big.stat().st_size / 1e6:.0f} MB: local ingest {t_local:.1f} s, cluster "
                  f"ingest {t:.1f} s = {t / t_local:.2f} x; client peak RSS "
                  f"{peak / 1e6:.0f} MB ({peak / max(mem):.2f} x the small run's)")
            fresh_db("cluster-big.db")
        print(merge_alone(src, args.shard_mb))
        print(json.dumps({"local_s": local, "cluster_s": remote}))
    finally:
        for p in procs:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait()


if __name__ == "__main__":
    main()
