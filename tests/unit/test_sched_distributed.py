"""Unit tests: the scale-out settings (scrapy-redis keys per run, politeness and idle settings from the environment)."""

from __future__ import annotations

import pytest

from crawler.distributed import RedisPolitenessMiddleware, distributed_settings, run_keys, settings_from_env


def test_settings_use_run_scoped_keys_and_never_flush() -> None:
    s = distributed_settings("redis://127.0.0.1:6379/0", "run-1", domain_delay=0.5, idle_grace=10)
    assert s["SCHEDULER"] == "scrapy_redis.scheduler.Scheduler"
    assert s["DUPEFILTER_CLASS"] == "scrapy_redis.dupefilter.RFPDupeFilter"
    assert s["SCHEDULER_PERSIST"] is True
    assert s["SCHEDULER_QUEUE_KEY"] % {"spider": "m"} == run_keys("m", "run-1")["queue"]
    assert s["SCHEDULER_DUPEFILTER_KEY"] % {"spider": "m"} == run_keys("m", "run-1")["dupefilter"]
    assert s["NARCOWATCH_DOMAIN_DELAY"] == 0.5 and s["NARCOWATCH_IDLE_GRACE"] == 10
    assert "crawler.distributed.RedisPolitenessMiddleware" in s["DOWNLOADER_MIDDLEWARES"]


def test_bad_arguments_are_named() -> None:
    with pytest.raises(ValueError, match="redis_url is empty"):
        distributed_settings("", "r")
    with pytest.raises(ValueError, match="run_id 'a:b'"):
        distributed_settings("redis://x", "a:b")


def test_from_env() -> None:
    assert settings_from_env({}) == {}
    with pytest.raises(ValueError, match="NARCOWATCH_RUN_ID is not"):
        settings_from_env({"NARCOWATCH_REDIS_URL": "redis://x"})
    s = settings_from_env({"NARCOWATCH_REDIS_URL": "redis://x", "NARCOWATCH_RUN_ID": "r7",
                           "NARCOWATCH_DOMAIN_DELAY": "2.5"})
    assert s["NARCOWATCH_RUN_ID"] == "r7" and s["NARCOWATCH_DOMAIN_DELAY"] == 2.5


def test_politeness_key_is_per_host() -> None:
    key = RedisPolitenessMiddleware.domain_key
    assert key("http://Market.Example:8080/a?b") == key("https://market.example/c")
    assert key("https://market.example/c") == "narcowatch:polite:market.example"
    assert key("http://other.example/") != key("http://market.example/")
