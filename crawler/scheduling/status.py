"""`narcowatch status`: the node, the sources with their last and next runs, queues, spool and running crawls."""

from __future__ import annotations

import json
import os
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from crawler.common.clock import utc_iso
from crawler.common.redaction import redact_url
from crawler.paths import state_home


def node_status() -> dict[str, Any]:
    """The Elasticsearch node in use: URL (password masked), version, or why it cannot be reached."""
    try:
        from crawler.es.client import get_client, resolve_url, server_version

        url, _origin = resolve_url(None)
        client = get_client(check=False, request_timeout=5)
        return {"url": redact_url(url), "version": server_version(client), "ok": True}
    except Exception as exc:
        return {"url": os.environ.get("NARCOWATCH_ES_URL") and redact_url(os.environ["NARCOWATCH_ES_URL"]),
                "ok": False, "error": str(exc)[:300]}


def last_runs_es(sources: list[str]) -> dict[str, dict[str, Any]]:
    """The newest crawl-runs document of each source (one terms + top_hits aggregation)."""
    from crawler.es.client import get_client
    from crawler.es.names import IndexNames

    client = get_client(check=False, request_timeout=10)
    resp = client.search(
        index=IndexNames().crawl_runs, size=0, ignore_unavailable=True,
        aggs={"by_source": {"terms": {"field": "source", "size": max(10, len(sources) * 2)},
                            "aggs": {"last": {"top_hits": {"size": 1, "sort": [{"@timestamp": "desc"}]}}}}},
    )
    out = {}
    for bucket in resp.get("aggregations", {}).get("by_source", {}).get("buckets", []):
        hits = bucket["last"]["hits"]["hits"]
        if hits:
            out[bucket["key"]] = hits[0]["_source"]
    return out


def last_runs_local(names: list[str] | None = None) -> dict[str, dict[str, Any]]:
    """The newest run of each source in this machine's run log (when Elasticsearch cannot be asked).

    The log grows by a line a run for months, so it is read from its end (a source's runs never overlap,
    its last line is its newest run) and reading stops once every source in ``names`` has been seen.
    """
    from crawler.scheduling.worker import lines_from_end, local_runs_path

    out: dict[str, dict[str, Any]] = {}
    path = local_runs_path()
    if not path.exists():
        return out
    wanted = set(names) if names else None
    for line in lines_from_end(path):
        try:
            doc = json.loads(line)
        except ValueError:
            continue
        source = doc.get("source") if isinstance(doc, dict) else None
        if not isinstance(source, str) or source in out:
            continue
        out[source] = doc
        if wanted is not None and wanted <= out.keys():
            break
    return out


def next_runs(jobstore_url: str) -> dict[str, str]:
    """Job id -> next run time (UTC ISO) read from the job store's table (no job is unpickled)."""
    rows: list[Any]
    if not jobstore_url.startswith("sqlite:///"):
        from sqlalchemy import create_engine, text

        engine = create_engine(jobstore_url)
        with engine.connect() as conn:
            rows = list(conn.execute(text("SELECT id, next_run_time FROM apscheduler_jobs")))
        engine.dispose()
    else:
        path = Path(jobstore_url.removeprefix("sqlite:///"))
        if not path.exists():
            return {}
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            rows = db.execute("SELECT id, next_run_time FROM apscheduler_jobs").fetchall()
        except sqlite3.OperationalError:
            rows = []
        finally:
            db.close()
    return {
        job_id: utc_iso(datetime.fromtimestamp(ts, UTC), timespec="seconds") if ts is not None else "paused"
        for job_id, ts in rows
    }


def dir_size(path: Path) -> dict[str, int]:
    files = [p for p in path.rglob("*") if p.is_file()] if path.exists() else []
    return {"files": len(files), "bytes": sum(p.stat().st_size for p in files)}


def redis_queues() -> dict[str, int] | None:
    """Lengths of the shared request queues (scale-out mode, ``NARCOWATCH_REDIS_URL``), or None."""
    url = os.environ.get("NARCOWATCH_REDIS_URL")
    if not url:
        return None
    import redis

    client = redis.Redis.from_url(url, socket_timeout=5)
    try:
        return {k.decode(): int(client.zcard(k)) for k in client.scan_iter("narcowatch:*:requests")}
    finally:
        client.close()


