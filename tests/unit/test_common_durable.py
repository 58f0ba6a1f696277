"""Atomic, durable file writes (crawler.common.durable): what every spool and record writes through."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from crawler.common import durable
from crawler.common.durable import write_atomic, write_json_lines


def test_replaces_content_with_mode_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "state.json"
    target.write_text("old", encoding="utf-8")
    assert write_atomic(target, '{"n": 1}') == target
    assert target.read_text(encoding="utf-8") == '{"n": 1}'
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    write_atomic(target, b"\x00bytes", mode=0o640)
    assert target.read_bytes() == b"\x00bytes" and stat.S_IMODE(target.stat().st_mode) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]


def test_a_planted_symlink_is_replaced_not_written_through(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("keep", encoding="utf-8")
    link = tmp_path / "out"
    link.symlink_to(victim)
    write_atomic(link, "new")
    assert victim.read_text(encoding="utf-8") == "keep"
    assert not link.is_symlink() and link.read_text(encoding="utf-8") == "new"


def test_a_failed_write_keeps_the_old_content(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "spool.jsonl"
    target.write_text("old\n", encoding="utf-8")
    synced: list[int] = []

    def broken_fsync(fd: int) -> None:
        synced.append(fd)
        raise OSError(5, "I/O error")

    monkeypatch.setattr(durable.os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="I/O error"):
        write_atomic(target, "new\n")
    assert synced and target.read_text(encoding="utf-8") == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["spool.jsonl"]


def test_durable_syncs_file_and_directory_and_atomic_only_syncs_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kinds: list[str] = []
    real = os.fsync

    def spy(fd: int) -> None:
        kinds.append("dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file")
        real(fd)

    monkeypatch.setattr(durable.os, "fsync", spy)
    write_atomic(tmp_path / "a", "x")
    assert kinds == ["file", "dir"]
    write_atomic(tmp_path / "b", "x", durable=False)
    assert kinds == ["file", "dir"]


def test_json_lines(tmp_path: Path) -> None:
    rows = [{"index": {"_id": "1"}}, {"title": "Fentanyl 99% — 5g"}]
    path = write_json_lines(tmp_path / "1.jsonl", rows)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert [json.loads(x) for x in lines] == rows and "—" in lines[1] and " " not in lines[0]
