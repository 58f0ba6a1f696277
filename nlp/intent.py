"""Sale-intent classifier (hashed bag of words + rule features, logistic) and the risk score."""

from __future__ import annotations

import itertools
import json
import math
import random
import re
from collections.abc import Collection, Iterable, Sequence
from pathlib import Path
from typing import Any

_WORD_RE = re.compile(r"[^\W_]+")

# Hand-set rule features (word and word-pair sets, so a text is scanned once); weights are learned.
_RULE_WORDS: dict[str, frozenset[str]] = {
    "R:price": frozenset("price prices usd eur btc xmr $ € £ bitcoin monero".split()),
    "R:qty": frozenset("mg mcg g gr gram grams kg oz pill pills tab tabs pcs".split()),
    "R:ship": frozenset("ship ships shipping shipped deliver delivery stealth tracking escrow".split()),
    "R:contact": frozenset("telegram wickr whatsapp signal threema wechat icq jabber session".split()),
    "R:offer": frozenset("""for sale|we sell|we supply|in stock|wholesale|moq|discount|bulk|order now|buy now|
sample available|samples available|free shipping|reship|refund|payment|pay with|vendor""".replace("\n", "").split("|")),
    "R:news": frozenset("""police|seized|seizure|arrested|arrest|charged|sentenced|court|prosecutor|prosecutors|
authorities|official|officials|according to|investigation|customs officers|cartel|trafficking|smuggling|
smuggled|indicted|raid|convicted|reported|spokesman|ministry""".replace("\n", "").split("|")),
    "R:harm": frozenset("""harm reduction|naloxone|narcan|test strip|test strips|stay safe|treatment|recovery|
rehab|clean|sober|overdose prevention|never use|help line|hotline|withdrawal|i took|i used|i was|my friend|
anyone know|has anyone|does anyone""".replace("\n", "").split("|")),
    "R:first_person_use": frozenset("i i'm im my me".split()),
}
_RULE_RE: list[tuple[str, re.Pattern[str]]] = [
    ("R:question", re.compile(r"\?")),
    ("R:price", re.compile(r"[$€£]\s?\d")),
    ("R:contact", re.compile(r"t\.me/|@\w{4,}")),
]


def featurize(text: str, words: list[str] | None = None) -> set[str]:
    """Unigram and bigram features plus rule features of lower-cased text (``words``: its tokens, if known)."""
    if words is None:
        words = _WORD_RE.findall(text)
    feats = set(words)
    feats.update(map(" ".join, itertools.pairwise(words)))
    for name, vocab in _RULE_WORDS.items():
        if not feats.isdisjoint(vocab):
            feats.add(name)
    for name, pattern in _RULE_RE:
        if name not in feats and pattern.search(text):
            feats.add(name)
    feats.add(f"LEN:{min(len(words) // 10, 10)}")
    return feats


class IntentModel:
    """Logistic regression over hashed features; weights stored sparse as JSON."""

    def __init__(self, weights: dict[str, float] | None = None, bias: float = 0.0, threshold: float = 0.5) -> None:
        self.weights = weights or {}
        self.bias = bias
        self.threshold = threshold

    def prob(self, text_lower: str, words: list[str] | None = None) -> float:
        """Probability that the text is a sale offer."""
        w = self.weights
        z = self.bias + sum(map(w.get, featurize(text_lower, words), itertools.repeat(0.0)))
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))

    def train(self, texts: Sequence[str], labels: Sequence[int], epochs: int = 8, lr: float = 0.2,
              l2: float = 1e-6, seed: int = 0) -> None:
        """Plain SGD on the logistic loss, examples shuffled with ``seed``; ``texts`` already normalised."""
        from nlp.lexicon import Tokens

        data = [(featurize(t, Tokens(t).words), y) for t, y in zip(texts, labels, strict=True)]
        rng = random.Random(seed)
        w: dict[str, float] = {}
        b = 0.0
        pos = sum(labels) or 1
        neg = (len(labels) - pos) or 1
        cw = {1: len(labels) / (2 * pos), 0: len(labels) / (2 * neg)}
        for epoch in range(epochs):
            rng.shuffle(data)
            rate = lr / (1 + epoch)
            for feats, y in data:
                z = b + sum(w.get(f, 0.0) for f in feats)
                p = 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))
                g = (p - y) * cw[y] * rate
                b -= g
                for f in feats:
                    w[f] = w.get(f, 0.0) * (1 - l2) - g
        self.weights = {f: round(v, 3) for f, v in w.items() if abs(v) >= 0.01}
        self.bias = round(b, 6)  # feature sets sum in hash order: the last digits vary between runs

    def to_disk(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps({"bias": self.bias, "threshold": self.threshold,
                                          "weights": dict(sorted(self.weights.items()))},
                                         ensure_ascii=False),
                              encoding="utf-8")

    @classmethod
    def from_disk(cls, path: str | Path) -> IntentModel:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise FileNotFoundError(f"intent model {path} is missing: run `narcowatch nlp train`") from exc
        return cls({str(k): float(v) for k, v in data["weights"].items()}, data["bias"], data["threshold"])


