"""The evidence bundle of a report and its verification.

``evidence/`` holds, for each captured page a report cites, its WARC records copied byte for byte out of
the crawl run's WARC file (response and request record, so the copy is the capture itself, not a re-encoding)
and its screenshot; ``evidence/MANIFEST.sha256`` lists them in ``sha256sum`` format. ``custody.json``
says when, by which command and query the report was made, which index documents (with ``_version``,
``_seq_no``, ``_primary_term``) it shows, and the SHA-256 of every other file of the report.
``verify_bundle`` re-hashes every file and re-reads every WARC record against the index.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import re
import shutil
import stat
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, TextIO

from crawler import __version__
from crawler.common.clock import utc_now_iso
from crawler.evidence import sha256_hex
from crawler.reports.data import Doc, Selection

log = logging.getLogger(__name__)

EVIDENCE_DIR = "evidence"
MANIFEST = "MANIFEST.sha256"
CUSTODY = "custody.json"
_SAFE = re.compile(r"[^A-Za-z0-9_-]")


def file_sha256(path: Path) -> str:
    """SHA-256 of a file, read in blocks."""
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


@dataclass
class Capture:
    """The bundled evidence of one captured page (several listings may come from one page)."""

    record_id: str
    warc: str | None = None  # path relative to the report directory
    screenshot: str | None = None
    source_warc: str | None = None
    source_offset: int | None = None
    response_sha256: str | None = None
    problem: str | None = None


@dataclass
class Bundle:
    """What ``write_evidence`` put in ``evidence/``: captures by listing id."""

    by_listing: dict[str, Capture] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)
    """Evidence paths index records named that were not read (outside the evidence directories) -> why."""

    def refuse(self, path: str, exc: OutsideEvidence) -> None:
        self.refused.setdefault(path, str(exc))

    def refused_note(self) -> str | None:
        """The report's line on refused evidence files (None when there were none)."""
        if not self.refused:
            return None
        n = len(self.refused)
        paths = ", ".join(repr(p) for p in sorted(self.refused)[:10]) + (", ..." if n > 10 else "")
        return (f"{n} evidence file{'s' if n > 1 else ''} refused (not inside the evidence directories; "
                f"possibly a tampered index record), not read into this report: {paths}")


def _record_name(record_id: str) -> str:
    return _SAFE.sub("", record_id.removeprefix("<").removesuffix(">").removeprefix("urn:uuid:"))[:64] or "record"


def index_warc(warc: BinaryIO) -> dict[str, list[tuple[int, int]]]:
    """``{response record id: [(offset, length) of the response record, of its concurrent request record]}``."""
    from warcio.archiveiterator import ArchiveIterator

    spans: dict[str, list[tuple[int, int]]] = {}
    warc.seek(0)
    it = ArchiveIterator(warc)
    for record in it:
        rid = record.rec_headers.get_header("WARC-Record-ID")
        concurrent = record.rec_headers.get_header("WARC-Concurrent-To")
        kind = record.rec_type
        it.read_to_end(record)
        span = (it.get_record_offset(), it.get_record_length())
        if kind == "response" and rid:
            spans.setdefault(rid, []).insert(0, span)
        elif kind == "request" and concurrent:
            spans.setdefault(concurrent, []).append(span)
    return spans


def copy_records(src: BinaryIO, spans: list[tuple[int, int]], out: Path) -> None:
    """Copy WARC records (gzip members) byte for byte from the open run WARC ``src`` to ``out``."""
    with open(out, "wb") as dst:
        for start, length in spans:
            src.seek(start)
            dst.write(src.read(length))


class OutsideEvidence(ValueError):
    """An evidence path of an index record that is not a file inside the evidence directories."""


def default_evidence_dirs() -> list[Path]:
    """Where crawls put WARC files and screenshots by default: ``<state home>/evidence``."""
    from crawler.paths import state_home

    return [state_home() / "evidence"]


