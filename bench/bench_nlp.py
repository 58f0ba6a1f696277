"""Benchmark of the NLP step: listings/s on one core, full pipeline vs bare spaCy tokenizer (same run);
seconds for one 200 KB, 1 MB and 5 MB text (linear growth, analysis cap)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv: list[str] | None = None) -> int:
    from nlp.tools.bench import run, run_long

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", "--texts", type=int, default=5000, help="number of listings (default 5000)")
    parser.add_argument("--words", type=int, default=80, help="words per listing (default 80)")
    parser.add_argument("--model", default=None, help="pipeline directory (default: nlp/model)")
    args = parser.parse_args(argv)
    print(json.dumps({**run(args.texts, args.words, args.model).as_dict(),
                      "long_texts": run_long(model=args.model)}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
