"""Rule extractors: contacts, crypto addresses, shipping countries and terms, prices and quantities."""

from __future__ import annotations

import bisect
import hashlib
import math
import re
from dataclasses import dataclass, field
from itertools import compress
from pathlib import Path
from typing import Any

from nlp.lexicon import TOKEN_RE, Tokens, english_words, longest_at
from nlp.normalize import NUKTA

# ---------------------------------------------------------------- contacts

_HANDLE = r"@?([A-Za-z][A-Za-z0-9_]{3,31})"
_SEP = r"\s*(?:id|username|user|name|handle|me|contact)?\s*[:=\-–>@#]*\s*"
# each pattern runs only when one of its keywords is in the lower-cased text
CONTACT_KEYWORDS: dict[str, tuple[str, ...]] = {
    "telegram": ("t.me", "telegra", "tlgrm", "teleg", "tg", "телеграм"), "signal": ("signal",),
    "session": ("session", "05"), "wickr": ("wickr",), "threema": ("threema",),
    "whatsapp": ("whats", "watsapp", "wa.me", "wsp", "wa:", "wa "),
    "wechat": ("wechat", "weixin", "we chat", "微信"), "icq": ("icq",), "jabber": ("jabber", "xmpp", "jid"),
}
CONTACT_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("telegram", re.compile(r"(?:https?://)?(?:t\.me|telegram\.me|telegram\.dog)/(?:joinchat/|\+)?([A-Za-z0-9_]{4,32})",
                            re.I)),
    ("telegram", re.compile(r"\b(?:telegram|telegramm|tlgrm|teleg|tg|телеграм|телеграмм)\b" + _SEP + _HANDLE, re.I)),
    ("signal", re.compile(r"\bsignal\b" + _SEP + r"(\+?\d[\d \-]{7,16}\d|[A-Za-z][\w]{2,31}\.\d{2})", re.I)),
    ("session", re.compile(r"\b(05[0-9a-f]{64})\b", re.I)),
    ("wickr", re.compile(r"\bwickr(?:\s*me)?\b" + _SEP + r"([A-Za-z0-9][A-Za-z0-9_.\-]{2,31})", re.I)),
    ("threema", re.compile(r"\bthreema\b" + _SEP + r"([A-Z0-9*]{8})\b", re.I)),
    ("whatsapp", re.compile(r"(?:https?://)?wa\.me/(\d{7,15})", re.I)),
    ("whatsapp", re.compile(r"\b(?:whatsapp|whats\s?app|watsapp|wsp|wa)\b" + _SEP + r"(\+?\d[\d \-().]{6,18}\d)",
                            re.I)),
    ("wechat", re.compile(r"(?:\bwechat\b|\bweixin\b|\bwe\s?chat\b|微信)" + _SEP.replace(":=", ":：=")
                          + r"([A-Za-z][A-Za-z0-9_\-]{5,19}|\+?\d{7,15})", re.I)),
    ("icq", re.compile(r"\bicq\b\s*(?:uin|#|no\.?|number)?\s*[:=\-#]*\s*(\d{5,10}|@?[A-Za-z][\w]{3,31})", re.I)),
    ("jabber", re.compile(r"\b(?:jabber|xmpp|jid)\b" + _SEP + r"([\w.+\-]+@[\w\-]+(?:\.[\w\-]+)+)", re.I)),
]
EMAIL_RE = re.compile(r"(?<![\w.+\-])([A-Za-z0-9][\w.+\-]{0,63}@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,24})\b")
PGP_RE = re.compile(r"\b((?:[0-9A-Fa-f]{4} ?){9}[0-9A-Fa-f]{4})\b")
_PGP_CUE = re.compile(r"pgp|gpg|fingerprint|finger print|key id|public key", re.I)
# Patterns below that must not start inside a word test that with a lookbehind placed after their first character
# (the "+", "(", digit or "x"), not before it: a pattern that starts with a character class lets the regex engine
# jump from candidate to candidate, one that starts with a lookbehind tries it at every position of the text.
_PHONE_CANDIDATE = re.compile(r"(?:\+(?<!\w\+)\(?\d|\((?<!\w\()\d|\d(?<!\w\d))[\d \-().]{6,18}\d(?!\w)")
_PHONE_KEYS = ("phone", "call", "text", "sms", "tel", "mobile", "cell", "whatsapp", "signal", "viber", "contact",
               "wa", "+")

# ---------------------------------------------------------------- crypto

_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_B58_INDEX = {c: i for i, c in enumerate(_B58)}
_BECH32 = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
BTC_B58_RE = re.compile(r"(?<![A-Za-z0-9])([13][1-9A-HJ-NP-Za-km-z]{25,34})(?![A-Za-z0-9])")
BTC_BECH32_RE = re.compile(r"(?<![A-Za-z0-9])(bc1[02-9ac-hj-np-z]{11,71}|BC1[02-9AC-HJ-NP-Z]{11,71})(?![A-Za-z0-9])")
XMR_RE = re.compile(r"(?<![A-Za-z0-9])([48][0-9AB][1-9A-HJ-NP-Za-km-z]{93}(?:[1-9A-HJ-NP-Za-km-z]{11})?)"
                    r"(?![A-Za-z0-9])")
ETH_RE = re.compile(r"(?<![A-Za-z0-9])(0x[0-9a-fA-F]{40})(?![A-Za-z0-9])")
TRX_RE = re.compile(r"(?<![A-Za-z0-9])(T[1-9A-HJ-NP-Za-km-z]{33})(?![A-Za-z0-9])")


def b58check_payload(addr: str) -> bytes | None:
    """Decoded payload (version + hash) when the base58check checksum is right, else None."""
    n = 0
    for c in addr:
        i = _B58_INDEX.get(c)
        if i is None:
            return None
        n = n * 58 + i
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    raw = b"\x00" * (len(addr) - len(addr.lstrip("1"))) + raw
    if len(raw) < 5:
        return None
    payload, check = raw[:-4], raw[-4:]
    if hashlib.sha256(hashlib.sha256(payload).digest()).digest()[:4] != check:
        return None
    return payload


def _bech32_polymod(values: list[int]) -> int:
    gen = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
    chk = 1
    for v in values:
        top = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ v
        for i in range(5):
            chk ^= gen[i] if (top >> i) & 1 else 0
    return chk


def bech32_valid(addr: str) -> bool:
    """True when a bech32 (segwit v0) or bech32m (v1+) address has a valid checksum."""
    addr = addr.lower()
    hrp, _, data = addr.rpartition("1")
    if not hrp or len(data) < 7 or any(c not in _BECH32 for c in data):
        return False
    values = [_BECH32.index(c) for c in data]
    expanded = [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]
    const = _bech32_polymod(expanded + values)
    witver = values[0]
    return (witver == 0 and const == 1) or (witver > 0 and const == 0x2BC830A3)


_LONG_TOKEN_RE = re.compile(r"(?<![A-Za-z0-9])(?:0x)?[A-Za-z0-9]{25,}(?![A-Za-z0-9])")


def find_wallets(text: str) -> list[dict[str, Any]]:
    """Cryptocurrency addresses with their offsets; BTC and TRX checksums are verified."""
    out: list[dict[str, Any]] = []
    for cand in _LONG_TOKEN_RE.finditer(text):
        addr = cand.group(0)
        start, end = cand.start(), cand.end()
        kind = None
        value = addr
        c0 = addr[0]
        if c0 in "13" and BTC_B58_RE.fullmatch(addr):
            payload = b58check_payload(addr)
            if payload is not None and len(payload) == 21 and payload[0] in (0, 5):
                kind = "btc"
        elif c0 in "bB" and BTC_BECH32_RE.fullmatch(addr):
            if bech32_valid(addr):
                kind, value = "btc", addr.lower()
        elif c0 == "T" and TRX_RE.fullmatch(addr):
            payload = b58check_payload(addr)
            if payload is not None and len(payload) == 21 and payload[0] == 0x41:
                kind = "trx"
        elif c0 == "0" and ETH_RE.fullmatch(addr):
            kind, value = "eth", addr.lower()
        elif c0 in "48" and XMR_RE.fullmatch(addr):
            kind = "xmr"
        if kind is not None:
            out.append({"kind": kind, "value": value, "start": start, "end": end})
    return out


def _phone_e164(raw: str, region: str | None = None) -> str | None:
    import phonenumbers

    digits = re.sub(r"[^\d+]", "", raw)
    if len(digits.lstrip("+")) < 8:
        return None
    try:
        num = phonenumbers.parse(digits, region or "US")
    except phonenumbers.NumberParseException:
        if not digits.startswith("+"):
            try:
                num = phonenumbers.parse("+" + digits, None)
            except phonenumbers.NumberParseException:
                return None
        else:
            return None
    if not phonenumbers.is_valid_number(num):
        if digits.startswith("+"):
            return None
        try:
            num = phonenumbers.parse("+" + digits, None)
        except phonenumbers.NumberParseException:
            return None
        if not phonenumbers.is_valid_number(num):
            return None
    return phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164)


def find_contacts(text: str) -> list[dict[str, Any]]:
    """Contact channels with offsets: kind, value (handles as ``@name``, phones as E.164)."""
    out: list[dict[str, Any]] = []
    taken: set[int] = set()  # characters already inside a contact: overlap test in the match's length

    def add(kind: str, value: str, start: int, end: int) -> None:
        span = range(start, end)
        if not taken.isdisjoint(span):
            return
        taken.update(span)
        out.append({"kind": kind, "value": value, "start": start, "end": end})

    lower_has = text.lower()
    present = set()
    for kind, keys in CONTACT_KEYWORDS.items():
        for k in keys:
            if k in lower_has:
                present.add(kind)
                break
    for kind, pattern in CONTACT_PATTERNS:
        if kind not in present:
            continue
        for m in pattern.finditer(text):
            raw = m.group(1)
            start, end = m.start(1), m.end(1)
            if kind in ("telegram",):
                value = "@" + raw.lstrip("@")
            elif kind in ("whatsapp", "signal") and re.fullmatch(r"\+?[\d \-().]+", raw):
                e164 = _phone_e164(raw)
                if e164 is None:
                    continue
                value = e164
            elif kind == "session":
                value = raw.lower()
            else:
                value = raw.rstrip(".-")
                end = start + len(value)
            add(kind, value, start, end)
    if "@" in text:
        for m in EMAIL_RE.finditer(text):
            before = lower_has[max(0, m.start() - 25):m.start()]
            kind = "jabber" if re.search(r"jabber|xmpp|jid", before) else "email"
            add(kind, m.group(1).lower(), m.start(1), m.end(1))
    if any(k in lower_has for k in ("pgp", "gpg", "fingerprint", "finger print", "key id", "public key")):
        for m in PGP_RE.finditer(text):
            add("pgp", m.group(1).replace(" ", "").upper(), m.start(1), m.end(1))
    if any(k in lower_has for k in _PHONE_KEYS):
        for m in _PHONE_CANDIDATE.finditer(text):
            raw = m.group(0)
            if sum(map(str.isdigit, raw)) < 8 or re.fullmatch(r"\d{1,7}-\d{2}-\d", raw.strip()):
                continue
            e164 = _phone_e164(raw)
            if e164:
                add("phone", e164, m.start(), m.end())
    return out


