"""Substance lexicon: term table loading and fast n-gram matching with context rules for slang."""

from __future__ import annotations

import bisect
import csv
import dataclasses
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from itertools import compress
from pathlib import Path
from typing import Any, TypeVar

TOKEN_RE = re.compile(r"[^\W_][\w\u0900-\u097f]*|[\u0900-\u097f]+")
_CJK_RE = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff]")
_EMOJI_RE = re.compile(r"[\u2600-\u27bf\U0001f000-\U0001faff]")
# "not after a digit or hyphen" is tested after the first digit (the same matches as a lookbehind before it,
# which the regex engine would try at every position of the text)
CAS_RE = re.compile(r"(\d(?<![\d-]\d)\d{1,6})-(\d{2})-(\d)(?![\d-])")

# Words near which a slang term reads as a drug name (sale, dosage and use vocabulary).
CUE_WORDS = frozenset("""
pill pills pressed press presses mg mcg ug µg gram grams g gr oz kg kilo kilos ounce ounces
ship shipping shipped ships stealth vacuum sealed price prices buy buying sell selling sale sold order orders
vendor vendors dose doses dosage high snort snorted snorting smoke smoked smoking shoot shooting iv
plug connect tabs tab bars bar powder pure purity batch bundle bundles bag bags wholesale stock
telegram wickr whatsapp signal threema session wechat escrow btc xmr bitcoin monero usdt tracking
withdrawal withdrawals wd wds od overdose overdosed nod nodding tolerance addicted addiction
fix cut cutting dealer dealers supplier suppliers quality potent potency lab tested sample samples
shot hit bump line lines rail rails opiate opiates opioid opioids drug drugs narcotics
""".split())


_ASCII_TOKEN_RE = re.compile(r"[a-z0-9][a-z0-9_]*")
# Fentanyl-related names built by the analogue naming pattern, also misspelt, that no table lists
# ("4-flourohmethylfentanyl", "ometheylfentanyls", "carfentinal"): one word ending in a fentanyl stem,
# with the locant prefixes written before it ("4-", "3,4-", "n-"). US law schedules the class as a whole.
_FENT_MORPH_RE = re.compile(r"(?<![\w-])(?:(?:\d{1,2}(?:,\d{1,2})*|[a-z]|alpha|beta|para|ortho|meta"
                            r"|[a-z]*(?:yl|o|oxy))-)*[a-z]*fent[aeiouy]{0,2}n[aeiouy]{1,2}ls?\b")
FENT_CONTROL = "US CSA Schedule I (fentanyl-related substances, class-wide)"


# Names the tables lack whose stem says the class (WHO INN stems and designer-drug series, as
# tools/build_lexicon.STEM_CLASSES reads the DEA rows): "flubromazepam", "dexamphetamine", "MAM-2201",
# "5-MeO-DMT" were no substance at all in real Agora titles (tests/fixtures/nlp_probe). One word, the stem at
# its end (or a series code), never an English word; the search runs only when a stem's letters occur.
_STEM_NAME_RE = re.compile(
    r"(?<![\w,-])(?:\d{1,2},)*(?:"  # locants written before the name: "3,4-methylenedioxy-..."
    r"(?P<depressant>[a-z0-9][a-z0-9-]{1,19}(?:azepam|azolam))"
    # ring-substituted amphetamines (DOM, DOB, MDA) are hallucinogens, as in build_lexicon.STEM_CLASSES
    r"|(?P<hallucinogen>\d-(?:meo|ho|aco)-[a-z]{2,5}|[a-z0-9][a-z0-9-]{0,9}-?nbome"
    r"|[a-z0-9-]*(?:methoxy|methylenedioxy)[a-z0-9-]*(?:amphetamine?|amfetamine?))"
    r"|(?P<stimulant>[a-z0-9][a-z0-9-]{0,19}(?:amphetamine?|amfetamine?))"
    r"|(?P<opioid>[a-z0-9][a-z0-9-]{0,19}(?:nitaze(?:ne|pyne)|orphine))"  # brorphine, etorphine
    r"|(?P<cannabis>[a-z0-9][a-z0-9-]{0,19}(?:pinaca|binaca|minaca)"
    r"|jwh-?\d{3}|m?am-?\d{3,4}|ur-?\d{3}|xlr-?\d{2}|akb-?\d{2})"
    r")s?(?![\w-])")
