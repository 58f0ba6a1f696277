"""Source configuration: pydantic models per source kind, loading with file/line errors, the JSON Schema."""

from crawler.addresses import start_urls_of
from crawler.sources.loader import check_sources, config_path, get_source, load_sources
from crawler.sources.models import (
    B2BSource,
    BrowserSource,
    FeedSource,
    ForumSource,
    MarketSource,
    MastodonSource,
    RedditSource,
    SourceConfig,
    SourcesFile,
    TelegramSource,
)

__all__ = [
    "B2BSource", "BrowserSource", "FeedSource", "ForumSource", "MarketSource", "MastodonSource", "RedditSource",
    "SourceConfig", "SourcesFile", "TelegramSource", "check_sources", "config_path", "get_source", "load_sources",
    "start_urls_of",
]
