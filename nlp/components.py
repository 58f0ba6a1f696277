"""spaCy pipeline components (registered factories) that fill ``doc.user_data["nw"]`` with the analysis."""

from __future__ import annotations

import operator
import re
import shutil
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from spacy.language import Language
from spacy.tokens import Doc

from nlp import extractors
from nlp.intent import IntentModel, public_health_prob, risk_score, rule_prob, title_offer
from nlp.lexicon import _DRUG_CONTEXT, _WEIGHT_RE, Hit, Lexicon, Tokens, english_words, filter_context, term_key
from nlp.normalize import Normalized, normalize

DATA_DIR = Path(__file__).resolve().parent / "data"
KEY = "nw"


def state(doc: Doc) -> dict[str, Any]:
    """The per-document working state shared by the narcowatch components."""
    st = doc.user_data.get(KEY)
    if st is None:
        st = doc.user_data[KEY] = {}
    return st


def _copy_file(src: Path, dest_dir: Path, name: str) -> None:
    dest_dir.mkdir(parents=True, exist_ok=True)
    if src.resolve() != (dest_dir / name).resolve():
        shutil.copyfile(src, dest_dir / name)


class SubstanceMatcher:
    """Normalises the text and finds substances (lexicon, CAS numbers, slang in context)."""

    def __init__(self, nlp: Language, name: str, table: str) -> None:
        self.name = name
        self.table = table
        self.lexicon: Lexicon | None = None
        self._table_path: Path | None = None

    def initialize(self, get_examples: Callable[[], Iterable[Any]] | None = None, *,
                   nlp: Language | None = None, table: str | None = None) -> None:
        path = Path(table or self.table)
        if not path.is_absolute() and not path.exists():
            path = DATA_DIR / path.name
        self.lexicon = Lexicon.from_tsv(path)
        self._table_path = path

    def _lex(self) -> Lexicon:
        if self.lexicon is None:
            self.initialize()
        assert self.lexicon is not None
        return self.lexicon

    def __call__(self, doc: Doc) -> Doc:
        lex = self._lex()
        st = state(doc)
        if "text" not in st:
            st["text"] = doc.text
        norm = normalize(st["text"], is_known=lex.is_known, is_word=lex.vocabulary.__contains__)
        tokens = Tokens(norm.text)
        st["norm"] = norm
        st["tokens"] = tokens
        hits = st["lex_hits"] = lex.match(norm.text, tokens)
        if hits and "c" in norm.text:
            hits = _not_temperatures(norm.text, hits)
        if "cb" in norm.text and _SPACED_2CB_RE.search(norm.text):
            hits = _spaced_2cb(lex, tokens, hits)
        if hits and ("coin" in norm.text or "troy" in norm.text or "bullion" in norm.text):
            hits = _not_bullion_slang(tokens.words, hits)
        st["hits"] = hits  # filtered by context later
        return doc

    def pipe(self, stream: Iterable[Doc], batch_size: int = 256) -> Iterator[Doc]:
        for doc in stream:
            yield self(doc)

    def to_disk(self, path: str | Path, exclude: Iterable[str] = ()) -> None:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        src = self._table_path or DATA_DIR / "substances.tsv"
        _copy_file(src, path, "substances.tsv")

    def from_disk(self, path: str | Path, exclude: Iterable[str] = ()) -> SubstanceMatcher:
        self.initialize(table=str(Path(path) / "substances.tsv"))
        return self


# "25C" is 25C-NBOMe in "25C blotters" but a temperature in "store below 25C", "keep between 15-25C", "25C / 77F"
# (a Celsius figure: a number and "c" only). Temperature words before it, a range, or a Fahrenheit figure after it.
_DEGREES_RE = re.compile(r"\d{1,3}c")
_TEMP_BEFORE_RE = re.compile(r"(?:\b(?:below|under|above|over|at|between|store[sd]?|storage|stored|keep|kept|temp|"
                             r"temperatures?|room|degrees?|max(?:imum)?|min(?:imum)?|up to|to|exceed(?:ing)?|"
                             r"heat(?:ed)?|cool|celsius|fridge|freezer)|\d\s*(?:-|–|to|and))[^\S\n]*$")
