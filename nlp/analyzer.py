"""Public entry point of the NLP step: ``Analyzer.load()``, ``analyze(text)`` and ``analyze_many(texts)``."""

from __future__ import annotations

import gc
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import spacy
from spacy.language import Language
from spacy.tokens import Doc

from nlp import components, ner  # noqa: F401  (importing registers the narcowatch_* factories)

MODEL_DIR = Path(__file__).resolve().parent / "model"
# At most this many characters of a text are analysed (a listing or profile is a few KB; a hostile page
# may send megabytes): the caller still stores the full text, and the result says ``"truncated": true``.
# Every pass is linear, so the cap bounds the time per text (1 MB: about 1 s on one core, `nlp bench`).
MAX_ANALYSED_CHARS = 1_000_000
# The narcowatch components read the text itself (from the Doc's user_data) and the gated NER runs its own
# model on the texts it picks, so analyze_many hands the pipeline token-less Docs: spaCy's tokenizer cost a quarter
# of the time per listing and added every new word of every page to the shared vocabulary (memory that grows for
# as long as a daemon runs).
PIPE_NAMES = ["narcowatch_substances_v1", "narcowatch_contacts_v1", "narcowatch_shipping_v1",
              "narcowatch_intent_v1"]


def build_pipeline(with_ner: bool = False) -> Language:
    """A fresh pipeline (spacy.blank + narcowatch components) with tables from nlp/data, untrained."""
    nlp = spacy.blank("en")
    for factory in PIPE_NAMES:
        nlp.add_pipe(factory, name=factory.split("_")[1])
    if with_ner:
        nlp.add_pipe("narcowatch_ner_v1", name="ner_gate", after="intent")
    nlp.initialize()
    return nlp


def listing_text(title: str | None = None, description: str | None = None, *, ships_from_raw: str | None = None,
                 ships_to_raw: str | None = None, vendor: str | None = None) -> str:
    """The text to analyse for a listing whose page has structured fields.

    Shipping and vendor fields are written as labelled lines ("Ships from: China → Ships to: USA",
    "Vendor: X"), the form the shipping and vendor rules read best; offsets in the result refer to
    this composed text.
    """
    lines = [p for p in (title, description) if p]
    if ships_from_raw or ships_to_raw:
        lines.append(f"Ships from: {ships_from_raw or '?'} → Ships to: {ships_to_raw or '?'}")
    if vendor:
        lines.append(f"Vendor: {vendor}")
    return "\n".join(lines)


class Analyzer:
    """Reads listing and post text: substances, vendor contacts, shipping, intent and risk."""

    def __init__(self, nlp: Language) -> None:
        self.nlp = nlp
        # the rules are linear in the text; the statistical NER is gated and never sees long texts
        self.nlp.max_length = 100_000_000

    @classmethod
    def load(cls, path: str | Path | None = None) -> Analyzer:
        """Load the trained pipeline (default: the one shipped in nlp/model; rules only if absent)."""
        if path is None:
            path = MODEL_DIR
            if not (path / "config.cfg").exists():
                return cls(build_pipeline())
        path = Path(path)
        if not (path / "config.cfg").exists():
            raise FileNotFoundError(f"no spaCy pipeline at {path} (config.cfg missing): run `narcowatch nlp train`")
        return cls(spacy.load(path))

    def analyze(self, text: str) -> dict[str, Any]:
        """The DESIGN.md section-4 object (without ``id``) plus ``text_normalized`` for one text."""
        if not isinstance(text, str):
            raise TypeError(f"analyze() needs a str, got {type(text).__name__}")
        return self.analyze_many([text])[0]

    def analyze_many(self, texts: Iterable[str], batch_size: int = 256,
                     max_chars: int | None = None) -> list[dict[str, Any]]:
        """``analyze`` for many texts, in order, batched through the pipeline.

        Only the first ``max_chars`` characters of each (default ``MAX_ANALYSED_CHARS``) are analysed.
        The cyclic garbage collector is paused while the texts are analysed: the analysis makes almost no
        reference cycles (42 objects per 3,000 listings), but the results it allocates set off full collections
        that traverse the loaded tables and every result so far, 10-15% of the time per listing
        (`nlp bench`). The collector's previous state is restored on return.
        """
        paused = gc.isenabled()
        if paused:
            gc.disable()
        try:
            return self._analyze_many(texts, batch_size, max_chars)
        finally:
            if paused:
                gc.enable()

    def _analyze_many(self, texts: Iterable[str], batch_size: int, max_chars: int | None) -> list[dict[str, Any]]:
        if max_chars is None:
            max_chars = MAX_ANALYSED_CHARS
        pipeline = [proc for _name, proc in self.nlp.pipeline]
        batch_pipes = [getattr(proc, "process_batch", None) for proc in pipeline]
        vocab = self.nlp.vocab
        out: list[dict[str, Any]] = []
        batch: list[Doc] = []

        def flush() -> None:
            docs = batch
            for proc, process_batch in zip(pipeline, batch_pipes, strict=True):
                docs = process_batch(docs) if process_batch is not None else [proc(d) for d in docs]
            out.extend(components.build_output(d) for d in docs)
            batch.clear()

        for n, text in enumerate(texts):
            if not isinstance(text, str):
                raise TypeError(f"analyze_many(): item {n} is {type(text).__name__}, not str")
            truncated = len(text) > max_chars
            if truncated:
                text = text[:max_chars]
            doc = Doc(vocab, words=[])
            doc.user_data[components.KEY] = {"text": text, "truncated": truncated}
            batch.append(doc)
            if len(batch) >= batch_size:
                flush()
        if batch:
            flush()
        return out
