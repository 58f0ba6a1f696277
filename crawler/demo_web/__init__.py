"""The fixture web: local demo sites that narcowatch's demo and tests crawl (``DemoWeb``)."""

from crawler.demo_web.server import DemoWeb

__all__ = ["DemoWeb"]
