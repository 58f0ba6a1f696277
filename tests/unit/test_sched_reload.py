"""Unit tests: the daemon's configuration handling (refuse to start on error, reload keeps old config on error)."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict

from crawler.config import ConfigError, load_yaml_model
from crawler.scheduling.daemon import Daemon


class _Source(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    schedule: str
    enabled: bool = True


class _Sources(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sources: list[_Source]


def yaml_loader(path: Path) -> list[Any]:
    """Stand-in for crawler.sources.load_sources with the same error contract (file:line: field: message)."""
    return list(load_yaml_model(path / "sources.yaml", _Sources).sources)


GOOD = """\
sources:
  - name: market-a
    schedule: "0 3 * * *"
  - name: forum-b
    schedule: "30 4 * * *"
"""


@pytest.fixture
def cfg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("NARCOWATCH_HOME", str(tmp_path / "home"))
    d = tmp_path / "config"
    d.mkdir()
    (d / "sources.yaml").write_text(GOOD)
    (d / "scheduler.yaml").write_text("jitter: 0\nrecord_runs: false\nreload_poll: 0.1\n")
    return d


@pytest.fixture
def daemon(cfg: Path) -> Iterator[Daemon]:
    d = Daemon(cfg, sources_loader=yaml_loader)
    d.start()
    yield d
    d.shutdown()


def jobs(d: Daemon) -> dict[str, Any]:
    return {j.id: j for j in d.scheduler.get_jobs()}


def touch_later(path: Path, text: str) -> None:
    st = path.stat()
    path.write_text(text)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))


def test_start_schedules_each_source(daemon: Daemon) -> None:
    j = jobs(daemon)
    assert sorted(j) == ["crawl:forum-b", "crawl:market-a"]
    assert j["crawl:market-a"].next_run_time.hour == 3
    assert j["crawl:market-a"].max_instances == 1
    assert j["crawl:market-a"].coalesce is True
    assert j["crawl:market-a"].args[0] == "market-a"


def test_bad_config_refuses_to_start_naming_file_line_field(cfg: Path) -> None:
    (cfg / "sources.yaml").write_text(GOOD.replace('    schedule: "30 4 * * *"\n', "    shedule: x\n"))
    with pytest.raises(ConfigError) as err:
        Daemon(cfg, sources_loader=yaml_loader).start()
    text = str(err.value)
    assert f"{cfg / 'sources.yaml'}:4: sources[1].schedule: Field required" in text
    assert f"{cfg / 'sources.yaml'}:5: sources[1].shedule: Extra inputs are not permitted" in text


def test_bad_scheduler_settings_refuse_to_start(cfg: Path) -> None:
    (cfg / "scheduler.yaml").write_text("jitter: 0\ntimeout: -5\n")
    with pytest.raises(ConfigError, match=r"scheduler.yaml:2: timeout: Input should be greater than 0"):
        Daemon(cfg, sources_loader=yaml_loader).start()


def test_reload_with_error_keeps_old_config(daemon: Daemon, cfg: Path, caplog: pytest.LogCaptureFixture) -> None:
    before = {k: (v.next_run_time, str(v.trigger)) for k, v in jobs(daemon).items()}
    touch_later(cfg / "sources.yaml", GOOD + "  - name: broken\n    schedule: [1, 2]\n")
    with caplog.at_level(logging.ERROR):
        assert daemon.reload("test") is False
    assert {k: (v.next_run_time, str(v.trigger)) for k, v in jobs(daemon).items()} == before
    assert "keeping the previous configuration" in caplog.text
    assert "sources.yaml:7: sources[2].schedule: Input should be a valid string" in caplog.text
    assert daemon.config is not None and daemon.config.source_names() == ["market-a", "forum-b"]


def test_reload_bad_cron_keeps_old_config(daemon: Daemon, cfg: Path) -> None:
    touch_later(cfg / "sources.yaml", GOOD.replace("30 4 * * *", "99 4 * * *"))
    assert daemon.reload("test") is False
    assert "source 'forum-b'" in daemon.reload_errors[-1]
    assert sorted(jobs(daemon)) == ["crawl:forum-b", "crawl:market-a"]


def test_reload_applies_valid_change_and_keeps_untouched_jobs(daemon: Daemon, cfg: Path) -> None:
    kept = jobs(daemon)["crawl:market-a"].next_run_time
    new = GOOD.replace("30 4 * * *", "15 5 * * *") + '  - name: shop-c\n    schedule: "0 6 * * *"\n    enabled: false\n'
    touch_later(cfg / "sources.yaml", new)
    assert daemon.check_files() is True  # the file watch notices the change and reloads
    j = jobs(daemon)
    assert sorted(j) == ["crawl:forum-b", "crawl:market-a"]  # disabled shop-c gets no job
    assert j["crawl:forum-b"].next_run_time.hour == 5
    assert j["crawl:market-a"].next_run_time == kept
    assert daemon.check_files() is False  # nothing changed since


def test_removed_source_loses_its_job(daemon: Daemon, cfg: Path) -> None:
    touch_later(cfg / "sources.yaml", GOOD.split("  - name: forum-b")[0])
    assert daemon.reload("test") is True
    assert sorted(jobs(daemon)) == ["crawl:market-a"]


def test_jobs_persist_across_restart(cfg: Path) -> None:
    d = Daemon(cfg, sources_loader=yaml_loader)
    d.start()
    first = jobs(d)["crawl:market-a"].next_run_time
    d.shutdown()
    d2 = Daemon(cfg, sources_loader=yaml_loader)
    d2.start()
    try:
        assert jobs(d2)["crawl:market-a"].next_run_time == first
        assert (Path(os.environ["NARCOWATCH_HOME"]) / "scheduler" / "jobs.sqlite").exists()
    finally:
        d2.shutdown()
