#!/usr/bin/env python3
"""Long differential run of the node-table engine: random queries built from the bundled
sentences' attribute names, values and structures must select exactly the nodes lxml
(XPath 1.0) or elementpath (XPath 2.0) select (tests/test_search_engine.py runs a seeded
few hundred in CI), evaluated on one block and on a kept superblock of blocks of random
sizes (search/merged.py, what `treeindex server` evaluates); and the candidate condition
XPath 2.0 gets from treeindex's own parse tree (search/plan.py `tree_condition`) must hold
for every sentence with a hit.

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
from treeindex.search.merged import MergedBlock  # noqa: E402
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
    rnd = random.Random(seed)
    parts, at = [], 0
    while at < len(xmls):
        n = rnd.choice([1, 2, 5, 9, 17])
        parts.append(Block(build_block(xmls[at:at + n])))
        at += n
    merged = MergedBlock(parts)
    merged.decode_all()
    gen = querygen.Generator(querygen.Vocabulary(roots), seed)
    outcomes: Counter[str] = Counter()
    deadline = time.monotonic() + args.seconds
    with open(args.out, "w", encoding="utf-8") as out:
        while time.monotonic() < deadline:
            q = gen.query()
            outcome, want, got = querygen.compare(q, roots, block)
            outcomes[outcome] += 1
            if outcome == querygen.Outcome.SAME:  # the superblock, against the same answer
                on_merged = querygen.engine_hits(q, merged)
                outcomes["merged " + ("fallback" if on_merged == "fallback" else
                                      "same" if on_merged == want else "different")] += 1
                if on_merged not in ("fallback", want):
                    outcome = querygen.Outcome.DIFFERENT
                    got = on_merged
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
          f"{outcomes[querygen.Outcome.DIFFERENT]:,} different; on a superblock of "
          f"{len(parts)} blocks {outcomes['merged same']:,} equal, "
          f"{outcomes['merged fallback']:,} left, {outcomes['merged different']:,} "
          f"different; {outcomes['condition']:,} "
          f"with a condition from the parse tree, {outcomes['missed']:,} of them missing a "
          "matching sentence")
    return 1 if outcomes[querygen.Outcome.DIFFERENT] or outcomes["missed"] else 0


if __name__ == "__main__":
    sys.exit(main())