_STEM_KEYS = ("azepam", "azolam", "amphetamin", "amfetamin", "nitaze", "orphine", "inaca", "jwh", "am-", "am2", "ur-",
              "ur1", "xlr", "akb", "-meo-", "-ho-", "-aco-", "nbome")
STEM_SOURCE = "name stem (WHO INN stem or designer-drug series)"


def stem_hits(text: str, hits: list[Hit], known: Mapping[str, Any]) -> list[Hit]:
    """Hits for the names in ``text`` (lower-case) that only their stem classes (``_STEM_NAME_RE``): words
    no hit in ``hits`` overlaps and the table does not know."""
    present = [k for k in _STEM_KEYS if k in text]
    if not present:
        return []
    # the words around each occurrence of a stem's letters: the name pattern runs on those alone (a text
    # passes the test above about one time in five; scanning all of it cost 60 us per listing)
    n = len(text)
    windows: set[tuple[int, int]] = set()
    for key in present:
        i = text.find(key)
        while i >= 0:
            a, b = i, i + len(key)
            while a > 0 and (text[a - 1].isalnum() or text[a - 1] in "-,"):
                a -= 1
            while b < n and (text[b].isalnum() or text[b] == "-"):
                b += 1
            windows.add((a, b))
            i = text.find(key, b)
    spans = sorted((h.start, h.end) for h in hits)
    starts = [a for a, _b in spans]
    out = []
    for m in (m for a, b in sorted(windows) for m in _STEM_NAME_RE.finditer(text, a, b)):
        s, e = m.span()
        k = bisect.bisect_right(starts, e) - 1
        if k >= 0 and spans[k][0] < e and any(a < e and s < b for a, b in spans[max(0, k - 8):k + 1]):
            continue
        cls = m.lastgroup
        assert cls is not None
        name = m.group()
        if name.endswith("s") and not name.endswith(("ss", "us")):
            name = name[:-1]
        if name in known:
            continue
        out.append(Hit(s, e, Term(name, name, cls, "", "", "strong", STEM_SOURCE), -1))
    return out


def fentanyl_pattern(word: str) -> bool:
    """True when the whole of ``word`` (lower case) follows the fentanyl naming pattern."""
    return _FENT_MORPH_RE.fullmatch(word) is not None


def fentanyl_name(word: str) -> str:
    """The canonical (singular) form of a name of the fentanyl pattern: "ometheylfentanyls" -> "ometheylfentanyl"."""
    return word[:-1] if word.endswith("ls") else word


class Tokens:
    """Word tokens of a lower-cased normalised text, with character offsets computed only when asked for."""

    __slots__ = ("_starts", "text", "words")

    def __init__(self, text: str) -> None:
        self.text = text
        self.words: list[str] = (_ASCII_TOKEN_RE if text.isascii() else TOKEN_RE).findall(text)
        self._starts: list[int] = []

    def start(self, i: int) -> int:
        """Offset of token ``i`` (tokens are found left to right, so a forward ``str.find`` is exact)."""
        starts = self._starts
        k = len(starts)
        if k <= i:
            words, find, append = self.words, self.text.find, starts.append
            p = starts[-1] + len(words[k - 1]) if k else 0
            for word in words[k:i + 1]:
                p = find(word, p)
                append(p)
                p += len(word)
        return starts[i]

    def end(self, i: int) -> int:
        return self.start(i) + len(self.words[i])

    def __len__(self) -> int:
        return len(self.words)

    def __getitem__(self, i: int) -> tuple[int, int, str]:
        return self.start(i), self.end(i), self.words[i]


@dataclass(frozen=True, slots=True)
class Term:
    """One row of the substance table."""

    term: str
    canonical: str
    cls: str
    cas: str
    control: str
    strength: str
    source: str


@dataclass(frozen=True, slots=True)
class Hit:
    """A lexicon match in normalised-text offsets."""

    start: int
    end: int
    term: Term
    token_index: int