_TEMP_AFTER_RE = re.compile(r"[^\S\n]*(?:[/(]|or)?[^\S\n]*\d{1,3}[^\S\n]*(?:°|º|deg)?[^\S\n]*f\b"
                            r"|[^\S\n]*(?:degrees|celsius)\b")


def _not_temperatures(text: str, hits: list[Hit]) -> list[Hit]:
    """``hits`` without Celsius figures read as a name ("store below 25C" is no 25C-NBOMe)."""
    return [h for h in hits if not (_DEGREES_RE.fullmatch(text, h.start, h.end)
                                    and (_TEMP_BEFORE_RE.search(text, max(0, h.start - 24), h.start)
                                         or _TEMP_AFTER_RE.match(text, h.end)))]


_SPACED_2CB_RE = re.compile(r"(?<![\w.,])2[^\S\n]+cb\b")


def _spaced_2cb(lex: Lexicon, tokens: Tokens, hits: list[Hit]) -> list[Hit]:
    """``hits`` plus 2C-B written apart ("2 CB Powder 99% Purity 1g", tests/fixtures/nlp_probe rs100-55) where drug
    words or a weight lie within 6 words: "2 cb" alone is anything (two citizens-band radios, a cell count)."""
    term = lex.by_key.get(term_key("2c-b"))
    words = tokens.words
    text = tokens.text
    added = []
    for i in range(1, len(words)):
        if words[i] != "cb" or words[i - 1] != "2":
            continue
        s, e = tokens.start(i - 1), tokens.end(i)
        glued = s > 0 and (text[s - 1].isalnum() or text[s - 1] in ".,")
        if glued or text[tokens.end(i - 1):tokens.start(i)].strip(" \t"):
            continue  # "2\ncb", "1.2 cb", "x2 cb"
        near = words[max(0, i - 7):i - 1] + words[i + 1:i + 7]
        if term is not None and (not _DRUG_CONTEXT.isdisjoint(near)
                                 or any(_WEIGHT_RE.fullmatch(w) for w in near if w[:1].isdigit())):
            added.append(Hit(s, e, term, i - 1))
    if not added:
        return hits
    return sorted([*hits, *added], key=operator.attrgetter("start"))


# precious-metal listings: "1/20th Troy Ounce Gold Coin- Perth Mint" (tests/fixtures/nlp_probe rs100-94) is no
# cannabis ("mint" is DEA-list slang); in such a text only a name counts, slang is the coin's words
_BULLION_WORDS = frozenset(("troy", "bullion", "numismatic"))
_METALS = frozenset(("gold", "silver", "platinum", "palladium"))


def _not_bullion_slang(words: list[str], hits: list[Hit]) -> list[Hit]:
    """``hits`` without slang in a text about coins or bullion that names no substance by a strong term."""
    if any(h.term.strength == "strong" for h in hits):
        return hits
    bullion = not _BULLION_WORDS.isdisjoint(words) or (
        not _METALS.isdisjoint(words) and ("coin" in words or "coins" in words))
    return [h for h in hits if h.term.strength == "strong"] if bullion else hits


class ContactFinder:
    """Contacts, vendor handles and crypto addresses (checksums verified where the format has one)."""

    def __init__(self, nlp: Language, name: str) -> None:
        self.name = name

    def __call__(self, doc: Doc) -> Doc:
        st = state(doc)
        text = st.get("text") or doc.text
        st["contacts"] = extractors.find_contacts(text)
        tokens = st.get("tokens")
        # addresses are 25+ alphanumerics: skip the scan when no such word exists
        long_word = tokens is None or max(map(len, tokens.words), default=0) >= 25
        st["wallets"] = extractors.find_wallets(text) if long_word else []
        st["handles"] = extractors.find_handles(text)
        st["prices"], st["quantities"] = extractors.find_amounts(text)
        return doc


