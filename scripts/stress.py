#!/usr/bin/env python3
"""Stress the ingest with signals: SIGTERM, SIGINT and SIGKILL sent to the parent, to one
worker, or to the whole process group, at random moments; every run must end within
--deadline seconds with the documented exit code, and the same command must then resume to
an index identical to an undisturbed one.

    python3 scripts/stress.py [--rounds 10] [--mb 20] [--workers 2] [--hog N] [--seed N]

`--hog N` runs N busy processes beside every run (a loaded machine: the stop then lands
at odd moments, which is how a stop that never ended was found); `--only parent,group`
and `--signals TERM,INT` narrow the cases.

The input is built from the real treebanks in ../shared/corpora (or the bundled sample)
under /tmp/treeindex-stress; exit 1 if any run failed.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
WORK = Path("/tmp/treeindex-stress")

from conftest import dump  # noqa: E402

# exit codes expected for (target, signal); workers ignore SIGINT (the parent decides), so
# that run goes on to the end
EXPECTED = {
    ("parent", signal.SIGTERM): {143}, ("parent", signal.SIGINT): {130},
    ("parent", signal.SIGKILL): {-9},
    ("worker", signal.SIGTERM): {1}, ("worker", signal.SIGINT): {0},
    ("worker", signal.SIGKILL): {1},
    ("group", signal.SIGTERM): {143}, ("group", signal.SIGINT): {130},
    ("group", signal.SIGKILL): {-9},
}


def command(db: Path, src: Path, workers: int) -> list[str]:
    return [sys.executable, "-m", "treeindex", "ingest", "-q", "--db", str(db),
            "--workers", str(workers), "--chunk-mb", "0.25", str(src)]


def hog() -> None:
    while True:
        pass


def start_hogs(n: int) -> list:
    import multiprocessing

    hogs = [multiprocessing.Process(target=hog, daemon=True) for _ in range(n)]
    for h in hogs:
        h.start()
    return hogs


def stacks(pid: int) -> None:
    """Print the threads' stacks of a run that did not end (with py-spy, if installed)."""
    import shutil

    spy = shutil.which("py-spy")
    if spy is None:
        print("(py-spy is not installed: no stack of the hung run)", flush=True)
        return
    out = subprocess.run([spy, "dump", "--pid", str(pid)], capture_output=True, text=True)
    print(out.stdout + out.stderr, flush=True)


def children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def one_round(rng: random.Random, src: Path, whole: dict, target: str, sig: int,
              workers: int, deadline: float, db: Path, duration: float
              ) -> tuple[bool, str, float]:
    for p in db.parent.glob(db.name + "*"):
        p.unlink()
    # a crash (SIGSEGV) prints every thread's Python stack on stderr, which a failure shows
    env = {**os.environ, "PYTHONFAULTHANDLER": "1"}
    proc = subprocess.Popen(command(db, src, workers), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, start_new_session=True, env=env)
    # from 0.3 s on (before that Python itself is still starting, and a Ctrl-C gets its own
    # KeyboardInterrupt message; nothing is written yet) to near the end of a whole run
    time.sleep(rng.uniform(0.3, max(0.9 * duration, 0.4)))
    if proc.poll() is not None:
        proc.communicate()
        return True, "finished before the signal", 0.0
    if target == "parent":
        proc.send_signal(sig)
    elif target == "group":
        os.killpg(proc.pid, sig)
    else:
        kids = children(proc.pid)
        if not kids:
            proc.communicate()
            return True, "no worker to signal", 0.0
        os.kill(rng.choice(kids), sig)
    sent = time.monotonic()
    try:
        _, err = proc.communicate(timeout=deadline)
    except subprocess.TimeoutExpired:
        stacks(proc.pid)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return False, f"did not end within {deadline} s", deadline
    took = time.monotonic() - sent
    # a signal that comes before treeindex has set its handlers (Python still starting)
    # ends the process as kill does: nothing was written yet that could be half-written
    early = {-sig} if target != "worker" else set()
    if proc.returncode not in EXPECTED[(target, sig)] | early and proc.returncode != 0:
        return False, f"exit {proc.returncode}: {err.decode()[-3000:]}", took
    if b"Traceback" in err:
        return False, f"a traceback: {err.decode()[-300:]}", took
    conn = sqlite3.connect(db)
    try:
        errors = conn.execute("SELECT count(*) FROM errors").fetchone()[0]
    except sqlite3.OperationalError:  # stopped before the schema was written
        errors = 0
    conn.close()
    if errors:
        return False, "an interruption was recorded as a sentence error", took
    again = subprocess.run(command(db, src, workers), capture_output=True, timeout=300)
    if again.returncode != 0:
        return False, f"resume exit {again.returncode}: {again.stderr.decode()[-300:]}", took
    if dump(db) != whole:
        return False, "the resumed index differs from an undisturbed one", took
    return True, f"exit {proc.returncode}, resumed identical", took


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--mb", type=float, default=20)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--deadline", type=float, default=10.0)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--hog", type=int, default=0, help="busy processes beside every run")
    ap.add_argument("--only", default="parent,worker,group", help="targets to signal")
    ap.add_argument("--signals", default="TERM,INT,KILL", help="signals to send")
    args = ap.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    src = WORK / f"corpus-{args.mb:g}.xml"
    if not src.exists():
        subprocess.run([sys.executable, str(HERE / "make_corpus.py"), "--mb", str(args.mb),
                        str(src)], check=True)
    whole_db = WORK / f"whole-{args.mb:g}.db"
    for p in WORK.glob(whole_db.name + "*"):
        p.unlink()
    started = time.monotonic()
    subprocess.run(command(whole_db, src, args.workers), check=True)
    duration = time.monotonic() - started
    whole = dump(whole_db)
    hogs = start_hogs(args.hog)
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    rng = random.Random(seed)
    results: dict[tuple[str, str], list[tuple[bool, str, float]]] = defaultdict(list)
    failed = 0
    signals = [getattr(signal, "SIG" + name.strip()) for name in args.signals.split(",")]
    for target in args.only.split(","):
        for sig in signals:
            for _ in range(args.rounds):
                r = one_round(rng, src, whole, target, sig, args.workers, args.deadline,
                              WORK / "t.db", duration)
                results[(target, sig.name)].append(r)
                if not r[0]:
                    failed += 1
                    print(f"FAILED {target} {sig.name}: {r[1]}", flush=True)
    for h in hogs:
        h.kill()
    print(f"seed {seed}, {args.mb:g} MB input ({duration:.1f} s undisturbed), "
          f"{args.workers} workers, {args.hog} hogs, deadline {args.deadline:g} s")
    print(f"{'target':8} {'signal':8} {'ok':>5} {'slowest end':>12}  outcomes")
    for (target, name), rs in results.items():
        ok = sum(1 for r in rs if r[0])
        slowest = max((r[2] for r in rs), default=0.0)
        outcomes: dict[str, int] = defaultdict(int)
        for r in rs:
            outcomes[r[1]] += 1
        text = ", ".join(f"{k} x{v}" for k, v in sorted(outcomes.items()))
        print(f"{target:8} {name:8} {ok:>2}/{len(rs):<2} {slowest:>10.2f} s  {text}")
    print(f"{failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
