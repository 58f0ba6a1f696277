"""Page objects of forums, Telegram channel previews, Reddit and Mastodon JSON, and RSS/Atom feeds."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from parsel import Selector

from crawler.items import Listing
from crawler.pages.base import (
    Page,
    absolute_links,
    clean,
    parse_count,
    parse_datetime,
    select_first,
    select_values,
)
from crawler.sources.models import ForumSource, RedditSource


def html_text(html: str | None) -> str | None:
    """Visible text of an HTML fragment (``<br>`` and paragraphs become spaces), whitespace-collapsed."""
    if not html:
        return None
    sel = Selector(text=f"<div>{html}</div>")
    return clean(" ".join(sel.xpath("//text()[not(ancestor::script) and not(ancestor::style)]").getall()))


def with_query(url: str, **params: Any) -> str:
    """``url`` with the given query parameters set (others kept)."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    query.update({k: str(v) for k, v in params.items()})
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), ""))


# ---------------------------------------------------------------- forum


class ForumIndexPage(Page):
    """Forum index or board page: links to boards, threads and further board pages."""

    source: ForumSource

    def board_urls(self) -> list[str]:
        return absolute_links(self.response, self.response, self.source.links.board)

    def thread_urls(self) -> list[str]:
        return absolute_links(self.response, self.response, self.source.links.thread)

    def next_page_urls(self) -> list[str]:
        return absolute_links(self.response, self.response, self.source.links.board_pagination)


class ForumPost:
    """One post of a thread page; fields are methods."""

    def __init__(self, sel: Selector, page: ForumThreadPage):
        self.sel, self.page, self.cfg = sel, page, page.source.post

    def native_id(self) -> str | None:
        return select_first(self.sel, self.cfg.native_id)

    def vendor(self) -> str | None:
        return select_first(self.sel, self.cfg.author)

    def vendor_url(self) -> str | None:
        if self.cfg.author_url is None:
            return None
        links = absolute_links(self.page.response, self.sel, [self.cfg.author_url])
        return links[0] if links else None

    def description(self) -> str | None:
        return clean(" ".join(select_values(self.sel, self.cfg.body)))

    def posted_at(self) -> str | None:
        return parse_datetime(select_first(self.sel, self.cfg.posted_at))

    def links(self) -> list[str]:
        if self.cfg.links is None:
            return []
        return absolute_links(self.page.response, self.sel, [self.cfg.links])

    def fields(self) -> dict[str, Any]:
        return {"native_id": self.native_id(), "title": self.page.title(), "description": self.description(),
                "vendor": self.vendor(), "vendor_url": self.vendor_url(), "posted_at": self.posted_at(),
                "category": self.page.board(), "links": self.links()}


class ForumThreadPage(Page):
    """A thread page: its title, board, posts (one Listing each) and the link to its next page."""

    source: ForumSource

    def title(self) -> str | None:
        return select_first(self.response, self.source.thread_title)

    def board(self) -> str | None:
        return select_first(self.response, self.source.board_name)

    def posts(self) -> list[ForumPost]:
        spec = self.source.post.container
        nodes = self.response.css(spec.css) if spec.css is not None else self.response.xpath(spec.xpath or "")
        return [ForumPost(n, self) for n in nodes]

    def next_page_urls(self) -> list[str]:
        return absolute_links(self.response, self.response, self.source.links.thread_pagination)

    def items(self) -> list[Listing]:
        return [self.base_item(**p.fields()) for p in self.posts() if p.description()]


# ---------------------------------------------------------------- telegram


