"""Deterministic content of the demo web: listings, shop products, channels, forum, B2B, social, news."""

from __future__ import annotations

import csv
import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from importlib import resources
from typing import Any

from crawler.common.clock import utc_iso

# The vendor that sells on the marketplace, the Telegram channel and the forum under related handles.
CROSS_VENDOR = "chem_king_rc"
CROSS_TELEGRAM = "chemking_direct"
SHOP_NAME = "PainFree Pharmacy"
# Fixed rate used to show the shop's USD prices from the Agora BTC prices (January 2014, roughly).
BTC_USD_2014 = Decimal("800")


def _data(name: str) -> str:
    return resources.files("crawler.demo_web").joinpath("data", name).read_text(encoding="utf-8")


def _h(text: str) -> int:
    """A stable small integer from a string (no randomness: the web must be deterministic)."""
    return int(hashlib.sha1(text.encode("utf-8")).hexdigest()[:8], 16)


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "other"


_QTY = re.compile(
    r"(\d*[.,]?\d+)\s?(kg|g|gr|grams?|mg|mcg|pills?|tabs?|tablets?|patch(?:es)?|caps?|capsules?|ml|blotters?)\b",
    re.I,
)
_TIMES = re.compile(r"(?:\bx\s?(\d+)\b|\b(\d+)\s?x\b)", re.I)


def quantity_of(title: str) -> str:
    """Quantity text as a marketplace would show it, read from the title (else one unit)."""
    times = _TIMES.search(title)
    if times:
        return f"{times.group(1) or times.group(2)} units"
    m = _QTY.search(title)
    if m:
        return f"{m.group(1)} {m.group(2).lower()}"
    return "1 unit"


@dataclass
class MarketListing:
    """One offer on the static marketplace (and, in USD, in the JavaScript shop)."""

    id: str
    title: str
    description: str
    price: Decimal
    currency: str
    quantity: str
    vendor: str
    ships_from: str
    ships_to: str
    category: str
    subcategory: str
    posted_at: datetime
    stock: str
    images: list[str] = field(default_factory=list)
    telegram: str | None = None

    @property
    def cat_slug(self) -> str:
        return slug(self.subcategory)

    def price_text(self) -> str:
        if self.currency == "BTC":
            return f"{self.price:.8f} BTC"
        return f"${self.price:.2f}"

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "title": self.title, "description": self.description,
            "price": str(self.price), "currency": self.currency, "price_text": self.price_text(),
            "quantity": self.quantity, "seller": self.vendor, "ships_from": self.ships_from,
            "ships_to": self.ships_to, "category": f"{self.category} / {self.subcategory}",
            "posted_at": iso(self.posted_at), "stock": self.stock, "images": self.images,
        }


def iso(when: datetime) -> str:
    return utc_iso(when, timespec="seconds")


def _clean_place(text: str) -> str:
    text = text.strip()
    return "Undeclared" if text.lower() in ("", "na", "undeclared") else text


def load_market(scale: int = 1) -> dict[str, MarketListing]:
    """The marketplace: Agora rows from data/market_listings.csv plus the hand-written cross-platform vendor."""
    out: dict[str, MarketListing] = {}
    rows = list(csv.DictReader(_data("market_listings.csv").splitlines()))
    for copy in range(scale):
        for row in rows:
            lid = row["id"] if copy == 0 else f"{row['id']}x{copy}"
            day = datetime.strptime(row["date"], "%Y-%m-%d").replace(tzinfo=UTC)
            h = _h(lid)
            out[lid] = MarketListing(
                id=lid,
                title=row["product"],
                description=row["description"],
                price=Decimal(row["price_btc"]).quantize(Decimal("0.00000001")),
                currency="BTC",
                quantity=quantity_of(row["product"]),
                vendor=row["vendor"],
                ships_from=_clean_place(row["ships_from"]),
                ships_to=_clean_place(row["ships_to"]),
                category=row["cat"] if row["cat"] not in ("", "NA") else "Drugs",
                subcategory=row["subcat"] if row["subcat"] not in ("", "NA") else "Other",
                posted_at=day - timedelta(days=h % 20, hours=h % 24, minutes=h % 60),
                stock=f"{5 + h % 60} in stock",
                images=[f"/market/img/{lid}-1.png"] + ([f"/market/img/{lid}-2.png"] if h % 3 == 0 else []),
            )
    for i, (title, desc, price, sub, qty) in enumerate(CROSS_LISTINGS, start=1):
        lid = f"ck{i:04d}"
        out[lid] = MarketListing(
            id=lid, title=title, description=desc, price=Decimal(price), currency="BTC", quantity=qty,
            vendor=CROSS_VENDOR, ships_from="China", ships_to="Worldwide except Australia",
            category="Drugs", subcategory=sub,
            posted_at=datetime(2014, 1, 2, 8, 0, tzinfo=UTC) + timedelta(hours=5 * i),
            stock=f"{20 * i} in stock", images=[f"/market/img/{lid}-1.png"], telegram=CROSS_TELEGRAM,
        )
    return out


