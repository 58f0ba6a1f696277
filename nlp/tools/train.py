"""Rebuild the shipped pipeline in nlp/model from nlp/data (fixed seed, no downloads)."""

from __future__ import annotations

import logging
import random
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any, cast

from nlp import datasets
from nlp.lexicon import TOKEN_RE, is_curated
from nlp.normalize import normalize
from nlp.tools.build_lexicon import DATA_DIR, build

log = logging.getLogger(__name__)
MODEL_DIR = Path(__file__).resolve().parents[1] / "model"
# lexicon thresholds on the share of a term's occurrences the annotators tagged (training split)
LEARNED_MIN_RATIO = 0.5  # a word tagged this often becomes a "learned" term
DEMOTE_BELOW = 0.5  # a lexicon word tagged less often than this is demoted to slang


def _learn_from(examples: list[datasets.NerExample] | None) -> list[datasets.NerExample]:
    """The annotated r/opiates comments the learned parts come from: the re-annotated training split unless given."""
    return examples if examples is not None else datasets.drugs_train()


def build_stoplist(out: Path = DATA_DIR / "slang_stoplist.txt",
                   learn_from: list[datasets.NerExample] | None = None, news: str = "all") -> int:
    """Words that are mostly not drug names in real text (news, r/opiates train split): slang never fires on them."""
    inside: Counter[str] = Counter()
    outside: Counter[str] = Counter()
    train = _learn_from(learn_from)
    news_text = datasets.seizure_news() if news == "all" else datasets.seizure_news_split()[0]
    for ex in [*train, *news_text]:
        for m in TOKEN_RE.finditer(ex.text):
            word = m.group().lower()
            if any(s <= m.start() < e for s, e in ex.spans):
                # only a one-word span makes the word itself a drug name ("pure" in "pure heroin" does not)
                if any(s == m.start() and e == m.end() for s, e in ex.spans):
                    inside[word] += 1
            else:
                outside[word] += 1
    listing_words: Counter[str] = Counter()
    for listing in datasets.split(datasets.agora_listings())[0]:
        listing_words.update(TOKEN_RE.findall(listing.text.lower()))
    annotated = {w for w, n in inside.items() if n / (n + outside[w]) >= 0.5}
    common = [w for w, n in outside.items() if n >= 2 and inside[w] / (inside[w] + n) < 0.5]
    # the everyday vocabulary of listings ("pure", "white", "fast"), unless annotators call it a drug
    common += [w for w, _n in listing_words.most_common(3000) if w not in annotated]
    countries = (DATA_DIR / "countries.tsv").read_text(encoding="utf-8")
    for line in countries.splitlines():
        if not line.startswith("#") and "\t" in line:
            common += [n for n in line.split("\t")[1].split(";") if n]
    out.write_text("\n".join(sorted(set(common))) + "\n", encoding="utf-8")
    return len(set(common))


ENGLISH_WORDS = DATA_DIR / "sources" / "english_words.txt"


def ner_stoplist(learn_from: list[datasets.NerExample] | None = None, lexicon_keys: Iterable[str] = ()) -> set[str]:
    """Words a statistical guess on which alone is dropped.

    Words the annotators mostly left untagged in the training split (seen twice or more, under 30% tagged),
    and ordinary English words (SCOWL american-english, lower case) that are neither in ``lexicon_keys``
    (names, learned and curated terms) nor tagged in 30% or more of their training occurrences
    ("mountains", "shrine", "whack": the NER's guesses on everyday words; "dope" and "heroin" stay).
    """
    inside: Counter[str] = Counter()
    outside: Counter[str] = Counter()
    for ex in _learn_from(learn_from):
        for m in TOKEN_RE.finditer(ex.text):
            if any(s <= m.start() < e for s, e in ex.spans):
                inside[m.group().lower()] += 1
            else:
                outside[m.group().lower()] += 1
    stop = {w for w, n in outside.items() if n >= 2 and inside[w] / (inside[w] + n) < 0.3}
    tagged = {w for w, n in inside.items() if n / (n + outside[w]) >= 0.3}
    english = set(ENGLISH_WORDS.read_text(encoding="utf-8").split())
    return stop | (english - set(lexicon_keys) - tagged)