def _outside(mentions: list[tuple[int, int, str]], hits: list[Hit]) -> list[tuple[int, int, str]]:
    """The mentions whose start is inside no hit: one merge of two sorted lists, not a scan per mention."""
    spans = sorted((h.start, h.end) for h in hits)
    out = []
    j, reach = 0, -1  # reach: the furthest end of the spans that start at or before the mention
    for c in sorted(mentions):
        while j < len(spans) and spans[j][0] <= c[0]:
            reach = max(reach, spans[j][1])
            j += 1
        if reach <= c[0]:
            out.append(c)
    return out


class ShippingFinder:
    """Ships-from, ships-to and exclusions as ISO codes; carriers, stealth, domestic-only."""

    def __init__(self, nlp: Language, name: str, table: str) -> None:
        self.name = name
        self.table_name = table
        self.table: extractors.CountryTable | None = None
        self._path: Path | None = None

    def initialize(self, get_examples: Callable[[], Iterable[Any]] | None = None, *,
                   nlp: Language | None = None, table: str | None = None) -> None:
        path = Path(table or self.table_name)
        if not path.is_absolute() and not path.exists():
            path = DATA_DIR / path.name
        self.table = extractors.CountryTable.from_tsv(path)
        self._path = path

    def __call__(self, doc: Doc) -> Doc:
        if self.table is None:
            self.initialize()
        assert self.table is not None
        st = state(doc)
        norm: Normalized = st["norm"]
        text = st["text"]

        def original_at(s: int, e: int) -> str:
            a, b = norm.to_original(s, e)
            return text[a:b]

        mentions = self.table.find(norm.text, original_at, st["tokens"])
        # a country word inside a substance name ("china white") is not a country
        hits: list[Hit] = st.get("hits", [])
        if hits and mentions:
            mentions = _outside(mentions, hits)
        st["shipping"] = extractors.find_shipping(norm.text, mentions, st["tokens"])
        st["country_table"] = self.table
        return doc

    def to_disk(self, path: str | Path, exclude: Iterable[str] = ()) -> None:
        _copy_file(self._path or DATA_DIR / "countries.tsv", Path(path), "countries.tsv")

    def from_disk(self, path: str | Path, exclude: Iterable[str] = ()) -> ShippingFinder:
        self.initialize(table=str(Path(path) / "countries.tsv"))
        return self


class IntentScorer:
    """Sale intent (trained logistic model, rules until trained), slang context filter and risk."""

    def __init__(self, nlp: Language, name: str, threshold: float) -> None:
        self.name = name
        self.threshold = threshold
        self.model: IntentModel | None = None

    def __call__(self, doc: Doc) -> Doc:
        st = state(doc)
        lower = st["norm"].text
        words = st["tokens"].words
        if self.model is None:
            p = rule_prob(lower)
        elif _unknown_words(self.model, st, words):
            p = rule_prob(lower) if any(c in lower for c in OFFER_CUES) else min(rule_prob(lower), UNKNOWN_WORDS_PROB)
        else:
            p = self.model.prob(lower, words)
        threshold = self.model.threshold if self.model is not None else self.threshold
        if p < SIGNAL_PROB_MAX:  # hard evidence can only raise p, to at most SIGNAL_PROB_MAX
            p = max(p, _signal_prob(st, lower))
        if p < threshold and title_offer(lower, st["tokens"].words, [(h.start, h.end) for h in st.get("hits", [])]):
            p = max(p, TITLE_OFFER_PROB)
        if p >= threshold:  # the guard only ever lowers p: skip it for texts already "other"
            p = public_health_prob(lower, p, len(st.get("contacts") or []), len(st.get("wallets") or []),
                                   st["tokens"].words)
        st["p_sale"] = p
        st["intent"] = "sale" if p >= threshold else "other"
        sale_signal = st["intent"] == "sale"
        st["hits"] = filter_context(st.get("hits", []), st["tokens"], sale_signal)
        return doc

    def to_disk(self, path: str | Path, exclude: Iterable[str] = ()) -> None:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        if self.model is not None:
            self.model.to_disk(path / "intent.json")

    def from_disk(self, path: str | Path, exclude: Iterable[str] = ()) -> IntentScorer:
        model_path = Path(path) / "intent.json"
        self.model = IntentModel.from_disk(model_path) if model_path.exists() else None
        return self


