"""Builds the services a crawl needs (ES client, indexer, NLP analyzer, alert engine) once per process."""

from __future__ import annotations

import functools
import logging
import threading
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from elastic_transport import ConnectionError as TransportConnectionError
from elastic_transport import ConnectionTimeout

from crawler.common.clock import parse_iso, utc_iso
from crawler.paths import state_home
from crawler.processing import Analyzer, BatchProcessor, BatchSpool, Deliverer

if TYPE_CHECKING:
    from scrapy import Spider
    from scrapy.settings import BaseSettings

log = logging.getLogger(__name__)
_lock = threading.Lock()
_installed: set[tuple[str, str]] = set()


@functools.lru_cache(maxsize=1)
def analyzer() -> Analyzer:
    """The NLP pipeline, loaded once per process (several crawlers in one process share it)."""
    from nlp.analyzer import Analyzer

    return Analyzer.load()


_processors: dict[tuple[object, ...], BatchProcessor] = {}


def build_processor(settings: BaseSettings, spider_name: str = "") -> BatchProcessor:
    """The process's BatchProcessor for these settings: crawlers running side by side share it (one
    indexer, one spool, one alert engine), so their batches are processed one at a time, in order."""
    from crawler.es.client import resolve_url
    from crawler.es.names import IndexNames

    key = (
        resolve_url()[0],
        IndexNames(settings.get("NARCOWATCH_INDEX_PREFIX") or "").prefix,
        settings.get("NARCOWATCH_SPOOL_DIR"),
        settings.get("NARCOWATCH_ALERTS_FILE"),
        settings.getbool("NARCOWATCH_ALERTS_ENABLED", True),
        settings.getbool("NARCOWATCH_NLP_ENABLED", True),
    )
    with _lock:
        if key not in _processors:
            _processors[key] = _build_processor(settings)
        return _processors[key]


def _build_processor(settings: BaseSettings) -> BatchProcessor:
    """A BatchProcessor wired to the configured cluster, the trained NLP pipeline and the alert rules.

    Settings: ``NARCOWATCH_INDEX_PREFIX``, ``NARCOWATCH_SPOOL_DIR``, ``NARCOWATCH_ALERTS_FILE``,
    ``NARCOWATCH_ALERTS_ENABLED``, ``NARCOWATCH_NLP_ENABLED``.
    """
    from crawler.es.client import get_client, resolve_url
    from crawler.es.documents import change_doc, listing_doc
    from crawler.es.indexer import IndexerUnavailable, ListingIndexer
    from crawler.es.names import IndexNames
    from crawler.es.templates import install
    from crawler.es.vendors import update_vendors

    names = IndexNames(settings.get("NARCOWATCH_INDEX_PREFIX") or "")
    client = get_client()
    url = resolve_url()[0]
    if (url, names.prefix) not in _installed:
        install(client, names)
        _installed.add((url, names.prefix))
    spool_root = Path(settings.get("NARCOWATCH_SPOOL_DIR") or state_home() / "spool") / names.prefix
    indexer = ListingIndexer(client, names, spool_root / "actions")
    alerts = deliverer = None
    if settings.getbool("NARCOWATCH_ALERTS_ENABLED", True):
        from crawler.alerting.engine import engine_from_config

        alerts = engine_from_config(
            client, names, settings.get("NARCOWATCH_ALERTS_FILE") or None, deliver_after_batch=False
        )
        if alerts is not None:
            deliverer = Deliverer(alerts, interval=settings.getfloat("NARCOWATCH_ALERTS_RETRY_SECONDS", 30.0))
    return BatchProcessor(
        indexer=indexer,
        analyzer=analyzer() if settings.getbool("NARCOWATCH_NLP_ENABLED", True) else None,
        spool=BatchSpool(spool_root / "batches"),
        listing_doc=listing_doc,
        change_doc=change_doc,
        vendors=lambda docs: update_vendors(client, names, docs),
        alerts=alerts,
        unavailable=(IndexerUnavailable, TransportConnectionError, ConnectionTimeout),
        before_alerts=lambda: client.indices.refresh(index=names.listings),
        deliverer=deliverer,
    )


def removal_cutoff(settings: BaseSettings, started_at: str, spider: Spider | None = None) -> str | None:
    """Listings of the crawled source last seen before this instant are marked removed.

    The source's ``removal_grace`` (a timedelta; None disables removal marking) is counted back from
    the crawl's start, so only listings missed by this crawl and earlier ones for that long go.
    """
    source = getattr(spider, "source", None)
    grace = getattr(source, "removal_grace", timedelta(hours=48)) if source is not None else None
    if grace is None:
        return None
    return utc_iso(parse_iso(started_at) - grace)