def learned_terms(min_ratio: float | None = None, demote_below: float | None = None,
                  learn_from: list[datasets.NerExample] | None = None,
                  table: Path = DATA_DIR / "substances.tsv") -> list[dict[str, str]]:
    """Drug names annotated in the training split of drugs_training.jsonl, kept where annotators mostly agree.

    The ratio is (times annotated) / (times the same words occur), so "dope" stays and "shot" goes.
    """
    from nlp.lexicon import FENT_CONTROL, Lexicon, fentanyl_name, fentanyl_pattern, term_key

    min_ratio = LEARNED_MIN_RATIO if min_ratio is None else min_ratio
    demote_below = DEMOTE_BELOW if demote_below is None else demote_below
    lex = Lexicon.from_tsv(table)
    train_split = _learn_from(learn_from)
    annotated: Counter[str] = Counter()
    for ex in train_split:
        for s, e in ex.spans:
            annotated[term_key(ex.text[s:e])] += 1
    occurs: Counter[str] = Counter()
    for ex in train_split:
        words = TOKEN_RE.findall(ex.text.lower())
        for n in range(1, 4):
            for i in range(len(words) - n + 1):
                key = " ".join(words[i:i + n])
                if key in annotated:
                    occurs[key] += 1
    rows = []
    # lexicon words the annotators mostly did not call drugs ("pills", "crack" in "crack a joke"): slang
    occurs_all: Counter[str] = Counter()
    for ex in train_split:
        words = TOKEN_RE.findall(ex.text.lower())
        for n in range(1, 3):
            for i in range(len(words) - n + 1):
                key = " ".join(words[i:i + n])
                if key in lex.by_key:
                    occurs_all[key] += 1
    for key, n_occ in occurs_all.items():
        if n_occ >= 3 and annotated[key] / n_occ < demote_below:
            rows.append({"term": key, "canonical": "", "class": "", "cas": "", "control": "",
                         "strength": "demote", "source": f"drugs_training.jsonl train split "
                         f"({annotated[key]}/{n_occ} annotated)"})
    for key, n in annotated.items():
        if not key or key.isdigit() or n / max(occurs[key], n) < min_ratio:
            continue
        known = lex.by_key.get(key)
        if known is not None and known.strength == "weak" and n < 3:
            continue
        source = f"drugs_training.jsonl train split ({n}/{max(occurs[key], n)} annotated)"
        if known is None and fentanyl_pattern(key.replace(" ", "-")):  # "ometheylfentanyls", "4 fluoro...fentanyl"
            name = fentanyl_name(key.replace(" ", "-"))
            rows.append({"term": key, "canonical": name, "class": "fentanyl", "cas": "", "control": FENT_CONTROL,
                         "strength": "learned", "source": source})
            continue
        rows.append({"term": key, "canonical": known.canonical if known else key,
                     "class": known.cls if known else "generic", "cas": known.cas if known else "",
                     "control": known.control if known else "", "strength": "strong" if known else "learned",
                     "source": source})
    return rows


NEWS_CHOICES = ("all", "train", "none")


def news_examples(which: str = "all") -> list[datasets.NerExample]:
    """Seizure-news sentences with DRUG spans added to the NER's training text (other register, same label).

    ``all``: every annotated sentence (what the shipped NER was built with); ``train``: only those of the news
    training split (``datasets.seizure_news_split``), so the 45 news sentences of the out-of-source set, all from
    the news test split, stay unseen; ``none``: no news.
    """
    if which not in NEWS_CHOICES:
        raise ValueError(f"news must be one of {NEWS_CHOICES}, not {which!r}")
    if which == "none":
        return []
    news = datasets.seizure_news() if which == "all" else datasets.seizure_news_split()[0]
    return [x for x in news if x.spans]


