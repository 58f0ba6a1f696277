"""Build nlp/data/substances.tsv from the hand-written tables and the copied DEA/analogue lexicons."""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from pathlib import Path

from nlp.lexicon import is_junk_name

DATA_DIR = Path(__file__).resolve().parents[1] / "data"
SOURCES = DATA_DIR / "sources"
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff]")
OUT_COLUMNS = ["term", "canonical", "class", "cas", "control", "strength", "source"]

# DEA street-name categories -> (canonical, class)
CATEGORY_MAP: dict[str, tuple[str, str]] = {
    "fentanyl and fentanyl derivatives": ("fentanyl", "fentanyl"),
    "heroin": ("heroin", "opioid"),
    "opium": ("opium", "opioid"),
    "oxycodone": ("oxycodone", "opioid"),
    "acetaminophen and oxycodone": ("oxycodone", "opioid"),
    "hydrocodone": ("hydrocodone", "opioid"),
    "promethazine with codeine": ("codeine", "opioid"),
    "codeine": ("codeine", "opioid"),
    "codeine combinations": ("codeine", "opioid"),
    "morphine": ("morphine", "opioid"),
    "morphine-opium": ("morphine", "opioid"),
    "hydromorphone": ("hydromorphone", "opioid"),
    "methadone": ("methadone", "opioid"),
    "fentanyl": ("fentanyl", "fentanyl"),
    "cocaine": ("cocaine", "stimulant"),
    "crack cocaine": ("cocaine", "stimulant"),
    "crack": ("cocaine", "stimulant"),
    "amphetamine": ("amphetamine", "stimulant"),
    "methamphetamine": ("methamphetamine", "stimulant"),
    "synthetic cathinones": ("synthetic cathinone", "stimulant"),
    "synthetic cathinone": ("synthetic cathinone", "stimulant"),
    "ritalin": ("methylphenidate", "stimulant"),
    "marijuana": ("cannabis", "cannabis"),
    "marijuana concentrates": ("cannabis", "cannabis"),
    "marijuana concentrate": ("cannabis", "cannabis"),
    "synthetic cannabinoids": ("synthetic cannabinoid", "cannabis"),
    "synthetic cannabinoid": ("synthetic cannabinoid", "cannabis"),
    "lsd": ("lsd", "hallucinogen"),
    "mushrooms": ("psilocybin", "hallucinogen"),
    "peyote": ("mescaline", "hallucinogen"),
    "mescaline": ("mescaline", "hallucinogen"),
    "mdma": ("mdma", "hallucinogen"),
    "pcp": ("pcp", "hallucinogen"),
    "ketamine": ("ketamine", "hallucinogen"),
    "ghb": ("ghb", "depressant"),
    "alprazolam": ("alprazolam", "depressant"),
    "clonazepam": ("clonazepam", "depressant"),
}
LOOKUP_CLASS = {"narcotic (opioid)": "opioid", "heroin": "opioid", "stimulant": "stimulant",
                "cannabis": "cannabis", "hallucinogen": "hallucinogen", "depressant": "depressant",
                "inhalant": "other", "steroid": "other", "analgesic": "other", "antitussive": "other",
                "drugs of concern": "other"}  # treatment drugs and reversal agents (naloxone) are not drugs of concern


