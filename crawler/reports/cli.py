"""`narcowatch report platform|vendor` and `narcowatch evidence verify`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from crawler.reports.data import ReportError

if TYPE_CHECKING:
    from elasticsearch import Elasticsearch

    from crawler.es.names import IndexNames
    from crawler.reports.build import Made


def _client() -> tuple[Elasticsearch, IndexNames]:
    from crawler.es.client import EsUnavailable, get_client
    from crawler.es.names import IndexNames

    try:
        return get_client(), IndexNames()
    except (EsUnavailable, ValueError) as exc:
        raise click.ClickException(str(exc)) from None


def _command_line() -> list[str]:
    """The command as typed (recorded in custody.json)."""
    return ["narcowatch", *sys.argv[1:]]


def _made(made: Made) -> None:
    files = ", ".join(p.name for p in made.files)
    click.echo(f"Report written to {made.directory}: {made.listings} listings in {made.sections} sections, "
               f"{made.captures} raw captures, {made.screenshots} screenshots ({files}, evidence/)")
    from crawler.reports.bundle import CUSTODY, file_sha256

    click.echo(f"{CUSTODY} sha256 {file_sha256(made.directory / CUSTODY)} (keep it with the referral: "
               "`narcowatch evidence verify` checks everything else against custody.json)")
    for p in made.problems:
        click.echo(f"  note: {p}", err=True)
    if made.refused:
        click.echo(f"{made.refused} evidence file{'s' if made.refused > 1 else ''} refused: not inside the evidence "
                   "directories (state home evidence/, --evidence-dir), not copied; named in the notes and "
                   "in custody.json (refused_evidence)", err=True)


@click.group("report")
def report_group() -> None:
    """Referral reports for a platform and vendor dossiers, with a verifiable evidence bundle."""


def _evidence_dirs(given: tuple[Path, ...]) -> list[Path]:
    from crawler.reports.bundle import default_evidence_dirs

    return [*default_evidence_dirs(), *given]


EVIDENCE_DIR_OPTION = click.option(
    "--evidence-dir", "evidence_dirs", multiple=True, type=click.Path(path_type=Path, file_okay=False),
    help="Also read WARC files and screenshots here (repeatable; crawls run with -s NARCOWATCH_EVIDENCE_DIR=...). "
         "Only files inside the state home's evidence/ and these are ever copied into a report.")


@report_group.command("platform")
@click.argument("platform")
@click.option("--since", default="30d", show_default=True, help="Listings seen within this (24h, 30d, 2026-01-31).")
@click.option("--class", "classes", multiple=True, help="Substance class (repeatable): fentanyl, precursor, ...")
@click.option("--min-risk", type=click.FloatRange(0, 1), default=None, help="Only listings with at least this risk.")
@click.option("-o", "--output", "output", type=click.Path(path_type=Path), required=True, help="Report directory.")
@click.option("--no-pdf", is_flag=True, help="Skip report.pdf (no Chromium needed).")
@EVIDENCE_DIR_OPTION
def platform_command(platform: str, since: str, classes: tuple[str, ...], min_risk: float | None, output: Path,
                     no_pdf: bool, evidence_dirs: tuple[Path, ...]) -> None:
    """Referral report for PLATFORM's trust and safety team: offers by account, with evidence."""
    from crawler.reports.build import make_report
    from crawler.reports.data import platform_selection

    client, names = _client()
    try:
        selection = platform_selection(client, names, platform, since=since or None,
                                       classes=list(classes), min_risk=min_risk)
        made = make_report(client, names, selection, output, command=_command_line(), pdf=not no_pdf,
                           evidence_dirs=_evidence_dirs(evidence_dirs))
    except (ReportError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    _made(made)


@report_group.command("vendor")
@click.argument("vendor")
@click.option("-o", "--output", "output", type=click.Path(path_type=Path), required=True, help="Report directory.")
@click.option("--no-pdf", is_flag=True, help="Skip report.pdf (no Chromium needed).")
@EVIDENCE_DIR_OPTION
def vendor_command(vendor: str, output: Path, no_pdf: bool, evidence_dirs: tuple[Path, ...]) -> None:
    """Dossier of one vendor (HANDLE, contact or VENDOR_ID) across every platform where it appears."""
    from crawler.reports.build import make_report
    from crawler.reports.data import vendor_selection

    client, names = _client()
    try:
        selection = vendor_selection(client, names, vendor)
        made = make_report(client, names, selection, output, command=_command_line(), pdf=not no_pdf,
                           evidence_dirs=_evidence_dirs(evidence_dirs))
    except (ReportError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    _made(made)


@click.group("evidence")
def evidence_group() -> None:
    """Evidence bundles of reports."""


@evidence_group.command("verify")
@click.argument("directory", type=click.Path(path_type=Path, exists=True, file_okay=False))
def verify_command(directory: Path) -> None:
    """Re-hash every file of a report and re-read each WARC record against the index; exit 1 on any mismatch."""
    from crawler.reports.bundle import print_verification, verify_bundle
    from crawler.reports.data import current_docs

    def lookup(alias: str, ids: list[str]) -> dict[str, dict[str, object]]:
        from crawler.es.client import get_client

        return current_docs(get_client(), alias, ids)

    result = verify_bundle(directory, lookup)
    print_verification(result)
    if not result.ok:
        sys.exit(1)
