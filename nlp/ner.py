"""Statistical SUBSTANCE recogniser: training (fixed seed) and the gated component that runs it."""

from __future__ import annotations

import logging
import random
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, cast

import spacy
from spacy.language import Language
from spacy.tokens import Doc
from spacy.training import Example
from spacy.util import minibatch

from nlp import datasets
from nlp.components import state
from nlp.lexicon import CUE_WORDS, TOKEN_RE, Hit, is_list_slang

log = logging.getLogger(__name__)

# A small CNN: hash embeddings of norm/prefix/suffix/shape, 3 window-encoder layers, width 96.
NER_CONFIG = {
    "model": {
        "@architectures": "spacy.TransitionBasedParser.v2",
        "state_type": "ner",
        "extra_state_tokens": False,
        "hidden_width": 64,
        "maxout_pieces": 2,
        "use_upper": True,
        "tok2vec": {
            "@architectures": "spacy.HashEmbedCNN.v2",
            "pretrained_vectors": None,
            "width": 96,
            "depth": 3,
            "embed_size": 5000,
            "window_size": 1,
            "maxout_pieces": 2,
            "subword_features": True,
        },
    },
}
# The same network, with one more embedded token attribute: the lexicon's verdict on the token (see
# ``lexicon_spans``), written into LEMMA, which nothing else in this blank pipeline uses. Table names and list
# slang are told apart, so the model learns in which contexts annotators call a slang word a drug.
LEX_ATTR = "LEMMA"
NER_CONFIG_LEX = {
    "model": {
        **NER_CONFIG["model"],
        "tok2vec": {
            "@architectures": "spacy.Tok2Vec.v2",
            "embed": {
                "@architectures": "spacy.MultiHashEmbed.v2",
                "width": 96,
                "attrs": ["NORM", "PREFIX", "SUFFIX", "SHAPE", LEX_ATTR],
                "rows": [5000, 2500, 2500, 2500, 50],
                "include_static_vectors": False,
            },
            "encode": {
                "@architectures": "spacy.MaxoutWindowEncoder.v2",
                "width": 96,
                "window_size": 1,
                "maxout_pieces": 2,
                "depth": 3,
            },
        },
    },
}
LABEL = "SUBSTANCE"
# lexicon feature values: a name from the tables, or slang (any strength but learned: the learned terms come
# from the very annotations the model is trained on, so they would teach it nothing but to copy them)
LEX_NAME, LEX_SLANG = "lex_name", "lex_slang"
# a dose alone ("10mgs", "0.5 ml") is not a substance, whatever the NER guesses
_DOSE_RE = re.compile(r"\d+(?:[.,]\d+)?\s*(?:mg|mcg|ug|µg|g|ml|cc|mgs|grams?)s?", re.IGNORECASE)
MAX_NER_CHARS = 20_000


def lexicon_spans(hits: Iterable[Hit],
                  to_original: Callable[[int, int], tuple[int, int]]) -> list[tuple[int, int, str]]:
    """(start, end, feature) in original-text offsets for raw lexicon hits (before any context filter)."""
    out = []
    for h in hits:
        t = h.term
        if t.strength == "learned" or t.source.startswith("drugs_training") or t.cls == "unknown":
            continue
        s, e = to_original(h.start, h.end)
        out.append((s, e, LEX_NAME if t.strength == "strong" and not is_list_slang(t) else LEX_SLANG))
    return out


def set_lexicon_features(doc: Doc, spans: Iterable[tuple[int, int, str]]) -> Doc:
    """Write the lexicon feature of each token into ``LEX_ATTR`` (tokens outside every hit keep none)."""
    for s, e, value in spans:
        span = doc.char_span(s, e, alignment_mode="expand")
        if span is not None:
            for tok in span:
                tok.lemma_ = value
    return doc


def uses_lexicon_features(model_nlp: Language) -> bool:
    """True when the NER embeds ``LEX_ATTR`` (a model trained with ``lexicon=...``)."""
    ner = model_nlp.config["components"].get("ner")
    if ner is None:
        return False
    cfg = ner["model"]["tok2vec"]
    return LEX_ATTR in (cfg.get("embed") or {}).get("attrs", [])