# Class by name stem, for DEA rows that neither the DEA row nor lookup_df classes: WHO INN stems
# (-azepam, -azolam, -barbital, -orphan, -adol), designer-drug series (NBOMe, 2C-x, -PVP, -pinaca) and
# cathinone and tryptamine names. First match wins; checked on the canonical name and its aliases.
STEM_CLASSES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"\banpp\b|norfentanyl|4-piperidone|anilinopiperidine"), "precursor"),
    (re.compile(r"fentan"), "fentanyl"),
    (re.compile(r"nitazene|orphan|orphine|codone|morphone|\w+(?<!hex)adol\b|methadyl|ketobemidone|pethidine"),
     "opioid"),
    (re.compile(r"azepam|azolam|zolam\b|azepine|barbital|zolpidem|zaleplon|zopiclone|meprobamate|"
                r"carisoprodol|methaqualone"), "depressant"),
    (re.compile(r"pinaca|pica\b|minaca|jwh-|cp-47|am-?2201|cannabin|tetrahydrocannabinol"), "cannabis"),
    (re.compile(r"nbome|\b2c-[a-z]|tryptamine|\bdmt\b|\bdipt\b|mipt\b|lyserg(?:ide|ic acid (?:di)?(?:ethyl)?amide)|"
                r"psilocy|mescaline|methoxyamphetamine|methylenedioxyamphetamine|\bdo[bcim]\b|phencyclidine|ketamine|"
                r"methoxetamine|salvinorin"), "hallucinogen"),
    (re.compile(r"-?pvp\b|pyrrolidino|cathinone|\w+drone\b|\w+ylone\b|amphetamine|amfetamine|"
                r"methylphenidate|phenmetrazine|\bmdpv\b|pentedrone|benzylpiperazine|aminorex"), "stimulant"),
]


def stem_class(*names: str) -> str | None:
    """The class a substance name's stem says (``etizolam`` -> depressant, ``25i-nbome`` -> hallucinogen)."""
    for pattern, cls in STEM_CLASSES:
        if any(pattern.search(n) for n in names if n):
            return cls
    return None


def _clean(term: str) -> str:
    term = term.replace("’", "'").replace("¦Á", "alpha-").replace("¦Â", "beta-").replace("?", "")
    term = re.sub(r"\s*\((?:mixed with|in pill form|liquid)[^)]*\)", "", term, flags=re.I)
    return re.sub(r"\s+", " ", term).strip().lower()


def _trailing_group(name: str) -> tuple[str, str] | None:
    """(text before, text inside) of a balanced bracket group that ends ``name``, nesting allowed."""
    if not name.endswith(")"):
        return None
    depth = 0
    for i in range(len(name) - 1, -1, -1):
        if name[i] == ")":
            depth += 1
        elif name[i] == "(":
            depth -= 1
            if depth == 0:
                return name[:i].strip(), name[i + 1:-1].strip()
    return None


def dea_names(substance: str) -> list[str]:
    """Names of a DEA row: the canonical name first, then the others it lists or replaced.

    "2-(4-iodo-2,5-dimethoxyphenyl)-N-(2-methoxybenzyl)ethanamine (25I-NBOMe)" -> ["25i-nbome",
    "2-(4-iodo-...)ethanamine"]; "MDPV (3,4-Methylenedioxypyrovalerone)" -> ["mdpv"];
    "5F-ADB; 5F-MDMB-PINACA (Methyl ...)" -> ["5f-adb", "5f-mdmb-pinaca"]. Only a balanced trailing
    group is removed, so "2-(2,5-dimethoxyphenyl) ethanamine" never shrinks to the fragment "2-".
    """
    name = _clean(substance).replace("\u2013", "-")
    while name.endswith("))") and name.count(")") > name.count("("):
        name = name[:-1]  # a stray closing bracket in the source row
    if name.count("(") > name.count(")") and " (" in name:
        name = name[:name.index(" (")]  # an explanation that is never closed
    extra: list[str] = []
    while (group := _trailing_group(name)) is not None and group[0]:
        head, inner = group
        if is_junk_name(head):
            name = inner
            break
        if len(head) > 30 and 2 <= len(inner) <= 15 and " " not in inner and not is_junk_name(inner):
            extra.append(head)
            name = inner  # the short name analysts use ("2c-p", "25b-nbome")
            break
        name = head
    # "5f-adb; 5f-mdmb-pinaca", "mdmb-chmica, mmb-chminaca": several code names ("opium, raw" is one name)
    parts = [p.strip() for p in re.split(r";\s*|,\s+(?=[\w]+-)", name) if p.strip()]
    names = [*parts, *extra] if parts else [name]
    return [n for n in dict.fromkeys(names) if len(n) <= 60 and not is_junk_name(n)] or [""]


