"""A/B throughput of the NLP step: two checkouts' `nlp bench`, alternating, each run in a fresh process.

On a shared machine one run's figure says little; a pair of runs made back to back does. Each pair runs the
baseline checkout and then this one (order swapped every other pair), pinned to one CPU (the bench pins
itself), and reports listings per CPU second and the ratio within the pair:

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
_RUN = ("import json, sys; sys.path.insert(0, {root!r}); from nlp.tools.bench import run; "
        "import nlp.tools.bench as b; assert b.__file__.startswith({root!r}), b.__file__; "
        "print(json.dumps(run({n}, {words}).as_dict()))")


def one(root: Path, n: int, words: int) -> dict:
    env = {**os.environ, "PYTHONPATH": str(root)}
    code = _RUN.format(root=str(root), n=n, words=words)
    out = subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True,
                         cwd=str(root)).stdout
    return json.loads(out.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("base", type=Path, help="checkout of the baseline commit")
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("-n", "--texts", type=int, default=3000)
    parser.add_argument("--words", type=int, default=80)
    args = parser.parse_args(argv)
    ratios = []
    print(f"{'pair':>4} {'base/s':>8} {'this/s':>8} {'ratio':>6}   (listings per CPU second, n={args.texts})")
    for k in range(args.pairs):
        order = [("base", args.base), ("this", HERE)]
        if k % 2:
            order.reverse()
        got = {name: one(root.resolve(), args.texts, args.words)["pipeline_listings_per_cpu_s"] for name, root in order}
        ratios.append(got["this"] / got["base"])
        print(f"{k + 1:>4} {got['base']:>8} {got['this']:>8} {ratios[-1]:>6.3f}", flush=True)
    print(f"median ratio {statistics.median(ratios):.3f} (min {min(ratios):.3f}, max {max(ratios):.3f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