CLASS_WEIGHT = {"fentanyl": 1.0, "precursor": 0.9, "opioid": 0.7, "stimulant": 0.35, "depressant": 0.3,
                "hallucinogen": 0.25, "cannabis": 0.1, "other": 0.2, "unknown": 0.3}


def risk_score(p_sale: float, classes: Iterable[str], n_contacts: int, n_wallets: int,
               has_shipping: bool, has_price: bool) -> float:
    """0..1: fentanyl/precursor sale offers with contacts and shipping rank highest."""
    substance = max((CLASS_WEIGHT.get(c, 0.2) for c in classes), default=0.0)
    signals = (0.4 * min(1, n_contacts + n_wallets) + 0.35 * has_shipping + 0.25 * has_price)
    score = p_sale * (0.6 * substance + 0.25 * signals + 0.15) + (1 - p_sale) * 0.15 * substance
    return round(max(0.0, min(1.0, score)), 4)


def rule_prob(text_lower: str) -> float:
    """Fallback sale probability from rule features alone (used before a model is trained)."""
    score = -1.0
    feats = featurize(text_lower)
    for name in ("R:price", "R:qty", "R:ship", "R:contact", "R:offer", "R:news", "R:harm", "R:first_person_use",
                 "R:question"):
        if name in feats:
            score += {"R:price": 1.5, "R:qty": 0.8, "R:ship": 1.2, "R:contact": 1.5, "R:offer": 1.5,
                      "R:news": -2.5, "R:harm": -1.5, "R:first_person_use": -0.5, "R:question": -0.7}[name]
    return 1.0 / (1.0 + math.exp(-score))


def summarize(p: float, threshold: float) -> dict[str, Any]:
    return {"intent": "sale" if p >= threshold else "other", "p_sale": round(p, 4)}


# Public-health, harm-reduction and news writing names the same drugs, street names and even prices as
# an offer does ("pressed M30 blues", "strips are free"), and harm reduction is rare in the training
# texts. An analyst reads it by its purpose: two such cues with no way to buy (no contact channel, no
# wallet) mean "not an offer" whatever the word statistics say.
_NOT_FOR_SALE = re.compile(
    r"\b(sells? nothing|nothing (is )?for sale|not for sale|we do not sell|we don'?t sell|no sales?\b|"
    r"(are|is) free at|free of charge at)")
_NOT_FOR_SALE_KEYS = ("nothing", "not for sale", "not sell", "n't sell", "no sale", "free at", "free of charge")
_HEALTH_CUE_ALTERNATIVES = (
    "harm reduction", "naloxone", "narcan", "test strips?", "never use alone", "start low", "go slow", "overdose",
    "outreach", "drop-in", "recovery position", "call emergency", "emergency services", "wound care",
    "treatment referrals?", "clinic", "helpline", "hotline", "people who use drugs", "needle exchange",
    "syringe services",
    # reporting on the trade rather than taking part in it
    "law enforcement", "opioid (epidemic|crisis)", "overdose deaths", "public health", "prosecuted", "prosecutors",
    "arrested", "police", "authorities", "seized", "seizures?")
_HEALTH_CUES = re.compile(r"\b(" + "|".join(_HEALTH_CUE_ALTERNATIVES) + r")\b")


def _first_words(alternatives: Iterable[str]) -> frozenset[str]:
    """The words a match of each alternative starts with ("seizures?": "seizures" and "seizure")."""
    out: set[str] = set()
    for alt in alternatives:
        m = re.match(r"([a-z]+)(\?)?", alt)
        assert m is not None, alt  # every alternative starts with a plain word
        out.add(m.group(1))
        if m.group(2):
            out.add(m.group(1)[:-1])
    return frozenset(out)


# A cue is a whole word (or starts with one) of an ASCII text's tokens: a text whose tokens hold none of these
# has no cue, and its 30 substring tests below are skipped.
_HEALTH_FIRST_WORDS = _first_words(_HEALTH_CUE_ALTERNATIVES)
# substrings of the cues above: the regex runs only when at least two are present (fast path)
_HEALTH_KEYS = ("harm reduction", "naloxone", "narcan", "test strip", "never use alone", "start low", "go slow",
                "overdose", "outreach", "drop-in", "recovery position", "emergency", "wound care", "treatment",
                "clinic", "helpline", "hotline", "people who use drugs", "needle exchange", "syringe",
                "law enforcement", "opioid epidemic", "opioid crisis", "public health", "prosecut", "arrested",
                "police", "authorities", "seize", "seizure")