def cas_valid(cas: str) -> bool:
    """True when the CAS registry number's check digit is right."""
    digits = cas.replace("-", "")
    if not digits.isdigit() or len(digits) < 5:
        return False
    body, check = digits[:-1], int(digits[-1])
    return sum((i + 1) * int(c) for i, c in enumerate(reversed(body))) % 10 == check


def is_junk_name(term: str) -> bool:
    """True for table fragments that are not substance names: "2-", "[3", "2,5-dimethoxy-4-", "4-20".

    A name needs a letter (``m30``, ``25i`` and ``4-ap`` pass; emoji code words are left alone),
    balanced brackets and no dangling hyphen or comma at either end.
    """
    t = term.strip()
    if not t.isascii() and not any(c.isalnum() for c in t):
        return False  # emoji code words ("❄", "🅿")
    if not any(c.isalpha() for c in t) or t[-1:] in "-,([" or t[:1] in "-,)]":
        return True
    return any(t.count(a) != t.count(b) for a, b in ("()", "[]", "{}"))


def term_key(text: str) -> str:
    """The lookup key of a term: its word tokens, lower-case, joined by single spaces."""
    return " ".join(TOKEN_RE.findall(text.lower()))


V = TypeVar("V")


def longest_at(words: list[str], i: int, longest: int, table: Mapping[str, V]) -> tuple[int, V] | None:
    """The longest key of ``table`` spelt by ``words[i:i + n]`` (n <= ``longest``), as (n, value), or None."""
    for n in range(min(longest, len(words) - i), 0, -1):
        value = table.get(words[i] if n == 1 else " ".join(words[i:i + n]))
        if value is not None:
            return n, value
    return None