# Hand-written offers of the cross-platform vendor (not from the Agora data; see data/SOURCE.md).
CROSS_LISTINGS = [
    ("Fentanyl HCl 99% pure powder - 5 g",
     "Fentanyl HCl lab tested 99%. Vacuum sealed, stealth shipping from China to USA, Canada, EU. "
     "No shipping to Australia. Contact me on Telegram @chemking_direct or Wickr chemking.",
     "1.25000000", "Opioids", "5 g"),
    ("M30 blues pressed (fentanyl) x 100",
     "100 x M30 blue pills, pressed, strong. Tracking provided. Reship once. Telegram @chemking_direct",
     "0.90000000", "Opioids", "100 pills"),
    ("4-ANPP 99% precursor 100 g",
     "4-ANPP (CAS 21409-26-7) 99% purity, 100 g, ships from China in 7 days, Mexico and USA ok. "
     "Bulk price on Telegram @chemking_direct",
     "0.45000000", "Chemicals", "100 g"),
    ("NPP N-phenethyl-4-piperidone 1 kg",
     "NPP CAS 39742-60-4, 1 kg, customs clearance guaranteed. DM Telegram @chemking_direct",
     "1.10000000", "Chemicals", "1 kg"),
]


def load_shop() -> dict[str, MarketListing]:
    """The JavaScript shop: opioid rows of the marketplace data re-priced in USD under one shop name."""
    market = load_market()
    out: dict[str, MarketListing] = {}
    opioid = [m for m in market.values() if m.subcategory == "Opioids" and m.vendor != CROSS_VENDOR]
    for m in opioid[:30]:
        sid = f"sp{_h(m.id) % 100000:05d}"
        usd = (m.price * BTC_USD_2014).quantize(Decimal("0.01"))
        out[sid] = MarketListing(
            id=sid, title=m.title, description=m.description, price=usd, currency="USD",
            quantity=m.quantity, vendor=SHOP_NAME, ships_from=m.ships_from, ships_to=m.ships_to,
            category="Pain relief", subcategory="Opioids", posted_at=m.posted_at, stock=m.stock,
            images=[f"/shop/img/{sid}.png"],
        )
    return out


@dataclass
class Post:
    """A message, forum post, status or feed entry."""

    id: int
    author: str
    text: str
    when: datetime
    title: str | None = None
    links: list[str] = field(default_factory=list)
    views: int | None = None
    sale: bool = False


def _news() -> list[str]:
    return [json.loads(line)["text"] for line in _data("seizure_news.jsonl").splitlines() if line.strip()]


def _comments() -> list[str]:
    return [json.loads(line)["text"] for line in _data("opiates_comments.jsonl").splitlines() if line.strip()]


