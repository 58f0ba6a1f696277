"""Reddit listing JSON, Mastodon timelines and RSS/Atom feeds, crawled from the fixture web."""

from __future__ import annotations

from urllib.parse import urlsplit

from crawler.demo_web import DemoWeb
from crawler.demo_web.content import mastodon_statuses, reddit_posts


def test_reddit_subreddits(demo_web_server: DemoWeb, crawl_demo) -> None:
    result = crawl_demo("demo-reddit")
    base = demo_web_server.base_url
    items = result.by("native_id")
    opiates = reddit_posts("opiates", base)
    rc = reddit_posts("rcsourcetalk", base)
    # limit 25, two pages per subreddit: all 40 of r/opiates and all 14 of r/rcsourcetalk
    assert len(result.items) == 54 == len(opiates) + len(rc)
    for post in opiates + rc:
        d = post["data"]
        item = items[d["name"]]
        assert item["url"] == f"{base}/reddit{d['permalink']}"
        assert (item["source_kind"], item["platform"]) == ("reddit", "reddit")
        assert item["title"] == " ".join(d["title"].split())
        assert item["description"] == " ".join(d["selftext"].split())
        assert item["vendor"] == d["author"]
        assert item["vendor_url"] == f"{base}/reddit/user/{d['author']}"
        assert item["category"] == f"r/{d['subreddit']}"
        assert item["extra"] == {"score": d["score"], "num_comments": d["num_comments"]}
    assert result.stats["narcowatch/pages/api"] == 3  # opiates: 2 pages (after=), rcsourcetalk: 1


def test_mastodon_hashtag(demo_web_server: DemoWeb, crawl_demo) -> None:
    result = crawl_demo("demo-mastodon")
    statuses = mastodon_statuses("fentanyl", demo_web_server.base_url)
    host = urlsplit(demo_web_server.base_url).hostname  # ids leave the instance's port out (any port, one id)
    items = result.by("native_id")
    # limit 10, two pages through the Link header: the 10 + 8 statuses
    assert len(items) == 18 == len(statuses)
    for s in statuses:
        item = items[f"{host}/{s['id']}"]
        assert item["url"] == s["url"]
        assert (item["source_kind"], item["platform"]) == ("mastodon", "mastodon")
        assert item["vendor"] == s["account"]["acct"]
        assert item["vendor_url"] == s["account"]["url"]
        assert item["posted_at"] == s["created_at"].replace(".000Z", "Z")
        assert item["category"] == "#fentanyl"
        assert item["description"].endswith("#fentanyl")
    sale = [i for i in result.items if i["vendor"] == "chemking_direct"]
    assert sale and all("@chemking_direct" in i["description"] for i in sale)


def test_rss_and_atom_feeds(demo_web_server: DemoWeb, crawl_demo) -> None:
    base = demo_web_server.base_url
    rss = crawl_demo("demo-news-feed")
    assert len(rss.items) == len(demo_web_server.news)
    first = rss.by("native_id")["seizure-1"]
    article = demo_web_server.news[0]
    assert first["url"] == f"{base}/news/article/1"
    assert first["title"] == article["headline"]
    assert first["description"] == " ".join(article["text"].split())
    assert first["posted_at"] == article["when"].strftime("%Y-%m-%dT%H:%M:%SZ")
    assert (first["source_kind"], first["platform"]) == ("feed", "seizure-news.example")

    atom = crawl_demo("demo-harm-reduction-feed")
    assert len(atom.items) == len(demo_web_server.harm) == 4
    for post in demo_web_server.harm:
        item = atom.by("native_id")[f"urn:demo:hr:{post['slug']}"]
        assert item["url"] == f"{base}/harm-reduction/post/{post['slug']}"
        assert item["title"] == post["title"]
        assert item["vendor"] == "Outreach team"
        assert item["posted_at"] == post["when"].strftime("%Y-%m-%dT%H:%M:%SZ")
