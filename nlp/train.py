"""Rebuild the shipped pipeline in nlp/model from nlp/data (fixed seed, no downloads)."""

from __future__ import annotations

import logging
import random
import re
from collections import Counter
from pathlib import Path

from nlp import datasets
from nlp.build_lexicon import DATA_DIR, build
from nlp.lexicon import TOKEN_RE

log = logging.getLogger(__name__)
MODEL_DIR = Path(__file__).resolve().parent / "model"


def build_stoplist(out: Path = DATA_DIR / "slang_stoplist.txt") -> int:
    """Words that are mostly not drug names in real text (news, r/opiates train split): slang never fires on them."""
    inside: Counter[str] = Counter()
    outside: Counter[str] = Counter()
    train, _test = datasets.split(datasets.drugs_ner())
    for ex in [*train, *datasets.seizure_news()]:
        for m in TOKEN_RE.finditer(ex.text):
            word = m.group().lower()
            if any(s <= m.start() < e for s, e in ex.spans):
                inside[word] += 1
            else:
                outside[word] += 1
    for listing in datasets.split(datasets.agora_listings())[0][:3000]:
        for m in TOKEN_RE.finditer(listing.text.lower()):
            outside[m.group()] += 0  # listing words alone do not make a word common
    common = sorted(w for w, n in outside.items() if n >= 2 and inside[w] / (inside[w] + n) < 0.5)
    countries = (DATA_DIR / "countries.tsv").read_text(encoding="utf-8")
    for line in countries.splitlines():
        if not line.startswith("#") and "\t" in line:
            common += [n for n in line.split("\t")[1].split(";") if n]
    out.write_text("\n".join(sorted(set(common))) + "\n", encoding="utf-8")
    return len(set(common))


def train(output: Path = MODEL_DIR, seed: int = datasets.SEED, with_ner: bool = True) -> Path:
    """Build lexicon tables, train the intent model (and the gated NER), write the pipeline to ``output``."""
    random.seed(seed)
    n_stop = build_stoplist()
    n_terms = build(stoplist=set())
    log.info("stoplist %d words, substance table %d terms", n_stop, n_terms)
    from nlp.analyzer import build_pipeline
    from nlp.intent import IntentModel

    nlp = build_pipeline(with_ner=False)
    train_rows, _ = datasets.intent_data()
    model = IntentModel()
    model.train([t for t, _ in train_rows], [y for _, y in train_rows], seed=seed)
    nlp.get_pipe("intent").model = model
    if with_ner:
        from nlp.ner import train_ner

        ner_dir = output / "ner_gate"
        gate = nlp.add_pipe("narcowatch_ner_v1", name="ner_gate", before="intent")
        gate.model_nlp = train_ner(seed=seed)
        _ = ner_dir
    output.mkdir(parents=True, exist_ok=True)
    nlp.to_disk(output)
    return output


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())
