"""Model selection on the dev split: a pipeline learned from the fit part only, scored on the dev part.

The held-out test split (seed 20240501) is for the final figure alone. Settings are compared here:
``datasets.dev_split`` carves 20% (seed 20240502) out of the training split, ``build_dev`` learns every
part (stoplists, learned terms, intent model, NER) from the other 80%, and ``dev_report`` scores
SUBSTANCE spans on the dev part with the errors listed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from nlp import datasets
from nlp.analyzer import Analyzer
from nlp.evaluate import PRF, score_spans, substance_spans

DEV_DIR = Path.home() / ".cache" / "narcowatch" / "nlp-dev"


def parts(fixes: bool | None = None) -> tuple[list[datasets.NerExample], list[datasets.NerExample]]:
    """(fit, dev): the training split of drugs_training.jsonl cut in two; the test split is not touched.

    ``fixes``: with the re-annotations of annotation_fixes.tsv (docs/annotation.md; default
    ``datasets.TRAIN_WITH_FIXES``); the cut is the same.
    """
    return datasets.dev_split(datasets.drugs_train(fixes))


def build_dev(output: Path = DEV_DIR, epochs: int = 30, seed: int = datasets.SEED,
              fixes: bool | None = None) -> Path:
    """Train a pipeline from the fit part only (tables under ``output/tables``) and write it to ``output``."""
    from nlp.tools.train import train

    fit, _dev = parts(fixes)
    tables = output / "tables"
    tables.mkdir(parents=True, exist_ok=True)
    train(output, seed=seed, epochs=epochs, learn_from=fit, tables=tables)
    meta = {"seed": seed, "epochs": epochs, "fit": len(fit), "fixes": fixes}  # None: the shipped default
    (output / "dev.json").write_text(json.dumps(meta), encoding="utf-8")
    return output


@dataclass
class DevReport:
    """SUBSTANCE scores on the dev part, exact and token-overlap, with the wrong spans."""

    exact: PRF = field(default_factory=PRF)
    overlap: PRF = field(default_factory=PRF)
    false_pos: list[tuple[str, str]] = field(default_factory=list)  # (span text, context)
    misses: list[tuple[str, str]] = field(default_factory=list)

    def text(self, errors: bool = False) -> str:
        out = [f"dev SUBSTANCE exact    P {self.exact.p:.3f}  R {self.exact.r:.3f}  F1 {self.exact.f:.3f}  "
               f"(tp {self.exact.tp}, fp {self.exact.fp}, fn {self.exact.fn})",
               f"dev SUBSTANCE overlap  P {self.overlap.p:.3f}  R {self.overlap.r:.3f}  F1 {self.overlap.f:.3f}"]
        if errors:
            out += ["", "false positives:"] + [f"  {t!r:30} {c}" for t, c in self.false_pos]
            out += ["", "misses:"] + [f"  {t!r:30} {c}" for t, c in self.misses]
        return "\n".join(out)


def _context(text: str, s: int, e: int) -> str:
    return " ".join((text[max(0, s - 40):s] + "[" + text[s:e] + "]" + text[e:e + 40]).split())


def dev_report(analyzer: Analyzer, examples: list[datasets.NerExample] | None = None,
               fixes: bool = False) -> DevReport:
    """Score SUBSTANCE spans of ``analyzer`` on the dev part (or on ``examples``).

    The dev gold is the original annotation unless ``fixes``: a score on the re-annotated dev part compares
    only with other scores on the re-annotated dev part.
    """
    items = examples if examples is not None else parts(fixes)[1]
    report = DevReport()
    for ex, res in zip(items, analyzer.analyze_many([x.text for x in items]), strict=True):
        pred, gold = substance_spans(res), set(ex.spans)
        score_spans(pred, gold, report.exact, report.overlap)
        report.false_pos += [(ex.text[s:e], _context(ex.text, s, e)) for s, e in sorted(pred - gold)]
        report.misses += [(ex.text[s:e], _context(ex.text, s, e)) for s, e in sorted(gold - pred)]
    return report
