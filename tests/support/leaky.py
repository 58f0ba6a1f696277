"""Test-only middlewares: one logs what careless code would (request headers, errors naming them), one fails.

Installed by tests/integration/test_redaction_log.py after the session middleware, so the session's
secrets really reach the log (at DEBUG, in an ERROR message, and in an exception's traceback); the
test then checks the redaction filter took them out.
"""

from __future__ import annotations

import logging
from typing import Any

from scrapy import Request, Spider

log = logging.getLogger("narcowatch.test.leaky")


class LeakyHeadersMiddleware:
    def process_request(self, request: Request, spider: Spider) -> None:
        headers = request.headers.to_unicode_dict()
        log.debug("request headers for %s: %s", request, headers)
        if request.url.endswith("/item/3"):
            log.error("upstream refused %s sent with headers %s", request, headers)
            try:
                raise ConnectionError(f"reset by peer after sending {headers}")
            except ConnectionError:
                log.exception("while fetching %s", request)  # the secret is in the traceback only
        if request.url.endswith("/item/4"):
            raise RuntimeError(f"cannot fetch {request} with headers {headers}")

    def process_response(self, request: Request, response: Any, spider: Spider) -> Any:
        return response


class FailOnPathSpiderMiddleware:
    """Raises in front of the spider for responses whose URL ends with ``$NARCOWATCH_TEST_FAIL_PATH``
    (a spider error: with ``CLOSESPIDER_ERRORCOUNT=1`` the crawl stops early with an error)."""

    def process_spider_output(self, response: Any, result: Any, spider: Spider) -> Any:
        import os

        path = os.environ.get("NARCOWATCH_TEST_FAIL_PATH")
        if path and response.url.endswith(path):
            raise ValueError(f"planted spider error at {response.url}")
        return result
