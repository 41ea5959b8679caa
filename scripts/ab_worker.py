#!/usr/bin/env python3
"""The worker's CPU, this checkout against another install, in one process (A/B).

    python3 scripts/ab_worker.py --old /path/to/site-packages/treeindex [--mb 100] [--rounds 3]

Whole-process CPU times move by 30% between runs on a shared machine; two versions run in
one process, alternating on the same pieces of input, do not. The other install's package
(an older commit installed in its own virtualenv, C extensions built) is copied beside this
one as `treeindex_old` (its imports are relative), and for each 20 MB piece of the input
this measures, back to back: the parse floor (lxml iterparse with clear, as
scripts/grinder.py floor), the old worker's `run_task` and this checkout's. Prints per-piece
ratios (medians and ranges) and the CPU seconds per input.
"""

from __future__ import annotations

import argparse
import io
import shutil
import statistics
import sys
import tempfile
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--old", type=Path, required=True, help="an installed treeindex package")
    ap.add_argument("--mb", type=float, default=100)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        shutil.copytree(args.old, Path(d) / "treeindex_old")
        sys.path.insert(0, d)
        import treeindex_old.worker.extract as old  # type: ignore[import-not-found]

        import treeindex.worker.extract as new
        from treeindex.sources import discover
        from treeindex.store import codec
        from treeindex.worker import _scan  # noqa: F401 - this checkout's C path must be built

        src = corpus(args.mb)
        datas = pieces(src)
        found = discover([src], None).corpora[0]
        dictionary = codec.train(found.format.sample(found, codec.SAMPLE_BYTES))
        times: dict[str, list[float]] = {"floor": [], "old": [], "new": []}
        for _ in range(args.rounds):
            for data in datas:
                start = time.process_time()
                floor(data)
                times["floor"].append(time.process_time() - start)
                for name, module in (("old", old), ("new", new)):
                    task = module.Task(0, "bytes", str(src), 0, len(data), data, (), "utf-8", 7,
                                       1000, dictionary)
                    start = time.process_time()
                    module.run_task(task)
                    times[name].append(time.process_time() - start)
    n = len(times["floor"])

    def ratio(a: str, b: str) -> str:
        r = [times[a][i] / times[b][i] for i in range(n)]
        return f"{statistics.median(r):.2f} [{min(r):.2f}-{max(r):.2f}]"

    per = {k: sum(v) / args.rounds for k, v in times.items()}
    print(f"{src} ({src.stat().st_size / 1e6:.0f} MB), {len(datas)} pieces x {args.rounds} "
          f"rounds, CPU seconds per input: floor {per['floor']:.2f}, old {per['old']:.2f}, "
          f"new {per['new']:.2f}")
    print(f"new / old {ratio('new', 'old')}; old / floor {ratio('old', 'floor')}; "
          f"new / floor {ratio('new', 'floor')} (medians [ranges] over pieces)")


if __name__ == "__main__":
    main()