SALE_TEMPLATES = [
    "🔥 Fresh batch: {item} — {price}. Ships from China, stealth vacuum sealed. No shipping to Australia. "
    "DM @{handle}",
    "{item} in stock now, {price}. Tracking on every order, reship if seized. Order: @{handle}",
    "Wholesale {item}. {price}. Escrow accepted. Also on the market: {market_url}",
]
SALE_ITEMS = [
    ("fentanyl powder 99% 5g", "$450"), ("M30 blues x100", "$600"), ("4-ANPP 100g", "$85"),
    ("NPP 1kg", "$320"), ("carfentanil 1g", "$900"), ("oxycodone 30mg x50", "$700"),
    ("1-boc-4-piperidone 1kg", "$95"), ("heroin #4 10g", "$800"),
]


def telegram_channels(base_url: str) -> dict[str, dict[str, Any]]:
    """Two public channels: one that sells (the cross-platform vendor) and one that reposts seizure news."""
    start = datetime(2026, 10, 1, 6, 0, tzinfo=UTC)
    sell = []
    for i in range(1, 46):
        item, price = SALE_ITEMS[(i - 1) % len(SALE_ITEMS)]
        tpl = SALE_TEMPLATES[(i - 1) % len(SALE_TEMPLATES)]
        # The text names the market by its onion address, as vendors write it (and as the demo's market source
        # names its platform), not by the server's loopback port: a demo run on another port must not see every
        # such message as changed. The link preview goes to the demo's market.
        text = tpl.format(item=item, price=price, handle=CROSS_TELEGRAM,
                          market_url=f"http://agora-demo.onion/vendor/{CROSS_VENDOR}")
        links = [f"{base_url}/market/vendor/{CROSS_VENDOR}"] if "market_url" in tpl else []
        sell.append(Post(id=i, author=CROSS_TELEGRAM, text=text, when=start + timedelta(hours=7 * i),
                         links=links, views=120 + (_h(f"s{i}") % 4000), sale=True))
    news = []
    for i, text in enumerate(_news(), start=1):
        news.append(Post(id=i, author="opioid_watch_news", text=text, when=start + timedelta(hours=11 * i),
                         links=[f"{base_url}/news/article/{i}"], views=900 + (_h(f"n{i}") % 25000)))
    return {
        CROSS_TELEGRAM: {"title": "ChemKing Direct 💊", "description": "Top quality, worldwide stealth.",
                         "posts": sell},
        "opioid_watch_news": {"title": "Opioid Watch — seizure news",
                              "description": "Daily digest of drug seizure reports.", "posts": news},
    }


HARM_REDUCTION = [
    ("Test your drugs: fentanyl test strips save lives",
     "Fentanyl has been found in pressed pills sold as oxycodone (M30 blues) and in cocaine. Use fentanyl "
     "test strips, never use alone, and carry naloxone. This site sells nothing; strips are free at our "
     "drop-in centre."),
    ("Naloxone: how to recognise and reverse an opioid overdose",
     "Signs of an opioid overdose: pinpoint pupils, slow breathing, blue lips. Call emergency services, "
     "give naloxone, put the person in the recovery position. Fentanyl overdoses may need more than one dose."),
    ("Why 'china white' is not what it used to be",
     "Street heroin sold as china white is now often fentanyl or a fentanyl analogue. A tiny amount can "
     "kill. Talk to an outreach worker before using and start low, go slow."),
    ("Xylazine and fentanyl: what people who use drugs need to know",
     "Xylazine ('tranq') is increasingly mixed with fentanyl. Naloxone still helps with the opioid part. "
     "Wounds need medical care. Our clinic offers confidential wound care and treatment referrals."),
]

FORUM_SALE_POSTS = [
    (CROSS_VENDOR, "Selling fentanyl HCl 99% and 4-ANPP, ships from China, worldwide except Australia. "
                   f"Telegram @{CROSS_TELEGRAM}, Wickr chemking. Reship guaranteed."),
    ("oxyplug_eu", "EU plug: oxycodone 30mg and M30 blues, ships from Netherlands to all EU, no USA. "
                   "Session ID 05a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9. PM for menu."),
    ("dreamer88", "Anyone know if the oxyplug_eu vendor is legit? Ordered two weeks ago, nothing arrived."),
    ("oxyplug_eu", "@dreamer88 check your PMs, tracking sent. Restock of blues on Friday."),
    ("harm_reduction_mod", "Reminder: pressed blues are very often fentanyl. Test everything. "
                           "Sales posts break rule 4 and will be removed."),
    ("nightowl", "Got carfentanil offered by a telegram vendor, stay away, that stuff kills."),
    (CROSS_VENDOR, "Restock: NPP 1kg and 1-boc-4-piperidone, bulk only, MOQ 1kg. Price on Telegram."),
    ("pharma_direct_in", "Tramadol 225mg and tapentadol 100mg from India, 200 tabs minimum, ships to USA "
                         "and UK. WhatsApp +91 98765 43210."),
]


