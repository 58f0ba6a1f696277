"""De-obfuscation of listing text (case, homoglyphs, zero-width, leetspeak, separators) with offset maps."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Collection
from dataclasses import dataclass
from functools import cache

ZERO_WIDTH = "\u200b\u200c\u200d\u200e\u200f\u2060\u2061\u2062\u2063\u2064\ufeff\u00ad\u034f\u180e"
# Devanagari: the nukta (U+093C) is dropped and the letters precomposed with it (U+0958-U+095F: क़ ख़ ग़ ज़ ड़ ढ़ फ़ य़)
# fold to their base letters, chandrabindu (U+0901) to anusvara (U+0902): Hindi writes loanwords (अल्प्राज़ोलम,
# अल्प्राजोलम) both ways, and the tables hold the plain form
NUKTA = "\u093c"
_ZW_RE = re.compile(f"[{ZERO_WIDTH}{NUKTA}]")

# Latin look-alikes from Cyrillic and Greek, applied only inside words that also hold Latin letters
# (so Russian and Greek text stays as it is).
_CONFUSABLES = {
    "а": "a", "в": "b", "е": "e", "ё": "e", "к": "k", "м": "m", "н": "h", "о": "o", "р": "p",
    "с": "c", "т": "t", "у": "y", "х": "x", "і": "i", "ї": "i", "ј": "j", "ѕ": "s", "ԁ": "d",
    "ɡ": "g", "ո": "n", "ս": "u", "α": "a", "β": "b", "ε": "e", "ι": "i", "κ": "k", "ν": "v",
    "ο": "o", "ρ": "p", "τ": "t", "υ": "u", "χ": "x", "γ": "y", "ı": "i",
}
# whether a text holds any of them: one scan in C (set.isdisjoint(text) makes a string of every character)
_CONFUSABLE_RE = re.compile("[" + "".join(map(re.escape, sorted(_CONFUSABLES))) + "]")
# characters _char_table() folds (fullwidth, mathematical letters, curly quotes, dashes, dotted capital I)
_FOLD_RE = re.compile("[\uff01-\uff5e\U0001d400-\U0001d7ff\u2018\u2019\u201b\u2032\u2010-\u2014\u2212\u0130"
                      "\u0958-\u095f\u0901]")
_MIXED_WORD_RE = re.compile(r"[^\W\d_]+", re.UNICODE)

# Leetspeak digits and symbols that stand for letters. Applied only where the result is a word the
# lexicon knows, so "M30", "4-ANPP" or an e-mail address are left alone.
LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s",
                      "!": "i", "|": "l", "€": "e", "¥": "y"})
# a letter, leet characters, a letter: the sign of a word worth de-leeting ("f3nt", "fent@nyl", "x4nax")
_LEET_INNER_RE = re.compile(r"[a-z][0-9@$!|€¥]+[a-z]")
_LEET_WORD_RE = re.compile(r"[a-z0-9@$!|€¥]+")
# "f.e.n.t", "f-e-n-t-a-n-y-l", "f e n t a n y l", "f*e*n*t": single characters with one separator.
_SPACED_RE = re.compile(r"(?<![\w@$])[a-z0-9@$](?:[.\-_*·•~+/ ]{1,2}[a-z0-9@$]){2,}(?![\w@$])")
# "fent.anyl", "her-oin", "fen_ta_nyl": word chunks joined by separators into one known word.
_CHUNKED_RE = re.compile(r"(?<![\w])[a-z]+(?:[.\-_*·•~]+[a-z]+)+(?![\w])")
# Cheap pre-checks (each matches whenever the pattern it guards can). They start on a separator or a leet
# character and look back at the letter before it: a pattern that starts with [a-z] is tried at almost every
# position of the text, one that starts with a rarer character lets the regex engine jump between candidates
# (2-3 times as fast on `nlp bench` listings).
# _SPACED_RE: the last two single characters of a run (a separator before, none after)
_SPACED_GATE_RE = re.compile(r"[.\-_*·•~+/ ][a-z0-9@$][.\-_*·•~+/ ]{1,2}[a-z0-9@$](?![\w@$])")
# _CHUNKED_RE's candidates: letters joined by a separator other than "-", or "a-bc-d"
_CHUNK_GATE_RE = re.compile(r"[._*·•~](?<=[a-z][._*·•~])[._*·•~]*[a-z]")
_CHUNK_HYPHEN_GATE_RE = re.compile(r"-(?<=[a-z]-)[a-z]{1,4}-[a-z]")
# _LEET_INNER_RE: a leet character after a letter, more of them, a letter
_LEET_GATE_RE = re.compile(r"[0-9@$!|€¥](?<=[a-z][0-9@$!|€¥])[0-9@$!|€¥]*[a-z]")
_SEP_CHARS_RE = re.compile(r"[.\-_*·•~+/ ]")


@cache
def _char_table() -> dict[int, str]:
    """Fullwidth and mathematical alphanumerics to ASCII, one character to one character."""
    table: dict[int, str] = {}
    for cp in range(0xFF01, 0xFF5F):
        table[cp] = chr(cp - 0xFEE0)
    for cp in range(0x1D400, 0x1D800):
        folded = unicodedata.normalize("NFKC", chr(cp))
        if len(folded) == 1 and folded.isascii():
            table[cp] = folded
    for cp in (0x2018, 0x2019, 0x201B, 0x2032):
        table[cp] = "'"
    for cp in (0x2010, 0x2011, 0x2012, 0x2013, 0x2014, 0x2212):
        table[cp] = "-"
    table[0x0130] = "i"  # 'İ'.lower() is two characters; keep lengths equal
    for cp in range(0x0958, 0x0960):  # Devanagari letters with nukta: the base letter (NFD minus the nukta)
        table[cp] = unicodedata.normalize("NFD", chr(cp))[0]
    table[0x0901] = "\u0902"  # chandrabindu as anusvara
    return table


@dataclass(slots=True)
class Normalized:
    """Normalised text and the map from its offsets to the offsets of the original text."""

    text: str
    positions: list[int] | None = None
    """positions[i] is the original offset of normalised character i (len(text)+1 entries), None = identity."""

    def to_original(self, start: int, end: int) -> tuple[int, int]:
        """Map a [start, end) span of the normalised text to the original text."""
        if self.positions is None:
            return start, end
        pos = self.positions
        if end <= start:
            return pos[start], pos[start]
        return pos[start], pos[end - 1] + 1


def _apply_edits(text: str, pos: list[int] | None, edits: list[tuple[int, int, str]]) -> tuple[str, list[int]]:
    """Replace non-overlapping (start, end, replacement) spans and carry the offset map along."""
    if pos is None:
        pos = list(range(len(text) + 1))
    out: list[str] = []
    new_pos: list[int] = []
    last = 0
    for start, end, repl in sorted(edits):
        if start < last:
            continue
        out.append(text[last:start])
        new_pos.extend(pos[last:start])
        out.append(repl)
        n = len(repl)
        if n:
            span = pos[start:end] or [pos[start]]
            if n == len(span):
                new_pos.extend(span)
            else:
                # spread the original characters over the replacement, first and last kept exact
                new_pos.extend(span[min(len(span) - 1, i * len(span) // n)] for i in range(n))
                new_pos[-1] = pos[end - 1] if end > start else pos[start]
        last = end
    out.append(text[last:])
    new_pos.extend(pos[last:])
    return "".join(out), new_pos


def normalize(text: str, vocabulary: Collection[str] = (),
              is_known: Callable[[str], bool] | None = None,
              is_word: Callable[[str], bool] | None = None) -> Normalized:
    """Lower-case and de-obfuscate ``text``; ``vocabulary`` holds the words leetspeak may turn into.

    Lengths are kept where possible (case, homoglyphs, leet digits), so the offset map is only built
    when characters are removed (zero-width characters, separators inside a word).
    """
    known: Callable[[str], bool] = is_known or vocabulary.__contains__
    word: Callable[[str], bool] = is_word or known
    pos: list[int] | None = None
    if not text.isascii():
        if _ZW_RE.search(text):
            removals = [(m.start(), m.end(), "") for m in _ZW_RE.finditer(text)]
            text, pos = _apply_edits(text, None, removals)
        if _FOLD_RE.search(text):
            text = text.translate(_char_table())
        lowered = text.lower()
        if len(lowered) != len(text):
            lowered = "".join(c.lower() if len(c.lower()) == 1 else c for c in text)
        text = lowered
        if _CONFUSABLE_RE.search(text):
            text = _MIXED_WORD_RE.sub(_fold_mixed_word, text)
    else:
        text = text.lower()

    # leetspeak inside single words (length preserving)
    if _LEET_GATE_RE.search(text):
        text = _leet_words(text, known)

    # separators inside a word (length changing)
    edits: list[tuple[int, int, str]] = []
    for m in _SPACED_RE.finditer(text) if _SPACED_GATE_RE.search(text) else ():
        joined = _SEP_CHARS_RE.sub("", m.group(0))
        decoded = joined.translate(LEET)
        if known(decoded):
            edits.append((m.start(), m.end(), decoded))
        elif known(joined):
            edits.append((m.start(), m.end(), joined))
    if _CHUNK_GATE_RE.search(text) or _CHUNK_HYPHEN_GATE_RE.search(text):
        for m in _CHUNKED_RE.finditer(text):
            chunks = re.split(r"[.\-_*·•~]+", m.group(0))
            joined = "".join(chunks)
            if word(joined) and not all(known(c) for c in chunks):
                edits.append((m.start(), m.end(), joined))
    if edits:
        text, pos = _apply_edits(text, pos, edits)
    return Normalized(text, pos)


def _fold_mixed_word(m: re.Match[str]) -> str:
    word = m.group(0)
    if any("a" <= c <= "z" for c in word):
        return "".join(_CONFUSABLES.get(c, c) for c in word)
    return word


def _leet_words(text: str, known: Callable[[str], bool]) -> str:
    parts: list[str] = []
    last = 0
    for inner in _LEET_INNER_RE.finditer(text):
        if inner.start() < last:
            continue
        m = _LEET_WORD_RE.match(text, _word_start(text, inner.start()))
        if m is None:
            continue
        parts.append(text[last:m.start()])
        parts.append(_unleet(m.group(0), known))
        last = m.end()
    parts.append(text[last:])
    return "".join(parts)


def _word_start(text: str, i: int) -> int:
    while i > 0 and text[i - 1] in "abcdefghijklmnopqrstuvwxyz0123456789@$!|€¥":
        i -= 1
    return i


def _unleet(word: str, known: Callable[[str], bool]) -> str:
    if known(word):
        return word
    decoded = word.translate(LEET)
    return decoded if known(decoded) else word