TITLE_OFFER_PROB = 0.8  # an amount of a substance in a short title-like line (intent.title_offer)
# The intent model's bias leans to "sale" (listings outnumber other texts in its training data), so on a text
# whose words it does not know its answer is that prior, not evidence: a Russian news post came out "sale" at
# p 0.8-0.99 (t.me/s channel page, tests/fixtures/nlp_probe). Such a text is scored by the rule features instead
# when it shows nothing of an offer either (no substance, amount, price, contact or wallet), and without an
# offer word (OFFER_CUES) it is not a sale: an author's "@handle" under a news post is no contact channel.
UNKNOWN_WORDS_PROB = 0.3
UNKNOWN_WORDS_MIN = 8  # words in the text, so a short title keeps the model's answer
UNKNOWN_SHARE_MAX = 0.2  # share of the words the model has a weight for


def _unknown_words(model: IntentModel, st: dict[str, Any], words: list[str]) -> bool:
    """Whether the model knows too few of ``words`` and the text holds no sign of an offer (see above)."""
    if len(words) < UNKNOWN_WORDS_MIN or st.get("hits") or st.get("prices") or st.get("quantities") \
            or st.get("contacts") or st.get("wallets"):
        return False
    weights = model.weights
    known = sum(1 for w in words if w in weights)
    return known <= UNKNOWN_SHARE_MAX * len(words)
# Offer vocabulary beyond English (the intent model is trained on English listings only).
OFFER_CUES = ("продаю", "продам", "продажа", "в наличии", "оптом", "доставка", "закладк", "купить", "出售", "现货",
              "供应", "发货", "批发", "价格", "包邮", "vendo", "vendemos", "venta", "envío", "envio", "precio",
              "disponible", "mayoreo", "बिक्री", "बेच", "डिलीवरी", "कीमत", "for sale", "we supply", "in stock",
              "we ship", "order now", "moq")
NEWS_CUES = ("police", "seized", "seizure", "arrested", "officials", "court", "sentenced", "according to",
             "naloxone", "narcan", "test strip", "harm reduction", "helpline", "law enforcement", "officers",
             "suspect", "charged", "bust", "recovered", "confiscat", "smuggl", "traffick", "investigat",
             "полиция", "изъят", "задержан",
             "警方", "缴获", "policía", "decomis", "incaut")


SIGNAL_PROB_MAX = 0.97  # the most _signal_prob gives


def _signal_prob(st: dict[str, Any], lower: str) -> float:
    """Sale probability from hard evidence: a controlled substance plus contacts, wallets, prices or offer words."""
    hits = st.get("hits") or []
    if not any(h.term.strength == "strong" and h.term.cls in ("fentanyl", "precursor", "opioid", "stimulant")
               for h in hits):
        return 0.0
    if any(c in lower for c in NEWS_CUES):
        return 0.0
    offer = any(c in lower for c in OFFER_CUES)
    signals = (bool(st.get("contacts")) or bool(st.get("wallets"))) + bool(st.get("prices")) + offer
    if signals == 1:
        # one piece of evidence is enough only for an offer word in a language the model was not trained on
        return 0.6 if offer and not lower.isascii() else 0.0
    return {0: 0.0, 2: 0.9}.get(signals, SIGNAL_PROB_MAX)


@Language.factory("narcowatch_substances_v1", default_config={"table": "substances.tsv"})
def make_substances(nlp: Language, name: str, table: str) -> SubstanceMatcher:
    return SubstanceMatcher(nlp, name, table)


@Language.factory("narcowatch_contacts_v1")
def make_contacts(nlp: Language, name: str) -> ContactFinder:
    return ContactFinder(nlp, name)


@Language.factory("narcowatch_shipping_v1", default_config={"table": "countries.tsv"})
def make_shipping(nlp: Language, name: str, table: str) -> ShippingFinder:
    return ShippingFinder(nlp, name, table)


