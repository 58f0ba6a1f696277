"""Pytest fixtures that serve the fixture web (crawler.demo_web) on 127.0.0.1, port 0."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from crawler.demo_web import DemoWeb


@pytest.fixture(scope="session")
def demo_web_server() -> Iterator[DemoWeb]:
    """The session's DemoWeb (with the test-only /broken/ site); do not mutate it (use ``fresh_web``)."""
    web = DemoWeb(include_broken=True)
    web.start()
    try:
        yield web
    finally:
        web.stop()


@pytest.fixture(scope="session")
def demo_web(demo_web_server: DemoWeb) -> str:
    """Base URL (``http://127.0.0.1:PORT``) of the session's unmodified fixture web."""
    return demo_web_server.base_url


@pytest.fixture()
def fresh_web() -> Iterator[DemoWeb]:
    """A DemoWeb of its own for a test that mutates it (set_price, remove_listing, add_listing)."""
    web = DemoWeb(include_broken=True)
    web.start()
    try:
        yield web
    finally:
        web.stop()
