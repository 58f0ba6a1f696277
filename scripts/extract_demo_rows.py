"""One-off developer script that copied the demo web's rows out of shared/data (never run by the program).

Usage: python scripts/extract_demo_rows.py ../shared/data crawler/demo_web/data
(the sources and the selection are described in crawler/demo_web/data/SOURCE.md)."""

from __future__ import annotations

import csv
import hashlib
import json
import random
import re
import sys
from pathlib import Path

OPIOID = re.compile(
    r"fentanyl|\bfent\b|opioid|oxycod|oxycontin|heroin|morphin|hydrocod|opana|oxymorph|tramadol|codein"
    r"|methadon|buprenorph|subutex|dilaudid|hydromorph|tapentadol|carfentanil|opium",
    re.I,
)


def main(shared: Path, out: Path) -> None:
    listings = shared / "listings"
    products = list(csv.DictReader((listings / "products-2014-01-01.csv").open(encoding="utf-8")))
    by_key = {(r["vendor"].strip(), r["product"].strip()): r for r in products}
    seen: set[tuple[str, str]] = set()
    fent: list[dict[str, str]] = []
    opioid: list[dict[str, str]] = []
    other: list[dict[str, str]] = []
    for row in csv.DictReader((listings / "vendorall_0114.csv").open(encoding="utf-8")):
        key = (row["vendor"].strip(), row["product"].strip())
        if key in seen:
            continue
        seen.add(key)
        text = row["product"] + " " + row["description"]
        (fent if "fentanyl" in text.lower() else opioid if OPIOID.search(text) else other).append(row)
    rng = random.Random(20140101)
    chosen = fent + rng.sample(opioid, 110) + rng.sample(
        [r for r in other if (by_key.get((r["vendor"].strip(), r["product"].strip())) or {}).get("cat") == "Drugs"],
        70,
    )
    fields = ["id", "date", "vendor", "product", "description", "price_btc", "ships_from", "ships_to", "cat",
              "subcat"]
    used: set[str] = set()
    with (out / "market_listings.csv").open("w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=fields)
        w.writeheader()
        for row in chosen:
            key = (row["vendor"].strip(), row["product"].strip())
            prod = by_key.get(key)
            native = prod["list"].split("__", 1)[1].removesuffix(".html") if prod else ""
            if not native or native in used:  # a product page can hold several offers: keep ids unique
                native = hashlib.sha1("|".join(key).encode()).hexdigest()[:10]
            used.add(native)
            w.writerow({
                "id": native, "date": row["date"], "vendor": key[0], "product": key[1],
                "description": row["description"].strip(), "price_btc": row["price"],
                "ships_from": row["from"].strip(), "ships_to": row["to"].strip(),
                "cat": (prod or {}).get("cat", "Drugs").strip() or "Drugs",
                "subcat": ((prod or {}).get("subcat", "Other").strip() or "Other").replace("NA", "Other"),
            })
    news = []
    for line in (shared / "ner" / "seizure_news_train.jsonl").open(encoding="utf-8"):
        text = json.loads(line)["text"]
        if re.search(r"fentanyl|heroin|opioid", text, re.I) and 160 < len(text) < 900:
            news.append({"text": text})
    with (out / "seizure_news.jsonl").open("w", encoding="utf-8") as fh:
        for item in news[:24]:
            fh.write(json.dumps(item, ensure_ascii=False) + "\n")
    comments = []
    for line in (shared / "ner" / "drugs_training.jsonl").open(encoding="utf-8"):
        row = json.loads(line)
        if row.get("answer") == "accept" and 90 < len(row["text"]) < 600:
            comments.append({"text": row["text"]})
    with (out / "opiates_comments.jsonl").open("w", encoding="utf-8") as fh:
        for item in comments[:80]:
            fh.write(json.dumps(item, ensure_ascii=False) + "\n")
    print(len(chosen), len(news), len(comments))


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
