"""The `narcowatch` command line: one group whose subcommands live beside the parts they drive."""

from __future__ import annotations

import importlib
import logging
import os
import sys

import click

from crawler import __version__

# name -> "module:attribute". Imported only when used, so `narcowatch --help` stays fast and a
# broken optional part cannot take the whole CLI down.
COMMANDS: dict[str, str] = {
    "demo": "crawler.demo:demo_command",
    "crawl": "crawler.runner:crawl_command",
    "schedule": "crawler.scheduling.daemon:schedule_command",
    "status": "crawler.scheduling.status:status_command",
    "es": "crawler.es.cli:es_group",
    "search": "crawler.es.cli:search_command",
    "kibana": "crawler.es.cli:kibana_group",
    "nlp": "nlp.cli:nlp_group",
    "config": "crawler.sources.cli:config_group",
    "source": "crawler.sources.cli:source_group",
    "alerts": "crawler.alerting.cli:alerts_group",
    "report": "crawler.reports.cli:report_group",
    "evidence": "crawler.reports.cli:evidence_group",
}


class LazyGroup(click.Group):
    """A click group that imports each subcommand's module on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        try:
            command = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as exc:
            return _unavailable(cmd_name, f"{target} could not be loaded: {exc}")
        if not isinstance(command, click.Command):
            return _unavailable(cmd_name, f"{target} is not a click command")
        return command


def _unavailable(name: str, reason: str) -> click.Command:
    def run() -> None:
        raise click.ClickException(f"'{name}' is unavailable in this installation: {reason}")

    return click.Command(name, callback=run, help=f"(unavailable: {reason})")


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="narcowatch")
@click.option("-q", "--quiet", is_flag=True, help="Only errors and final results; no progress.")
@click.option("-v", "--verbose", is_flag=True, help="Debug logging.")
@click.pass_context
def main(ctx: click.Context, quiet: bool, verbose: bool) -> None:
    """Monitor online markets for fentanyl, other synthetic opioids and their precursors."""
    ctx.ensure_object(dict)
    ctx.obj["quiet"] = quiet
    os.umask(0o077)  # what narcowatch writes (mails, WARC, spool, node state) is its user's alone
    level = logging.DEBUG if verbose else (logging.ERROR if quiet else logging.WARNING)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not verbose:
        quiet_noisy_loggers()


def quiet_noisy_loggers() -> None:
    """Client libraries that log every retried connection with a traceback: errors only.

    Our own code reports an unreachable service once, with its URL and what to do.
    """
    for name in ("elastic_transport", "elasticsearch", "urllib3"):
        logging.getLogger(name).setLevel(logging.ERROR)


def is_quiet(ctx: click.Context | None = None) -> bool:
    """True when `-q` was given on the main command."""
    ctx = ctx or click.get_current_context(silent=True)
    while ctx is not None:
        if isinstance(ctx.obj, dict) and "quiet" in ctx.obj:
            return bool(ctx.obj["quiet"])
        ctx = ctx.parent
    return False


def run(argv: list[str] | None = None) -> object:
    """Entry point for tests: run the CLI without exiting the interpreter."""
    return main.main(args=argv if argv is not None else sys.argv[1:], standalone_mode=False)


if __name__ == "__main__":
    main()