@Language.factory("narcowatch_intent_v1", default_config={"threshold": 0.5})
def make_intent(nlp: Language, name: str, threshold: float) -> IntentScorer:
    return IntentScorer(nlp, name, threshold)


# Merge rules chosen on the dev split (20% of the training split, seed 20240502; see docs/nlp.md):
# links and subreddit names hold no drug mention in discussion text, and a pill count written after the
# name belongs to it ("roxy 5s", "OC 80's" -> "OC 80", "perc 10s"); "Perc 10mg" keeps its unit apart.
# "the opiate subreddit" names the community, like r/opiates (a word start only, at most 40 letters: linear)
_LINK_RE = re.compile(r"https?://\S+|www\.\S+|(?<![\w/])/?r/\w+|(?<!\w)\w{1,40}(?= subreddit\b)", re.IGNORECASE)
_COUNT_AFTER_RE = re.compile(r"[ -]?(\d{1,3})(s\b|'s\b)")
# a release formulation written after the name is part of the product name ("Opana ER", "OXY IR",
# "MS Contins", "Oxycodone Immediate Release"), as the annotators of the training split marked it
_FORM_AFTER_RE = re.compile(r" (?:[Cc]ontins?|(?i:immediate|extended|instant|controlled|sustained)"
                            r" (?i:release))\b")


def _link_spans(text: str) -> list[tuple[int, int]]:
    return [m.span() for m in _LINK_RE.finditer(text)]


def _extend_counts(text: str, entities: list[dict[str, Any]]) -> None:
    """Stretch SUBSTANCE spans over a release form or a pill count that follows them ("oxy IR", "oc 80's")."""
    for ent in entities:
        if ent["label"] != "SUBSTANCE":
            continue
        m = _FORM_AFTER_RE.match(text, ent["end"])
        if m is not None:
            ent["end"] = m.end()
            ent["text"] = text[ent["start"]:ent["end"]]
        if ent["text"][-1:].isdigit():
            continue
        m = _COUNT_AFTER_RE.match(text, ent["end"])
        if m is not None:
            ent["end"] = m.end(1) + (1 if m.group(2) == "s" else 0)
            ent["text"] = text[ent["start"]:ent["end"]]


# Class words the r/opiates annotators tagged as drugs ("drugs" 51 of 58 times, "pills" 26 of 31): in first-person
# discussion they stay, in news and in sale listings they name no substance ("seized 128 tons of drugs", "XTC Pills")
CLASS_WORDS = frozenset("""drug drugs pill pills tablet tablets med meds medication medications narcotic narcotics
opioid opioids opiate opiates stimulant stimulants substance substances""".split())
_NEWS_WORDS = ("police", "seized", "seizure", "arrested", "officials", "court", "sentenced", "law enforcement",
               "officers", "suspect", "charged", "recovered", "confiscat", "smuggl", "traffick", "investigat",
               "customs", "authorities")
# News is told by those words at the start of a word ("charged", not "discharged") in a text that speaks of no
# "I": a first-person comment that mentions the police or a seizure is still discussion, where class words count.
_NEWS_RE = re.compile(r"\b(?:" + "|".join(w.replace(" ", r"\s+") for w in _NEWS_WORDS) + ")")
_FIRST_PERSON_RE = re.compile(r"\b(?:i|i'm|im|i've|ive|i'd|i'll|my|me|myself)\b")


def _news(lower: str) -> bool:
    """A news-like text: a seizure or police word, and no first-person speaker (``lower`` is normalised)."""
    return _NEWS_RE.search(lower) is not None and _FIRST_PERSON_RE.search(lower) is None