class TelegramMessage:
    """One message bubble of a ``t.me/s/<channel>`` page."""

    def __init__(self, sel: Selector, page: TelegramChannelPage):
        self.sel, self.page = sel, page

    def native_id(self) -> str | None:
        return self.sel.attrib.get("data-post")

    def url(self) -> str:
        href = self.sel.css("a.tgme_widget_message_date::attr(href)").get()
        return self.page.response.urljoin(href) if href else self.page.response.url

    def description(self) -> str | None:
        return clean(" ".join(self.sel.css(".tgme_widget_message_text ::text").getall()))

    def posted_at(self) -> str | None:
        return parse_datetime(self.sel.css("a.tgme_widget_message_date time::attr(datetime)").get())

    def views(self) -> int | None:
        return parse_count(self.sel.css(".tgme_widget_message_views::text").get())

    def links(self) -> list[str]:
        hrefs = self.sel.css(".tgme_widget_message_text a::attr(href), a.tgme_widget_message_link_preview::attr(href)")
        out: dict[str, None] = {}
        for href in hrefs.getall():
            url = self.page.response.urljoin(href.strip())
            if url.startswith(("http://", "https://")):
                out.setdefault(url, None)
        return list(out)

    def images(self) -> list[str]:
        styles = self.sel.css(".tgme_widget_message_photo_wrap::attr(style)").getall()
        return [m.group(1) for s in styles for m in [re.search(r"url\('?([^')]+)'?\)", s)] if m]

    def fields(self) -> dict[str, Any]:
        channel = self.page.channel()
        return {"url": self.url(), "native_id": self.native_id(), "description": self.description(),
                "posted_at": self.posted_at(), "views": self.views(), "links": self.links(),
                "images": self.images(), "vendor": f"@{channel}" if channel else None,
                "vendor_url": f"https://t.me/{channel}" if channel else None,
                "category": self.page.channel_title()}


class TelegramChannelPage(Page):
    """The public web preview of a channel: messages (oldest first) and the "load older" link."""

    def channel(self) -> str | None:
        handle = self.response.css(".tgme_channel_info_header_username a::text").get()
        if handle:
            return handle.strip().lstrip("@")
        m = re.search(r"/s/([A-Za-z0-9_]+)", self.response.url)
        return m.group(1) if m else None

    def channel_title(self) -> str | None:
        return clean(" ".join(self.response.css(".tgme_channel_info_header_title ::text").getall()))

    def messages(self) -> list[TelegramMessage]:
        return [TelegramMessage(s, self) for s in self.response.css(".tgme_widget_message[data-post]")]

    def older_url(self) -> str | None:
        more = self.response.css("a.tme_messages_more[data-before]")
        if not more:
            return None
        href = more[0].attrib.get("href")
        if href:
            return self.response.urljoin(href)
        return with_query(self.response.url, before=more[0].attrib["data-before"])

    def items(self) -> list[Listing]:
        out = []
        for msg in self.messages():
            fields = msg.fields()
            if fields["description"] or fields["links"]:
                out.append(self.base_item(**fields))
        return out


# ---------------------------------------------------------------- reddit


class RedditPost:
    """One ``t3`` child of a Reddit listing."""

    def __init__(self, data: dict[str, Any], page: RedditListing):
        self.data, self.page = data, page

    def fields(self) -> dict[str, Any]:
        d = self.data
        base = self.page.source.base_url.rstrip("/")
        author = d.get("author")
        links = []
        if not d.get("is_self", True) and d.get("url"):
            links.append(d["url"])
        return {
            "url": base + d["permalink"] if d.get("permalink") else self.page.response.url,
            "native_id": d.get("name") or (f"t3_{d['id']}" if d.get("id") else None),
            "title": clean(d.get("title")), "description": clean(d.get("selftext")),
            "vendor": author if author and author != "[deleted]" else None,
            "vendor_url": f"{base}/user/{author}" if author and author != "[deleted]" else None,
            "posted_at": parse_datetime(str(d["created_utc"])) if d.get("created_utc") is not None else None,
            "category": f"r/{d['subreddit']}" if d.get("subreddit") else None,
            "links": links,
            "extra": {k: d[k] for k in ("score", "num_comments") if k in d},
        }


class RedditListing(Page):
    """A Reddit listing JSON (subreddit or search): posts and the next page (``after``)."""

    source: RedditSource

    def _json(self) -> dict[str, Any]:
        data = json.loads(self.response.text)
        if not isinstance(data, dict) or data.get("kind") != "Listing":
            raise ValueError(f"{self.response.url}: not a Reddit listing (kind={data.get('kind')!r})"
                             if isinstance(data, dict) else f"{self.response.url}: not a Reddit listing")
        return data["data"]

    def posts(self) -> list[RedditPost]:
        return [RedditPost(c["data"], self) for c in self._json().get("children", []) if c.get("kind") == "t3"]

    def next_url(self) -> str | None:
        after = self._json().get("after")
        return with_query(self.response.url, after=after) if after else None

    def items(self) -> list[Listing]:
        return [self.base_item(**p.fields()) for p in self.posts()]


