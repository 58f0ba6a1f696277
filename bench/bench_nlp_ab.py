"""A/B throughput of the NLP step: two checkouts' `nlp bench`, alternating, each run in a fresh process.

On a shared machine one run's figure says little; a pair of runs made back to back does. Each pair runs the
baseline checkout and then this one (order swapped every other pair), pinned to one CPU (the bench pins
itself), and reports listings per CPU second and the ratio within the pair, from the least CPU time of each chunk of
250 texts over ``--reps`` passes (interference only ever adds time) and from the first pass alone:

    git worktree add /tmp/nw-base <commit>
    nice -n 15 .venv/bin/python bench/bench_nlp_ab.py /tmp/nw-base --pairs 4 -n 3000

Both use this checkout's venv; the baseline's code is put first on PYTHONPATH.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]
# In the child: the bench corpus in chunks, each chunk analysed ``reps`` times; the least CPU time of each chunk
# counts (another process on the core only ever adds time), and the first pass is reported too.
_RUN = """
import json, sys, time
sys.path.insert(0, {root!r})
import nlp.tools.bench as b
assert b.__file__.startswith({root!r}), b.__file__
from nlp.analyzer import Analyzer
b.pin_one_core()
texts = b.listing_texts({n}, {words})
analyzer = Analyzer.load()
analyzer.analyze_many(texts[:200])
chunks = [texts[i:i + 250] for i in range(0, len(texts), 250)]
best = [float("inf")] * len(chunks)
first = 0.0
for rep in range({reps}):
    for k, chunk in enumerate(chunks):
        c0 = time.process_time()
        analyzer.analyze_many(chunk)
        took = time.process_time() - c0
        best[k] = min(best[k], took)
        first += took if rep == 0 else 0.0
print(json.dumps({{"best": len(texts) / sum(best), "first": len(texts) / first}}))
"""


def one(root: Path, n: int, words: int, reps: int) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(root)}
    code = _RUN.format(root=str(root), n=n, words=words, reps=reps)
    out = subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True,
                         cwd=str(root)).stdout
    result: dict[str, float] = json.loads(out.strip().splitlines()[-1])
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("base", type=Path, help="checkout of the baseline commit")
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("-n", "--texts", type=int, default=3000)
    parser.add_argument("--words", type=int, default=80)
    parser.add_argument("--reps", type=int, default=3, help="passes over the texts per process (default 3)")
    args = parser.parse_args(argv)
    ratios, first_ratios = [], []
    print(f"{'pair':>4} {'base/s':>8} {'this/s':>8} {'ratio':>6}   {'first pass: base/s':>18} {'this/s':>7} "
          f"{'ratio':>6}   (listings per CPU second, n={args.texts}, best of {args.reps} per chunk)")
    for k in range(args.pairs):
        order = [("base", args.base), ("this", HERE)]
        if k % 2:
            order.reverse()
        got = {name: one(root.resolve(), args.texts, args.words, args.reps) for name, root in order}
        ratios.append(got["this"]["best"] / got["base"]["best"])
        first_ratios.append(got["this"]["first"] / got["base"]["first"])
        print(f"{k + 1:>4} {got['base']['best']:>8.0f} {got['this']['best']:>8.0f} {ratios[-1]:>6.3f}   "
              f"{got['base']['first']:>18.0f} {got['this']['first']:>7.0f} {first_ratios[-1]:>6.3f}", flush=True)
    print(f"median ratio {statistics.median(ratios):.3f} (min {min(ratios):.3f}, max {max(ratios):.3f}); "
          f"first pass {statistics.median(first_ratios):.3f} ({min(first_ratios):.3f}-{max(first_ratios):.3f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