def forum(base_url: str) -> dict[str, Any]:
    """Boards -> threads -> posts. Discussion posts are r/opiates comments; sale posts are hand-written."""
    start = datetime(2026, 9, 1, 12, 0, tzinfo=UTC)
    boards: list[dict[str, Any]] = []
    threads: dict[int, dict[str, Any]] = {}
    comments = _comments()
    authors = ["kratom_kev", "nodqueen", "wd_survivor", "sublocade_sam", "tolerance_break", "greyday",
               "lowdose_larry", "methadone_mike", "pinned_pupils", "quiet_recovery"]
    post_id = 5000
    # discussion board: 12 threads of 5-13 comments (so some threads have a second page)
    disc_ids = []
    idx = 0
    for t in range(12):
        tid = 100 + t
        n = 5 + (t * 3) % 9
        posts = []
        for k in range(n):
            text = comments[idx % len(comments)]
            idx += 1
            post_id += 1
            posts.append(Post(id=post_id, author=authors[(t + k) % len(authors)], text=text,
                              when=start + timedelta(days=t, hours=k * 3)))
        title = re.split(r"(?<=[.?!])\s", posts[0].text)[0][:70]
        threads[tid] = {"id": tid, "board": 1, "title": title, "posts": posts}
        disc_ids.append(tid)
    boards.append({"id": 1, "name": "Opiates discussion", "threads": disc_ids})
    # market board: vendor threads
    sale_ids = []
    groups = [("[WTS] Fentanyl HCl / 4-ANPP / NPP - worldwide", [0, 5, 6]), ("[WTS] EU oxy and blues", [1, 2, 3, 4]),
              ("[WTS] Indian pharma bulk", [7])]
    for t, (title, members) in enumerate(groups):
        tid = 200 + t
        posts = []
        for k, n in enumerate(members):
            author, text = FORUM_SALE_POSTS[n]
            post_id += 1
            posts.append(Post(id=post_id, author=author, text=text, when=start + timedelta(days=20 + t, hours=k),
                              sale=author in (CROSS_VENDOR, "oxyplug_eu", "pharma_direct_in")))
        threads[tid] = {"id": tid, "board": 2, "title": title, "posts": posts}
        sale_ids.append(tid)
    boards.append({"id": 2, "name": "Vendor offers", "threads": sale_ids})
    hr_ids = []
    for t, (title, text) in enumerate(HARM_REDUCTION):
        tid = 300 + t
        post_id += 1
        threads[tid] = {"id": tid, "board": 3, "title": title,
                        "posts": [Post(id=post_id, author="harm_reduction_mod", text=text,
                                       when=start + timedelta(days=30 + t))]}
        hr_ids.append(tid)
    boards.append({"id": 3, "name": "Harm reduction", "threads": hr_ids})
    return {"boards": boards, "threads": threads}


def b2b_products() -> list[dict[str, str]]:
    return list(csv.DictReader(_data("b2b_products.csv").splitlines()))


def news_articles() -> list[dict[str, Any]]:
    out = []
    start = datetime(2026, 8, 3, 9, 30, tzinfo=UTC)
    for i, text in enumerate(_news(), start=1):
        headline = re.split(r"(?<=[.])\s", text)[0][:90]
        out.append({"id": i, "headline": headline, "text": text, "when": start + timedelta(days=2 * i),
                    "author": ["Staff reporter", "Wire service", "Crime desk"][i % 3]})
    return out