# A sale title names its product right after the amount ("5g 4-HO-MET", "250g FAB-144", "1g DOC") or opens with
# a code name ("MK-677 - 5 GRAMS"). A word there that no table knows and that is no English word, number or
# place is read as a substance of class "other" (new designer drugs are sold before any table lists them).
_AMOUNT_THEN_NAME_RE = re.compile(
    r"\W{0,3}(?:\[[^\]\n]{0,20}\]\s*)?(?:\d+(?:[.,]\d+)?|[.,]\d+)\s?(?:x\s?)?"
    r"(?i:mg|mcg|ug|µg|g|gr|grams?|gramm|kg|kilos?|oz)\.?\s+(?:(?i:of)\s+)?([A-Za-z0-9][\w\-+]*[A-Za-z0-9])(?=[\s,;|()\[\]!.]|$)")
_CODE_FIRST_RE = re.compile(r"\W{0,3}((?=[\w\-]*\d)(?=[\w\-]*[A-Za-z])[A-Za-z0-9]{1,6}-[A-Za-z0-9\-]{1,10}[A-Za-z0-9])"
                            r"(?=[\s,;|()\[\]]|$)")
def title_names(text: str, taken: list[tuple[int, int]], is_place: Callable[[str], bool]) -> list[tuple[int, int]]:
    """(start, end) of unknown product names in the first line of a sale title (see ``_AMOUNT_THEN_NAME_RE``)."""
    end = text.find("\n")
    line = text if end < 0 else text[:end]
    if len(line) > 300:
        return []
    out = []
    m = _AMOUNT_THEN_NAME_RE.match(line)
    if m is not None:
        word = m.group(1)
        low = word.lower()
        code = "-" in word and any(c.isdigit() for c in word)
        english = english_words()
        if (code or (word.isalpha() and len(word) >= 3 and low not in english and low.rstrip("s") not in english
                     and not is_place(low))):
            out.append(m.span(1))
    m = _CODE_FIRST_RE.match(line)
    if m is not None and _AMOUNT_THEN_NAME_RE.search(line) is None and any(ch.isdigit() for ch in line[m.end():]):
        out.append(m.span(1))
    return [(s, e) for s, e in out if not any(s < te and ts < e for ts, te in taken)]


_START_END = operator.itemgetter("start", "end")