class Lexicon:
    """Terms by key, with the first-token index the matcher needs."""

    def __init__(self, terms: Iterable[Term]) -> None:
        self.by_key: dict[str, Term] = {}
        self.by_cas: dict[str, Term] = {}
        self.cjk: dict[str, Term] = {}
        self.max_len: dict[str, int] = {}
        self.bigrams: set[str] = set()
        for t in terms:
            if t.cas and t.cas not in self.by_cas and t.term == t.canonical:
                self.by_cas[t.cas] = t
            if _CJK_RE.search(t.term) or not TOKEN_RE.search(t.term):  # CJK and emoji: matched as substrings
                self.cjk.setdefault(t.term.replace(" ", ""), t)
                continue
            key = term_key(t.term)
            if not key or key.replace(" ", "").isdigit() or is_junk_name(t.term) or is_junk_name(t.canonical):
                continue  # fragments ("2-", "[3") would match bare numbers in any text
            self._add(key, t)
            if " " in key:
                joined = key.replace(" ", "")
                if len(joined) >= 5:
                    self._add(joined, t)
        for t in list(self.by_key.values()):
            if t.cas and t.cas not in self.by_cas:
                self.by_cas[t.cas] = t
        # a multi-word term that holds a name of its own substance is a name too ("crystal meth": "meth"):
        # the longest match must not hide the name inside it behind a slang entry that needs context
        for key, t in list(self.by_key.items()):
            if t.strength != "strong" and " " in key:
                inner = [self.by_key.get(w) for w in key.split(" ")]
                if any(i is not None and i.strength == "strong" and i.canonical == t.canonical for i in inner):
                    self.by_key[key] = dataclasses.replace(t, strength="strong")
        # first words of terms, and plurals of one-word terms ("fentanyls"), in one set for the scan
        self._match_keys = frozenset(self.max_len) | {k + "s" for k in self.by_key if " " not in k and len(k) > 3}
        self._cjk_re = (re.compile("|".join(re.escape(k) for k in sorted(self.cjk, key=len, reverse=True)))
                        if self.cjk else None)
        self.vocabulary: frozenset[str] = frozenset(
            w for k in self.by_key for w in k.split(" ") if len(w) >= 3 and not w.isdigit())
        self.prefixes: frozenset[str] = frozenset(
            w[:n] for w in self.vocabulary if w.isascii() for n in range(4, len(w)))

    def _add(self, key: str, t: Term) -> None:
        if key in self.by_key:
            return
        self.by_key[key] = t
        parts = key.split(" ")
        self.max_len[parts[0]] = max(self.max_len.get(parts[0], 0), len(parts))
        if len(parts) > 1:
            self.bigrams.add(f"{parts[0]} {parts[1]}")

    @classmethod
    def from_tsv(cls, path: str | Path) -> Lexicon:
        """Load the table written by ``nlp.tools.build_lexicon`` (columns term, canonical, class, cas, ...)."""
        path = Path(path)
        try:
            with path.open(encoding="utf-8", newline="") as f:
                rows = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
        except FileNotFoundError as exc:
            raise FileNotFoundError(f"substance table {path} is missing: run `narcowatch nlp train`") from exc
        try:
            return cls(Term(r["term"], r["canonical"], r["class"], r["cas"], r["control"], r["strength"],
                            r["source"]) for r in rows)
        except KeyError as exc:
            raise ValueError(f"substance table {path}: column {exc} is missing") from exc

    def rows(self) -> list[Term]:
        """Distinct terms, for serialisation."""
        seen: dict[int, Term] = {}
        for t in (*self.by_key.values(), *self.cjk.values()):
            seen.setdefault(id(t), t)
        return list(seen.values())

    def is_known(self, word: str) -> bool:
        """True when ``word`` is a lexicon word or the start of one (for de-obfuscation)."""
        return word in self.vocabulary or word in self.prefixes

    def match(self, text: str, tokens: Tokens | None = None) -> list[Hit]:
        """Longest-first matches of lexicon terms in normalised ``text`` (no context filtering)."""
        toks = tokens if tokens is not None else Tokens(text)
        words = toks.words
        hits: list[Hit] = []
        by_key, max_len, bigrams = self.by_key, self.max_len, self.bigrams
        n_tok = len(words)
        keys = self._match_keys
        cands = compress(range(n_tok), map(keys.__contains__, words))  # the word positions that can start a term
        next_free = 0
        for i in cands:
            if i < next_free:
                continue
            word = words[i]
            longest = max_len.get(word, 0)
            if longest > 1 and (i + 1 >= n_tok or f"{word} {words[i + 1]}" not in bigrams):
                longest = 1
            # one-word keys (most candidates) need no n-gram scan
            found = longest_at(words, i, longest, by_key) if longest > 1 else (
                (1, by_key[word]) if word in by_key else None)
            if found is not None:
                n, t = found
                hits.append(Hit(toks.start(i), toks.end(i + n - 1), t, i))
                next_free = i + n
            elif longest == 0 and len(word) > 4:
                hits.append(Hit(toks.start(i), toks.end(i), by_key[word[:-1]], i))
        if "fent" in text:
            self._fentanyl_morphology(text, hits)
        if self._cjk_re is not None and not text.isascii() and (_CJK_RE.search(text) or _EMOJI_RE.search(text)):
            for m in self._cjk_re.finditer(text):
                hits.append(Hit(m.start(), m.end(), self.cjk[m.group()], -1))
        if "-" in text:
            for m in CAS_RE.finditer(text):
                cas = m.group(0)
                if cas_valid(cas):
                    t = self.by_cas.get(cas) or Term(cas, cas, "unknown", cas, "", "strong", "CAS number in text")
                    hits.append(Hit(m.start(), m.end(), t, -1))
        hits.extend(stem_hits(text, hits, by_key))
        return hits

    def _fentanyl_morphology(self, text: str, hits: list[Hit]) -> None:
        """Add words of the fentanyl naming pattern that no lexicon term covers (class ``fentanyl``).

        The hits so far are sorted and do not overlap (longest-first word matches), so the ones a match
        overlaps are found by bisection: linear in the text, however many names it holds.
        """
        base = sorted(hits, key=lambda h: h.start)
        starts = [h.start for h in base]
        dropped: set[int] = set()
        added: list[Hit] = []
        for m in _FENT_MORPH_RE.finditer(text):
            s, e = m.span()
            k = max(0, bisect.bisect_left(starts, s) - 1)
            inside = []
            while k < len(base) and base[k].start < e:
                if s < base[k].end and k not in dropped:
                    inside.append(k)
                k += 1
            if inside and (any(base[k].start < s or base[k].end > e for k in inside) or
                           e - s <= max(base[k].end - base[k].start for k in inside)):
                continue  # a table term covers it (or reaches past it)
            dropped.update(inside)  # "para-fluoro-fentanyl": the whole name, not the "fentanyl" in it
            name = fentanyl_name(m.group())
            known = self.by_key.get(term_key(name))
            t = known if known is not None and known.cls == "fentanyl" else Term(
                name, name, "fentanyl", "", FENT_CONTROL, "strong", "fentanyl naming pattern")
            added.append(Hit(s, e, t, -1))
        if dropped or added:
            hits[:] = [h for k, h in enumerate(base) if k not in dropped] + added


