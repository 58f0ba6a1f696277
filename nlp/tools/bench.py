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


LONG_SIZES = (200_000, 1_000_000, 5_000_000)


def run_long(sizes: tuple[int, ...] = LONG_SIZES, model: str | None = None) -> dict[str, Any]:
    """Seconds to analyse one text of each size (listing text repeated), uncapped and with the default cap.

    Uncapped, the time should grow in proportion to the size (``s_per_mb`` about constant); with the cap
    (``analyzer.MAX_ANALYSED_CHARS``) it stops growing past the cap.
    """
    from nlp.analyzer import MAX_ANALYSED_CHARS, Analyzer

    cpu = pin_one_core()
    analyzer = Analyzer.load(model)
    base = "\n".join(listing_texts(2000, 80))
    text = base * (max(sizes) // len(base) + 1)
    analyzer.analyze(base[:20_000])
    rows = []
    for size in sizes:
        for capped in (False, True):
            cpu0 = time.process_time()
            analyzer.analyze_many([text[:size]], max_chars=MAX_ANALYSED_CHARS if capped else size)
            took = time.process_time() - cpu0
            rows.append({"chars": size, "capped": capped, "cpu_s": round(took, 3),
                         "cpu_s_per_mb": round(took / (size / 1e6), 3)})
    return {"cpu": cpu, "cap_chars": MAX_ANALYSED_CHARS, "rows": rows}


def long_report(result: dict[str, Any]) -> str:
    """The ``run_long`` figures as a small table."""
    out = [f"one long text, CPU seconds ({result['cpu']}; cap {result['cap_chars']:,} characters)",
           f"{'characters':>12}{'uncapped s':>12}{'s per MB':>10}{'capped s':>10}"]
    rows = result["rows"]
    for full, cap in zip(rows[::2], rows[1::2], strict=True):
        out.append(f"{full['chars']:>12,}{full['cpu_s']:>12.2f}{full['cpu_s_per_mb']:>10.2f}{cap['cpu_s']:>10.2f}")
    return "\n".join(out)
