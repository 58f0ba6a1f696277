"""K-fold cross-validation of NER settings over the training split of drugs_training.jsonl (never the test comments).

The dev part of ``nlp select`` holds 188 spans, so one span moves its F1 by 0.003, the size of most effects
tried; here every training comment is held out once, so a candidate is judged on all ~856 training spans.
Each fold builds what ``nlp.tools.train.train`` builds from the other folds (stoplists, learned terms, intent
model, then the NER through ``attach_ner``), and scores SUBSTANCE spans on the held-out fold against the
**original** annotations (``nlp.tools.select.dev_report``). The base pipeline of a fold (everything but the
NER) is built once and reused by every candidate that shares its training text; NER models are cached on disk.
"""

from __future__ import annotations

import json
import logging
import random
import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, cast

from nlp import datasets
from nlp.evaluate import PRF

log = logging.getLogger(__name__)
CV_DIR = Path.home() / ".cache" / "narcowatch" / "nlp-cv"
CV_SEED = datasets.SEED + 2


def folds(n: int, k: int, seed: int = CV_SEED) -> list[list[int]]:
    """``k`` disjoint index lists covering ``range(n)``, dealt in a fixed-seed shuffled order."""
    if not 2 <= k <= n:
        raise ValueError(f"need 2 <= folds <= {n}, got {k}")
    order = list(range(n))
    random.Random(seed).shuffle(order)
    return [sorted(order[i::k]) for i in range(k)]


@dataclass(frozen=True)
class Candidate:
    """One setting of what the NER learns from and how its guesses are kept."""

    name: str
    fixes: bool = False  # learn from the re-annotated training part (annotation_fixes.tsv)
    news: str = "all"  # seizure-news DRUG spans in the NER's training text: all / train / none
    dropout: float = 0.2
    vote_seeds: tuple[int, ...] = ()  # more NER seeds; a span is kept where most models find it
    no_stop: bool = False  # post-filter: keep NER guesses on mostly-untagged and everyday English words
    always: bool = False  # gate: run the NER on every text, not only texts with drug vocabulary
    seed: int | None = None  # the NER's seed (default: the project seed)


CANDIDATES = {c.name: c for c in [
    Candidate("shipped"),
    Candidate("news-train-split", news="train"),
    Candidate("dropout-0.3", dropout=0.3),
    Candidate("news-train+dropout-0.3", news="train", dropout=0.3),
    Candidate("fixes", fixes=True),
    Candidate("vote-3-seeds", vote_seeds=(datasets.SEED + 10, datasets.SEED + 20)),
    Candidate("seed-b", seed=datasets.SEED + 10),  # one model of another seed: the seed noise
    Candidate("no-stoplist", no_stop=True),
    Candidate("gate-always", always=True),
    Candidate("no-news", news="none"),
]}
DEFAULT = [n for n in CANDIDATES if n != "no-news"]


@dataclass
class FoldScore:
    candidate: str
    fold: int
    exact: PRF = field(default_factory=PRF)


def _base(workdir: Path, fold: int, fit: list[datasets.NerExample], fixes: bool, news: str) -> Path:
    """The fold's pipeline without the NER (tables + intent model learned from ``fit``), built once."""
    from nlp.tools.train import train

    out = workdir / f"base-f{fold}-fixes{int(fixes)}-news{news}"
    if not (out / "config.cfg").exists():
        (out / "tables").mkdir(parents=True, exist_ok=True)
        train(out, with_ner=False, learn_from=fit, tables=out / "tables", news=news)
    return out


def _ner(workdir: Path, fold: int, fit: list[datasets.NerExample], c: Candidate, seed: int, epochs: int) -> Any:
    """A NER model trained on ``fit`` (plus news) with the candidate's settings, cached on disk."""
    import spacy

    from nlp.ner import train_ner
    from nlp.tools.train import news_examples

    out = workdir / f"ner-f{fold}-fixes{int(c.fixes)}-news{c.news}-drop{c.dropout}-seed{seed}-ep{epochs}"
    if (out / "config.cfg").exists():
        return spacy.load(out)
    model = train_ner(seed=seed, epochs=epochs, extra=news_examples(c.news), base=fit, dropout=c.dropout)
    model.to_disk(out)
    return model


def run(candidates: list[Candidate], k: int = 3, epochs: int = 20, workdir: Path = CV_DIR,
        seed: int = datasets.SEED, results: Path | None = None) -> list[FoldScore]:
    """Score every candidate on every fold; with ``results``, each fold's score is appended there as it comes."""
    import spacy

    from nlp.analyzer import Analyzer
    from nlp.lexicon import is_curated
    from nlp.tools.select import dev_report
    from nlp.tools.train import ner_stoplist

    original = datasets.drugs_train(fixes=False)
    fixed = datasets.drugs_train(fixes=True)  # same comments, same order: apply_fixes keeps it
    parts = folds(len(original), k)
    scores = []
    for f, held_idx in enumerate(parts):
        held_set = set(held_idx)
        held = [original[i] for i in held_idx]
        for c in candidates:
            source = fixed if c.fixes else original
            fit = [x for i, x in enumerate(source) if i not in held_set]
            base = _base(workdir, f, fit, c.fixes, c.news)
            nlp = spacy.load(base)
            lex = cast(Any, nlp.get_pipe("substances")).lexicon
            gate = cast(Any, nlp.add_pipe("narcowatch_ner_v1", name="ner_gate", after="intent",
                                          config={"always": c.always}))
            gate.model_nlp = _ner(workdir, f, fit, c, seed if c.seed is None else c.seed, epochs)
            gate.voters = [_ner(workdir, f, fit, c, s, epochs) for s in c.vote_seeds]
            names = [key for key, t in lex.by_key.items() if t.strength != "weak" or is_curated(t)]
            gate.stop = frozenset() if c.no_stop else frozenset(ner_stoplist(fit, lexicon_keys=names))
            report = dev_report(Analyzer(nlp), held)
            score = FoldScore(c.name, f, report.exact)
            scores.append(score)
            log.info("fold %d %-18s F1 %.3f (tp %d fp %d fn %d)", f, c.name, report.exact.f, report.exact.tp,
                     report.exact.fp, report.exact.fn)
            if results is not None:
                with results.open("a", encoding="utf-8") as out:
                    out.write(json.dumps({"candidate": c.name, "fold": f, "k": k, "epochs": epochs,
                                          **asdict(score.exact), "setting": asdict(c)}) + "\n")
    return scores


def table(scores: list[FoldScore]) -> str:
    """Per candidate: F1 of the pooled counts, mean and spread (min-max) of the per-fold F1, pooled tp/fp/fn."""
    by: dict[str, list[PRF]] = {}
    for s in scores:
        by.setdefault(s.candidate, []).append(s.exact)
    out = [f"{'candidate':<20}{'pooled F1':>10}{'mean':>8}{'min':>7}{'max':>7}{'sd':>7}  tp/fp/fn   folds"]
    for name, prfs in by.items():
        pooled = PRF(sum(p.tp for p in prfs), sum(p.fp for p in prfs), sum(p.fn for p in prfs))
        fs = [p.f for p in prfs]
        sd = statistics.stdev(fs) if len(fs) > 1 else 0.0
        out.append(f"{name:<20}{pooled.f:>10.3f}{statistics.mean(fs):>8.3f}{min(fs):>7.3f}{max(fs):>7.3f}"
                   f"{sd:>7.3f}  {pooled.tp}/{pooled.fp}/{pooled.fn}   {len(fs)}")
    return "\n".join(out)