def is_curated(term: Term) -> bool:
    """Slang from the hand-written tables (M30, blues, china white), trusted in any sale context."""
    return term.source.startswith(("core_substances", "precursors"))


_NO_CLASS = frozenset({"generic", "unknown", "other"})  # classes that say nothing about which drug
_STANDARD_WORDS = frozenset({"iso", "din", "en", "astm"})  # standards numbers, never slang
_SLANG_SOURCES = ("slangUE.txt", "lookup_df", "dea_street_names", "drugs_training")


def is_list_slang(term: Term) -> bool:
    """Slang from the large DEA and CTN lists (or learned from annotations), also where promoted to strong."""
    return term.strength != "strong" or term.source.startswith(_SLANG_SOURCES)


def _drop_class_conflicts(hits: list[Hit]) -> list[Hit]:
    """In a sale text, list slang of a class that no name in the text has goes ("Girl Scout Cookies ... Weed").

    Names and curated slang (tables other than the slang lists) set the classes for slang the annotations
    promoted to strong ("hydro" beside "indica"); names and strong slang set them for the rest ("Lovely pressed
    M30s": not PCP). Curated slang always stays.
    """
    def agrees(h: Hit, classes: set[str]) -> bool:
        t = h.term
        return is_curated(t) or not is_list_slang(t) or t.cls in _NO_CLASS or t.cls in classes

    names = {h.term.cls for h in hits if is_curated(h.term) or not is_list_slang(h.term)} - _NO_CLASS
    if names:  # promoted slang first, so that a dropped one lends its class to nothing
        hits = [h for h in hits if h.term.strength != "strong" or agrees(h, names)]
    strong = names | ({h.term.cls for h in hits if h.term.strength == "strong"} - _NO_CLASS)
    return [h for h in hits if agrees(h, strong)] if strong else hits


# Methamphetamine slang that is also an everyday word ("ice cream", "crystal clear", "glass shards on the floor"):
# it counts only with drug context of its own, whatever the text is (see ``_everyday_in_context``).
EVERYDAY_SLANG = frozenset({"ice", "crystal", "crystals", "shard", "shards"})
# a weight or dose: "3.5g" (tokenised "3", "5g"), "1 g", "half oz", "10mg"
_WEIGHT_WORDS = frozenset("mg mcg ug µg g gr gram grams gramm kg kilo kilos oz ounce ounces lb lbs qp hp".split())
_WEIGHT_RE = re.compile(r"\d+(?:mg|mcg|ug|µg|g|gr|grams?|kg|oz|lbs?)")
# drug vocabulary that an ice-cream, crystal or glass seller does not use (CUE_WORDS less trade and everyday words)
_DRUG_CONTEXT = CUE_WORDS - frozenset("""sale sell selling sold buy buying order orders price prices stock quality
sample samples bar bars bag bags line lines hit shot fix cut cutting press presses pressed connect session signal
bundle bundles wholesale tab tabs ship shipping shipped ships tracking lab tested""".split())


