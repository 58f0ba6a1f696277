"""The daemon's configuration snapshots (crawler.scheduling.worker.snapshot_config) are durable: every copied
file and directory is fsynced before the copy is renamed into place, and the snapshots directory after it.

A snapshot that exists is never made again, so one renamed into place before its files reached the disk would,
after a power cut, be used torn (empty files) by every later run.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from crawler.scheduling import worker


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("NARCOWATCH_HOME", str(tmp_path / "home"))
    root = tmp_path / "config"
    (root / "sources" / "more").mkdir(parents=True)
    (root / "alerts.yaml").write_text("rules: []\n")
    (root / "sources" / "demo.yaml").write_text("sources: []\n")
    (root / "sources" / "more" / "extra.yml").write_text("sources: []\n")
    (root / "notes.txt").write_text("not configuration\n")
    return root


def _record(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """Every fsync (of the path the descriptor names) and rename, in order."""
    events: list[tuple[str, str]] = []
    real_fsync, real_rename = os.fsync, Path.rename

    def fsync(fd: int) -> None:
        events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    def rename(self: Path, target: str | os.PathLike[str]) -> Path:
        events.append(("rename", f"{self} -> {target}"))
        return real_rename(self, target)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(Path, "rename", rename)
    return events


def test_snapshot_is_fsynced_before_and_after_its_rename(config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    events = _record(monkeypatch)
    snap = worker.snapshot_config(config)
    assert sorted(str(p.relative_to(snap)) for p in snap.rglob("*") if p.is_file()) == [
        "alerts.yaml", "sources/demo.yaml", "sources/more/extra.yml"
    ]
    assert (snap / "sources" / "more" / "extra.yml").read_text() == "sources: []\n"
    renames = [i for i, (kind, _) in enumerate(events) if kind == "rename" and f"-> {snap}" in events[i][1]]
    assert len(renames) == 1, events
    before, after = events[: renames[0]], events[renames[0] + 1 :]
    tmp = events[renames[0]][1].split(" -> ")[0]
    synced_before = {path for kind, path in before if kind == "fsync"}
    for rel in ("alerts.yaml", "sources/demo.yaml", "sources/more/extra.yml"):  # the files' data
        assert f"{tmp}/{rel}" in synced_before, rel
    for rel in ("", "/sources", "/sources/more"):  # the entries of every directory of the copy
        assert f"{tmp}{rel}" in synced_before, rel or "the copy's top directory"
    assert ("fsync", str(snap.parent)) in after  # the rename itself


def test_an_existing_snapshot_is_reused_as_is(config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = worker.snapshot_config(config / "alerts.yaml")
    events = _record(monkeypatch)
    assert worker.snapshot_config(config / "alerts.yaml") == first and first.name == "alerts.yaml"
    assert events == []
    (config / "alerts.yaml").write_text("rules: [] # edited\n")
    assert worker.snapshot_config(config).name != first.parent.name  # new content, new snapshot
