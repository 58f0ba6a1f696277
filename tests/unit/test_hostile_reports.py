"""Report bundles copy evidence only from the evidence directories: a tampered index record naming another file
(a stand-in for /etc/passwd, another WARC, a symlink out, a ``..`` path, a device) is refused, named, and the
report goes on with the other listings."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from crawler.reports.bundle import EVIDENCE_DIR, verify_bundle, write_evidence
from crawler.reports.data import Doc

SECRET = b"root:x:0:0:root:/root:/bin/bash\nnarcowatch-SECRET-LINE\n"


def _warc(path: Path, body: bytes) -> str:
    """A one-response WARC file; returns the record id."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        writer = WARCWriter(fh, gzip=True)
        http = StatusAndHeaders("200 OK", [("Content-Type", "text/html")], protocol="HTTP/1.1")
        record = writer.create_warc_record(
            "http://market.example/item/1", "response", payload=io.BytesIO(body), http_headers=http
        )
        writer.write_record(record)
        return str(record.rec_headers.get_header("WARC-Record-ID"))


def _doc(lid: str, warc: str, record: str, shot: str | None = None) -> Doc:
    evidence = {"warc_file": warc, "warc_record_id": record, "response_sha256": "0" * 64}
    if shot:
        evidence["screenshot"] = shot
    return Doc(id=lid, index="listings", version=1, seq_no=1, primary_term=1, source={"evidence": evidence})


@pytest.fixture
def places(tmp_path: Path) -> dict[str, Path]:
    root = tmp_path / "home" / "evidence"
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "passwd").write_bytes(SECRET)
    shot = root / "market" / "run1" / "screenshots" / "item.png"
    shot.parent.mkdir(parents=True)
    shot.write_bytes(b"\x89PNG\r\n\x1a\nfake")
    (root / "market" / "run1" / "screenshots" / "link.png").symlink_to(outside / "passwd")
    return {"root": root, "outside": outside, "shot": shot, "report": tmp_path / "report"}


def test_tampered_evidence_paths_are_refused_named_and_the_report_goes_on(
    places: dict[str, Path], caplog: pytest.LogCaptureFixture
) -> None:
    root, outside = places["root"], places["outside"]
    good_warc = root / "market" / "run1.warc.gz"
    good_id = _warc(good_warc, b"<html>good listing</html>")
    other_id = _warc(outside / "other.warc.gz", SECRET)  # a WARC file, but not ours (another user's, say)
    passwd = str(outside / "passwd")
    docs = [
        _doc("good", str(good_warc), good_id, str(places["shot"])),
        _doc("abs-shot", str(good_warc), good_id + "x", passwd),
        _doc("abs-warc", str(outside / "other.warc.gz"), other_id),
        _doc("dotdot", f"{root}/../outside/other.warc.gz", other_id + "y"),
        _doc("symlink", str(good_warc), good_id + "z", str(root / "market" / "run1" / "screenshots" / "link.png")),
        _doc("relative", "outside/other.warc.gz", other_id + "w"),
        _doc("device", "/dev/zero", "rec-dev"),
    ]
    with caplog.at_level(logging.WARNING, logger="crawler.reports.bundle"):
        bundle = write_evidence(places["report"], docs, [root])
    copied = b"".join(p.read_bytes() for p in (places["report"] / EVIDENCE_DIR).iterdir())
    assert b"SECRET-LINE" not in copied  # neither the passwd stand-in nor the foreign WARC's body
    assert bundle.by_listing["good"].warc and bundle.by_listing["good"].screenshot  # the report went on
    problems = "\n".join(bundle.problems)
    for lid in ("abs-shot", "abs-warc", "dotdot", "symlink", "relative", "device"):
        assert f"listing {lid}: " in problems, lid
    assert f"listing abs-shot: screenshot refused: {passwd!r} is outside the evidence directories" in problems
    assert "listing dotdot: raw capture refused:" in problems and "has a '..' component" in problems
    assert "link.png' is outside the evidence directories" in problems and f"resolves to {passwd}" in problems
    assert "is not an absolute path" in problems
    assert "listing device: raw capture refused: '/dev/zero' is outside" in problems
    assert "listing abs-warc (record " in caplog.text and "WARC file refused" in caplog.text
    # counted once per refused file, named in the report's note
    refused = {passwd, str(outside / "other.warc.gz"), f"{root}/../outside/other.warc.gz", "/dev/zero",
               str(root / "market" / "run1" / "screenshots" / "link.png"), "outside/other.warc.gz"}
    assert set(bundle.refused) == refused
    note = bundle.refused_note() or ""
    assert note.startswith("6 evidence files refused (not inside the evidence directories")
    assert all(repr(p) in note for p in refused)