def attach_ner(nlp: Any, learn_from: list[datasets.NerExample] | None = None, seed: int = datasets.SEED,
               epochs: int = 30, ner_from: Path | None = None, lex_features: bool = False, dropout: float = 0.2,
               news: str = "all", vote_seeds: tuple[int, ...] = ()) -> Any:
    """Add the gated statistical NER to a pipeline whose substance table is initialised; returns the gate.

    ``vote_seeds``: more NER models trained with these seeds; a span is then kept where most models find it.
    """
    import spacy

    from nlp.ner import lexicon_spans, train_ner, uses_lexicon_features

    lex = cast(Any, nlp.get_pipe("substances")).lexicon
    gate = cast(Any, nlp.add_pipe("narcowatch_ner_v1", name="ner_gate", after="intent"))
    extra = news_examples(news)

    def features(text: str) -> list[tuple[int, int, str]]:
        norm = normalize(text, is_known=lex.is_known, is_word=lex.vocabulary.__contains__)
        return lexicon_spans(lex.match(norm.text), norm.to_original)

    def fit(s: int) -> Any:
        return train_ner(seed=s, epochs=epochs, extra=extra, base=learn_from, dropout=dropout,
                         features=features if lex_features else None)

    gate.model_nlp = spacy.load(ner_from) if ner_from else fit(seed)
    gate.voters = [fit(s) for s in vote_seeds]
    gate.lex_features = uses_lexicon_features(gate.model_nlp)
    # weak list slang ("whack", "root") never counts in discussion text: a NER guess on it is not kept either
    names = [k for k, t in lex.by_key.items() if t.strength != "weak" or is_curated(t)]
    gate.stop = frozenset(ner_stoplist(learn_from, lexicon_keys=names))
    return gate


def train(output: Path = MODEL_DIR, seed: int = datasets.SEED, with_ner: bool = True, epochs: int = 30,
          ner_from: Path | None = None, learn_from: list[datasets.NerExample] | None = None,
          tables: Path = DATA_DIR, lex_features: bool = False, dropout: float = 0.2, news: str = "all",
          vote_seeds: tuple[int, ...] = ()) -> Path:
    """Build lexicon tables, train the intent model (and the gated NER), write the pipeline to ``output``.

    ``learn_from`` replaces the training split of drugs_training.jsonl for every learned part (stoplists,
    learned terms, NER; the intent model leaves out the comments not in it) and ``tables`` is where the
    built tables go: model selection (nlp.tools.select) builds a dev pipeline this way from the fit part only.
    ``lex_features``: the NER also embeds the lexicon's verdict on each token (``nlp.ner.lexicon_spans``).
    ``dropout``, ``news``, ``vote_seeds``: see ``attach_ner``.
    """
    random.seed(seed)
    stop_file, table = tables / "slang_stoplist.txt", tables / "substances.tsv"
    n_stop = build_stoplist(stop_file, learn_from, news=news)
    build(table, stoplist=set(), stoplist_file=stop_file)
    n_terms = build(table, stoplist=set(), learned=learned_terms(learn_from=learn_from, table=table),
                    stoplist_file=stop_file)
    log.info("stoplist %d words, substance table %d terms", n_stop, n_terms)
    from nlp.analyzer import build_pipeline
    from nlp.intent import IntentModel

    nlp = build_pipeline(with_ner=False)
    cast(Any, nlp.get_pipe("substances")).initialize(table=str(table))
    train_rows, _ = datasets.intent_data()
    if learn_from is not None:  # comments held out for selection stay out of the intent model too
        held = {x.text for x in datasets.drugs_ner()} - {x.text for x in learn_from}
        train_rows = [(t, y) for t, y in train_rows if t not in held]
    model = IntentModel()
    lex = cast(Any, nlp.get_pipe("substances")).lexicon
    texts = [normalize(t, is_known=lex.is_known, is_word=lex.vocabulary.__contains__).text for t, _ in train_rows]
    model.train(texts, [y for _, y in train_rows], seed=seed)
    cast(Any, nlp.get_pipe("intent")).model = model
    if with_ner:
        attach_ner(nlp, learn_from, seed=seed, epochs=epochs, ner_from=ner_from, lex_features=lex_features,
                   dropout=dropout, news=news, vote_seeds=vote_seeds)
    output.mkdir(parents=True, exist_ok=True)
    nlp.to_disk(output)
    return output
