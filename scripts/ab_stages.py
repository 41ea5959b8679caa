"""The worker's C stages, this checkout against another install, paired in one process (A/B).

    python3 scripts/ab_stages.py --old /path/to/site-packages/treeindex [--mb 100] [--rounds 5]

scripts/ab_worker.py times whole `run_task`s, where a change to one C pass is a few percent
of the whole and this machine's noise is more. Here the other install's compiled modules
(`worker/_scan`, `search/_nodes`) are loaded beside this checkout's under other names, and
each stage runs on the same sentences with the old module and the new one back to back
(alternating which goes first), for every 20 MB piece of the input: the well-formedness
check alone, the check and the scan with rows into a packer (as a worker runs them), and the
node block builder.
Checks that both made the same node blocks, rows and counts, and prints CPU seconds per
input and the median and range of new / old over the pieces.
"""

from __future__ import annotations

import argparse
import importlib.machinery
import importlib.util
import statistics
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from ab_worker import pieces  # noqa: E402
from bench import corpus  # noqa: E402


def load(name: str, folder: Path) -> ModuleType:
    """The compiled module `folder/<stem>*.so` as a module called `name`."""
    path = next(folder.glob(name.rsplit(".", 1)[-1] + "*.so"), None)
    if path is None:
        sys.exit(f"{folder}: no compiled {name.rsplit('.', 1)[-1]} there")
    loader = importlib.machinery.ExtensionFileLoader(name, str(path))
    spec = importlib.util.spec_from_file_location(name, path, loader=loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def wellformed(scan: Any, nodes: Any, sentences: list[bytes]) -> Any:
    return [scan.wellformed(x) for x in sentences]


def rows(scan: Any, nodes: Any, sentences: list[bytes]) -> Any:
    """The check and the scan with rows, as a worker runs them (since stop 42 one pass, and
    a tally instead of dicts; a build before that takes the dicts)."""
    from treeindex.store import packed

    packer = packed.packer()
    if hasattr(scan, "Tally"):
        tally = scan.Tally()
        for i, x in enumerate(sentences):
            scan.scan(x, 7, 1000, i, tally, True, packer)
        return packer.count, tally.counts(), tally.patterns()
    counts: dict[str, list[int]] = {}
    patterns: dict[str, int] = {}
    for i, x in enumerate(sentences):
        scan.scan(x, 7, 1000, i, counts, True, patterns, packer)
    return packer.count, counts, patterns


def block(scan: Any, nodes: Any, sentences: list[bytes]) -> Any:
    state = nodes.start()
    for x in sentences:
        nodes.add(state, x)
    return nodes.finish(state)


STAGES = {"well-formedness check": wellformed, "check and scan, rows into a packer": rows,
          "node block builder": block}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--old", type=Path, required=True, help="an installed treeindex package")
    ap.add_argument("--mb", type=float, default=100)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    from treeindex.search import _nodes  # type: ignore[attr-defined]
    from treeindex.worker import _scan  # type: ignore[attr-defined]

    old = {"scan": load("old._scan", args.old / "worker"),
           "nodes": load("old._nodes", args.old / "search")}
    new = {"scan": _scan, "nodes": _nodes}
    src = corpus(args.mb)
    texts = []
    for data in pieces(src):
        spans, _ = _scan.split(data, 0, len(data))
        texts.append([data[a:e] for a, _b, e, _line in spans if e >= 0])
    times: dict[str, dict[str, list[float]]] = {s: {"old": [], "new": []} for s in STAGES}
    for r in range(args.rounds):
        for k, sentences in enumerate(texts):
            for stage, fn in STAGES.items():
                made = {}
                for side in (("old", "new") if (r + k) % 2 == 0 else ("new", "old")):
                    m = old if side == "old" else new
                    start = time.process_time()
                    made[side] = fn(m["scan"], m["nodes"], sentences)
                    times[stage][side].append(time.process_time() - start)
                if made["old"] != made["new"]:
                    sys.exit(f"piece {k}, {stage}: the versions made different things")
    print(f"{src} ({src.stat().st_size / 1e6:.0f} MB), {len(texts)} pieces x {args.rounds} "
          "rounds, the same output from both; CPU seconds per input, new / old per piece:")
    for stage in STAGES:
        o, n = times[stage]["old"], times[stage]["new"]
        ratios = [b / a for a, b in zip(o, n)]
        print(f"  {stage:26} old {sum(o) / args.rounds:.3f}  new {sum(n) / args.rounds:.3f}  "
              f"new / old {statistics.median(ratios):.2f} [{min(ratios):.2f}-{max(ratios):.2f}]")


if __name__ == "__main__":
    main()
