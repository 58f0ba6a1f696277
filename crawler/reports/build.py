"""Making one report directory: select, bundle the evidence, render HTML and CSV, print the PDF, seal custody."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from elasticsearch import Elasticsearch

from crawler.common.clock import utc_now_iso
from crawler.es.names import IndexNames
from crawler.reports.bundle import CUSTODY, EVIDENCE_DIR, MANIFEST, write_custody, write_evidence
from crawler.reports.data import PAGE, ReportError, Selection
from crawler.reports.render import build_offers, render_html, write_csv

REPORT_FILES = ("report.html", "report.pdf", "listings.csv", CUSTODY)
EVIDENCE_SUFFIXES = (".warc.gz", ".png", MANIFEST)
"""What an earlier report left in evidence/ (replaced by a new report in the same directory)."""


@dataclass
class Made:
    """What ``make_report`` wrote."""

    directory: Path
    listings: int
    sections: int
    captures: int
    screenshots: int
    problems: list[str]
    files: list[Path]
    refused: int = 0
    """Evidence files the index named that were refused (outside the evidence directories)."""


def prepare_directory(directory: Path) -> None:
    """Create ``directory``; refuse one holding anything but an earlier report (never delete foreign files)."""
    directory.mkdir(parents=True, exist_ok=True)
    present = {p.name for p in directory.iterdir()}
    foreign = present - {*REPORT_FILES, EVIDENCE_DIR}
    if foreign:
        raise ReportError(f"{directory} holds other files ({', '.join(sorted(foreign)[:5])}): "
                          "give an empty or new directory")
    ev = directory / EVIDENCE_DIR
    if ev.exists():
        if not ev.is_dir():
            raise ReportError(f"{ev} is not a directory: give an empty or new directory")
        strange = [p.name for p in ev.iterdir() if not p.is_file() or not p.name.endswith(EVIDENCE_SUFFIXES)]
        if strange:
            raise ReportError(f"{ev} holds files no report wrote ({', '.join(sorted(strange)[:5])}): "
                              "give an empty or new directory")
        for p in ev.iterdir():
            p.unlink()
    for name in REPORT_FILES:
        (directory / name).unlink(missing_ok=True)


def price_changes(client: Elasticsearch, names: IndexNames, ids: list[str]) -> list[dict[str, Any]]:
    """Recorded price changes of ``ids`` (the changes index), oldest first."""
    out: list[dict[str, Any]] = []
    for i in range(0, len(ids), PAGE):
        resp = client.search(index=names.changes, size=10_000, sort=[{"@timestamp": "asc"}],
                             query={"bool": {"filter": [{"terms": {"fingerprint": ids[i : i + PAGE]}},
                                                        {"term": {"kind": "price_change"}}]}},
                             source_includes=["fingerprint", "@timestamp", "price", "currency", "price_usd"])
        out.extend(h["_source"] for h in resp["hits"]["hits"])
    return out


def es_description(client: Elasticsearch) -> dict[str, Any]:
    """The cluster a report was made from (name, uuid, version; never credentials)."""
    from crawler.es.client import server_version

    info: dict[str, Any] = {}
    try:
        health = client.cluster.health()
        info["cluster_name"] = health.get("cluster_name")
        state = client.cluster.state(metric="metadata", filter_path="metadata.cluster_uuid")
        info["cluster_uuid"] = (state.get("metadata") or {}).get("cluster_uuid")
        info["version"] = server_version(client)
    except Exception as exc:  # descriptive only; the documents' versions are what matter
        info["error"] = str(exc)[:200]
    return info


def make_report(
    client: Elasticsearch,
    names: IndexNames,
    selection: Selection,
    directory: Path,
    *,
    command: list[str],
    pdf: bool = True,
    evidence_dirs: list[Path] | None = None,
) -> Made:
    """Write report.html, report.pdf, listings.csv, evidence/ and custody.json for ``selection``.

    Evidence files are read only inside ``evidence_dirs`` (default: the state home's ``evidence``)."""
    prepare_directory(directory)
    created_at = utc_now_iso()
    bundle = write_evidence(directory, selection.docs, evidence_dirs)
    offers = build_offers(selection, bundle, directory)
    changes = price_changes(client, names, [d.id for d in selection.docs]) if selection.kind == "vendor" else []
    refused = bundle.refused_note()
    notes = [*([refused] if refused else []), *selection.notes]
    html = render_html(selection, offers, created_at=created_at, command=shlex.join(command), changes=changes,
                       notes=notes)
    (directory / "report.html").write_text(html, encoding="utf-8")
    write_csv(directory / "listings.csv", offers)
    if pdf:
        from crawler.reports.pdf import print_pdf

        print_pdf(directory / "report.html", directory / "report.pdf")
    write_custody(directory, selection, bundle, command=command, es=es_description(client),
                  index_alias=names.listings, created_at=created_at)
    captures = {c.warc for c in bundle.by_listing.values() if c.warc}
    shots = {c.screenshot for c in bundle.by_listing.values() if c.screenshot}
    accounts = {(o.src.get("vendor") if selection.kind == "platform" else o.src.get("platform")) for o in offers}
    files = [directory / n for n in REPORT_FILES if (directory / n).is_file()]
    return Made(directory, len(selection.docs), len(accounts), len(captures), len(shots),
                bundle.problems + selection.notes, files, refused=len(bundle.refused))