_VENDOR_URL_RE = re.compile(r"/(?:vendor|user|seller|profile|shop|store|u)/([A-Za-z0-9][\w.\-]{2,31})", re.I)
_VENDOR_VERB_RE = re.compile(r"(?<![\w@])([A-Za-z0-9][\w\-]{2,31})(?:'s)?\s+"
                             r"(?:presents|offers|proudly|brings you|is on)\b", re.I)
_NOT_HANDLES = frozenset("""this that we i it he she they our my the listing product vendor shop store
seller price which who what also now here there are is was were""".split())
def _dictionary_word(word: str) -> bool:
    """Whether ``word`` (any case, not mixed inside) is an everyday English word (SCOWL list in nlp/data)."""
    return not _handle_shaped(word) and word.lower() in english_words()


# What follows a "Seller:" label is no name when it is a label itself ("Trusted Seller : \n\nPositive Feedback :
# (98%)", "Seller - Wickr : RealHG", "Quantity : Unlimited" on saved Apollon pages, tests/fixtures/real_pages),
# a contact channel or a market ("Vendor - Empire [HumboldtGrower]", "contact: JABBER- diego@..."), or lies
# below a blank line.
_LABEL_AFTER_RE = re.compile(r"[^\S\n]*(?:[A-Za-z]+[^\S\n]*){0,2}:")
_CHANNEL_AND_MARKET_WORDS = frozenset("""jabber wickr telegram signal session email e-mail mail xmpp icq threema
whatsapp wechat protonmail pgp dread empire dream apollon cryptonia bohemia agora berlusconi nightmare wallstreet
alphabay hansa torrez versus""".split())
_VENDOR_RE = re.compile(
    r"\b(?:vendor|seller|sold by|shop|store|supplier|dealer|plug|contact)\s*(?:name|id)?\s*"
    r"(?:[:=]|(?<=\s)[\-–]|[\-–](?=\s))\s*"
    r"@?([A-Za-z0-9][\w.\-]{2,31})", re.I)

# Self-chosen names as the seller writes them around the listing. A cue alone is not enough ("from China",
# "by Pfizer", "The Famous X's"): the name must also look like a handle, i.e. mixed case inside the word
# ("SiGGy", "UKrime", "MrCronk", "QualityUK": two or more capitals and two or more lower-case letters),
# which dictionary words, countries, ALL-CAPS shouting and Title-case words never are. Such words are rare, so
# they are found first (one scan) and only their surroundings are tested.
_MIXED_AT = re.compile(r"[A-Z](?:(?<=[a-z][A-Z])|(?=[A-Z][a-z]))")  # "aB" or "ABc"; starts on a capital: fast
_WORD_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_"
# brands, markets and software of handle shape; surnames (McMurry, DiCarlo) are people, not handles
_NOT_HANDLE_NAMES = frozenset("""paypal mastercard americanexpress westernunion moneygram bitcoin bitcoins
litecoin youtube facebook myspace linkedin whatsapp wechat wordpress javascript powerpoint photoshop
winrar teamviewer virtualbox truecrypt oxycontin oxyneo glaxosmithkline smithkline astrazeneca abbvie
silkroad tormarket blackmarket alphabay dreammarket wallstreet darknet deepweb darkweb marketplace
worldwide creditcard""".split())
_SURNAME_RE = re.compile(r"(?:Mc|Mac|Di|De|Da|Du|La|Le|Van|Von|O)[A-Z][a-z]+")
# the text right before the name: "Welcome to (the) X", "from X", "sold by X", "brought to you by X",
# "We are X", "I am X", "it's me X"; a signature "- X", "~X"; a banner "<<<<<<X"
_CUE_BEFORE_RE = re.compile(
    r"(?:(?i:\b(?:welcome to(?:\s+the)?|from(?:\s+the one and only)?|sold by|offered by|brought to you by"
    r"|courtesy of|i am|i['’]m|it['’]s me|we are|we['’]re|my name is|this is))\s*[,:]?\s+"
    r"|(?<!\S)[-~–—]+\s*|(?:<<|>>)\s*)$")
_SHIP_VERB_END_RE = re.compile(r"(?i:\b(?:ship\w*|sen[dt]\w*|dispatch\w*|post\w*|mail\w*|deliver\w*))\s*$")
_WELCOME_BEFORE_RE = re.compile(r"(?i:\bwelcome to(?:\s+the)?)\s+$")
# "SiGGy's CRITICAL MASS", "25 x TragicallyHip's Red LSD": a possessive at the head of the title or the description
_HEAD_PREFIX_RE = re.compile(r"[^\w\n]{0,8}(?:\d+(?:[.,]\d+)?\s*(?i:x|grams?|gr?|oz)?\s+)?")
# a Title-case name only after a greeting or "it's me" / "my name is", before a stop:
# "Hi I am Dancingshiva i just became a vendor", "It's me Summertime!"
_INTRO_TITLE_RE = re.compile(r"(?i:\b(?:(?:hi|hello|hey|greetings)\W+(?:\w+\W+)?(?:i am|i['’]m|we are)|it['’]s me"
                             r"|my name is))\s*[,:]?\s+([A-Z][a-z0-9_]{3,31})(?=\s*(?:[!.,;]|$)|\s+(?:i|and)\b)")
# "Tree here folks with an exclusive ..."
_HERE_RE = re.compile(r"(?:^|(?<=[.!?])\s+|(?i:\b(?:hi|hey|hello)\b)\W+)([A-Z][A-Za-z0-9_]{2,31}) here\s*[,!]?\s+"
                      r"(?i:folks|guys|everyone|everybody|y['’]all)\b", re.M)
_HERE_TAILS = ("folks", "guys", "everyone", "everybody", "y'all", "y’all")
_VENDOR_KEYS = ("vendor", "seller", "sold by", "shop", "store", "supplier", "dealer", "plug", "contact")
_INTRO_KEYS = ("i am", "i'm", "i’m", "we are", "it's me", "it’s me", "my name")
_GREETING_KEYS = ("hi", "hello", "hey", "greetings", "it's me", "it’s me", "my name")
_COMMON_TITLE_WORDS = frozenset("""back new here sorry happy glad proud available online offline away ready sure
not also currently now open closed busy very just still always only selling offering done out legit reliable
honest trusted verified clean fast pure real serious vendor seller human sick tired okay fine good great best
the this that your our from with have been going looking back dutch german english british american canadian
australian french spanish italian chinese polish swedish belgian russian indian irish scottish mexican hello
there everyone everybody guys folks people again learn click order check please read note thanks thank
free shipping sale discount escrow stealth domestic international""".split())


def _handle_shaped(word: str) -> bool:
    """Mixed case inside the word (SiGGy, UKrime, QualityUK), and not a brand, market or surname."""
    upper = sum(map(str.isupper, word))
    lower = sum(map(str.islower, word))
    return (upper >= 2 and lower >= 2 and word.lower() not in _NOT_HANDLE_NAMES
            and not _SURNAME_RE.fullmatch(word))


def _after_boundary(text: str, i: int) -> bool:
    """True when the word at ``i`` starts a line or follows punctuation, a digit or a symbol, not another word."""
    j = i - 1
    while j >= 0 and text[j] in " \t":
        j -= 1
    return j < 0 or not text[j].isalpha()


def _mixed_words(text: str) -> list[tuple[int, int]]:
    """(start, end) of the words of 4-32 word characters with mixed case, not inside an e-mail, URL or domain."""
    out: list[tuple[int, int]] = []
    end = 0
    n = len(text)
    for m in _MIXED_AT.finditer(text):
        if m.start() < end:
            continue
        s = e = m.start()
        left = text[max(0, s - 40):s]
        s -= len(left) - len(left.rstrip(_WORD_CHARS))
        right = text[e:e + 40]
        e += len(right) - len(right.lstrip(_WORD_CHARS))
        end = e
        if (4 <= e - s <= 32 and text[s].isalpha() and (s == 0 or text[s - 1] not in "@./")
                and not (e < n and (text[e] == "@" or (text[e] == "." and e + 1 < n and text[e + 1].isalnum())))):
            out.append((s, e))
    return out


def _signed(text: str, s: int, e: int) -> bool:
    """Whether the mixed-case word text[s:e] stands where a seller puts their own name."""
    nxt = text[e:e + 2]
    if nxt in ("'s", "’s") and not text[e + 2:e + 3].isalnum():
        # possessive: only at the head of the title or the description, or "Welcome to X's Weed Shop"
        line = text.rfind("\n", 0, s) + 1
        return ((s - line <= 40 and _HEAD_PREFIX_RE.fullmatch(text, line, s) is not None)
                or _WELCOME_BEFORE_RE.search(text, max(0, s - 20), s) is not None)
    if nxt[:1] == "-" or nxt[:1] in ("'", "’"):
        return False  # part of a compound or a contraction
    cue = _CUE_BEFORE_RE.search(text, max(0, s - 40), s)
    if cue is not None:
        # "Ships From :\nAnyWorld Wide (WW)" (a country select on saved Apollon result pages): after a shipping
        # verb, "from" names a place, not the seller
        return not (cue.group(0)[:4].lower() == "from"
                    and _SHIP_VERB_END_RE.search(text, max(0, cue.start() - 20), cue.start()) is not None)
    before = text[max(0, s - 3):s].rstrip()
    after = text[e:e + 3].lstrip()
    if (before.endswith("*") and after.startswith("*")) or (before.endswith("[") and after.startswith("]")):
        return True  # "*HeisenbergMontana*", "[ stillinGER ]"
    # the title opens with the name: "stillinGER | 1x LSD Blotter"
    return after.startswith("|") and _HEAD_PREFIX_RE.fullmatch(text, 0, s) is not None and "\n" not in text[:s]


