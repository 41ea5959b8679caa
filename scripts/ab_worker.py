"""The worker's CPU, this checkout against another install, alternating on the same input (A/B).

    python3 scripts/ab_worker.py --old /path/to/site-packages/treeindex [--mb 100] [--rounds 3]

Whole-process CPU times move by 30% between runs on a shared machine; two versions run side
by side, alternating on the same pieces of input, do not. Each version runs in a process of
its own (the other install's package first on its path: two treeindex packages in one
process would share one C packer's capsule, and the older scanner then refused the newer
packer on every sentence), started once and given the pieces in turn; each measures its own
`run_task`'s CPU time. For each 20 MB piece of the input this measures, back to back: the
parse floor (lxml iterparse with clear, as scripts/grinder.py floor, in this process), the
old worker's `run_task` and this checkout's, and checks that both made the same sentences,
subtrees, errors and counts. Prints per-piece ratios (medians and ranges) and the CPU
seconds per input.
"""

from __future__ import annotations

import argparse
import io
import os
import pickle
import statistics
import subprocess
import sys
import time
from pathlib import Path

from lxml import etree

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench import corpus  # noqa: E402

PIECE = 20 << 20


def pieces(path: Path) -> list[bytes]:
    out = []
    with open(path, "rb") as f:
        while data := f.read(PIECE):
            a, b = data.find(b"<alpino_ds"), data.rfind(b"</alpino_ds>")
            if a >= 0 and b > a:
                out.append(data[a:b + len(b"</alpino_ds>")])
    return out


def floor(data: bytes) -> None:
    for _, el in etree.iterparse(io.BytesIO(b"<treebank>" + data + b"</treebank>"),
                                 tag="alpino_ds"):
        el.clear()
        while el.getprevious() is not None:
            del el.getparent()[0]


# a child: read (data, dictionary) pickles from stdin, answer (CPU seconds, what was made)
CHILD = """
import pickle, sys, time
from treeindex.worker.extract import Task, run_task
src = sys.argv[1]
stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
while True:
    try:
        data, dictionary = pickle.load(stdin)
    except EOFError:
        break
    task = Task(0, "bytes", src, 0, len(data), data, (), "utf-8", 7, 1000, dictionary)
    start = time.process_time()
    r = run_task(task)
    spent = time.process_time() - start
    made = (r.sentences, r.subtrees, len(r.errors), sorted(r.cat_counts.items()))
    pickle.dump((spent, made, __import__("treeindex").__file__), stdout)
    stdout.flush()
"""


class Side:
    """One version's worker process."""

    def __init__(self, src: Path, path_first: str | None) -> None:
        env = dict(os.environ)
        if path_first:
            env["PYTHONPATH"] = path_first + os.pathsep + env.get("PYTHONPATH", "")
        self.proc = subprocess.Popen([sys.executable, "-c", CHILD, str(src)], env=env,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE)

    def run(self, data: bytes, dictionary: bytes | None) -> tuple[float, tuple, str]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        pickle.dump((data, dictionary), self.proc.stdin)
        self.proc.stdin.flush()
        return pickle.load(self.proc.stdout)  # type: ignore[no-any-return]

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.wait()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--old", type=Path, required=True, help="an installed treeindex package")
    ap.add_argument("--mb", type=float, default=100)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    from treeindex.sources import discover
    from treeindex.store import codec
    from treeindex.worker import _scan  # noqa: F401 - this checkout's C path must be built

    src = corpus(args.mb)
    datas = pieces(src)
    found = discover([src], None).corpora[0]
    dictionary = codec.train(found.format.sample(found, codec.SAMPLE_BYTES))
    sides = {"old": Side(src, str(args.old.resolve().parent)), "new": Side(src, None)}
    times: dict[str, list[float]] = {"floor": [], "old": [], "new": []}
    try:
        for r in range(args.rounds):
            for k, data in enumerate(datas):
                start = time.process_time()
                floor(data)
                times["floor"].append(time.process_time() - start)
                made = {}
                for name in (("old", "new") if (r + k) % 2 == 0 else ("new", "old")):
                    spent, made[name], where = sides[name].run(data, dictionary)
                    times[name].append(spent)
                    if r == 0 and k == 0:
                        print(f"{name}: {where}")
                if made["old"] != made["new"]:
                    sys.exit(f"piece {k}: the versions made different things: {made}")
    finally:
        for side in sides.values():
            side.close()
    n = len(times["floor"])

    def ratio(a: str, b: str) -> str:
        r = [times[a][i] / times[b][i] for i in range(n)]
        return f"{statistics.median(r):.2f} [{min(r):.2f}-{max(r):.2f}]"

    per = {k: sum(v) / args.rounds for k, v in times.items()}
    print(f"{src} ({src.stat().st_size / 1e6:.0f} MB), {len(datas)} pieces x {args.rounds} "
          f"rounds, CPU seconds per input: floor {per['floor']:.2f}, old {per['old']:.2f}, "
          f"new {per['new']:.2f} (the same sentences, subtrees, errors and counts)")
    print(f"new / old {ratio('new', 'old')}; old / floor {ratio('old', 'floor')}; "
          f"new / floor {ratio('new', 'floor')} (medians [ranges] over pieces)")


if __name__ == "__main__":
    main()