def harm_reduction_posts() -> list[dict[str, Any]]:
    start = datetime(2026, 7, 1, 10, 0, tzinfo=UTC)
    return [{"slug": slug(t), "title": t, "text": x, "when": start + timedelta(days=9 * i),
             "author": "Outreach team"} for i, (t, x) in enumerate(HARM_REDUCTION)]


def reddit_posts(sub: str, base_url: str) -> list[dict[str, Any]]:
    """Reddit 't3' post data for a subreddit: r/opiates is discussion; r/rcsourcetalk mixes in sale posts."""
    start = 1790000000  # 2026-09-21
    comments = _comments()
    posts = []
    if sub == "opiates":
        for i in range(40):
            text = comments[(i * 7) % len(comments)]
            posts.append({"title": re.split(r"(?<=[.?!])\s", text)[0][:80], "selftext": text,
                          "author": f"throwaway_{_h(str(i)) % 9000 + 1000}"})
    elif sub == "rcsourcetalk":
        for i in range(14):
            if i % 3 == 0:
                author, text = FORUM_SALE_POSTS[(i // 3) % len(FORUM_SALE_POSTS)]
                posts.append({"title": "[WTS] " + text[:60], "selftext": text, "author": author})
            else:
                text = comments[(i * 5 + 3) % len(comments)]
                posts.append({"title": text[:70], "selftext": text, "author": f"rc_user{i}"})
    else:
        return []
    out = []
    for i, p in enumerate(posts):
        pid = f"{(_h(sub + str(i)) % 36**5):x}"[:6]
        out.append({
            "kind": "t3",
            "data": {
                "id": pid, "name": f"t3_{pid}", "subreddit": sub, "title": p["title"], "selftext": p["selftext"],
                "author": p["author"], "created_utc": float(start - i * 5400), "score": _h(pid) % 300,
                "num_comments": _h(pid) % 40, "permalink": f"/r/{sub}/comments/{pid}/",
                "url": f"{base_url}/reddit/r/{sub}/comments/{pid}/", "over_18": False, "is_self": True,
            },
        })
    return out


def mastodon_statuses(tag: str, base_url: str) -> list[dict[str, Any]]:
    """Mastodon Status entities for a hashtag timeline, newest first."""
    if tag not in ("fentanyl", "opioids"):
        return []
    texts: list[tuple[str, str, bool]] = []
    news = _news()
    for i in range(18):
        if i % 4 == 1:
            item, price = SALE_ITEMS[i % len(SALE_ITEMS)]
            texts.append((CROSS_TELEGRAM, f"{item} {price} — worldwide stealth, DM on Telegram @{CROSS_TELEGRAM} "
                                          f"#{tag}", True))
        elif i % 4 == 3:
            t, x = HARM_REDUCTION[i % len(HARM_REDUCTION)]
            texts.append(("harmreduction", f"{t}: {x[:200]} #{tag}", False))
        else:
            texts.append(("seizurebot", news[i % len(news)][:400] + f" #{tag}", False))
    start = datetime(2026, 11, 1, 0, 0, tzinfo=UTC)
    out = []
    for i, (acct, text, _sale) in enumerate(texts):
        sid = str(113000000000000000 + (len(texts) - i) * 1000 + (10 if tag == "opioids" else 0))
        out.append({
            "id": sid, "created_at": (start - timedelta(hours=3 * i)).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            "uri": f"{base_url}/mastodon/users/{acct}/statuses/{sid}",
            "url": f"{base_url}/mastodon/@{acct}/{sid}", "visibility": "public", "language": "en",
            "content": "<p>" + text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;") + "</p>",
            "replies_count": i % 3, "reblogs_count": i % 5, "favourites_count": i % 7,
            "account": {"id": str(_h(acct) % 10**9), "username": acct, "acct": acct,
                        "display_name": acct.replace("_", " ").title(),
                        "url": f"{base_url}/mastodon/@{acct}"},
            "media_attachments": [], "mentions": [],
            "tags": [{"name": tag, "url": f"{base_url}/mastodon/tags/{tag}"}],
        })
    return out