def open_evidence(path: str, roots: list[Path]) -> BinaryIO:
    """``path`` (from an index record, so not trusted) opened for reading, when it is a regular file inside ``roots``.

    An index record can be tampered with (or written by another tool): a report must not copy whatever
    readable file it names (``/etc/passwd``, a key, ``/dev/zero``) into a bundle meant to be handed over.
    Refused, with OutsideEvidence saying why: a relative path, any ``..`` component, a path that is not
    inside one of ``roots`` once symlinks are resolved (of the path and of the roots), and anything but a
    regular file with one link.

    The file is not opened by its name after that check (a symlink swapped in between, by anyone who can
    write in the evidence directory, would be followed): it is reached from the root's directory descriptor
    one component at a time (``openat``), each with ``O_NOFOLLOW``, so a symlink met anywhere below the root
    is refused, and the opened descriptor itself must be a regular file (``fstat``).
    """
    given = Path(path)
    if not given.is_absolute():
        raise OutsideEvidence(f"{path!r} is not an absolute path")
    if ".." in given.parts:
        raise OutsideEvidence(f"{path!r} has a '..' component")
    real = Path(os.path.realpath(given))
    inside = [Path(os.path.realpath(r)) for r in roots if real.is_relative_to(os.path.realpath(r))]
    if not inside:
        where = ", ".join(str(r) for r in roots) or "none given"
        raise OutsideEvidence(f"{path!r} is outside the evidence directories ({where})"
                              + (f"; it resolves to {real}" if str(real) != path else ""))
    root = inside[0]
    parts = real.relative_to(root).parts
    if not parts:
        raise OutsideEvidence(f"{path!r} is not a regular file")
    nofollow = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(root, nofollow | os.O_DIRECTORY)
    except OSError as exc:
        raise OutsideEvidence(f"{path!r}: {exc.strerror}") from None
    try:
        for name in parts[:-1]:
            try:
                step = os.open(name, nofollow | os.O_DIRECTORY, dir_fd=fd)
            except OSError as exc:
                raise _moved(path, exc) from None
            os.close(fd)
            fd = step
        try:  # O_NONBLOCK: a FIFO swapped in must not hang the report before fstat refuses it
            step = os.open(parts[-1], nofollow | os.O_NONBLOCK | os.O_NOCTTY, dir_fd=fd)
        except OSError as exc:
            raise _moved(path, exc) from None
        os.close(fd)
        fd = step
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise OutsideEvidence(f"{path!r} is not a regular file")
        if info.st_nlink != 1:
            raise OutsideEvidence(f"{path!r} has {info.st_nlink} hard links (evidence files have one)")
        os.set_blocking(fd, True)
        handle = os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
    return handle


def _moved(path: str, exc: OSError) -> OutsideEvidence:
    """Why a component of a checked evidence path could not be opened without following a link."""
    if exc.errno in (errno.ELOOP, errno.ENOTDIR):
        return OutsideEvidence(f"{path!r} changed under us: a symbolic link where the checked path had a file "
                               "or directory")
    return OutsideEvidence(f"{path!r}: {exc.strerror}")