def find_handles(text: str) -> list[dict[str, Any]]:
    """Seller handles and shop names the text states (``vendor: X``, ``/vendor/X``, ``X presents``) or signs with.

    Signatures count only where the name has handle shape (mixed case, see ``_handle_shaped``): possessive at the
    head of the title or description, "welcome to X", "from X", "- X", "*X*", "[ X ]", "<<X", "X | title",
    "We are X". Title-case names count only after a greeting or "it's me" before a stop ("Hi I am Dancingshiva i
    ...") and in "X here folks"; common words never do.
    """
    out: list[dict[str, Any]] = []

    def add(value: str, start: int, end: int) -> None:
        if text.endswith(("...", "…")) and not text[end:].strip(" .…"):
            return  # cut off by a preview ("/vendor/Holland ..."): the handle may be longer
        value = value.rstrip(".-")
        out.append({"value": value, "start": start, "end": start + len(value)})

    low = text.lower()
    if any(map(low.__contains__, _VENDOR_KEYS)):
        for m in _VENDOR_RE.finditer(text):
            name = m.group(1)
            if (name.lower() not in _COMMON_TITLE_WORDS  # "NEW VENDOR - FREE SHIPPING"
                    and name.lower().rstrip(".-") not in _CHANNEL_AND_MARKET_WORDS
                    and text.count("\n", m.start(), m.start(1)) <= 1
                    and _LABEL_AFTER_RE.match(text, m.end(1)) is None
                    # "serious vendor - highly recommended", "WEED VENDOR - ALL THE BEST" (buyer feedback on saved
                    # Dream profiles): after a dash, a dictionary word is the sentence going on, not a name
                    and not (":" not in m.group(0) and "=" not in m.group(0) and _dictionary_word(name))):
                add(name, m.start(1), m.end(1))
    if "/" in text:
        for m in _VENDOR_URL_RE.finditer(text):
            add(m.group(1), m.start(1), m.end(1))
    if any(map(low.__contains__, ("presents", "offers", "proudly", "brings you", " is on"))):
        for m in _VENDOR_VERB_RE.finditer(text):
            w = m.group(1)
            # "DutchDeal offers", "dmtnexus is on Agora", "... Interways Presents" but not "J. Allan Hobson
            # offers", "The Marketplace is on I2P", "Description is on the way", "We are proudly"
            verb = text[m.end(1):m.end()].lstrip(" 's")
            if (w.lower() not in _NOT_HANDLES and not w.isdigit()
                    # "dmtnexus is on Agora", not "the label is on the package", "our stealth is on par"
                    and (_handle_shaped(w) or (verb.lower() == "is on" and not w[:1].isupper()
                                               and text[m.end():m.end() + 2].strip()[:1].isupper())
                         or (verb.lower() != "is on" and _after_boundary(text, m.start(1)))
                         or verb.startswith(("Presents", "Offers", "Proudly")))):
                add(w, m.start(1), m.end(1))
    for s, e in _mixed_words(text):
        if _handle_shaped(text[s:e]) and _signed(text, s, e):
            add(text[s:e], s, e)
    if any(map(low.__contains__, _INTRO_KEYS)) and any(map(low.__contains__, _GREETING_KEYS)):
        for m in _INTRO_TITLE_RE.finditer(text):
            if m.group(1).lower() not in _COMMON_TITLE_WORDS:
                add(m.group(1), m.start(1), m.end(1))
    if " here" in low and any(map(low.__contains__, _HERE_TAILS)):
        for m in _HERE_RE.finditer(text):
            if m.group(1).lower() not in _COMMON_TITLE_WORDS:
                add(m.group(1), m.start(1), m.end(1))
    seen: set[str] = set()
    unique = []
    for h in out:
        key = str(h["value"]).lower()
        if key not in seen:
            seen.add(key)
            unique.append(h)
    return unique


# ---------------------------------------------------------------- shipping