def test_evidence_inside_the_root_through_a_symlinked_root_is_accepted(places: dict[str, Path]) -> None:
    """Symlinks are resolved on both sides: a root given through a link still holds its own files."""
    root = places["root"]
    link = root.parent / "evidence-link"
    link.symlink_to(root)
    warc = link / "market" / "run1.warc.gz"
    record = _warc(root / "market" / "run1.warc.gz", b"<html>ok</html>")
    bundle = write_evidence(places["report"], [_doc("one", str(warc), record)], [link])
    assert bundle.problems == [] and bundle.by_listing["one"].warc
    assert bundle.refused == {} and bundle.refused_note() is None


def test_verify_refuses_custody_paths_outside_the_report(places: dict[str, Path]) -> None:
    report = places["report"]
    report.mkdir()
    custody = {"files": {"../outside/passwd": "0" * 64, str(places["outside"] / "passwd"): "0" * 64}, "documents": []}
    (report / "custody.json").write_text(json.dumps(custody), encoding="utf-8")
    result = verify_bundle(report, lambda alias, ids: {})
    assert not result.ok
    assert sum("OUTSIDE" in f for f in result.failures) == 2


def _swap_after_check(monkeypatch: pytest.MonkeyPatch, path: Path, swap: Callable[[], None]) -> None:
    """Run ``swap`` right after ``path`` has been resolved for the check: the window a local attacker with write
    access to the evidence directory has between checking a path and opening it."""
    import os

    real = os.path.realpath
    done: list[bool] = []

    def realpath(p: Any, *args: Any, **kwargs: Any) -> Any:
        out = real(p, *args, **kwargs)
        if str(p) == str(path) and not done:
            done.append(True)
            swap()
        return out

    monkeypatch.setattr(os.path, "realpath", realpath)


@pytest.mark.parametrize("where", ["file", "directory"])
def test_symlink_swapped_in_after_the_check_is_not_followed(
    places: dict[str, Path], monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    """The path passes the check (a regular file inside the root), then the file, or a directory on its way, is
    replaced by a symlink to a file outside: the copy must not follow it (it used to: check by name, open by
    name)."""
    root, outside, shot = places["root"], places["outside"], places["shot"]
    warc = root / "market" / "run1.warc.gz"
    record = _warc(warc, b"<html>good listing</html>")
    (outside / "item.png").write_bytes(SECRET)
    shots = shot.parent

    def swap() -> None:
        if where == "file":
            shot.unlink()
            shot.symlink_to(outside / "passwd")
        else:
            shots.rename(shots.with_name("moved"))
            shots.symlink_to(outside, target_is_directory=True)

    _swap_after_check(monkeypatch, shot, swap)
    bundle = write_evidence(places["report"], [_doc("swapped", str(warc), record, str(shot))], [root])
    copied = b"".join(p.read_bytes() for p in (places["report"] / EVIDENCE_DIR).iterdir())
    assert b"SECRET-LINE" not in copied
    assert bundle.by_listing["swapped"].warc and not bundle.by_listing["swapped"].screenshot
    assert "changed under us: a symbolic link" in "\n".join(bundle.problems)
    assert set(bundle.refused) == {str(shot)}


def test_fifo_and_hard_link_inside_the_root_are_refused_without_hanging(places: dict[str, Path]) -> None:
    """A FIFO (opening it for reading would wait for a writer for ever) and a hard link to a file outside (same
    inode, so no path check sees it) inside the root are refused."""
    import os

    root, outside = places["root"], places["outside"]
    warc = root / "market" / "run1.warc.gz"
    record = _warc(warc, b"<html>good listing</html>")
    fifo = root / "market" / "fifo.png"
    os.mkfifo(fifo)
    linked = root / "market" / "linked.png"
    os.link(outside / "passwd", linked)
    docs = [_doc("fifo", str(warc), record, str(fifo)), _doc("link", str(warc), record + "x", str(linked))]
    bundle = write_evidence(places["report"], docs, [root])
    problems = "\n".join(bundle.problems)
    assert f"{str(fifo)!r} is not a regular file" in problems
    assert f"{str(linked)!r} has 2 hard links" in problems
    copied = b"".join(p.read_bytes() for p in (places["report"] / EVIDENCE_DIR).iterdir())
    assert b"SECRET-LINE" not in copied