def write_evidence(directory: Path, docs: list[Doc], evidence_dirs: list[Path] | None = None) -> Bundle:
    """Copy every cited page's WARC records and screenshot into ``directory/evidence`` and write its manifest.

    Only files inside ``evidence_dirs`` (default ``default_evidence_dirs()``) are read: a record naming
    another file is named in a WARNING and in the report's problems, and its evidence is left out.
    """
    ev = directory / EVIDENCE_DIR
    ev.mkdir(parents=True, exist_ok=True)
    roots = list(evidence_dirs) if evidence_dirs is not None else default_evidence_dirs()
    bundle = Bundle()
    by_record: dict[str, Capture] = {}
    indexes: dict[str, dict[str, list[tuple[int, int]]] | Exception] = {}
    for doc in docs:
        evidence = doc.source.get("evidence") or {}
        record_id = evidence.get("warc_record_id")
        warc_file = evidence.get("warc_file")
        if not record_id or not warc_file:
            cap = Capture(record_id="", response_sha256=evidence.get("response_sha256"),
                          problem="the index holds no WARC record for this listing")
            bundle.by_listing[doc.id] = cap
            continue
        cap = by_record.get(record_id)  # type: ignore[assignment]
        if cap is None:
            cap = Capture(record_id=record_id, source_warc=warc_file, response_sha256=evidence.get("response_sha256"))
            name = _record_name(record_id)
            target = ev / f"{name}.warc.gz"
            try:
                if warc_file not in indexes:
                    try:
                        with open_evidence(warc_file, roots) as fh:
                            indexes[warc_file] = index_warc(fh)
                    except OutsideEvidence as exc:
                        log.warning("listing %s (record %s): WARC file refused: %s", doc.id, record_id, exc)
                        bundle.refuse(warc_file, exc)
                        indexes[warc_file] = exc
                    except Exception as exc:  # read a damaged or missing run WARC once, not once per listing
                        indexes[warc_file] = exc
                known = indexes[warc_file]
                if isinstance(known, Exception):
                    raise known
                spans = known.get(record_id)
                if not spans:
                    raise KeyError(f"no WARC record {record_id} in {warc_file}")
                with open_evidence(warc_file, roots) as fh:
                    copy_records(fh, spans, target)
                cap.source_offset = spans[0][0]
                cap.warc = f"{EVIDENCE_DIR}/{target.name}"
            except Exception as exc:  # unreadable or damaged run WARC: the report says so, per listing
                target.unlink(missing_ok=True)
                cap.problem = f"raw capture {'refused' if isinstance(exc, OutsideEvidence) else 'unavailable'}: {exc}"
                bundle.problems.append(f"listing {doc.id}: {cap.problem}")
            shot = evidence.get("screenshot")
            if shot:
                shot_target = ev / f"{name}.png"
                try:
                    with open_evidence(shot, roots) as fh, open(shot_target, "wb") as out:
                        shutil.copyfileobj(fh, out)
                    cap.screenshot = f"{EVIDENCE_DIR}/{shot_target.name}"
                except OutsideEvidence as exc:
                    log.warning("listing %s (record %s): screenshot refused: %s", doc.id, record_id, exc)
                    bundle.refuse(shot, exc)
                    bundle.problems.append(f"listing {doc.id}: screenshot refused: {exc}")
                except OSError as exc:
                    bundle.problems.append(f"listing {doc.id}: screenshot {shot} unavailable: {exc}")
            by_record[record_id] = cap
        bundle.by_listing[doc.id] = cap
    write_manifest(ev)
    return bundle


def write_manifest(ev: Path) -> None:
    """``MANIFEST.sha256`` in ``sha256sum`` format (``cd evidence && sha256sum -c MANIFEST.sha256`` checks it)."""
    lines = [f"{file_sha256(p)}  {p.name}\n" for p in sorted(ev.iterdir()) if p.is_file() and p.name != MANIFEST]
    (ev / MANIFEST).write_text("".join(lines), encoding="utf-8")


def report_files(directory: Path) -> list[Path]:
    """Every file of a report directory but ``custody.json``, sorted."""
    return sorted(p for p in directory.rglob("*") if p.is_file() and p.relative_to(directory).as_posix() != CUSTODY)