def build_output(doc: Doc) -> dict[str, Any]:
    """The DESIGN.md section-4 object (without ``id``) plus ``text_normalized``."""
    st = state(doc)
    text = st["text"]
    norm: Normalized = st["norm"]
    entities: list[dict[str, Any]] = []
    substances: dict[str, dict[str, Any]] = {}
    links = _link_spans(text) if st["intent"] != "sale" and ("/" in text or "subreddit" in text) else []
    no_class_words = st["intent"] == "sale" or _news(norm.text)
    for h in st.get("hits", []):
        s, e = norm.to_original(h.start, h.end)
        t = h.term
        if no_class_words and t.cls == "generic" and t.canonical in CLASS_WORDS:
            continue
        if links and any(a <= s and e <= b for a, b in links):
            continue  # "r/opiates", "reddit.com/r/opiates/...": a place, not a mention of the drug
        if t.cls == "unknown":
            entities.append({"start": s, "end": e, "label": "CAS", "text": text[s:e], "canonical": t.cas})
            continue
        entities.append({"start": s, "end": e, "label": "SUBSTANCE", "text": text[s:e], "canonical": t.canonical,
                         "class": t.cls})
        if t.canonical not in substances and t.cls != "generic":
            substances[t.canonical] = {"name": t.canonical, "class": t.cls, "cas": t.cas or None,
                                       "control": t.control or None}
    ner_raw = st.get("ner_spans_raw")
    if ner_raw:
        taken = [(e["start"], e["end"]) for e in entities]
        for s, e in ner_raw:
            if any(s < te and ts < e for ts, te in taken) or (links and any(a <= s and e <= b for a, b in links)):
                continue
            entities.append({"start": s, "end": e, "label": "SUBSTANCE", "text": text[s:e],
                             "canonical": " ".join(text[s:e].lower().split()), "class": "other", "source": "ner"})
    if st["intent"] == "sale":
        table = st.get("country_table")
        for s, e in title_names(text, [(x["start"], x["end"]) for x in entities],
                                table.by_key.__contains__ if table is not None else (lambda w: False)):
            name = text[s:e].lower()
            entities.append({"start": s, "end": e, "label": "SUBSTANCE", "text": text[s:e], "canonical": name,
                             "class": "other", "source": "title"})
            substances.setdefault(name, {"name": name, "class": "other", "cas": None, "control": None})
    if entities:
        _extend_counts(text, entities)
    for h in st.get("handles", []):
        entities.append({"start": h["start"], "end": h["end"], "label": "VENDOR", "text": text[h["start"]:h["end"]],
                         "canonical": h["value"]})
    for c in st.get("contacts", []):
        entities.append({"start": c["start"], "end": c["end"], "label": "CONTACT", "text": text[c["start"]:c["end"]],
                         "canonical": c["value"], "kind": c["kind"]})
    for w in st.get("wallets", []):
        entities.append({"start": w["start"], "end": w["end"], "label": "CRYPTO_ADDRESS",
                         "text": text[w["start"]:w["end"]], "canonical": w["value"], "kind": w["kind"]})
    ship = st["shipping"]
    ships_from = ship["ships_from"]
    if not ships_from and st["intent"] == "sale" and ship.get("mentioned"):
        # a sale listing that names a country without saying why ("Dutch MDMA", "Australia ketamine"):
        # analysts read that as the origin
        ships_from = ship["mentioned"][:1]
    if not ships_from and ship["domestic_only"] and len(ship["ships_to"]) == 1 and ship["ships_to"][0] not in (
            "EU", "WORLDWIDE"):
        ships_from = ship["ships_to"][:1]  # "USA only", "domestic only": sent from inside the country
    ships_to = extractors.domestic_destinations(ship, ships_from)
    for ns, ne, code, role in ship["spans"]:
        if role == "mentioned":
            if code not in ships_from:
                continue
            role = "from"
        s, e = norm.to_original(ns, ne)
        entities.append({"start": s, "end": e, "label": "SHIPPING", "text": text[s:e], "canonical": code,
                         "role": role})
    for p in st.get("prices", []):
        entities.append({"start": p["start"], "end": p["end"], "label": "PRICE", "text": text[p["start"]:p["end"]],
                         "canonical": f"{p['amount']} {p['currency']}"})
    for q in st.get("quantities", []):
        entities.append({"start": q["start"], "end": q["end"], "label": "QUANTITY",
                         "text": text[q["start"]:q["end"]], "canonical": f"{q['amount']} {q['unit']}"})
    entities.sort(key=_START_END)
    handles = list(dict.fromkeys(h["value"] for h in st.get("handles", [])))
    handles += [c["value"] for c in st.get("contacts", []) if c["kind"] == "telegram" and c["value"] not in handles]
    contacts = list({(c["kind"], c["value"]): {"kind": c["kind"], "value": c["value"]}
                     for c in st.get("contacts", [])}.values())
    wallets = list({(w["kind"], w["value"]): {"kind": w["kind"], "value": w["value"]}
                    for w in st.get("wallets", [])}.values())
    classes = [s["class"] for s in substances.values()]
    has_shipping = bool(ships_from or ships_to or ship["stealth"] or ship["carriers"])
    return {
        "entities": entities,
        "substances": list(substances.values()),
        "vendor": {"handles": handles, "contacts": contacts, "wallets": wallets},
        "ships_from": ships_from,
        "ships_to": ships_to,
        "ships_not_to": ship["ships_not_to"],
        "shipping": {"carriers": ship["carriers"], "stealth": ship["stealth"],
                     "domestic_only": ship["domestic_only"]},
        "prices": [{"amount": p["amount"], "currency": p["currency"]} for p in st.get("prices", [])],
        "quantities": [{"amount": q["amount"], "unit": q["unit"]} for q in st.get("quantities", [])],
        "intent": st["intent"],
        "p_sale": round(st["p_sale"], 4),
        "risk": risk_score(st["p_sale"], classes, len(contacts), len(wallets), has_shipping,
                           bool(st.get("prices"))),
        "text_normalized": norm.text,
        "truncated": bool(st.get("truncated")),
    }