def _hand_table(path: Path) -> Iterator[dict[str, str]]:
    with path.open(encoding="utf-8") as f:
        for line in f:
            if not line.strip() or line.startswith("#"):
                continue
            canonical, cls, cas, control, names, source = line.rstrip("\n").split("\t")
            for name in names.split(";"):
                weak = name.startswith("~")
                yield {"term": _clean(name.lstrip("~")), "canonical": canonical, "class": cls, "cas": cas,
                       "control": control, "strength": "weak" if weak else "strong",
                       "source": f"{path.name}: {source}"}


def _lookup_classes() -> dict[str, str]:
    """Drug class by name from lookup_df (categories and synonyms), for DEA rows that carry none."""
    out: dict[str, str] = {}
    with (SOURCES / "lookup_df.rda.csv").open(encoding="utf-8", newline="") as f:
        for r in csv.DictReader(f):
            cls = LOOKUP_CLASS.get(r["class"].strip().lower())
            if cls and cls != "other":
                for name in (r["category"], r["synonym"]):
                    out.setdefault(_clean(name), cls)
    return out


def _c_cs_alpha(stop: set[str] | frozenset[str] = frozenset()) -> Iterator[dict[str, str]]:
    import openpyxl  # build-time only (dev extra)

    classes = _lookup_classes()

    wb = openpyxl.load_workbook(SOURCES / "c_cs_alpha.xlsx", read_only=True)
    ws = wb.worksheets[0]
    for i, row in enumerate(ws.iter_rows(values_only=True)):
        if i == 0 or not row[0]:
            continue
        substance, number, schedule, narcotic, names = (row + (None,) * 5)[:5]
        base, *long_names = dea_names(str(substance))
        if not base:
            continue
        is_fent = "fentan" in base
        cls = "fentanyl" if is_fent else ("opioid" if narcotic == "Y" and "coca" not in base else "other")
        if cls == "other":
            aliases = [_clean(n).strip('"') for n in re.split(r";|,\s", str(names or ""))]
            if "cannabi" in base or "marihuana" in base:
                cls = "cannabis"
            else:
                cls = next((classes[n] for n in [base, *aliases] if n in classes), None) or \
                    stem_class(base, *long_names, *aliases) or "other"
        control = f"US CSA Schedule {schedule}" if schedule else ""
        src = f"c_cs_alpha.xlsx (DEA controlled substances, code {number})"
        for term in (base, *long_names):
            yield {"term": term, "canonical": base, "class": cls, "cas": "", "control": control,
                   "strength": "strong", "source": src}
        for name in re.split(r";|,\s", str(names or "")):
            name = _clean(name).strip('" ,;')
            if not name or name in {"fentanyl", "china white", "chine white"} or len(name) > 60 \
                    or is_junk_name(name):
                continue
            # aliases mix chemical names, brands and street words ("trip", "cat"): short plain words need context
            strong = len(name) >= 6 or bool(re.search(r"[\d-]", name)) or name not in stop
            if cls == "other" and len(name) >= 5 and not re.search(r"[\d-]", name):
                strong = False  # brand names of steroids and the like ("Android") are ordinary words too
            yield {"term": name, "canonical": base, "class": cls, "cas": "", "control": control,
                   "strength": "strong" if strong else "weak", "source": src}


def _analogues() -> Iterator[dict[str, str]]:
    names = (SOURCES / "fentanyl_lib_names.txt").read_text(encoding="utf-8").splitlines()
    with (SOURCES / "base.csv").open(encoding="utf-8", newline="") as f:
        names += [r["compound"] for r in csv.DictReader(f)]
    for name in names:
        term = _clean(name)
        if len(term) < 5 or not re.search(r"fent|nil$|anpp", term):
            continue
        yield {"term": term, "canonical": term, "class": "fentanyl", "cas": "",
               "control": "US CSA Schedule I (fentanyl-related substance)", "strength": "strong",
               "source": "Fentnayl_lib.csv / base.csv (fentanyl analogue libraries)"}