def _examples(nlp: Language, items: Iterable[datasets.NerExample],
              features: Callable[[str], list[tuple[int, int, str]]] | None = None) -> list[Example]:
    out = []
    for ex in items:
        doc = nlp.make_doc(ex.text)
        if features is not None:
            set_lexicon_features(doc, features(ex.text))
        ents = []
        for s, e in ex.spans:
            span = doc.char_span(s, e, label=LABEL, alignment_mode="expand")
            if span is not None:
                ents.append(span)
        try:
            out.append(Example.from_dict(doc, {"entities": [(sp.start_char, sp.end_char, LABEL) for sp in
                                                              spacy.util.filter_spans(ents)]}))
        except ValueError:
            continue
    return out


def augment(items: list[datasets.NerExample], names: list[str], copies: int,
            rng: random.Random) -> list[datasets.NerExample]:
    """Copies of the examples with every gold span replaced by a random substance name.

    The model then learns the contexts drugs appear in, not only the names seen in training.
    """
    out = []
    for _ in range(copies):
        for ex in items:
            if not ex.spans:
                continue
            text, spans, shift = ex.text, [], 0
            for s, e in sorted(ex.spans):
                name = rng.choice(names)
                s2, e2 = s + shift, e + shift
                text = text[:s2] + name + text[e2:]
                spans.append((s2, s2 + len(name)))
                shift += len(name) - (e - s)
            out.append(datasets.NerExample(text, spans))
    return out


def train_ner(seed: int = datasets.SEED, epochs: int = 30, extra: Iterable[datasets.NerExample] = (),
              progress: Callable[[int, float], None] | None = None, augment_copies: int = 0,
              names: list[str] | None = None, base: list[datasets.NerExample] | None = None,
              dropout: float = 0.2,
              features: Callable[[str], list[tuple[int, int, str]]] | None = None) -> Language:
    """Train the NER on the training split of drugs_training.jsonl, re-annotated (never the held-out 25%).

    ``base`` replaces that split (model selection trains on the training split minus the dev split).
    ``features`` gives the lexicon spans of a text (``lexicon_spans``): the model then embeds them too.
    """
    spacy.util.fix_random_seed(seed)
    rng = random.Random(seed)
    train = base if base is not None else datasets.drugs_train()
    items = [*train, *extra]
    if augment_copies and names:
        items += augment(train, names, augment_copies, rng)
    nlp = spacy.blank("en")
    ner = cast(Any, nlp.add_pipe("ner", config=NER_CONFIG_LEX if features is not None else NER_CONFIG))
    ner.add_label(LABEL)
    examples = _examples(nlp, items, features)
    optimizer = nlp.initialize(lambda: examples)
    optimizer.learn_rate = 0.002
    for epoch in range(epochs):
        rng.shuffle(examples)
        losses: dict[str, float] = {}
        for batch in minibatch(examples, size=16):
            nlp.update(batch, sgd=optimizer, drop=dropout, losses=losses)
        if progress is not None:
            progress(epoch, losses.get("ner", 0.0))
        log.info("ner epoch %d loss %.1f", epoch, losses.get("ner", 0.0))
    return nlp


