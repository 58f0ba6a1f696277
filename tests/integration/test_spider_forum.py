"""The forum spider walks boards -> threads (with pagination) -> posts; authors are vendor candidates."""

from __future__ import annotations

from crawler.demo_web import DemoWeb
from crawler.demo_web.content import forum


def test_forum_posts_field_by_field(demo_web_server: DemoWeb, crawl_demo) -> None:
    result = crawl_demo("demo-forum")
    base = demo_web_server.base_url
    model = forum(base)
    expected = {p.id: (t, p) for t in model["threads"].values() for p in t["posts"]}
    items = result.by("native_id")
    assert len(result.items) == len(expected)
    assert set(items) == {str(i) for i in expected}
    boards = {b["id"]: b["name"] for b in model["boards"]}
    for pid, (thread, post) in expected.items():
        item = items[str(pid)]
        assert item["source_kind"] == "forum" and item["platform"] == "opioidtalk-forum.example"
        assert item["title"] == thread["title"]
        assert item["vendor"] == post.author
        assert item["vendor_url"] == f"{base}/forum/members/{post.author}"
        assert item["category"] == boards[thread["board"]]
        assert item["posted_at"] == post.when.strftime("%Y-%m-%dT%H:%M:%SZ")
        assert item["description"] == " ".join(post.text.split())
        assert item["url"].startswith(f"{base}/forum/thread/{thread['id']}")
    # posts on a thread's second page were reached
    long_threads = [t for t in model["threads"].values() if len(t["posts"]) > 10]
    assert long_threads
    for t in long_threads:
        assert items[str(t["posts"][-1].id)]["url"] == f"{base}/forum/thread/{t['id']}?page=2"
    sale = [i for i in result.items if i["vendor"] == "chem_king_rc"]
    assert len(sale) == 2 and all(i["category"] == "Vendor offers" for i in sale)
    assert demo_web_server.hits.get("/forum/members/chem_king_rc", 0) == 0  # robots.txt: members pages
