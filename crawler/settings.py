"""Scrapy settings for narcowatch: shared by `scrapy crawl`, `narcowatch crawl`, the demo and the daemon."""

BOT_NAME = "narcowatch"
SPIDER_MODULES = ["spiders"]
NEWSPIDER_MODULE = "spiders"

# scrapy-playwright needs the asyncio reactor; the daemon and CLI never restart it.
TWISTED_REACTOR = "twisted.internet.asyncioreactor.AsyncioSelectorReactor"

USER_AGENT = "narcowatch/0.1 (+research crawler; read-only)"
ROBOTSTXT_OBEY = True
COOKIES_ENABLED = True
# Private answers to host names are refused where the connection is made (DNS rebinding), crawler.resolver.
DNS_RESOLVER = "crawler.resolver.PublicOnlyResolver"
TELNETCONSOLE_ENABLED = False
CONCURRENT_REQUESTS = 16
CONCURRENT_REQUESTS_PER_DOMAIN = 4
DOWNLOAD_TIMEOUT = 30
DOWNLOAD_MAXSIZE = 10 * 1024 * 1024
DOWNLOAD_WARNSIZE = 0
RETRY_ENABLED = True
RETRY_TIMES = 3
AUTOTHROTTLE_ENABLED = False
LOG_LEVEL = "INFO"
FEED_EXPORT_ENCODING = "utf-8"

# Every configured source is a spider (crawler.spiderloader; config from NARCOWATCH_CONFIG, default config/).
SPIDER_LOADER_CLASS = "crawler.spiderloader.SourceSpiderLoader"

# Fingerprint -> change detection -> NLP -> index -> vendors -> alert rules, in batches (crawler.pipelines).
ITEM_PIPELINES = {"crawler.pipelines.NarcowatchPipeline": 500}
NARCOWATCH_PIPELINE_BATCH_SIZE = 200
NARCOWATCH_PIPELINE_BATCH_SECONDS = 2.0

# Address rules, robustness, sessions, proxies, evidence and browser pages (crawler.middlewares, .evidence, .browser).
DOWNLOADER_MIDDLEWARES = {
    "scrapy.downloadermiddlewares.retry.RetryMiddleware": None,
    "crawler.middlewares.AddressGuardMiddleware": 40,
    "scrapy.downloadermiddlewares.httpcompression.HttpCompressionMiddleware": None,
    "crawler.middlewares.BoundedDecompressionMiddleware": 590,
    "scrapy.downloadermiddlewares.cookies.CookiesMiddleware": None,
    "crawler.middlewares.OfflineCookiesMiddleware": 700,
    "crawler.middlewares.BackoffRetryMiddleware": 550,
    "crawler.middlewares.SessionMiddleware": 560,
    "crawler.middlewares.BadPageMiddleware": 580,
    "crawler.middlewares.SourceProxyMiddleware": 740,
    "crawler.evidence.EvidenceMiddleware": 950,
    "crawler.browser.BrowserPageMiddleware": 960,
}
