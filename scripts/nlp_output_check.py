"""Byte-identical check of the analyzer's output: dump it for ~50,000 real texts, compare two dumps.

A speed change to the NLP rule code must leave every output unchanged. Dump with the commit before the
change and with the change, then compare (texts come from this repository only: nlp/data corpora and eval
sets, the `nlp bench` corpus, the saved pages and text fixtures under tests/fixtures, upper-cased and
long variants):

    git worktree add /tmp/nw-base <commit>
    PYTHONPATH=/tmp/nw-base .venv/bin/python scripts/nlp_output_check.py dump /tmp/base.jsonl --root /tmp/nw-base
    .venv/bin/python scripts/nlp_output_check.py dump /tmp/new.jsonl
    .venv/bin/python scripts/nlp_output_check.py compare /tmp/base.jsonl /tmp/new.jsonl

The texts are always read from the checkout this script is in (so both dumps see the same texts); the
code and model from ``--root`` (default: this checkout). ``--model`` fixes the pipeline directory (e.g.
to compare code changes across a retrained model). Exit status 1 when any output differs.
"""

from __future__ import annotations

import argparse
import hashlib
import html.parser
import importlib.util
import json
import random
import sys
from collections.abc import Iterator
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]


class _Text(html.parser.HTMLParser):
    """Visible text of an HTML page, block elements as newlines (no third-party parser: same in every venv)."""

    BLOCK = frozenset({"p", "div", "br", "li", "tr", "td", "th", "h1", "h2", "h3", "h4", "h5", "h6", "section",
                       "article", "table", "ul", "ol", "pre", "span"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self.skip += 1
        elif tag in self.BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style") and self.skip:
            self.skip -= 1

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.parts.append(data)


def page_text(path: Path) -> str:
    p = _Text()
    p.feed(path.read_text(encoding="utf-8", errors="replace"))
    lines = (" ".join(line.split()) for line in "".join(p.parts).splitlines())
    return "\n".join(line for line in lines if line)


def texts() -> Iterator[tuple[str, str]]:
    """(source, text) pairs, always in the same order."""
    spec = importlib.util.spec_from_file_location("_nw_datasets", HERE / "nlp" / "datasets.py")
    assert spec is not None and spec.loader is not None
    datasets = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = datasets  # dataclasses look their module up
    spec.loader.exec_module(datasets)

    def listing_texts(n: int, words: int) -> list[str]:  # as nlp.tools.bench.listing_texts
        _train, test = datasets.split(datasets.agora_listings())
        pool = [x.text.split() for x in test]
        rng = random.Random(datasets.SEED)
        out = []
        for _ in range(n):
            acc: list[str] = []
            while len(acc) < words:
                acc.extend(rng.choice(pool))
            out.append(" ".join(acc[:words]))
        return out

    base: list[tuple[str, str]] = []
    base += [("agora_listings", x.text) for x in datasets.agora_listings()]
    base += [("dream_listings", x.text) for x in datasets.dream_listings()]
    base += [("agora_products", x.text) for x in datasets.agora_products()]
    base += [("drugs_training", x.text) for x in datasets.drugs_ner()]
    base += [("seizure_news", x.text) for x in datasets.seizure_news()]
    base += [("shipping_labels", x.text) for x in datasets.shipping_labels()]
    base += [("out_of_source", x.text) for x in datasets.out_of_source()]
    base += [("bench", t) for t in listing_texts(5000, 80)]
    fixtures = HERE / "tests" / "fixtures"
    for path in sorted(fixtures.rglob("*")):
        if not path.is_file():
            continue
        rel = str(path.relative_to(fixtures))
        if path.suffix in (".html", ".htm"):
            text = page_text(path)
            base.append((rel, text))
            base += [(rel + "#" + str(i), block) for i, block in enumerate(text.split("\n\n")) if block][:200]
        elif path.suffix in (".txt", ".md", ".json", ".jsonl", ".csv", ".yaml", ".yml"):
            base.append((rel, path.read_text(encoding="utf-8", errors="replace")))
    yield from base
    # case and layout variants of every 4th text: capitals, lower case, one line
    for i, (src, t) in enumerate(base[::4]):
        yield src + ":upper", t.upper()
        if i % 2:
            yield src + ":lower", t.lower()
        else:
            yield src + ":oneline", " ".join(t.split())
    # long texts (the linear passes and the cap): a few hundred KB of listings
    joined = "\n".join(t for s, t in base if s == "bench")
    yield "long:300k", joined[:300_000]
    yield "long:1.2M", (joined * 4)[:1_200_000]


def dump(out: Path, root: Path, model: str | None) -> int:
    items = list(texts())
    sys.path.insert(0, str(root))
    import nlp.analyzer

    if Path(nlp.analyzer.__file__).resolve().parents[1] != root.resolve():
        raise SystemExit(f"nlp imported from {nlp.analyzer.__file__}, not {root}: set PYTHONPATH={root}")
    analyzer = nlp.analyzer.Analyzer.load(model)
    results = analyzer.analyze_many([t for _s, t in items])
    with out.open("w", encoding="utf-8") as f:
        for (src, text), res in zip(items, results, strict=True):
            sha = hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]
            f.write(json.dumps({"src": src, "sha": sha, "out": res}, sort_keys=True, ensure_ascii=False) + "\n")
    print(f"{len(items)} texts -> {out} (code {root})")
    return 0


def compare(a: Path, b: Path, show: int) -> int:
    # one record a line; split on "\n" only (the texts may hold U+2028 and the like, which splitlines cuts at)
    la = a.read_text(encoding="utf-8").rstrip("\n").split("\n")
    lb = b.read_text(encoding="utf-8").rstrip("\n").split("\n")
    if len(la) != len(lb):
        print(f"different numbers of texts: {len(la)} vs {len(lb)}")
        return 1
    diff = 0
    for x, y in zip(la, lb, strict=True):
        if x == y:
            continue
        dx, dy = json.loads(x), json.loads(y)
        if dx["sha"] != dy["sha"]:
            print(f"not the same text at {dx['src']}: the dumps were made from different corpora")
            return 1
        diff += 1
        if diff <= show:
            ox, oy = dx["out"], dy["out"]
            keys = sorted(k for k in set(ox) | set(oy) if ox.get(k) != oy.get(k))
            print(f"DIFF {dx['src']} ({dx['sha']}): keys {keys}")
            for k in keys[:3]:
                print(f"  {k}: {json.dumps(ox.get(k), ensure_ascii=False)[:300]}")
                print(f"  {' ' * len(k)}  {json.dumps(oy.get(k), ensure_ascii=False)[:300]}")
    print(f"{len(la)} texts, {diff} outputs differ")
    return 1 if diff else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("dump", help="analyse every text, write one JSON line per text")
    d.add_argument("out", type=Path)
    d.add_argument("--root", type=Path, default=HERE, help="checkout whose nlp code runs (default: this one)")
    d.add_argument("--model", default=None, help="pipeline directory (default: the root's nlp/model)")
    c = sub.add_parser("compare", help="exit 1 if two dumps differ")
    c.add_argument("a", type=Path)
    c.add_argument("b", type=Path)
    c.add_argument("--show", type=int, default=10, help="differences to print (default 10)")
    args = parser.parse_args(argv)
    if args.cmd == "dump":
        return dump(args.out, args.root, args.model)
    return compare(args.a, args.b, args.show)


if __name__ == "__main__":
    raise SystemExit(main())