@dataclass
class CountryTable:
    """Country names, demonyms and codes to ISO 3166-1 alpha-2 (plus EU, WORLDWIDE)."""

    by_key: dict[str, str] = field(default_factory=dict)
    max_len: dict[str, int] = field(default_factory=dict)
    codes: frozenset[str] = frozenset()
    alpha3: dict[str, str] = field(default_factory=dict)  # "RUS" -> "RU", read only when written in capitals
    iso2: frozenset[str] = frozenset()  # every two-letter code of the table: read in a route ("IT → EU") only
    cjk: dict[str, str] = field(default_factory=dict)  # Chinese names, found as substrings (no spaces between words)
    _cjk_re: re.Pattern[str] | None = None
    _keys: frozenset[str] = frozenset()

    @classmethod
    def from_tsv(cls, path: str | Path) -> CountryTable:
        """Load ``countries.tsv`` (code, names, source); the last comment line lists capital codes."""
        table = cls()
        codes: set[str] = set()
        for line in Path(path).read_text(encoding="utf-8").splitlines():
            if line.startswith("# two-letter codes"):
                codes = set(line.split(":", 1)[1].strip().split(","))
                continue
            if line.startswith("# three-letter codes"):
                table.alpha3 = dict(p.split("=") for p in line.split(":", 1)[1].strip().split(","))
                continue
            if not line.strip() or line.startswith("#"):
                continue
            code, names, _source = line.split("\t")
            for name in names.split(";"):
                key = " ".join(TOKEN_RE.findall(name.lower().replace(NUKTA, "")))  # as normalize() writes Hindi
                if _CJK_RE.search(key):
                    table.cjk.setdefault(key, code)
                if key and key not in table.by_key:
                    table.by_key[key] = code
                    first = key.split(" ")[0]
                    table.max_len[first] = max(table.max_len.get(first, 0), key.count(" ") + 1)
        table.codes = frozenset(codes)
        table.iso2 = frozenset(c for c in table.by_key.values() if len(c) == 2) | table.codes
        if table.cjk:
            table._cjk_re = re.compile("|".join(map(re.escape, sorted(table.cjk, key=len, reverse=True))))
        table._keys = frozenset(table.max_len) | {c.lower() for c in codes} | {c.lower() for c in table.alpha3}
        return table

    def find(self, norm: str, original_at: Any, tokens: Tokens) -> list[tuple[int, int, str]]:
        """Country mentions (start, end, code) in normalised text; capital codes checked on the original."""
        out = []
        words = tokens.words
        by_key, max_len, codes = self.by_key, self.max_len, self.codes
        keys = self._keys
        cands = compress(range(len(words)), map(keys.__contains__, words))
        next_free = 0
        for i in cands:
            if i < next_free:
                continue
            word = words[i]
            longest = max_len.get(word, 0)
            hit = None
            found = longest_at(words, i, longest, by_key)
            if found is not None:
                n, code = found
                hit = (tokens.start(i), tokens.end(i + n - 1), code, n)
            if hit is None and ((len(word) == 2 and word.upper() in codes) or
                                (len(word) == 3 and word.upper() in self.alpha3)):
                s, e = tokens.start(i), tokens.end(i)
                raw = original_at(s, e)
                around = original_at(max(0, s - 12), min(len(norm), e + 12))
                # in shouted text ("PUREST IN AUSTRALIA") capitals say nothing, except after a label, a list
                # separator or a bullet ("NOT TO: AUS, RUS", "- RUS")
                shouted = not any(c.islower() for c in around)
                labelled = _LABELLED_RE.search(norm, max(0, s - 8), s) is not None
                if raw.isupper() and (not shouted or labelled or word in ("us", "uk", "eu")):
                    code = "GB" if word == "uk" else self.alpha3.get(word.upper(), word.upper())
                    hit = (s, e, code, 1)
            if hit is not None:
                out.append(hit[:3])
                next_free = i + hit[3]
        if _ROUTE_GATE_RE.search(norm) is not None:
            out = self._routes(norm, original_at, out)
        if "world" in norm:
            out = _world_destinations(norm, out)
        if self._cjk_re is not None and not norm.isascii() and _CJK_RE.search(norm):
            out = self._cjk(norm, out)
        return out

    def _cjk(self, norm: str, out: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
        """Chinese names inside runs of characters that no space splits into words ("从中国发货到美国")."""
        assert self._cjk_re is not None
        spans = sorted((s, e) for s, e, _c in out)
        added = []
        for m in self._cjk_re.finditer(norm):
            k = bisect.bisect_right(spans, (m.start(), math.inf))  # the first span starting after this name
            if (k and spans[k - 1][1] > m.start()) or (k < len(spans) and spans[k][0] < m.end()):
                continue  # already found as a word ("从 中国 发货")
            added.append((m.start(), m.end(), self.cjk[m.group(0)]))
        return sorted(out + added) if added else out

    def _routes(self, norm: str, original_at: Any, out: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
        """Codes in capitals on either side of a route arrow ("[NL > EU]", "IT ⇒ WW, DE", "SG -> US"), also in
        shouted text. The codes that are everyday words elsewhere (IT, IN, NO, IS) count beside a true arrow
        only, not beside ">" ("IT IS > NL"); the first code on each side must be one."""
        taken = {s for s, _e, _c in out}
        added = False
        for m in _ROUTE_RE.finditer(norm):
            arrow = m.group("arrow").strip() != ">"
            found: list[tuple[int, int, str]] = []
            for c in _CODE_RE.finditer(norm, m.start(), m.end()):
                code = self._route_code(c.group(0), arrow) if original_at(c.start(), c.end()).isupper() else None
                if code is None and len(found) < 2:
                    break  # the origin or the first destination is no code
                if code is not None:
                    found.append((c.start(), c.end(), code))
            else:
                for hit in found:
                    if hit[0] not in taken:
                        out.append(hit)
                        taken.add(hit[0])
                        added = True
        return sorted(out) if added else out

    def _route_code(self, word: str, arrow: bool) -> str | None:
        """The code a lower-cased two- or three-letter word stands for in a route, if any."""
        if word in self.by_key and self.by_key[word] in ("EU", "WORLDWIDE"):
            return self.by_key[word]
        upper = word.upper()
        if len(word) == 3:
            return self.alpha3.get(upper)
        if upper in self.codes or (arrow and upper in self.iso2):
            return "GB" if upper == "UK" else upper
        return None


_CJK_RE = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
# "world" alone is no place ("the best in the world"), but after a destination label or "ship(s) to" it is the
# Agora "Ships to: world" column value (tests/fixtures/nlp_probe rs100-53, rs100-55) and "we ship to the whole world"
_WORLD_RE = re.compile(r"(?:\bto[^\S\n]*:|\b(?:ship|send|deliver|post|mail|export)\w*[^\S\n]+to)[^\S\n]*"
                       r"(?:the[^\S\n]+)?(?:(?:whole|entire)[^\S\n]+)?(world)\b(?![\-'’]?\w)(?![^\S\n]+wars?\b)")


def _world_destinations(norm: str, out: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """``out`` plus a WORLDWIDE mention for each "world" right after a destination cue ("Ships to: world")."""
    added = [(m.start(1), m.end(1), "WORLDWIDE") for m in _WORLD_RE.finditer(norm)]
    if not added:
        return out
    taken = [(s, e) for s, e, _c in out]
    added = [a for a in added if not any(s < a[1] and a[0] < e for s, e in taken)]
    return sorted(out + added) if added else out
# route arrows: "NL → EU", "[NL > EU]", "UK>WW", "DE ⇒ EU", "US --> WW" ("»" is left out: breadcrumbs)
_ARROW = r"(?:-{1,2}>|={1,2}>|>>|[→➡⇒➔➜➝➞⟶⇨])"
_ROUTE_GATE_RE = re.compile(r"[>→➡⇒➔➜➝➞⟶⇨]")
# a code, an arrow (or ">"), and a code or a list of codes: "nl → ww, eu"; matched on the normalised text
_ROUTE_RE = re.compile(r"(?<![\w.])[a-z]{2,3}(?P<arrow>[^\S\n]*(?:" + _ARROW + r"|>)[^\S\n]*)[a-z]{2,3}"
                       r"(?:[^\S\n]*[,/&][^\S\n]*[a-z]{2,3})*(?![\w.])")
_CODE_RE = re.compile(r"[a-z]{2,3}")
_LABELLED_RE = re.compile(r"(?:from|to|:|[→➡⇒➔➜➝➞⟶⇨]|->|>|,|/|&|\band|\bor|(?:^|\n)\s*[-*•·+]?)\s*$")
CUE_WINDOW = 100  # a from/to cue reaches mentions up to this many characters after it (chained over a list)
NOT_GAP = 40  # a negation reaches on over a list: each next mention at most this far after the last one
# clause ends inside a line (lines are split first); not the dot of "excl." / "incl." / "e.g." ("Worldwide (excl. USA)")
_CLAUSE_RE = re.compile(r"[.;!?](?<!\bexcl\.)(?<!\bincl\.)(?<!\be\.g\.)(?<!\bi\.e\.)(?<!\bapprox\.)[.;!?]*(?=\s|$)"
                        r"|[|•]")
_NOT_RE = re.compile(
    r"\b(?:no|not|never|don['`´ʼ]?t|dont|do not|doesn['`´ʼ]?t|does not|won['`´ʼ]?t|wont|will not|cannot|"
    r"can['`´ʼ]?t|cant|isn['`´ʼ]?t|aren['`´ʼ]?t|unable to)\s+(?:\w+\s+){0,3}?"
    r"(?:ship(?:ping|s|ped)?|send(?:ing)?|sent|deliver(?:y|ing|ies|ed)?|post(?:age|ed)?|mail(?:ed)?|export)(?:\s+(?:\w+\s+){0,3}?(?:to|into|in))?\b"
    r"|\b(?:stopped|ceased|quit|paused|suspended|halted)\s+(?:\w+\s+){0,2}?(?:ship|send|deliver|post|mail)\w*"
    r"(?:\s+(?:\w+\s+){0,3}?(?:to|into|in))?\b"
    r"|\bexcept(?:\s+for)?\b|\bexcluding\b|\bexcl\b\.?|\bbut not\b|\bnot to\b|\bno ship(?:ping)? to\b"
    r"|\b(?:excluded|restricted|banned|blacklist(?:ed)?|prohibited|forbidden|embargoed|unsupported)\s+"
    r"(?:countries|country|destinations?|locations?|regions?)\b"
    r"|\b(?:countries|destinations)\s+(?:excluded|not (?:served|supported|shipped to))\b"
    r"|\bno\b(?=\s+[a-z]+\s*(?:,|$|\band\b|\bor\b))")
# "will not be shipped out of Europe", "never ship outside the EU": only within the place named
_WITHIN_RE = re.compile(r"(?:\b(?:not|never|no)|n['`´ʼ]?t)\s+(?:be\s+)?(?:ship|sen[dt]|post|deliver|mail|export)\w*\s+"
                        r"(?:\w+\s+){0,2}?(?:out of|outside(?:\s+of)?|beyond)\b")
_CUES: list[tuple[str, re.Pattern[str]]] = [
    ("within", _WITHIN_RE),
    ("not", _NOT_RE),
    ("from", re.compile(r"\b(?:ship(?:s|ping|ped)?|send(?:s|ing)?|sent|dispatch(?:ed|es|ing)?|post(?:ed|s|ing)?|"
                        r"mail(?:ed|s)?|deliver(?:ed|s|y|ies)?)\s+(?:\w+\s+){0,2}?from\b|\bfrom\s*:|\borigin\b|"
                        r"\bships?\s+from\b|\blocated in\b|\bbased in\b|\bwarehouse(?:s)? in\b|\bstock in\b|"
                        r"\bfactory in\b|\bwe are (?:in|from)\b|\bcountry of origin\b|\bmade in\b|\bproduced in\b|"
                        r"\b(?:ship|sen[dt]|post|mail|dispatch)\w*\s+out\s+of\b|"
                        r"\bfree (?:postage|shipping) from\b|"
                        r"\baus\b|\bdesde\b|\bиз\b|从|\boutside of\b|\blocation\s*:")),
    # "ship within the US", "delivery within Europe": sent from there, to there
    # (not a time: "we ship within 48 hours to Germany", "within 2-3 business days", "within a week")
    ("inside", re.compile(r"\bwithin(?:\s+all)?(?:\s+of)?\b(?!\s*(?:\d[\d\s\-–/.,]*|an?\s+|one\s+|two\s+|three\s+|"
                          r"few\s+|several\s+|the\s+next\s+|next\s+)(?:business\s+|working\s+)?"
                          r"(?:hours?|hrs?|h|days?|d|weeks?|wks?|minutes?|mins?|months?)\b)")),
    ("to", re.compile(r"\b(?:ship(?:s|ping|ped)?|send(?:s|ing)?|deliver(?:s|y|ies|ing)?|post(?:age|ing)?|"
                      r"mail(?:ing)?|export(?:s|ing)?)\s+(?:\w+\s+){0,2}?"
                      r"(?:to|into|in|across|throughout|all over|around)\b|\bto\s*:|\bdestinations?\b|"
                      r"\bships?\s+to\b|\bdeliver(?:y)? (?:to|in)\b|\bavailable (?:in|for)\b|\bwe ship\b|"
                      r"\bonly\b|"
                      r"[→➡⇒➔➜➝➞⟶⇨]|->|=>|\benv[ií]os? a\b|\benviamos a\b|\bдоставка (?:в|по)\b|发货到|发往|寄往")),
    ("to", re.compile(r"\b(?:we|i)\s+(?:only\s+)?(?:ship|send|deliver)\s+(?:\w+\s+){0,2}?to\b")),
    # any shipping verb right before a worldwide word: "Ships worldwide", "We send worldwide"
    ("worldwide", re.compile(r"\b(?:ship(?:s|ping|ped)?|send(?:s|ing)?|sent|deliver(?:s|y|ies|ing|ed)?|"
                             r"post(?:s|ing|ed)?|mail(?:s|ing|ed)?|export(?:s|ing|ed)?|dispatch(?:es|ed|ing)?)\b"
                             r"(?=\s*(?:worldwide|world wide|world-wide|internationally|globally|international|"
                             r"everywhere|anywhere|ww)\b)")),
]
# Shipping cues in the languages of nlp/data/inn_names.tsv (German, Dutch, French, Spanish, Italian, Polish, Russian,
# Chinese; Hindi puts its postpositions after the country, see _HI_AFTER_*), each with the words that gate it. A
# "to" cue of a language comes with its negation, which outranks it where they overlap ("wir versenden nicht nach").
_W = r"(?:\w+\s+)"
_INTL_CUES: list[tuple[str, re.Pattern[str], tuple[str, ...]]] = [
    ("not", re.compile(
        # de: "kein Versand nach", "wir versenden nicht nach", "außer"
        r"\b(?:kein(?:en|e)?|nicht)\s+" + _W + r"{0,2}?(?:versand|versenden|lieferung|liefern|verschicken|senden)"
        r"(?:\s+" + _W + r"{0,2}?(?:nach|in))?\b"
        r"|\b(?:versand|versende\w*|liefer\w*|verschick\w*|sende\w*)\s+" + _W + r"{0,3}?nicht\s+" + _W
        + r"{0,2}?(?:nach|in)\b|\bnicht nach\b|\b(?:au(?:ss|ß)er|ausgenommen)\b"
        # nl: "geen verzending naar", "wij verzenden niet naar", "behalve"
        r"|\b(?:geen|niet)\s+" + _W + r"{0,2}?(?:verzending|verzenden|leveren|levering|versturen|sturen)"
        r"(?:\s+" + _W + r"{0,2}?(?:naar|in))?\b"
        r"|\b(?:verzend\w*|lever\w*|verstu\w*|stur\w*)\s+" + _W + r"{0,3}?niet\s+" + _W + r"{0,2}?(?:naar|in)\b"
        r"|\bniet naar\b|\b(?:behalve|uitgezonderd|met uitzondering van)\b"
        # fr: "pas de livraison en", "nous ne livrons pas en", "n'expédions pas vers", "sauf"
        r"|\b(?:pas|jamais|aucune?)\s+(?:de\s+|d['’])?(?:livraison|exp[ée]dition|envoi)s?"
        r"(?:\s+" + _W + r"{0,2}?(?:en|vers|à|au|aux|dans))?\b"
        r"|\bn(?:e\s+|['’])(?:livr\w*|exp[ée]di\w*|envo\w*)\s+pas(?:\s+" + _W + r"{0,2}?(?:en|vers|à|au|aux|dans))?\b"
        r"|\b(?:sauf|excepté|hormis|à l['’]exception d)"
        # es: "no enviamos a", "sin envíos a", "excepto"; it: "non spediamo in", "nessuna spedizione verso", "tranne"
        r"|\bno\s+" + _W + r"{0,2}?(?:env[ií]\w*|entreg\w*|mand\w*|hacemos env[ií]os)(?:\s+" + _W
        + r"{0,2}?(?:a|al|en|hacia|para))?\b|\bsin env[ií]os?(?:\s+(?:a|al|en|hacia|para))?\b|\b(?:excepto|salvo)\b"
        r"|\bnon\s+" + _W + r"{0,2}?(?:spedi\w*|consegn\w*|invi\w*)(?:\s+" + _W + r"{0,2}?(?:in|a|verso|per))?\b"
        r"|\bnessuna spedizione(?:\s+(?:in|a|verso|per))?\b|\b(?:tranne|eccetto|esclus[oaie])\b"
        # pl: "nie wysyłamy do", "brak wysyłki do", "oprócz"; ru: "не отправляем в", "нет доставки в", "кроме"
        r"|\bnie\s+" + _W + r"{0,2}?(?:wysy[lł]\w*|dostarcz\w*|dostaw\w*)(?:\s+" + _W + r"{0,2}?(?:do|na))?\b"
        r"|\bbrak wysy[lł]ki(?:\s+(?:do|na))?\b|\b(?:oprócz|z wyjątkiem)\b"
        r"|\bне\s+" + _W + r"{0,2}?(?:отправ\w*|достав\w*|высыла\w*|шл[её]м|пересыла\w*|работаем)"
        r"(?:\s+" + _W + r"{0,2}?(?:в|во|по|на|с))?(?!\w)|\bнет доставки(?:\s+(?:в|во|по|на))?(?!\w)"
        r"|\b(?:кроме|за исключением)(?!\w)"
        # zh: "不发货到", "不寄往", "除了", "不包括"
        r"|不(?:发货|发|寄|送|运|配送)(?:到|往)?|除了|不包括"),
     # the verb or the "except" word each alternative needs (not "no" / "nicht": they are everywhere)
     ("versand", "versend", "liefer", "verschick", "sende", "nicht nach", "außer", "ausser", "ausgenommen", "verzend",
      "lever", "stur", "niet naar", "behalve", "uitgezonderd", "uitzondering", "livr", "expéd", "exped", "env",
      "sauf", "excepté", "hormis", "exception", "entreg", "mand", "excepto", "salvo", "spedi", "consegn", "invi",
      "tranne", "eccetto", "esclus", "wysy", "dostarcz", "dostaw", "oprócz", "wyjątkiem", "отправ", "достав",
      "высыла", "шл", "пересыла", "работаем", "кроме", "исключением", "不", "除了")),
    ("from", re.compile(
        r"\bversand\s+" + _W + r"{0,2}?(?:aus|ab)\b|\bvanuit\b"
        r"|\b(?:exp[ée]di\w*|envo[iy]\w*|livr\w*)\s+" + _W + r"{0,2}?depuis\b|\bexp[ée]di[ée]e?s?\s+(?:de|d['’]|du|des)"
        r"|\b(?:spedi\w*|invia\w*)\s+" + _W + r"{0,2}?(?:da|dal|dalla|dai|dagli)\b|\b(?:spedi\w*|invia\w*)\s+"
        + _W + r"{0,2}?dall['’]|\bwysy[lł]\w*\s+" + _W + r"{0,2}?z\b|发自|发货地"),
     ("versand", "vanuit", "depuis", "expédi", "expedi", "sped", "invia", "wysy", "发")),
    ("to", re.compile(
        r"\b(?:versand|versende\w*|verschick\w*|liefer\w*|sende\w*)\s+" + _W + r"{0,3}?(?:nach|in die|in den|in)\b"
        r"|\b(?:verzend\w*|verzond\w*|verstu\w*|lever\w*|stur\w*)\s+" + _W + r"{0,3}?(?:naar|in)\b"
        r"|\b(?:livr\w*|exp[ée]di\w*|envo[iy]\w*)\s+" + _W + r"{0,3}?(?:en|vers|à|au|aux|dans)\b"
        r"|\b(?:env[ií]\w*|entreg\w*|mandamos)\s+" + _W + r"{0,3}?(?:a|al|en|hacia|para)\b"
        r"|\b(?:spedi\w*|consegn\w*|invi\w*)\s+" + _W + r"{0,3}?(?:in|a|verso|per)\b"
        r"|\b(?:wysy[lł]\w*|dostaw\w*|dostarcz\w*)\s+" + _W + r"{0,3}?(?:do|na)\b"
        r"|\b(?:отправ\w*|достав\w*|высыла\w*|высылк\w*|шл[её]м|пересыл\w*)\s+" + _W + r"{0,3}?(?:в|во|по|на)(?!\w)"
        # "Versand weltweit", "verzending wereldwijd", "доставка по всему миру": the worldwide word is the destination
        r"|\b(?:versand|verzending|livraison|exp[ée]dition|env[ií]os?|spedizion[ei]|wysy[lł]ka|доставка)\b"
        r"(?=\s*(?:weltweit|international|wereldwijd|internationaal|dans le monde|internacional|in tutto|"
        r"internazional|na cały|międzynarod|по всему))"
        # it: "in tutta Europa", "in tutto il mondo"; ru: "по всей Европе", "по всему миру"
        r"|\bin tutt[aoie]\b|(?<!\w)по(?=\s+(?:всему|всей)(?!\w))|送往|运往|发到|寄到|送到|配送到"),
     ("versand", "versend", "verschick", "liefer", "sende", "verzend", "verzond", "verstu", "lever", "stur", "livr",
      "expéd", "exped", "envo", "enví", "envi", "entreg", "mandamos", "sped", "consegn", "invi", "wysy", "dostaw",
      "in tutt", "по вс", "dostarcz", "отправ", "достав", "высыл", "шл", "пересыл", "送", "运", "寄", "发")),
]
_CUE_RANK = {"within": 3, "not": 2, "from": 1, "to": 1, "inside": 1}  # where cues overlap, the higher rank wins
# a cue regex can only match when one of its words is in the clause
_CUE_KEYS: dict[str, tuple[str, ...]] = {
    "within": ("out", "beyond"),
    "not": ("no", "n't", "n`t", "n´t", "nʼt",
            "dont", "doesnt", "wont", "never", "cannot", "cant", "except", "excl", "but not", "unable",
            "restricted", "banned", "blacklist", "prohibited", "forbidden", "embargo", "unsupported",
            "stopped", "ceased", "quit", "paused", "suspended", "halted"),
    "from": ("from", "origin", "located", "based", "warehouse", "stock", "factory", "we are", "made in", "produced",
             "aus", "desde", "из", "从", "out of", "outside", "location"),
    "inside": ("within",),
    "worldwide": ("world", "international", "globally", "everywhere", "anywhere", "ww"),
    "to": ("ship", "send", "deliver", "post", "mail", "export", "to", "destination", "available", "only", "->", "=>",
           *"→➡⇒➔➜➝➞⟶⇨", "env", "发", "寄"),
}
_EN_CUES = [("to" if role == "worldwide" else role, pattern, _CUE_KEYS[role]) for role, pattern in _CUES]
_ALL_CUES = _EN_CUES + _INTL_CUES
# one search tells whether any cue of another language may match: its key at the start of a word (anywhere in
# Chinese, which has no spaces); cheaper than each cue's own keys on every clause of English text
_INTL_KEYS = sorted({k for _r, _p, keys in _INTL_CUES for k in keys}, key=len, reverse=True)
_INTL_GATE_RE = re.compile(r"\b(?:" + "|".join(re.escape(k) for k in _INTL_KEYS if not _CJK_RE.search(k)) + ")|"
                           + "|".join(re.escape(k) for k in _INTL_KEYS if _CJK_RE.search(k)))
_ARROW_RE = re.compile(_ARROW + r"| - ")
_ARROWS = frozenset(("→", "->", "=>", ">>", "-", ">", "to", "-->", "==>", *"➡⇒➔➜➝➞⟶⇨"))
CARRIERS = {"usps": "USPS", "ups": "UPS", "fedex": "FedEx", "dhl": "DHL", "ems": "EMS", "tnt": "TNT",
            "royal mail": "Royal Mail", "postnl": "PostNL", "dpd": "DPD", "gls": "GLS", "aramex": "Aramex",
            "china post": "China Post", "sf express": "SF Express", "canada post": "Canada Post",
            "auspost": "Australia Post", "australia post": "Australia Post", "la poste": "La Poste",
            "correos": "Correos", "deutsche post": "Deutsche Post", "priority mail": "USPS",
            "express mail": "EMS", "hermes": "Hermes", "yodel": "Yodel", "parcelforce": "Parcelforce"}
_CARRIER_FIRST = frozenset(k.split(" ")[0] for k in CARRIERS)
_STEALTH_RE = re.compile(r"\bstealth\w*|\bvacuum[\s\-]?seal\w*|\bvac[\s\-]?seal\w*|\bmylar\b|\bdiscre+te?\b|"
                         r"\bdiscreet\w*|\bmbb\b|\bdecoy\w*|\bodou?r[\s\-]?(?:less|proof)|\bsmell[\s\-]?proof|"
                         r"\bnon[\s\-]?descript")
_STEALTH_KEYS = ("stealth", "vac", "mylar", "discre", "mbb", "decoy", "odo", "smell", "nondescript", "non-descript",
                 "non descript")
_DOMESTIC_KEYS = ("domestic", "international", "overseas", "export")
_DOMESTIC_RE = re.compile(r"\bdomestic(?:\s+shipping)?\s+only\b|\bonly\s+domestic\b|\bno\s+international\b|"
                          r"\bdomestic\s+orders?\s+only\b|\bno\s+(?:overseas|export)\b")
# "domestic" as a shipping option ("US Domestic with free USPS shipping", "Domestic: 2-8 days", "(Domestic)",
# "USA Domestic-3 To 4 Days",
# "DOMESTIC USA", "German/Domestic can order"), not "any other domestic price"
_DOMESTIC_WORD_RE = re.compile(r"\bdomestic\b(?=\s*(?:[:)!*,.]|$|[\-–]\s*\d+(?:\s*(?:[\-–]|to)\s*\d+)?\s*"
                               r"(?:business\s+|working\s+)?(?:days?|weeks?|hours?|hrs?)\b)|"
                               r"\s+(?:and\s+international\s+)?(?:ship\w*|deliver\w*|"
                               r"post\w*|mail\w*|track\w*|express|priority|orders?|parcels?|free|with|only|can|"
                               r"customers|buyers|usa?|uk)\b)", re.M)
# "NO DOMESTIC", "non-domestic", "domestic shipping are not accepted"
_NO_DOMESTIC_RE = re.compile(r"\b(?:no|not|non|without)[\s\-]+(?:\w+\s+)?domestic\b"
                             r"|\bdomestic\b(?:\s+\w+){0,2}\s+(?:are|is)\s+(?:not|no longer)\b")


# "only" in the languages of the country table: "Versand nur nach Deutschland" is domestic only
_ONLY_RE = re.compile(r"\b(?:only|nur|alleen|uniquement|seulement|solo|sólo|solamente|únicamente|soltanto|tylko|"
                      r"только)\b|仅|केवल|सिर्फ")


def find_carriers(tokens: Tokens) -> list[str]:
    """Parcel carriers named in the text (USPS, DHL, EMS, ...)."""
    found: list[str] = []
    words = tokens.words
    if _CARRIER_FIRST.isdisjoint(words):
        return found
    for i, word in enumerate(words):
        if word in _CARRIER_FIRST:
            if i + 1 < len(words) and f"{word} {words[i + 1]}" in CARRIERS:
                found.append(CARRIERS[f"{word} {words[i + 1]}"])
            elif word in CARRIERS:
                found.append(CARRIERS[word])
    return list(dict.fromkeys(found))


def _clause_cues(norm: str, start: int, end: int, mentions: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """Cues (start, end, role) in norm[start:end], sorted by end; where cues overlap, the higher-ranked one stays
    ("don't ship to" is a negation, not the "ship to" inside it), and no cue overlaps a mention ("AUS")."""
    clause = norm[start:end]
    found: list[tuple[int, int, str]] = []
    pos: list[int] | None = None
    if "  " in clause or "\t" in clause:  # "ships  out  of", "from\tthe": cues are read with single spaces
        clause, pos = _squeeze(clause)
    has = clause.__contains__
    for role, pattern, keys in _ALL_CUES if _INTL_GATE_RE.search(clause) else _EN_CUES:
        if any(map(has, keys)):
            if pos is None:
                found.extend((m.start() + start, m.end() + start, role) for m in pattern.finditer(clause))
            else:
                found.extend((pos[m.start()] + start, pos[m.end() - 1] + 1 + start, role)
                             for m in pattern.finditer(clause) if m.end() > m.start())
    if mentions:  # a cue inside a mention is none: "AUS" is Australia here, not German "from"
        spans = sorted((m[0], m[1]) for m in mentions)
        found = [c for c in found if not _within_any(spans, c[0], c[1])]
    if not found:
        return found
    found.sort()
    keep: list[tuple[int, int, str]] = []
    group, group_end = [found[0]], found[0][1]
    for c in [*found[1:], None]:  # runs of overlapping cues: only the highest-ranked cues of a run stay
        if c is not None and c[0] < group_end:
            group.append(c)
            group_end = max(group_end, c[1])
            continue
        top = max(_CUE_RANK[g[2]] for g in group)
        keep.extend(g for g in group if _CUE_RANK[g[2]] == top)
        if c is not None:
            group, group_end = [c], c[1]
    keep.sort(key=lambda c: c[1])  # by end; cues ending together stay in order of start (a stable sort)
    return keep


_WS_RUN_RE = re.compile(r"[^\S\n]+")


def _squeeze(clause: str) -> tuple[str, list[int]]:
    """``clause`` with each run of spaces and tabs as one space, and the offset in ``clause`` of each character."""
    out: list[str] = []
    pos: list[int] = []
    last = 0
    for m in _WS_RUN_RE.finditer(clause):
        out.append(clause[last:m.start()])
        pos.extend(range(last, m.start()))
        out.append(" ")
        pos.append(m.start())
        last = m.end()
    out.append(clause[last:])
    pos.extend(range(last, len(clause)))
    return "".join(out), pos


def _within_any(spans: list[tuple[int, int]], start: int, end: int) -> bool:
    """Whether [start, end) lies inside one of the sorted, non-overlapping spans (bisection)."""
    k = bisect.bisect_right(spans, (start, math.inf)) - 1
    return k >= 0 and spans[k][0] <= start and end <= spans[k][1]


_FROM_BEFORE_RE = re.compile(r"\bfrom(?:[^\S\n]+the)?[^\S\n]+$")  # searched in the 30 characters before
# a bullet, a number, or a country code in brackets before the name ("(EU) Austria", "(DE) Germany")
_BULLET_RE = re.compile(r"\s*(?:[-*•·>+~–—]+|\(?\d{1,2}[.)]|[a-z][.)]|\([a-z]{2,3}\))?\s*")
# what may stand between the countries of a list: separators and a few small words
_LIST_GAP_RE = re.compile(r"(?:[\s,;/&+.:()\[\]*\-–—•·!'\"]|\band\b|\bor\b|\bnor\b|\bthe\b|\ball\b|\bof\b|"
                          r"\bto\b|\bin\b|\bany\b|\bplus\b"
                          # one word between slashes: a name in another language the table lacks
                          # ("Luxembourg / Lëtzebuerg / Luxemburg")
                          r"|(?:(?<=/)|(?<=/ ))[^\W\d_]{2,20}(?=[^\S\n]?[/(,;]|[^\S\n]*$)"
                          r"|\([a-z]{2,3}\)"  # a code in brackets that tags the next name: "Austria (EU) France"
                          # "and" / "or" in the languages of the country table ("Deutschland und Österreich")
                          r"|\b(?:und|oder|die|der|den|nach|en|naar|et|ou|la|le|les|l|au|aux|y|o|ni|a|al|e|i|lub|albo|do)\b|(?<!\w)(?:и|или|в|во)(?!\w)|\bऔर\b|\bया\b|[、和及与或])*")


def _is_gap(norm: str, start: int, end: int) -> bool:
    """Whether norm[start:end] holds only list separators ("," "and" "or" "/" "-" bullets)."""
    return end - start <= NOT_GAP and _LIST_GAP_RE.fullmatch(norm, start, end) is not None


# the words right after a mention that no cue governs: "(DE) DOMESTIC only", "German/Domestic", "Dutch seller";
# "US ONLY", "UK-NEXT DAY DELIVERY", "EU shipping", "Australia wide"
_AFTER_FROM_RE = re.compile(r"[\s\-–)\]:/]*(?:seller|vendor|shop|store|supplier|based|stock|warehouse|domestic)\b")
_AFTER_TO_RE = re.compile(r"[\s\-–)\]]*(?:(?:next|same)[\s\-]day\s+)?"
                          r"(?:only|shipping|delivery|shipment|post(?:age)?)\b|\s*(?:配送|送货|包邮)"
                          # "Express post Australia wide", "EU-wide shipping" (not "USA wide selection")
                          r"|[\s\-]*wide\b(?!\s+(?:selection|range|variety|choice|array|assortment))"
                          # a delivery time after it: "Germany 2-4 days", "CANADA 5-12 DAYS", "EU-5DAYS", "UK- NDD",
                          # "1.Germany: 1-2 business days", "Australia, New Zeland - 10/11 days." (not "2 days ago")
                          r"|[\s\-–:(=]*(?:(?:\d{1,2}\s*(?:[\-–/]|to)\s*)?\d{1,2}\s*(?:business\s+|working\s+|work\s+)?"
                          r"(?:days?|dd|tage|werktage|wd|bd|weeks?)\b(?!\s+ago)|ndd\b|next[\s\-]day\b)")
# Chinese "德国发货" is sent from Germany, but "全球发货" ships worldwide
_ZH_DISPATCH_RE = re.compile(r"\s*(?:发货|发出)")
_ZH_WORLDWIDE = frozenset(("全球", "全世界", "世界各地", "国际"))


# Hindi writes its postpositions after the country: "भारत से" (from India), "अमेरिका को शिप नहीं करते" (do not ship to
# America), "यूरोप में डिलीवरी" (delivery in Europe), "रूस को छोड़कर" (except Russia; normalize() drops the nukta)
_HI_AFTER_FROM_RE = re.compile(r"\s*से(?![\u0900-\u097f])")
_HI_AFTER_NOT_RE = re.compile(r"\s*(?:(?:को|में|तक)\s+(?:[\u0900-\u097f]+\s+){0,3}?नहीं|(?:को\s+)?(?:छोडकर|छोड़कर|के अलावा|"
                              r"के सिवा|सिवाय))(?![\u0900-\u097f])")
_HI_AFTER_TO_RE = re.compile(r"\s*(?:को|में|तक)\s+(?:[\u0900-\u097f]+\s+){0,3}?(?:भेज|शिप|डिलीवर|पहुं|पहुँ|सप्लाई|कूरियर)")


def _hindi_role(norm: str, end: int) -> str | None:
    """Role from the Hindi postposition after a mention; a negation anywhere in the rest of the clause wins."""
    tail = norm[end:end + 120].split("\n", 1)[0].split("।", 1)[0]
    if _HI_AFTER_NOT_RE.match(tail):
        return "not"
    if _HI_AFTER_FROM_RE.match(tail):
        return "from"
    if _HI_AFTER_TO_RE.match(tail) and "नहीं" not in tail:
        return "to"
    return None


def _fallback_role(norm: str, start: int, end: int, prev_end: int | None) -> str | None:
    """Role of a mention that no cue before it in its clause governs: the words right after it, or an arrow
    (also one that ends the line above: "France →" / "EU"), or a Hindi postposition."""
    after = norm[end:end + 24]
    if "\u0900" <= after.lstrip()[:1] <= "\u097f":
        return _hindi_role(norm, end)
    rest = after.lstrip()
    if _ARROW_RE.match(rest) or rest.startswith(("to ", ">")) or re.match(r" - [^\W\d]", after):
        return "from"
    if _AFTER_FROM_RE.match(after):
        return "from"
    if _ZH_DISPATCH_RE.match(after):
        return "to" if norm[start:end] in _ZH_WORLDWIDE else "from"
    if _AFTER_TO_RE.match(after):
        return "to"
    gap = norm[prev_end:start] if prev_end is not None and start - prev_end <= 8 else None
    # an arrow at the end of the line above counts ("France →" / "EU"); a dash opening this line is a bullet
    if gap is not None and gap.strip() in _ARROWS and ("\n" not in gap or not gap.rpartition("\n")[2].strip()):
        return "to"  # "China → USA": only the mention right before can be the origin
    return None


# "Shipping from the UK to the EU": a bare "to" between an origin and the next country
_TO_BETWEEN_RE = re.compile(r"[^\S\n]*,?[^\S\n]*(?:to|into)[^\S\n]+(?:(?:all[^\S\n]+)?(?:of[^\S\n]+)?the[^\S\n]+)?")


# a negation after the destination: "Shipping to the USA is not possible", "to Australia is no longer available",
# "Shipping to Canada: not available"
_POST_NOT_RE = re.compile(
    r"[^\S\n]*[:,\-–(]?[^\S\n]*(?:(?:is|are|was|were|will\s+be|has\s+been|have\s+been)\s+)?"
    r"(?:(?:currently|temporarily|unfortunately|sadly|now|sometimes)\s+)?"
    r"(?:(?:not|no\s+longer)\s+(?:possible|available|allowed|accepted|supported|offered|an\s+option)"
    r"|unavailable|impossible|suspended|stopped|paused|discontinued|disabled|banned|forbidden|prohibited)\b")


def _from_then_to(norm: str, prev: tuple[int, int, str], prev_role: str | None, start: int, code: str) -> str:
    """Role of a country that a "from" cue reaches, after another country of the same clause: a destination
    after "<origin> to" ("Shipping from the UK to the EU"), on along its list ("... to the EU and worldwide"), and
    a worldwide word right after the origin ("Ships from Germany worldwide"); else an origin."""
    if prev_role == "from" and _TO_BETWEEN_RE.fullmatch(norm, prev[1], start):
        return "to"
    if prev_role == "to" and _is_gap(norm, prev[1], start):
        return "to"
    if prev_role == "from" and code == "WORLDWIDE" and _is_gap(norm, prev[1], start):
        return "to"
    return "from"


# "eu except outside, norway, finland" (an Agora "ships to" value, tests/fixtures/nlp_probe rs100-98): "outside" as
# an item of the excluded list (outside the region named before), so the exclusion reaches the countries after it
_OUTSIDE_ITEM_RE = re.compile(r"[^\S\n]*(?:outside|elsewhere)[^\S\n]*[,;/&+][^\S\n]*(?:(?:and|or)[^\S\n]+)?")


# a place named as a reference point of a delivery-time table ("Countries near Belgium 2-3 working days", cryptonia
# profile 15, tests/fixtures/nlp_probe page-cry15-ship): the countries around it are the destinations, not it
_NEAR_BEFORE_RE = re.compile(r"\b(?:near|nearby|close to|next to|neighbou?r(?:ing|s)?(?: of)?|bordering|"
                             r"surrounding)[^\S\n]+(?:the[^\S\n]+)?$")


def _assign_roles(norm: str, mentions: list[tuple[int, int, str]]) -> list[str | None]:
    """Role of each mention (sorted by start): from / to / not, or None.

    Lines first, then clauses inside a line (". ", "!", ";", "|", "•"). In a clause, a mention takes the role
    of the nearest cue before it, if the cue reaches it: a negation only across a list (each next country at most
    ``NOT_GAP`` characters of separators after the last: "we don't ship to AUS, NZ or Canada"), a from/to cue up
    to ``CUE_WINDOW`` characters after it or its last country. A line that ends in a cue and no country (a
    heading: "Countries I don't ship to:") gives its role to the list lines below it (bullets, or lines of only
    countries and separators), until a line that is not a list line.
    """
    roles: list[str | None] = [None] * len(mentions)
    n = len(norm)
    # the role carried down a list from its heading, and where the list must continue (the end of its last line)
    carry: tuple[str, int] | None = None
    i = 0
    prev_end: int | None = None  # end of the last mention
    while i < len(mentions):
        line_start = norm.rfind("\n", 0, mentions[i][0]) + 1
        line_end = norm.find("\n", mentions[i][0])
        if line_end < 0:
            line_end = n
        j = i
        while j < len(mentions) and mentions[j][0] < line_end:
            j += 1
        line_mentions = mentions[i:j]
        # a heading above this line (only blank lines between), or the list it belongs to continues
        if carry is not None and not norm[carry[1]:line_start].strip():
            carried: str | None = carry[0]
        else:
            carried = _heading_above(norm, line_start, mentions[i - 1][1] if i else 0)
        carry = None
        # clauses of the line
        clause_start = line_start
        k = i
        own_cue = False
        for cm in [*_CLAUSE_RE.finditer(norm, line_start, line_end), None]:
            clause_end = cm.end() if cm is not None else line_end
            m_end = k
            while m_end < j and mentions[m_end][0] < clause_end:
                m_end += 1
            if m_end > k:
                cues = _clause_cues(norm, clause_start, clause_end, mentions[k:m_end])
                own_cue = own_cue or bool(cues)
                ci = 0
                cur: tuple[int, int, str] | None = None
                for idx in range(k, m_end):
                    s, e, _code = mentions[idx]
                    while ci < len(cues) and cues[ci][1] <= s:
                        cur = cues[ci]
                        reach = cur[1]  # end of the last item (cue or country) the current cue governs
                        ci += 1
                    role = None
                    if (cur is not None and cur[2] == "to" and s - cur[1] <= CUE_WINDOW
                            and _FROM_BEFORE_RE.search(norm, s - 30, s)):  # (a negative start is 0)
                        # a bare "from" right before it, after "we ship": "we ship all our products from The
                        # Netherlands"; not "cocaine from Colombia" (where the product comes from)
                        role = "from"
                    elif cur is not None:
                        if cur[2] in ("not", "inside"):
                            ok = _is_gap(norm, reach, s) or (
                                cur[2] == "not" and _OUTSIDE_ITEM_RE.fullmatch(norm, reach, s) is not None)
                        else:
                            ok = s - reach <= CUE_WINDOW
                        if ok:
                            role = "to" if cur[2] == "within" else cur[2]
                            reach = e
                        if role == "from" and idx > k and roles[idx - 1] in ("from", "to"):
                            role = _from_then_to(norm, mentions[idx - 1], roles[idx - 1], s, _code)
                    if role is None:
                        role = _fallback_role(norm, s, e, prev_end)
                        if role in ("to", "not"):
                            # "USA and Canada only", "UK & EU shipping", "अमेरिका और कनाडा को शिप नहीं": the list
                            # before the word shares it
                            back = idx
                            while (back > k and roles[back - 1] is None
                                   and _is_gap(norm, mentions[back - 1][1], mentions[back][0])):
                                back -= 1
                                roles[back] = role
                    if role == "to" and _NEAR_BEFORE_RE.search(norm, max(0, s - 24), s):
                        role = None  # "Countries near Belgium 2-3 working days": a reference point, no destination
                    if role == "to" and _POST_NOT_RE.match(norm, e, clause_end):
                        # "Shipping to the USA is not possible", "Shipping to Canada and the US: not available":
                        # the negation after the list takes it back
                        role = "not"
                        back = idx
                        while (back > k and roles[back - 1] == "to"
                               and _is_gap(norm, mentions[back - 1][1], mentions[back][0])):
                            back -= 1
                            roles[back] = role
                    roles[idx] = role
                    prev_end = e
            k = m_end
            clause_start = clause_end
        # list lines under a heading take its role where no cue of their own says otherwise
        if carried is not None and _is_list_line(norm, line_start, line_end, line_mentions):
            for idx in range(i, j):
                if roles[idx] is None or not own_cue:
                    roles[idx] = carried
            carry = (carried, line_end)
        else:
            # a list wrapped over a line break ("we ship to Germany, France,\nItaly, Spain"): the line ends in a
            # country with a role and a list separator (or the next line opens with one), so the list lines below
            # continue it as under a heading
            last, last_end = roles[j - 1], mentions[j - 1][1]
            if last is not None and _is_gap(norm, last_end, line_end) and (
                    _WRAP_END_RE.search(norm, last_end, line_end) or _WRAP_START_RE.match(norm, line_end + 1)):
                carry = (last, line_end)
        i = j
    return roles


_WRAP_END_RE = re.compile(r"(?:[,/&+]|\band|\bor|\bnor)[^\S\n]*$")
_WRAP_START_RE = re.compile(r"[^\S\n]*(?:[,/&+]|(?:and|or|nor)\b)")


def _is_list_line(norm: str, start: int, end: int, line_mentions: list[tuple[int, int, str]]) -> bool:
    """A line of a list: a bullet before the first country and separators between the countries, or a
    bulleted line of a few words ("- Australia (no exceptions)")."""
    b = _BULLET_RE.match(norm, start)
    first = b.end() if b is not None else start
    bulleted = norm[start:first].strip() != ""
    pos = first
    for s, e, _c in line_mentions:
        if not _is_gap(norm, pos, s):
            return False
        pos = e
    # after the last country: separators, or a short tail ("Payment : Full Escrow", "(no exceptions)")
    return _is_gap(norm, pos, end) or end - pos <= 40 or bulleted


def _heading_above(norm: str, line_start: int, prev_mention_end: int) -> str | None:
    """Role of the heading right above ``line_start`` (blank lines may lie between): a line whose last cue is
    followed by at most a few words and no country ("Countries I don't ship to:", "We do NOT ship to")."""
    end = line_start - 1
    for _ in range(3):
        if end <= 0:
            return None
        start = norm.rfind("\n", 0, end) + 1
        if norm[start:end].strip():
            break
        end = start - 1
    else:
        return None
    if prev_mention_end > start or end - start > 300:
        return None  # the line above names a country itself, or is prose, not a heading
    cues = _clause_cues(norm, start, end, [])
    if not cues:
        return None
    _cs, ce, role = cues[-1]
    tail = norm[ce:end].strip(" \t:-–—=>→*.!")
    if len(tail.split()) > 3:
        return None
    return "to" if role == "within" else role


PICKER_MIN_COUNTRIES = 20  # this many countries on option lines in a row are a country picker, no policy


_OPTION_LINE_RE = re.compile(r"[^\S\n]*[^\W\d_][^\n\d]{0,60}\([a-z]{2,3}\)[^\S\n]*")


def _picker_block(norm: str, spans: list[tuple[int, int, str, str]]) -> set[tuple[int, int]]:
    """(start, end) of the mentions on option lines ("Albania (AL)": a short name and its code in brackets) in
    runs, at most three lines apart, that name ``PICKER_MIN_COUNTRIES`` countries or more: a select's options."""
    out: set[tuple[int, int]] = set()
    run: list[tuple[int, int, str, str]] = []

    def close() -> None:
        if len({sp[2] for sp in run}) >= PICKER_MIN_COUNTRIES:
            out.update((sp[0], sp[1]) for sp in run)
        run.clear()

    for sp in sorted(spans):
        a = norm.rfind("\n", 0, sp[0]) + 1
        b = norm.find("\n", sp[1])
        b = len(norm) if b < 0 else b
        if _OPTION_LINE_RE.fullmatch(norm, a, b) is None:
            close()
            continue
        if run and norm.count("\n", run[-1][1], sp[0]) > 3:
            close()
        run.append(sp)
    close()
    return out


def _drop_tags(norm: str, mentions: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """``mentions`` without the codes in brackets that tag the country named right after them: "(EU) Italy /
    Italia" (cryptonia vendor profile, tests/fixtures/nlp_probe) names Italy, not the whole EU, in a list of
    countries that are never shipped to."""
    out: list[tuple[int, int, str]] = []
    for k, (s, e, code) in enumerate(mentions):
        if (e - s <= 3 and 0 < s and norm[s - 1] == "(" and e < len(norm) and norm[e] == ")"
                and k + 1 < len(mentions) and mentions[k + 1][0] - e <= 3
                and not norm[e + 1:mentions[k + 1][0]].strip(" \t")
                # "Germany (DE) Ghana (GH)": the code of the name before it, not a tag
                and not (out and out[-1][2] == code and s - out[-1][1] <= 3)):
            continue
        out.append((s, e, code))
    return out


# a country as the example value of an address template: "UNITED KINGDOM (Country: FULL CAPITALS)" under "Remember
# ADDRESS FORMATTING" (apollon seller_5, tests/fixtures/nlp_probe page-apo5-address) says how to write the field
_FIELD_EXAMPLE_RE = re.compile(r"[^\S\n]*\(country\b[^\S\n]*[:)]")


def find_shipping(norm: str, countries: list[tuple[int, int, str]], tokens: Tokens) -> dict[str, Any]:
    """Assign country mentions to ships_from / ships_to / ships_not_to by the clause and list grammar of
    ``_assign_roles``; region words ("Scandinavia", "Middle East") stand for their countries."""
    ships_from: list[str] = []
    ships_to: list[str] = []
    ships_not: list[str] = []
    unassigned: list[str] = []
    spans: list[tuple[int, int, str, str]] = []
    mentions = _drop_tags(norm, sorted(countries))
    if "(country" in norm:
        mentions = [m for m in mentions if not _FIELD_EXAMPLE_RE.match(norm, m[1])]
    roles = _assign_roles(norm, mentions) if mentions else []
    for idx, (start, end, code) in enumerate(mentions):
        role = roles[idx]
        codes = code.split(",")
        if role == "from":
            ships_from.extend(codes)
        elif role == "to":
            ships_to.extend(codes)
        elif role == "not":
            ships_not.extend(codes)
        elif role == "inside":  # "we only ship within the US": from there and to there
            ships_from.extend(codes)
            ships_to.extend(codes)
            role = "to"
        if role is not None:
            spans.append((start, end, code, role))
        elif code not in ("WORLDWIDE", "EU") and "," not in code:
            unassigned.append(code)
            spans.append((start, end, code, "mentioned"))
    if "(" in norm and len(spans) >= PICKER_MIN_COUNTRIES:
        block = _picker_block(norm, spans)
        if block:
            # a form's option list ("--Ships From--" then "Afghanistan (AF)", "Albania (AL)", ... on saved
            # Cryptonia and Apollon result pages) is not what a seller states: its lines go, the rest stays
            spans = [sp for sp in spans if (sp[0], sp[1]) not in block]
            for role, codes_of_role in (("from", ships_from), ("to", ships_to), ("not", ships_not),
                                        ("mentioned", unassigned)):
                codes_of_role[:] = [c for sp in spans if sp[3] == role for c in sp[2].split(",")
                                    if role != "mentioned" or (c not in ("WORLDWIDE", "EU") and "," not in sp[2])]
    not_set = set(ships_not)
    domestic_stated = any(k in norm for k in _DOMESTIC_KEYS) and bool(_DOMESTIC_RE.search(norm))
    if "WORLDWIDE" in not_set:
        # "will not ship international(ly)", "we don't ship worldwide" (tests/fixtures/nlp_probe, a saved vendor
        # profile): no exclusion of the whole world but domestic shipping only, unless the text names where else
        # it ships ("we don't ship internationally, only to the US and Canada")
        ships_not = [c for c in ships_not if c != "WORLDWIDE"]
        domestic_stated = domestic_stated or not [c for c in ships_to if c != "WORLDWIDE"]
    return {
        "ships_from": list(dict.fromkeys(c for c in ships_from if c not in ("WORLDWIDE",))),
        "ships_to": list(dict.fromkeys(c for c in ships_to if c not in not_set)),
        "ships_not_to": list(dict.fromkeys(ships_not)),
        "mentioned": list(dict.fromkeys(unassigned)),
        "spans": spans,
        "carriers": find_carriers(tokens),
        "stealth": any(k in norm for k in _STEALTH_KEYS) and bool(_STEALTH_RE.search(norm)),
        "domestic_only": domestic_stated or (
            len(set(ships_to)) == 1 and ships_to[0] not in ("WORLDWIDE", "EU") and _ONLY_RE.search(norm) is not None),
        # "domestic only" said in words (not inferred from "USA only"), and domestic shipping offered at all
        "domestic_stated": domestic_stated,
        "domestic_offered": "domestic" in norm and _DOMESTIC_WORD_RE.search(norm) is not None
        and _NO_DOMESTIC_RE.search(norm) is None,
    }


def domestic_destinations(ship: dict[str, Any], ships_from: list[str]) -> list[str]:
    """``ships_to`` once the origin is known (``ship`` is ``find_shipping``'s result).

    With one origin country, "domestic only" (in words: "(DE) DOMESTIC only", "only domestic shipping", "no
    international") means that country and nothing else; domestic shipping offered ("US Domestic with free USPS
    shipping", "Domestic: 2-8 days", "US- (Domestic)") adds it, unless the text ships worldwide (which covers it).
    "no domestic", "domestic shipping is not accepted" add nothing. An excluded country is never added.
    """
    to: list[str] = ship["ships_to"]
    origin = [c for c in ships_from if c not in ("EU", "WORLDWIDE")]
    if len(origin) != 1 or origin[0] in ship["ships_not_to"]:
        return to
    if ship.get("domestic_stated"):
        return origin
    if ship.get("domestic_offered") and origin[0] not in to and "WORLDWIDE" not in to:
        return [*to, origin[0]]
    return to


# ---------------------------------------------------------------- price and quantity

_CUR_SYMBOL = {"$": "USD", "€": "EUR", "£": "GBP", "¥": "CNY", "₿": "BTC", "₽": "RUB", "₹": "INR"}
_CUR_WORD = {"usd": "USD", "dollar": "USD", "dollars": "USD", "bucks": "USD", "eur": "EUR", "euro": "EUR",
             "euros": "EUR", "gbp": "GBP", "pound": "GBP", "pounds": "GBP", "btc": "BTC", "bitcoin": "BTC",
             "xmr": "XMR", "monero": "XMR", "usdt": "USDT", "eth": "ETH", "ltc": "LTC", "cad": "CAD",
             "aud": "AUD", "rub": "RUB", "cny": "CNY", "rmb": "CNY", "inr": "INR", "mxn": "MXN"}
_NUM = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:[.,]\d+)?"
# _NUM not inside a word or after a decimal point, and not after "digit," (inside "1,5"; "1g,5g" are two amounts);
# the first digit comes first so that the scan jumps between digits
_NUM_LEAD = r"\d(?<![\w.]\d)(?<!\d,\d)(?:\d{0,2}(?:,\d{3})+(?:\.\d+)?|\d*(?:[.,]\d+)?)"
_SYMS = "$€£¥₿₽₹"
_SYM_PRICE_RE = re.compile(r"(?P<sym>[$€£¥₿₽₹])\s?(?P<a>" + _NUM + r")")
_NUM_CUR_RE = re.compile(r"(?P<a>" + _NUM_LEAD + r")\s?(?:(?P<sym>[$€£¥₿₽₹])|(?P<word>"
                         + "|".join(sorted(_CUR_WORD, key=len, reverse=True)) + r")\b)", re.I)
_CUR_NUM_RE = re.compile(r"\b(?P<word>usd|eur|gbp|btc|xmr|usdt)\s?(?P<a>" + _NUM + r")\b", re.I)
_UNITS = {"mg": "mg", "mcg": "mcg", "µg": "mcg", "ug": "mcg", "g": "g", "gr": "g", "gram": "g", "grams": "g",
          "gramm": "g", "kg": "kg", "kilo": "kg", "kilos": "kg", "oz": "oz", "ounce": "oz", "ounces": "oz",
          "lb": "lb", "lbs": "lb", "pill": "pill", "pills": "pill", "tab": "pill", "tabs": "pill",
          "tablet": "pill", "tablets": "pill", "pcs": "piece", "pc": "piece", "pieces": "piece", "ml": "ml",
          "l": "l", "liter": "l", "litre": "l", "bar": "pill", "bars": "pill", "blotter": "blotter",
          "blotters": "blotter", "cap": "capsule", "caps": "capsule", "capsule": "capsule", "capsules": "capsule",
          "ton": "t", "tons": "t", "tonnes": "t"}
QTY_RE = re.compile(r"(?P<a>\d(?<![\w.]\d)\d*(?:[.,]\d+)?)\s?(?P<u>" + "|".join(sorted(_UNITS, key=len, reverse=True))
                    + r")(?![\w])", re.I)
_COUNT_RE = re.compile(r"[xX](?<![a-z0-9][xX])\s?(?P<n>\d{1,5})\b")


def _amount(raw: str) -> str:
    raw = raw.replace(" ", "")
    if raw.count(",") and "." not in raw and len(raw.split(",")[-1]) != 3:
        raw = raw.replace(",", ".")
    return raw.replace(",", "")


def find_prices(text: str) -> list[dict[str, Any]]:
    """Prices with ISO 4217 code or crypto ticker, amounts as decimal strings."""
    found: dict[int, dict[str, Any]] = {}
    if any(c in text for c in _SYMS):
        for m in _SYM_PRICE_RE.finditer(text):
            found[m.start()] = {"amount": _amount(m.group("a")), "currency": _CUR_SYMBOL[m.group("sym")],
                                "start": m.start(), "end": m.end()}
    low = text.lower()
    for m in (_NUM_CUR_RE.finditer(text) if found or any(c in text for c in _SYMS) or any(w in low for w in _CUR_WORD)
              else ()):
        cur = _CUR_SYMBOL[m.group("sym")] if m.group("sym") else _CUR_WORD[m.group("word").lower()]
        if not any(s <= m.start() < p["end"] for s, p in found.items()):
            found[m.start()] = {"amount": _amount(m.group("a")), "currency": cur, "start": m.start(), "end": m.end()}
    if any(w in low for w in ("usd", "eur", "gbp", "btc", "xmr")):
        for m in _CUR_NUM_RE.finditer(text):
            if not any(s <= m.start() < p["end"] for s, p in found.items()):
                found[m.start()] = {"amount": _amount(m.group("a")), "currency": _CUR_WORD[m.group("word").lower()],
                                    "start": m.start(), "end": m.end()}
    return [found[k] for k in sorted(found)]


# A number and the word or currency sign after it. The word is the whole run of letters, looked up in
# _AMOUNT_WORDS afterwards: the same matches as an alternation of the ~60 words followed by a non-letter, which
# the regex engine tried one by one after every number (the run cannot hold the start of another match).
_AMOUNT_RE = re.compile(r"(?P<a>" + _NUM_LEAD + r")\s?(?P<w>[a-zA-Zµ]+|[$€£¥₿₽₹])", re.I)
_AMOUNT_WORDS = frozenset({*_UNITS, *_CUR_WORD})


def find_amounts(text: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(prices, quantities) in one scan over the numbers of the text."""
    prices: dict[int, dict[str, Any]] = {}
    qty: list[dict[str, Any]] = []
    covered: set[int] = set()  # start offsets inside a price found so far (each price marks its own span)

    def add_price(start: int, end: int, amount: str, currency: str) -> None:
        prices[start] = {"amount": _amount(amount), "currency": currency, "start": start, "end": end}
        covered.update(range(start, end))

    if any(c in text for c in _SYMS):
        for m in _SYM_PRICE_RE.finditer(text):
            add_price(m.start(), m.end(), m.group("a"), _CUR_SYMBOL[m.group("sym")])
    for m in _AMOUNT_RE.finditer(text):
        w = m.group("w")
        lw = w.lower()
        if lw not in _AMOUNT_WORDS and w not in _CUR_SYMBOL:
            continue
        if lw in _UNITS:
            qty.append({"amount": m.group("a").replace(",", "."), "unit": _UNITS[lw], "start": m.start(),
                        "end": m.end()})
        elif (lw in _CUR_WORD or w in _CUR_SYMBOL) and m.start() not in covered:
            add_price(m.start(), m.end(), m.group("a"), _CUR_SYMBOL[w] if w in _CUR_SYMBOL else _CUR_WORD[lw])
    low = text.lower()
    if any(w in low for w in ("usd", "eur", "gbp", "btc", "xmr")):
        for m in _CUR_NUM_RE.finditer(text):
            if m.start() not in covered:
                add_price(m.start(), m.end(), m.group("a"), _CUR_WORD[m.group("word").lower()])
    if "x" in text or "X" in text:
        for m in _COUNT_RE.finditer(text):
            qty.append({"amount": m.group("n"), "unit": "piece", "start": m.start(), "end": m.end()})
        qty.sort(key=lambda q: q["start"])
    return [prices[k] for k in sorted(prices)], qty


def find_quantities(text: str) -> list[dict[str, Any]]:
    """Quantities with a normalised unit (mg, g, kg, oz, pill, ...)."""
    out = []
    for m in QTY_RE.finditer(text):
        out.append({"amount": m.group("a").replace(",", "."), "unit": _UNITS[m.group("u").lower()],
                    "start": m.start(), "end": m.end()})
    if "x" in text or "X" in text:
        for m in _COUNT_RE.finditer(text):
            out.append({"amount": m.group("n"), "unit": "piece", "start": m.start(), "end": m.end()})
        out.sort(key=lambda q: q["start"])
    return out
