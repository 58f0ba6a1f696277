"""Score the analyzer on the hand-labelled probe set (tests/fixtures/nlp_probe/probe_set.jsonl).

Real text no rule was tuned on (see tests/fixtures/nlp_probe/SOURCE.md), labelled as an analyst reads it:
substances (canonical name, class), ships from / to / not to, the vendor handle and intent. ``null`` in a
label means "not scored". Prints figures per split; ``--errors`` lists every wrong field (use it on the
dev split only: the blind split is scored once, at the end of a piece of work).

    .venv/bin/python scripts/nlp_probe.py --split dev --errors
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parents[1]
PROBE = HERE / "tests" / "fixtures" / "nlp_probe" / "probe_set.jsonl"


def load(split: str | None = None) -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in PROBE.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [r for r in rows if split in (None, "all", r["split"])]


def score(rows: list[dict[str, Any]], outs: list[dict[str, Any]]) -> tuple[dict[str, list[int]], list[str]]:
    """Counts per measure as [right, total] and one line per error."""
    c: dict[str, list[int]] = {}
    errors: list[str] = []

    def count(name: str, ok: bool, why: str, row: dict[str, Any]) -> None:
        c.setdefault(name, [0, 0])
        c[name][0] += ok
        c[name][1] += 1
        if not ok:
            errors.append(f"{row['id']:<22} {name}: {why}")

    for row, out in zip(rows, outs, strict=True):
        subs = {s["name"]: s["class"] for s in out["substances"] if s["class"] != "generic"}
        if row["substances"] is not None:
            want = {name: cls for name, cls in row["substances"]}
            for name in want:
                count("substance named (recall)", name in subs, f"{name} missing; got {sorted(subs)}", row)
            foreign = sorted(f"{n}/{k}" for n, k in subs.items() if k not in set(want.values()))
            count("text without a substance of a foreign class", not foreign, f"foreign {foreign}", row)
            count("classes found = labelled", set(subs.values()) == set(want.values()),
                  f"want {sorted(set(want.values()))} got {sorted(set(subs.values()))}", row)
        sh = out
        for field in ("ships_from", "ships_to"):
            if row[field] is not None:
                count(f"{field} = label", set(sh[field]) == set(row[field]),
                      f"want {sorted(row[field])} got {sorted(sh[field])}", row)
        got_not = set(sh["ships_not_to"])
        want_not = set(row["ships_not_to"])
        c.setdefault("ships_not_to codes (tp, fp, fn)", [0, 0, 0])
        tp, fp, fn = len(got_not & want_not), len(got_not - want_not), len(want_not - got_not)
        c["ships_not_to codes (tp, fp, fn)"][0] += tp
        c["ships_not_to codes (tp, fp, fn)"][1] += fp
        c["ships_not_to codes (tp, fp, fn)"][2] += fn
        if fp or fn:
            errors.append(f"{row['id']:<22} ships_not_to: want {sorted(want_not)} got {sorted(got_not)}")
        clash = sorted(want_not & set(sh["ships_to"]))
        count("no excluded country in ships_to", not clash, f"excluded yet in ships_to {clash}", row)
        handles = list(out["vendor"]["handles"])
        if row["vendor"] == "":
            count("no vendor where none is named", not handles, f"false vendor {handles}", row)
        elif row["vendor"]:
            count("vendor found", row["vendor"].lower() in {h.lower() for h in handles}, f"got {handles}", row)
        if row["intent"] is not None:
            count("intent = label", out["intent"] == row["intent"], f"want {row['intent']} got {out['intent']}", row)
    return c, errors


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--split", choices=["dev", "blind", "all"], default="dev")
    ap.add_argument("--errors", action="store_true", help="list each wrong field")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(HERE))
    from nlp.analyzer import Analyzer

    rows = load(args.split)
    outs = Analyzer.load().analyze_many([r["text"] for r in rows])
    counts, errors = score(rows, outs)
    print(f"probe set, split {args.split}: {len(rows)} texts")
    for name, v in counts.items():
        if len(v) == 3:
            tp, fp, fn = v
            p = tp / (tp + fp) if tp + fp else 1.0
            r = tp / (tp + fn) if tp + fn else 1.0
            print(f"  {name:<48} P {p:.3f} R {r:.3f} (tp {tp}, fp {fp}, fn {fn})")
        else:
            print(f"  {name:<48} {v[0] / v[1]:.3f}  ({v[0]}/{v[1]})")
    if args.errors:
        print("\n".join(errors))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
