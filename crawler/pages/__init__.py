"""Page objects: pure functions of (response, source config) that read Listing fields off each page kind."""

from crawler.pages.base import Page, parse_count, parse_datetime, parse_price
from crawler.pages.market import B2BProductPage, MarketCategoryPage, MarketListingPage
from crawler.pages.social import (
    FeedPage,
    ForumIndexPage,
    ForumThreadPage,
    MastodonTimeline,
    RedditListing,
    TelegramChannelPage,
)

__all__ = [
    "B2BProductPage", "FeedPage", "ForumIndexPage", "ForumThreadPage", "MarketCategoryPage", "MarketListingPage",
    "MastodonTimeline", "Page", "RedditListing", "TelegramChannelPage", "parse_count", "parse_datetime",
    "parse_price",
]