def write_custody(
    directory: Path,
    selection: Selection,
    bundle: Bundle,
    *,
    command: list[str],
    es: dict[str, Any],
    index_alias: str,
    created_at: str | None = None,
) -> dict[str, Any]:
    """``custody.json``: when, which command and query, which documents at which versions, every file's hash."""
    documents = []
    for doc in selection.docs:
        cap = bundle.by_listing.get(doc.id)
        ev = doc.source.get("evidence") or {}
        documents.append({
            **doc.ref(),
            "url": doc.source.get("url"),
            "content_hash": doc.source.get("content_hash"),
            "response_sha256": ev.get("response_sha256"),
            "warc_record_id": ev.get("warc_record_id"),
            "evidence_warc": cap.warc if cap else None,
            "screenshot": cap.screenshot if cap else None,
            "source_warc_file": ev.get("warc_file"),
            "source_warc_offset": cap.source_offset if cap else None,
            "source_screenshot": ev.get("screenshot"),
            "problem": cap.problem if cap else None,
        })
    custody = {
        "format": "narcowatch-custody/1",
        "created_at": created_at or utc_now_iso(),
        "narcowatch_version": __version__,
        "command": command,
        "report": {"kind": selection.kind, "subject": selection.subject, "parameters": selection.params},
        "elasticsearch": {**es, "index": index_alias, "query": selection.query},
        "vendor_profile": selection.vendor_ref,
        "documents": documents,
        "problems": bundle.problems + selection.notes,
        "refused_evidence": dict(sorted(bundle.refused.items())),
        "files": {p.relative_to(directory).as_posix(): file_sha256(p) for p in report_files(directory)},
    }
    (directory / CUSTODY).write_text(json.dumps(custody, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return custody


# ---------------------------------------------------------------- verification


@dataclass
class Verification:
    """The outcome of ``verify_bundle``: one line per check; ``failures`` names every mismatch."""

    lines: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    files_ok: int = 0
    records_ok: int = 0

    @property
    def ok(self) -> bool:
        return not self.failures

    def good(self, text: str) -> None:
        self.lines.append(f"ok        {text}")

    def bad(self, status: str, text: str) -> None:
        self.lines.append(f"{status:<9} {text}")
        self.failures.append(f"{status} {text}")

    def warn(self, text: str) -> None:
        self.lines.append(f"warning   {text}")
        self.warnings.append(text)


def _record_body_sha256(warc_file: Path, record_id: str) -> tuple[str, dict[str, str]]:
    from warcio.archiveiterator import ArchiveIterator

    with open(warc_file, "rb") as fh:
        for record in ArchiveIterator(fh):
            if record.rec_headers.get_header("WARC-Record-ID") == record_id:
                body = record.raw_stream.read()
                return sha256_hex(body), dict(record.rec_headers.headers)
    raise KeyError(f"no WARC record {record_id}")


IndexLookup = Callable[[str, list[str]], dict[str, dict[str, Any]]]
"""``(alias, ids) -> {id: mget doc}``: the index's current documents (``current_docs`` on a client)."""


def verify_bundle(directory: Path, lookup: IndexLookup) -> Verification:
    """Re-hash every file listed in ``custody.json`` and re-read each WARC record against the index.

    A record matches when the SHA-256 of its HTTP body equals the ``response_sha256`` the index holds for
    the listing now. When the index has moved on (a newer capture of the listing, seen by a higher
    ``_seq_no``), the record is checked against the hash recorded at report time and a warning says so.
    """
    result = Verification()
    custody_path = directory / CUSTODY
    try:
        custody = json.loads(custody_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        result.bad("MISSING", f"{CUSTODY} (not a narcowatch report directory?)")
        return result
    except (OSError, ValueError) as exc:
        result.bad("UNREADABLE", f"{CUSTODY}: {exc}")
        return result
    result.lines.append(f"custody   {CUSTODY} sha256 {file_sha256(custody_path)}, made {custody.get('created_at')} "
                        f"by: {' '.join(str(a) for a in custody.get('command') or [])}")
    files: dict[str, str] = custody.get("files") or {}
    for rel, recorded in sorted(files.items()):
        path = directory / rel
        if not _in_report(directory, rel):
            result.bad("OUTSIDE", f"{rel}: custody.json names a file outside the report directory")
            continue
        if not path.is_file():
            result.bad("MISSING", rel)
            continue
        actual = file_sha256(path)
        if actual == recorded:
            result.good(f"{rel}  sha256 {actual[:16]}...")
            result.files_ok += 1
        else:
            result.bad("MISMATCH", f"{rel}  sha256 {actual} != {recorded} (custody.json)")
    listed = set(files)
    for path in report_files(directory):
        rel = path.relative_to(directory).as_posix()
        if rel not in listed:
            result.warn(f"{rel} is not in custody.json (added after the report was made)")
    _verify_manifest(directory, result)

    documents = custody.get("documents") or []
    alias = (custody.get("elasticsearch") or {}).get("index") or ""
    current: dict[str, dict[str, Any]] = {}
    if documents:
        try:
            current = lookup(alias, [str(d["_id"]) for d in documents])
        except Exception as exc:  # the index is the reference: no answer is a failure, said plainly
            result.bad("UNVERIFIED", f"index {alias} did not answer: {exc}")
            return result
    checked: dict[tuple[str, str], str] = {}
    shots_checked: set[str] = set()
    for d in documents:
        lid, rel, record_id = str(d["_id"]), d.get("evidence_warc"), d.get("warc_record_id")
        if not rel:
            result.warn(f"listing {lid}: no raw capture in the bundle ({d.get('problem') or 'none recorded'})")
            continue
        now = current.get(lid) or {}
        if not now.get("found"):
            result.bad("NOT-FOUND", f"listing {lid} is no longer in {alias}: its record cannot be checked")
            continue
        indexed = ((now.get("_source") or {}).get("evidence") or {}).get("response_sha256")
        expected: str | None = indexed
        against = "the index's response_sha256"
        if indexed != d.get("response_sha256") and (now.get("_seq_no") or 0) > (d.get("_seq_no") or 0):
            result.warn(f"listing {lid} was re-captured after the report (_seq_no {d.get('_seq_no')} -> "
                        f"{now.get('_seq_no')}); its bundled record is checked against custody.json")
            expected, against = d.get("response_sha256"), "the response_sha256 recorded at report time"
        key = (str(rel), str(record_id))
        if key not in checked:
            path = directory / str(rel)
            if not _in_report(directory, str(rel)) or not _in_report(directory, d.get("screenshot") or "x"):
                checked[key] = "unreadable: custody.json names a file outside the report directory"
            elif not path.is_file():
                checked[key] = "missing"
            else:
                try:
                    checked[key], headers = _record_body_sha256(path, str(record_id))
                    _verify_screenshot(directory, d.get("screenshot"), headers, shots_checked, result)
                except Exception as exc:  # a damaged gzip member or WARC header: name the file
                    checked[key] = f"unreadable: {type(exc).__name__}: {exc}"
        body = checked[key]
        if body == "missing":
            result.bad("MISSING", f"{rel}: WARC record of listing {lid}")
        elif body.startswith("unreadable"):
            result.bad("MISMATCH", f"{rel}: WARC record {record_id} of listing {lid} {body}")
        elif body == expected:
            result.good(f"{rel}: record body sha256 {body[:16]}... of listing {lid} equals {against}")
            result.records_ok += 1
        else:
            result.bad("MISMATCH", f"{rel}: record body sha256 {body} of listing {lid} != {against} {expected}")
    return result


def _in_report(directory: Path, rel: str) -> bool:
    """True when ``rel`` (read from custody.json, so not trusted) names a path inside the report directory."""
    return (not Path(rel).is_absolute() and ".." not in Path(rel).parts
            and Path(os.path.realpath(directory / rel)).is_relative_to(os.path.realpath(directory)))


def _verify_screenshot(
    directory: Path, rel: str | None, headers: dict[str, str], done: set[str], result: Verification
) -> None:
    """A bundled screenshot against the ``Narcowatch-Screenshot-SHA256`` its WARC record was written with."""
    expected = headers.get("Narcowatch-Screenshot-SHA256")
    if not rel or not expected or rel in done or not (directory / rel).is_file():
        return  # no screenshot, or a missing one (already a failure of its own)
    done.add(rel)
    actual = file_sha256(directory / rel)
    if actual == expected:
        result.good(f"{rel}: sha256 equals the Narcowatch-Screenshot-SHA256 of its WARC record")
    else:
        result.bad("MISMATCH", f"{rel}: sha256 {actual} != the Narcowatch-Screenshot-SHA256 {expected} of its "
                               "WARC record")


def _verify_manifest(directory: Path, result: Verification) -> None:
    manifest = directory / EVIDENCE_DIR / MANIFEST
    if not manifest.is_file():
        return  # already failed as a missing file when custody.json lists it
    for line in manifest.read_text(encoding="utf-8").splitlines():
        digest, _, name = line.partition("  ")
        if not name:
            continue
        path = directory / EVIDENCE_DIR / name
        rel = f"{EVIDENCE_DIR}/{name}"
        if not path.is_file():
            if not any(f.endswith(f"MISSING {rel}") for f in result.failures):
                result.bad("MISSING", f"{rel} (listed in {MANIFEST})")
        elif file_sha256(path) != digest and not any(rel in f for f in result.failures):
            result.bad("MISMATCH", f"{rel} != {MANIFEST}")


def print_verification(result: Verification, out: TextIO | None = None) -> None:
    """The per-check lines and a one-line verdict."""
    out = out or sys.stdout
    for line in result.lines:
        print(line, file=out)
    if result.ok:
        print(f"verified: {result.files_ok} files and {result.records_ok} WARC records match"
              + (f" ({len(result.warnings)} warnings)" if result.warnings else ""), file=out)
    else:
        print(f"FAILED: {len(result.failures)} problems:", file=out)
        for f in result.failures:
            print(f"  {f}", file=out)