def public_health_prob(text_lower: str, p: float, n_contacts: int, n_wallets: int,
                       words: Collection[str] | None = None) -> float:
    """``p`` lowered for harm-reduction and public-health writing that offers no way to buy.

    ``text_lower`` must be lower-case (the pipeline's normalised text is); ``words``, if given, are its tokens
    (``lexicon.Tokens``).
    """
    if n_contacts or n_wallets:
        return p
    if any(k in text_lower for k in _NOT_FOR_SALE_KEYS) and _NOT_FOR_SALE.search(text_lower):
        return min(p, 0.05)
    if words is not None and text_lower.isascii() and _HEALTH_FIRST_WORDS.isdisjoint(words):
        return p
    if sum(k in text_lower for k in _HEALTH_KEYS) >= 2:
        cues = {m.group(0) for m in _HEALTH_CUES.finditer(text_lower)}
        if len(cues) >= 2:
            return min(p, 0.2)
    return p


# ---------------------------------------------------------------- offers from titles alone
# A market title is a noun phrase: an amount and a substance ("500gr. <substance>", "25 Gr. <substance> #4",
# "<brand> 1mg x 200", "quarter pound <substance>", "1/2 kilo <substance> (pre-ban)"). Units in the languages
# of the markets: metric and imperial weights, doses, counts and pieces (English, German, Dutch, French,
# Spanish, Polish, Russian, Chinese). Such a line is an offer when it is short and reads neither as news nor
# as someone's own use.
_UNIT = (r"(?:mg|mgs|mcg|µg|ug|g|gm|gms|gr|grs|gram(?:s|m|me|mes|os|my)?|gramos|kg|kgs|kilo(?:s|gram(?:s|m)?)?|"
         r"oz|ozs?|ounces?|lbs?|pounds?|qp|hp|ml|l|pcs|pc|pieces?|pills?|tabs?|tablets?|tabletten|tabletki|tabletas|"
         r"comprim[ée]s?|caps?|capsules?|kapseln|blotters?|hits?|stück|stuck|stck|stk|st|шт|таблет\w*|грамм?\w*|"
         r"гр|кг|克|公斤|片|粒|"
         # counted forms of a product: "11 doses", "1 Heroin Stamp" is named below, "5 joints", "10 seeds"
         r"doses?|stamps?|joints?|pre-?rolls?|bars?|strips?|vials?|amps?|ampoules?|patch(?:es)?|squares?|chews?|"
         r"seeds?)")
_NUMBER = r"(?:\d+(?:[.,]\d+)?|[.,]\d+|\d+/\d+|½|¼|⅛)"
_UNIT_END = r"(?![^\W\d_xX])"  # "25mg", "25mgx100", not "5 grandmas"
_AMOUNT_UNIT_RE = re.compile(
    r"(?<![\w.])" + _NUMBER + r"\+?\s?(?:x\s?)?" + _UNIT + _UNIT_END  # 500gr, 25 Gr., 1mg, 1/2 kilo, .2g, 110+ mgs
    + r"|(?<![\w.])(?:\d{1,5}\s?x|x\s?\d{1,5})(?![^\W\d_])"  # 5x, x 200
    r"|^\W{0,3}\(\d{1,4}\)"  # "(10) Norco 10/325"
    r"|\b(?:quarter|half|eighth|an? eighth|zip|full|whole|one|two|three|four|five|ten)\s+(?:of\s+(?:an?\s+)?)?"
    r"(?:pound|ounce|oz|kilo|key|gram|g|lb|qp|zip)s?\b"
    r"|\b(?:qp|hp|lbs?|zips?)\b"  # "QP OF BUBBLE HASH", "Caliconnects Purp Dream Full LB"
    r"|(?<![\w.])\d{1,5}[\s-]?(?:ct|count|pack)\b"  # "10-ct THCookies", "5 pack"
    r"|(?<![\w./])1/[48](?:th)?(?![\w/])",  # an eighth or a quarter (of an ounce): "Shrooms (Cubensis) 1/8th"
    re.IGNORECASE)