def _everyday_in_context(words: list[str], i: int, sale: bool, window: int) -> bool:
    """Whether the everyday-word slang at ``words[i]`` has drug context. In a sale text: a weight or dose within
    ``window`` words ("ice shards 3.5g"), drug vocabulary nearby ("pure shards, stealth shipping"; trade words such
    as "for sale", "pcs", "bars" are not) or another such word beside it. In other text only two of them side by
    side, near a weight or a drug or trade word ("crystal shards for sale")."""
    lo, hi = max(0, i - window), min(len(words), i + window + 1)
    near = words[lo:i] + words[i + 1:hi]
    weight = not _WEIGHT_WORDS.isdisjoint(near) or any(_WEIGHT_RE.fullmatch(w) for w in near if w[:1].isdigit())
    pair = (i > 0 and words[i - 1] in EVERYDAY_SLANG) or (i + 1 < len(words) and words[i + 1] in EVERYDAY_SLANG)
    if sale:
        return weight or pair or not _DRUG_CONTEXT.isdisjoint(near)
    return pair and (weight or not CUE_WORDS.isdisjoint(near))


# Words of a chemical specification or safety sheet. Street names from the DEA lists that are everyday words
# ("animal" LSD, "deck" heroin, "button" mescaline, "white powder" cocaine) fired on lab-chemical shop pages
# (citric, sulfuric, nitric acid, deck cleaner: tests/fixtures/real_pages/chemshops) and on research-chemical
# listings that print CAS, formula and IUPAC name: in such text they are never a drug name.
_SPEC_WORDS = frozenset("""assay msds sds iupac cas einecs ghs hazardous corrosive flammable
acs""".split())


def filter_context(hits: list[Hit], tokens: Tokens, sale: bool, window: int = 6) -> list[Hit]:
    """Keep names; keep slang only in context.

    Curated slang counts in a sale text or near drug vocabulary; slang from the large DEA lists only
    near drug vocabulary or beside another substance, and in a sale text never when the text names
    substances of other classes only ("Rocket Fuel Cocaine", "Girl Scout Cookies weed": strain and
    product names, not PCP or cocaine).
    """
    if not hits:
        return hits
    if sale and len(hits) > 1:
        hits = _drop_class_conflicts(hits)
    # a neighbour only vouches for slang if it is itself kept
    strong_idx = sorted(h.token_index for h in hits if h.term.strength == "strong" and h.token_index >= 0)
    kept = []
    words = tokens.words
    spec: bool | None = None  # whether the text is a chemical specification, decided at the first weak slang
    for h in hits:
        if h.term.strength == "strong" or (h.term.strength == "learned" and not sale):
            kept.append(h)
            continue
        if h.term.strength == "weak" and is_list_slang(h.term) and not is_curated(h.term):
            if spec is None:
                spec = not _SPEC_WORDS.isdisjoint(words)
            if spec:
                continue
        i = h.token_index
        if 0 <= i < len(words) - 1 and words[i] in _STANDARD_WORDS and words[i + 1].isdigit():
            continue  # "ISO 9001", not isotonitazene
        if 0 <= i < len(words) and words[i] in EVERYDAY_SLANG:
            if _everyday_in_context(words, i, sale, window):
                kept.append(h)
            continue
        if sale and is_curated(h.term):
            kept.append(h)
            continue
        if i < 0 or not (sale or is_curated(h.term) or h.term.strength == "learned"):
            continue
        lo, hi = max(0, i - window), min(len(words), i + window + 1)
        # a kept strong term within the window: found by bisection, not a scan over all of them
        near = any(j != i for j in strong_idx[bisect.bisect_left(strong_idx, i - window):
                                              bisect.bisect_right(strong_idx, i + window)])
        if not CUE_WORDS.isdisjoint(words[lo:i]) or not CUE_WORDS.isdisjoint(words[i + 1:hi]) or near:
            kept.append(h)
    return kept


_ENGLISH: frozenset[str] | None = None


def english_words() -> frozenset[str]:
    """Everyday English words (the SCOWL list in nlp/data/sources/english_words.txt), loaded once."""
    global _ENGLISH
    if _ENGLISH is None:
        path = Path(__file__).resolve().parent / "data" / "sources" / "english_words.txt"
        _ENGLISH = frozenset(path.read_text(encoding="utf-8").split()) if path.exists() else frozenset()
    return _ENGLISH