def collect_status(config: Path | None) -> dict[str, Any]:
    """Everything `narcowatch status` shows, as one JSON-ready dict."""
    from crawler.scheduling.jobs import CRAWL_PREFIX
    from crawler.scheduling.settings import load_settings
    from crawler.scheduling.worker import scheduler_home

    status: dict[str, Any] = {"node": node_status()}
    try:
        from crawler.sources import load_sources

        sources = load_sources(config)
        status["config_error"] = None
    except Exception as exc:
        sources, status["config_error"] = [], str(exc)
    names = [s.name for s in sources]
    try:
        last = last_runs_es(names) if status["node"]["ok"] else last_runs_local(names)
        status["last_runs_from"] = "elasticsearch" if status["node"]["ok"] else "local run log"
    except Exception as exc:
        last, status["last_runs_from"] = last_runs_local(names), f"local run log ({str(exc)[:120]})"
    try:
        nxt = next_runs(load_settings(config).resolved_jobstore_url())
    except Exception as exc:
        nxt, status["jobstore_error"] = {}, str(exc)[:300]
    active = {}
    for marker in sorted((scheduler_home() / "active").glob("*.json")):
        try:
            doc = json.loads(marker.read_text())
            active[doc["source"]] = doc
        except (ValueError, KeyError, OSError):
            continue
    rows = []
    for src in sources:
        run = last.get(src.name) or {}
        rows.append({
            "name": src.name, "kind": src.kind, "enabled": src.enabled, "schedule": src.schedule,
            "last_run": run.get("started_at"), "last_outcome": run.get("outcome"), "last_pages": run.get("pages"),
            "last_new": run.get("listings_new"), "next_run": nxt.get(f"{CRAWL_PREFIX}{src.name}"),
            "running": src.name in active,
        })
    status["sources"] = rows
    status["other_jobs"] = {k: v for k, v in nxt.items() if not k.startswith(CRAWL_PREFIX)}
    status["running"] = list(active.values())
    status["spool"] = dir_size(state_home() / "spool")
    status["pending_run_records"] = _lines(scheduler_home() / "runs-pending.jsonl")
    try:
        status["redis_queues"] = redis_queues()
    except Exception as exc:
        status["redis_queues"] = {"error": str(exc)[:200]}
    return status


def _lines(path: Path) -> int:
    return sum(1 for line in path.read_text().splitlines() if line.strip()) if path.exists() else 0


@click.command("status")
@click.option("--config", "config", type=click.Path(path_type=Path), help="Configuration directory or file.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object instead of tables.")
def status_command(config: Path | None, as_json: bool) -> None:
    """Health at a glance: Elasticsearch node, each source's last and next run, queues, spool, running crawls."""
    status = collect_status(config)
    if as_json:
        click.echo(json.dumps(status, indent=2, sort_keys=True, default=str))
        return
    from rich.console import Console
    from rich.table import Table

    console = Console()
    node = status["node"]
    if node["ok"]:
        console.print(f"Elasticsearch: [green]up[/] {node['url']} (version {node['version']})")
    else:
        console.print(f"Elasticsearch: [red]unreachable[/] {node.get('url') or ''}: {node['error']}")
    if status["config_error"]:
        console.print(f"[red]Configuration error[/]:\n{status['config_error']}")
    table = Table(title=f"Sources (last runs from {status['last_runs_from']})")
    for col in ("source", "kind", "enabled", "schedule", "last run", "outcome", "pages", "new", "next run"):
        table.add_column(col)
    for r in status["sources"]:
        outcome = (r["last_outcome"] or "-") + (" (running)" if r["running"] else "")
        table.add_row(r["name"], r["kind"], "yes" if r["enabled"] else "no", r["schedule"] or "on demand",
                      r["last_run"] or "never", outcome, str(r["last_pages"] if r["last_pages"] is not None else "-"),
                      str(r["last_new"] if r["last_new"] is not None else "-"), r["next_run"] or "-")
    console.print(table)
    for job, when in sorted(status["other_jobs"].items()):
        console.print(f"job {job}: next {when}")
    console.print(f"Spool: {status['spool']['files']} file(s), {status['spool']['bytes']} bytes; "
                  f"run records waiting for Elasticsearch: {status['pending_run_records']}")
    if status["redis_queues"] is not None:
        console.print(f"Shared queues (Redis): {status['redis_queues']}")
    if status.get("jobstore_error"):
        console.print(f"[yellow]Job store not readable[/]: {status['jobstore_error']}")
