#!/usr/bin/env python3
"""Long differential run of the node-table engine: random queries built from the bundled
sentences' attribute names, values and structures must select exactly the nodes lxml
(XPath 1.0) or elementpath (XPath 2.0) select (tests/test_search_engine.py runs a seeded
few hundred in CI); and the candidate condition XPath 2.0 gets from treeindex's own parse
tree (search/plan.py `tree_condition`) must hold for every sentence with a hit.

    python3 scripts/fuzz_queries.py [--seconds 600] [--seed N] [--every 2] [--out FILE]

--every K evaluates on every K-th bundled sentence (a faster reference). Prints how many
queries the engine answered itself and agreed on, how many it left to lxml/elementpath,
and every difference (written to --out for replay); exit 1 when any was found.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

import querygen  # noqa: E402

from treeindex.search.block import Block  # noqa: E402
from treeindex.search.nodestore import build_block  # noqa: E402
from treeindex.search.terms import xml_terms  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=600)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--every", type=int, default=2)
    ap.add_argument("--out", type=Path, default=Path("/tmp/treeindex-fuzz-queries.jsonl"))
    args = ap.parse_args()
    xmls = querygen.bundled_sentences()[::args.every]
    roots = querygen.parse_all(xmls)
    block = Block(build_block(xmls))
    terms = [set(xml_terms(x).split()) for x in xmls]
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    gen = querygen.Generator(querygen.Vocabulary(roots), seed)
    outcomes: Counter[str] = Counter()
    deadline = time.monotonic() + args.seconds
    with open(args.out, "w", encoding="utf-8") as out:
        while time.monotonic() < deadline:
            q = gen.query()
            outcome, want, got = querygen.compare(q, roots, block)
            outcomes[outcome] += 1
            misses = querygen.condition_misses(q, want, terms, roots)
            if misses is not None:
                outcomes["condition"] += 1
                if misses:
                    outcomes["missed"] += 1
                    out.write(json.dumps({"query": q, "condition misses": misses}) + "\n")
                    print(f"CONDITION MISSES {misses[:5]}: {q}", flush=True)
            if outcome == querygen.Outcome.DIFFERENT:
                out.write(json.dumps({"query": q, "reference": str(want)[:2000],
                                      "engine": str(got)[:2000]}) + "\n")
                out.flush()
                print(f"DIFFERENT: {q}", flush=True)
    total = sum(outcomes[o] for o in (querygen.Outcome.SAME, querygen.Outcome.FALLBACK,
                                      querygen.Outcome.DIFFERENT))
    print(f"seed {seed}: {total:,} queries on {len(xmls)} sentences; "
          f"{outcomes[querygen.Outcome.SAME]:,} answered by the node table and equal to the "
          f"reference, {outcomes[querygen.Outcome.FALLBACK]:,} left to lxml/elementpath, "
          f"{outcomes[querygen.Outcome.DIFFERENT]:,} different; {outcomes['condition']:,} "
          f"with a condition from the parse tree, {outcomes['missed']:,} of them missing a "
          "matching sentence")
    return 1 if outcomes[querygen.Outcome.DIFFERENT] or outcomes["missed"] else 0


if __name__ == "__main__":
    sys.exit(main())