def _slang() -> Iterator[dict[str, str]]:
    for line in (SOURCES / "slangUE.txt").read_text(encoding="utf-8").splitlines():
        if "~" not in line:
            continue
        drug, _brand, slang = line.split("~", 2)
        mapped = CATEGORY_MAP.get(drug.strip().lower())
        if not mapped:
            continue
        for term in slang.split(";"):
            yield _slang_row(term, mapped, "slangUE.txt (DEA Drug Slang Code Words 2017)")
    with (SOURCES / "dea_street_names.rda.csv").open(encoding="utf-8", newline="") as f:
        for r in csv.DictReader(f):
            mapped = CATEGORY_MAP.get(r["category"].strip().lower())
            if mapped:
                for term in (r["slang"], r["brand"]):
                    if term and term != "NA":
                        yield _slang_row(term, mapped, "dea_street_names.rda.csv (DEA)")
    with (SOURCES / "lookup_df.rda.csv").open(encoding="utf-8", newline="") as f:
        for r in csv.DictReader(f):
            cls = LOOKUP_CLASS.get(r["class"].strip().lower())
            if cls is None:
                continue
            cat = _clean(r["category"])
            canonical, cls2 = CATEGORY_MAP.get(cat, (cat, cls))
            row = _slang_row(r["synonym"], (canonical, cls2), "lookup_df.rda.csv (CTN-0094/DOPE)")
            yield row
            yield {**row, "term": cat, "strength": "strong"}


def _slang_row(term: str, mapped: tuple[str, str], source: str) -> dict[str, str]:
    return {"term": _clean(term), "canonical": mapped[0], "class": mapped[1], "cas": "", "control": "",
            "strength": "weak", "source": source}


def build(out: Path = DATA_DIR / "substances.tsv", stoplist: set[str] | None = None,
          learned: list[dict[str, str]] | None = None, stoplist_file: Path = DATA_DIR / "slang_stoplist.txt") -> int:
    """Merge all sources (earlier sources win on the same term) and write the runtime table."""
    from spacy.lang.en.stop_words import STOP_WORDS

    stop = set(STOP_WORDS) | (stoplist or set())
    if stoplist_file.exists():
        stop |= {w.strip() for w in stoplist_file.read_text(encoding="utf-8").splitlines() if w.strip()}
    rows: dict[str, dict[str, str]] = {}
    order = [_hand_table(DATA_DIR / "precursors.tsv"), _hand_table(DATA_DIR / "core_substances.tsv"),
             _hand_table(DATA_DIR / "inn_names.tsv"), _hand_table(DATA_DIR / "medications.tsv"),
             _analogues(), _c_cs_alpha(stop), _slang()]
    learned_rows = learned or []
    for source in order:
        for row in source:
            term = row["term"]
            if not _CJK.search(term) and (is_junk_name(term) or is_junk_name(row["canonical"])):
                continue  # fragments of chemical names ("2-", "[3"): they match bare digits in any text
            if re.search(r" (?:with|and|&) ", term) and not row["source"].endswith(".tsv") \
                    and not row["source"].startswith(("core_", "precursors", "inn_names")):
                continue  # combinations ("promethazine with codeine") are two substances
            if (len(term) < 2 and term.isascii()) or term in rows or (row["strength"] == "strong" and term.isdigit()):
                continue
            if row["strength"] == "weak" and (term in stop or (len(term) < 3 and term.isascii()) or term.isdigit()):
                continue
            rows[term] = row
    for row in learned_rows:
        known = rows.get(row["term"])
        if row["strength"] == "demote":
            if known is not None and not known["source"].startswith(("core_", "precursors", "inn_names")):
                rows[row["term"]] = {**known, "strength": "weak"}
            continue
        if known is not None and known["source"].startswith(("core_", "precursors", "inn_names")):
            continue  # curated entries keep their strength
        if known is not None:
            rows[row["term"]] = {**known, "strength": "strong"} if known["strength"] == "weak" else known
        else:
            rows[row["term"]] = row
    with out.open("w", encoding="utf-8", newline="") as f:
        f.write("\t".join(OUT_COLUMNS) + "\n")
        for row in sorted(rows.values(), key=lambda r: r["term"]):
            f.write("\t".join(row[c].replace("\t", " ") for c in OUT_COLUMNS) + "\n")
    return len(rows)


if __name__ == "__main__":
    print(build())