class NerGate:
    """Runs the statistical NER only where it pays: non-sale texts that hold drug vocabulary.

    Sale listings are covered by the lexicon (names, CAS, curated slang); the NER learned its job on
    informal discussion, and running it on every token would cost more than the rest of the pipeline.
    """

    def __init__(self, nlp: Language, name: str, always: bool) -> None:
        self.name = name
        self.always = always
        self.model_nlp: Language | None = None
        self.last_share = 0.0
        self.n_seen = 0
        self.n_run = 0
        self.stop: frozenset[str] = frozenset()
        self.lex_features = False
        # more NER models (other seeds): a span is kept where most of the models, ``model_nlp`` included, find it
        self.voters: list[Language] = []

    def _load_stop(self, path: Path) -> None:
        # words that are mostly not drug names in the training text: a NER guess on them alone is dropped
        if path.exists():
            self.stop = frozenset(w for w in path.read_text(encoding="utf-8").split("\n") if w)

    def _wanted(self, doc: Doc) -> bool:
        st = state(doc)
        if len(st.get("text") or "") > MAX_NER_CHARS:
            return False
        if self.always:
            return True
        if st.get("intent") == "sale":
            return False
        if st.get("hits"):
            return True
        tokens = st.get("tokens")
        return tokens is not None and not CUE_WORDS.isdisjoint(tokens.words)

    def __call__(self, doc: Doc) -> Doc:
        return next(iter(self.process_batch([doc])))

    def process_batch(self, docs: list[Doc]) -> list[Doc]:
        if self.model_nlp is None:
            return docs
        wanted = [d for d in docs if self._wanted(d)]
        self.n_seen += len(docs)
        self.n_run += len(wanted)
        self.last_share = self.n_run / self.n_seen if self.n_seen else 0.0
        if not wanted:
            return docs
        if self.lex_features:
            model_nlp = self.model_nlp
            inputs: list[Any] = []
            for d in wanted:
                st = state(d)
                doc = model_nlp.make_doc(st.get("text") or d.text)
                norm = st.get("norm")
                if norm is not None:
                    set_lexicon_features(doc, lexicon_spans(st.get("lex_hits") or (), norm.to_original))
                inputs.append(doc)
        else:
            inputs = [state(d).get("text") or d.text for d in wanted]
        models = [self.model_nlp, *self.voters]
        found: list[list[tuple[int, int]]] = [[] for _ in wanted]
        for model_nlp in models:
            docs_in = [d.copy() for d in inputs] if self.voters and self.lex_features else inputs
            for i, nd in enumerate(model_nlp.pipe(docs_in)):
                found[i] += [(e.start_char, e.end_char) for e in nd.ents
                             if " ".join(TOKEN_RE.findall(e.text.lower())) not in self.stop
                             and not _DOSE_RE.fullmatch(e.text)]
        for d, spans in zip(wanted, found, strict=True):
            if self.voters:
                counts = Counter(spans)
                spans = sorted(sp for sp, n in counts.items() if 2 * n > len(models))
            state(d)["ner_spans_raw"] = spans
        return docs

    def pipe(self, stream: Iterable[Doc], batch_size: int = 256) -> Iterator[Doc]:
        for batch in minibatch(stream, size=batch_size):
            yield from self.process_batch(list(batch))

    def to_disk(self, path: str | Path, exclude: Iterable[str] = ()) -> None:
        Path(path).mkdir(parents=True, exist_ok=True)
        (Path(path) / "stoplist.txt").write_text("\n".join(sorted(self.stop)) + "\n", encoding="utf-8")
        if self.model_nlp is not None:
            Path(path).mkdir(parents=True, exist_ok=True)
            self.model_nlp.to_disk(Path(path) / "model")
        for i, voter in enumerate(self.voters, 1):
            voter.to_disk(Path(path) / f"model_{i}")

    def from_disk(self, path: str | Path, exclude: Iterable[str] = ()) -> NerGate:
        self._load_stop(Path(path) / "stoplist.txt")
        model_dir = Path(path) / "model"
        self.model_nlp = spacy.load(model_dir) if (model_dir / "config.cfg").exists() else None
        self.lex_features = self.model_nlp is not None and uses_lexicon_features(self.model_nlp)
        self.voters = []
        while (Path(path) / f"model_{len(self.voters) + 1}" / "config.cfg").exists():
            self.voters.append(spacy.load(Path(path) / f"model_{len(self.voters) + 1}"))
        return self


@Language.factory("narcowatch_ner_v1", default_config={"always": False})
def make_ner_gate(nlp: Language, name: str, always: bool) -> NerGate:
    return NerGate(nlp, name, always)


def spans_as_dict(doc: Doc) -> list[dict[str, Any]]:
    return [{"start": e.start_char, "end": e.end_char, "label": e.label_} for e in doc.ents]