# a bare number opening a short title that names a substance: "1 Heroin Stamp", "0.2 #3 GOOD BROWN HEROIN",
# "3 Tan Dragonfly MDA" (a count or a weight whose unit the market's category implies)
_BARE_NUMBER_FIRST_RE = re.compile(r"\W{0,3}(?!(?:19|20)\d\d\b)\d{1,5}(?:[.,]\d{1,3})?(?=\s+[#\w])(?!\s*%)")
BARE_NUMBER_MAX_WORDS = 8
# what else a number counts in a headline or a comment: "100 fentanyl deaths this year", "30 days clean off heroin"
_COUNTED_NOT_PRODUCT = frozenset("""day days week weeks month months year years hour hours minute minutes time times
death deaths dead died die dies overdose overdoses od ods people person persons men women kids teens cases arrests
percent this last next ago since off per""".split())
_AMOUNT_FIRST_RE = re.compile(r"\W{0,3}" + _NUMBER + r"\s?(?:x\s?)?" + _UNIT + _UNIT_END, re.I)
_OWN_USE_RE = re.compile(
    r"\b(?:i|i'm|im|i've|ive|i'd|my|me|anyone|anybody|took|take|taking|taken|did|does|was|were|feel|felt|"
    r"yeah|yea|lol|but|it's|its|that's|pretty|really|though|because|"
    r"yesterday|today|tonight|should|would|could|got|get|getting|know|think|need|want|help|just)\b|\?")
TITLE_MAX_WORDS = 25
UNNAMED_MAX_WORDS = 12
_SEIZURE_CUES = ("recovered", "seized", "seizure", "discovered", "intercepted", "uncovered", "contained",
                 "weighing", "confiscat", "smuggl", "arrest", "police", "officers", "found ")
# a dose in micro- or milligrams, or an amount in brackets ("Amnesia Haze (2g)"), is a product's amount
# even where no name is known
_DOSE_RE = re.compile(r"(?<![\w.])\d+(?:[.,]\d+)?\s?(?:mg|mcg|µg|ug)(?![^\W\d_])|\(\s*\d+(?:[.,]\d+)?\s?" + _UNIT
                      + r"\s*\)", re.I)
# the small words of sentences: a line with three of them is prose (news, a comment), not a title
_FUNCTION_WORDS = frozenset("""the a an of in on at by with from to into was were has had have been is are be
and they he she it its their his her that which who whom said says after during when while than as""".split())


def title_offer(lower: str, words: list[str], hit_spans: list[tuple[int, int]]) -> bool:
    """Whether the first line of ``lower`` reads as a market title offering an amount of a substance.

    The line has at most ``TITLE_MAX_WORDS`` words and an amount (weight, dose, count, pieces), and no words
    of news or of one's own use ("I took 10mg", "police seized 500 kg") and fewer than three function words
    (a sentence, not a title). Without a substance in it (``hit_spans``: offsets in ``lower``), the amount
    must come first ("250g FAB-144"), be a dose ("277ug") or in brackets ("(2g)"), or the line have at most
    ``UNNAMED_MAX_WORDS`` words: new names and brands are offered like known ones. A bare number counts as the
    amount when it opens a title of at most ``BARE_NUMBER_MAX_WORDS`` words that names a substance and holds no
    function word ("1 Heroin Stamp", "0.2 #3 GOOD BROWN HEROIN").
    """
    end = lower.find("\n")
    line = lower if end < 0 else lower[:end]
    if end >= 0 and not line.strip():
        return False
    if len(line) > 300 or len(_WORD_RE.findall(line)) > TITLE_MAX_WORDS:
        return False
    named = any(s < len(line) for s, _e in hit_spans)
    amount = _AMOUNT_UNIT_RE.search(line)
    if amount is None:
        # a bare number first, a substance named, no small words of a sentence ("12 people died from ...")
        line_words = _WORD_RE.findall(line)
        if not (named and len(line_words) <= BARE_NUMBER_MAX_WORDS and _BARE_NUMBER_FIRST_RE.match(line)
                and _FUNCTION_WORDS.isdisjoint(line_words) and _COUNTED_NOT_PRODUCT.isdisjoint(line_words)):
            return False
    if not named and (len(_WORD_RE.findall(line)) > UNNAMED_MAX_WORDS and _AMOUNT_FIRST_RE.match(line) is None
                      and _DOSE_RE.search(line) is None):
        return False  # an amount with no name known: only in a short title, or first, or as a dose
    if _OWN_USE_RE.search(line):
        return False
    line_words = _WORD_RE.findall(line)
    if sum(w in _FUNCTION_WORDS for w in line_words) >= 3:
        return False  # a sentence: "Officers discovered more than 1,500kg of heroin in the port city"
    return _RULE_WORDS["R:news"].isdisjoint(line_words) and not any(c in line for c in _SEIZURE_CUES)
