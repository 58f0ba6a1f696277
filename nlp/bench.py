"""Throughput benchmark: listings per second on one core, full pipeline against the bare tokenizer."""

from __future__ import annotations

import os
import random
import time
from dataclasses import dataclass
from typing import Any

from nlp import datasets


@dataclass
class BenchResult:
    """Throughput figures of one run (same texts, same process)."""

    n_texts: int
    words_per_text: float
    tokenizer_per_s: float
    pipeline_per_s: float
    ner_share: float
    cpu: str
    tokenizer_per_cpu_s: float = 0.0
    pipeline_per_cpu_s: float = 0.0

    @property
    def ratio(self) -> float:
        """Pipeline throughput as a fraction of the bare tokenizer's."""
        return self.pipeline_per_s / self.tokenizer_per_s if self.tokenizer_per_s else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"texts": self.n_texts, "words_per_text": round(self.words_per_text, 1),
                "tokenizer_listings_per_s": round(self.tokenizer_per_s), "pipeline_listings_per_s":
                round(self.pipeline_per_s), "pipeline_to_tokenizer": round(self.ratio, 3),
                "ner_gate_share_of_texts": round(self.ner_share, 3), "cpu": self.cpu,
                "tokenizer_listings_per_cpu_s": round(self.tokenizer_per_cpu_s),
                "pipeline_listings_per_cpu_s": round(self.pipeline_per_cpu_s),
                "pipeline_to_tokenizer_cpu": round(self.pipeline_per_cpu_s / self.tokenizer_per_cpu_s, 3)
                if self.tokenizer_per_cpu_s else 0.0}


def listing_texts(n: int = 5000, words: int = 80, seed: int = datasets.SEED) -> list[str]:
    """``n`` distinct listing texts of ``words`` words, stitched from the held-out Agora listings."""
    _train, test = datasets.split(datasets.agora_listings())
    pool = [x.text.split() for x in test]
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        acc: list[str] = []
        while len(acc) < words:
            acc.extend(rng.choice(pool))
        out.append(" ".join(acc[:words]))
    return out


def pin_one_core() -> str:
    """Run this process on one CPU (Linux) and keep BLAS to one thread; returns which CPU."""
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    return _pin()


def _pin() -> str:
    try:
        cpu = sorted(os.sched_getaffinity(0))[-1]
        os.sched_setaffinity(0, {cpu})
        return f"cpu {cpu} (pinned)"
    except (AttributeError, OSError):
        return "not pinned"


def run(n: int = 5000, words: int = 80, model: str | None = None, batch_size: int = 256) -> BenchResult:
    """Time the bare tokenizer and the full pipeline on the same ``n`` texts, one core."""
    from nlp.analyzer import Analyzer

    cpu = pin_one_core()
    texts = listing_texts(n, words)
    analyzer = Analyzer.load(model)
    analyzer.analyze_many(texts[:200])  # warm caches the same way for both
    make_doc = analyzer.nlp.make_doc
    for t in texts[:200]:
        make_doc(t)
    start, cpu0 = time.perf_counter(), time.process_time()
    for t in texts:
        make_doc(t)
    tok_s, tok_cpu = time.perf_counter() - start, time.process_time() - cpu0
    gate: Any = analyzer.nlp.get_pipe("ner_gate") if "ner_gate" in analyzer.nlp.pipe_names else None
    if gate is not None:
        gate.n_seen = gate.n_run = 0
    start, cpu0 = time.perf_counter(), time.process_time()
    results = analyzer.analyze_many(texts, batch_size=batch_size)
    pipe_s, pipe_cpu = time.perf_counter() - start, time.process_time() - cpu0
    share = getattr(gate, "last_share", 0.0) if gate is not None else 0.0
    assert len(results) == len(texts)
    return BenchResult(n, sum(len(t.split()) for t in texts) / n, n / tok_s, n / pipe_s, share, cpu,
                       n / tok_cpu if tok_cpu else 0.0, n / pipe_cpu if pipe_cpu else 0.0)