# ---------------------------------------------------------------- mastodon


class MastodonStatus:
    """One Status entity of a Mastodon timeline."""

    def __init__(self, data: dict[str, Any], page: MastodonTimeline):
        self.data, self.page = data, page

    def fields(self) -> dict[str, Any]:
        d = self.data
        acct = d.get("account") or {}
        host = urlsplit(self.page.response.url).netloc
        site = self.page.source.identity()
        if site is not None:  # the instance's own address on any port, or a mirror of it: one id
            host = site.key_host(host)
        content = d.get("content") or ""
        links = [u for u in Selector(text=f"<div>{content}</div>").css("a::attr(href)").getall()
                 if u.startswith(("http://", "https://")) and "/tags/" not in u]
        return {
            "url": d.get("url") or d.get("uri") or self.page.response.url,
            "native_id": f"{host}/{d['id']}" if d.get("id") else None,
            "description": html_text(content),
            "vendor": acct.get("acct"), "vendor_url": acct.get("url"),
            "posted_at": parse_datetime(d.get("created_at")),
            "links": links,
            "images": [m["url"] for m in d.get("media_attachments") or [] if m.get("type") == "image" and m.get("url")],
            "category": " ".join(f"#{t['name']}" for t in d.get("tags") or [] if t.get("name")) or None,
            "extra": {k: d[k] for k in ("reblogs_count", "favourites_count", "replies_count", "language") if k in d},
        }


class MastodonTimeline(Page):
    """A Mastodon timeline JSON (list of statuses) and the ``Link: rel="next"`` page."""

    def statuses(self) -> list[MastodonStatus]:
        data = json.loads(self.response.text)
        if not isinstance(data, list):
            raise ValueError(f"{self.response.url}: expected a list of statuses, got {type(data).__name__}")
        return [MastodonStatus(s, self) for s in data if isinstance(s, dict)]

    def next_url(self) -> str | None:
        link = self.response.headers.get(b"Link")
        if not link:
            return None
        for part in link.decode("latin-1").split(","):
            m = re.search(r'<([^>]+)>\s*;\s*rel="?next"?', part)
            if m:
                return m.group(1)
        return None

    def items(self) -> list[Listing]:
        return [self.base_item(**s.fields()) for s in self.statuses() if s.fields()["description"]]


# ---------------------------------------------------------------- feeds


class FeedPage(Page):
    """An RSS 2.0 or Atom feed: one Listing per item/entry."""

    def _sel(self) -> Selector:
        sel = Selector(text=self.response.text, type="xml")
        sel.remove_namespaces()
        return sel

    def feed_title(self) -> str | None:
        sel = self._sel()
        return clean(sel.xpath("/rss/channel/title/text() | /feed/title/text()").get())

    def entries(self) -> list[dict[str, Any]]:
        sel = self._sel()
        out = []
        for item in sel.xpath("/rss/channel/item | /rdf:RDF/item | /RDF/item | /feed/entry",
                              namespaces={"rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#"}):
            link = (item.xpath("link[@rel='alternate']/@href").get() or item.xpath("link/@href").get()
                    or item.xpath("link/text()").get())
            body = (item.xpath("content/text()").get() or item.xpath("encoded/text()").get()
                    or item.xpath("description/text()").get() or item.xpath("summary/text()").get())
            author = (item.xpath("author/name/text()").get() or item.xpath("creator/text()").get()
                      or item.xpath("author/text()").get())
            when = (item.xpath("pubDate/text()").get() or item.xpath("published/text()").get()
                    or item.xpath("date/text()").get() or item.xpath("updated/text()").get())
            out.append({
                "url": self.response.urljoin(link.strip()) if link else self.response.url,
                "native_id": clean(item.xpath("guid/text()").get() or item.xpath("id/text()").get()),
                "title": clean(item.xpath("title/text()").get()),
                "description": html_text(body),
                "vendor": clean(author),
                "posted_at": parse_datetime(clean(when)),
                "updated_at": parse_datetime(clean(item.xpath("updated/text()").get())),
                "category": clean(", ".join(item.xpath("category/text() | category/@term").getall())) or None,
                "links": [self.response.urljoin(link.strip())] if link else [],
            })
        return out

    def items(self) -> list[Listing]:
        return [self.base_item(**e) for e in self.entries() if e["title"] or e["description"]]
