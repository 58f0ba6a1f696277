"""Kibana saved objects: every referenced field exists in the mappings with a suitable type; import API."""

from __future__ import annotations

import email.policy
import json
import threading
from collections.abc import Iterator
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from crawler import paths
from crawler.cli import main
from crawler.es import dashboards
from crawler.es.kibana import (
    KibanaError,
    check_fields,
    import_saved_objects,
    load_objects,
    referenced_fields,
    saved_object_files,
)


def test_committed_ndjson_matches_generator() -> None:
    assert dashboards.OUT == paths.KIBANA_DIR / "saved_objects.ndjson"
    assert dashboards.OUT.read_text(encoding="utf-8") == dashboards.render()


def test_kibana_generate_writes_and_checks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "saved_objects.ndjson"
    monkeypatch.setattr(dashboards, "OUT", out)
    stale = CliRunner().invoke(main, ["kibana", "generate", "--check"])
    assert stale.exit_code == 1 and "stale" in stale.output
    assert CliRunner().invoke(main, ["kibana", "generate"]).exit_code == 0
    assert out.read_text(encoding="utf-8") == dashboards.render()
    current = CliRunner().invoke(main, ["kibana", "generate", "--check"])
    assert current.exit_code == 0 and "is current" in current.output


def test_every_referenced_field_exists_with_a_suitable_type() -> None:
    objects = load_objects()
    refs = referenced_fields(objects)
    used = {(kind, field, usage) for _, kind, field, usage in refs}
    # the fields the dashboard and searches are built on are really checked
    assert ("listings", "ships_from_geo", "geo") in used
    assert ("listings", "first_seen", "date") in used
    assert ("listings", "substance_classes", "aggregatable") in used
    assert ("vendors", "platform_count", "any") in used
    assert check_fields(objects) == []


def test_field_check_reports_missing_and_unsuitable_fields() -> None:
    objects = load_objects()
    broken = json.loads(json.dumps(objects))
    for obj in broken:
        if obj["id"] == "narcowatch-vis-top-platforms":
            state = json.loads(obj["attributes"]["visState"])
            state["aggs"][1]["params"]["field"] = "description"  # text: not aggregatable
            obj["attributes"]["visState"] = json.dumps(state)
        if obj["id"] == "narcowatch-search-precursors-by-ships-from":
            obj["attributes"]["columns"].append("no_such_field")
    problems = check_fields(broken)
    assert any("description" in p and "aggregatable" in p for p in problems)
    assert any("no_such_field" in p for p in problems)


def test_objects_cover_issue_requirements() -> None:
    objects = load_objects()
    by_id = {o["id"]: o for o in objects}
    views = {o["attributes"]["title"] for o in objects if o["type"] == "index-pattern"}
    assert views == {f"narcowatch-{k}" for k in ("listings", "vendors", "alerts", "crawl-runs", "changes")}
    titles = {o["attributes"]["title"] for o in objects if o["type"] == "search"}
    assert titles == {"New fentanyl listings, last 24h", "Precursors by ships-from", "Vendors on several platforms"}
    dash = next(o for o in objects if o["type"] == "dashboard")
    assert len(json.loads(dash["attributes"]["panelsJSON"])) == 5
    for obj in objects:  # every reference resolves inside the file
        for r in obj.get("references", []):
            assert r["id"] in by_id, f"{obj['id']} references missing {r['id']}"


class _Kibana(BaseHTTPRequestHandler):
    """Stands in for Kibana's saved-objects import API, and checks what that API checks.

    No real Kibana can run here: it is not packaged in Debian and its distribution would have to be
    downloaded from artifacts.elastic.co (no network). So this fake parses the request as Kibana does
    (multipart field ``file`` with a ``.ndjson`` filename, one JSON object per line with ``id``, ``type``
    and ``attributes``, ``references`` resolving inside the import) and answers with the count of what it
    parsed, so that the client's figures come from what it really sent.
    """

    requests: list[dict[str, Any]] = []
    reply: dict[str, Any] | None = None
    problems: list[str] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        objects = self._parse(self.headers.get("Content-Type", ""), body)
        type(self).requests.append({"path": self.path, "headers": dict(self.headers), "body": body.decode(),
                                    "objects": objects})
        reply = type(self).reply or {"success": not type(self).problems, "successCount": len(objects),
                                     "successResults": [{"type": o["type"], "id": o["id"]} for o in objects]}
        data = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _parse(self, content_type: str, body: bytes) -> list[dict[str, Any]]:
        problems = type(self).problems
        msg = BytesParser(policy=email.policy.default).parsebytes(
            f"Content-Type: {content_type}\r\n\r\n".encode() + body)
        parts = [p for p in msg.iter_parts() if p.get_param("name", header="content-disposition") == "file"]
        if len(parts) != 1:
            problems.append(f"expected one multipart field 'file', got {len(parts)}")
            return []
        if not str(parts[0].get_filename()).endswith(".ndjson"):
            problems.append(f"file {parts[0].get_filename()!r} is not .ndjson")
        objects = []
        for n, line in enumerate(parts[0].get_content().splitlines(), 1):
            if not line.strip():
                continue
            obj = json.loads(line)
            missing = {"id", "type", "attributes"} - set(obj)
            if missing:
                problems.append(f"line {n}: missing {sorted(missing)}")
            objects.append(obj)
        ids = {(o["type"], o["id"]) for o in objects}
        for o in objects:
            for ref in o.get("references", []):
                if (ref["type"], ref["id"]) not in ids:
                    problems.append(f"{o['id']} references {ref['type']}/{ref['id']}, not in the import")
        return objects

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def kibana_server() -> Iterator[str]:
    _Kibana.requests, _Kibana.reply, _Kibana.problems = [], None, []
    server = HTTPServer(("127.0.0.1", 0), _Kibana)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_import_sends_every_saved_object_valid_and_complete(kibana_server: str,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NARCOWATCH_KIBANA_API_KEY", "k3y")
    out = import_saved_objects(kibana_server, prefix="acme", space="analysts")
    assert _Kibana.problems == []
    expected = load_objects()
    sent = [o for req in _Kibana.requests for o in req["objects"]]
    assert len(_Kibana.requests) == len(saved_object_files()) >= 1
    assert sorted((o["type"], o["id"]) for o in sent) == sorted(
        (o["type"], o["id"].replace("narcowatch-", "acme-", 1) if o["type"] == "index-pattern" else o["id"])
        for o in expected)
    assert out["successCount"] == len(expected) > 0
    # the data views are renamed for the prefix; everything else is sent as committed
    views = {o["attributes"]["title"] for o in sent if o["type"] == "index-pattern"}
    assert views == {f"acme-{k}" for k in ("listings", "vendors", "alerts", "crawl-runs", "changes")}
    by_id = {o["id"]: o for o in expected}
    for o in sent:
        if o["type"] not in ("index-pattern",) and "narcowatch-" not in json.dumps(by_id[o["id"]]["references"]):
            assert o == by_id[o["id"]]
    req = _Kibana.requests[0]
    assert req["path"] == "/s/analysts/api/saved_objects/_import?overwrite=true"
    headers = {k.lower(): v for k, v in req["headers"].items()}
    assert headers["kbn-xsrf"] and headers["authorization"] == "ApiKey k3y"
    assert '"narcowatch-listings"' not in req["body"]


def test_the_fake_kibana_refuses_what_kibana_refuses(kibana_server: str, tmp_path: Any) -> None:
    broken = tmp_path / "broken.ndjson"
    broken.write_text(json.dumps({"id": "a", "type": "search", "attributes": {},
                                  "references": [{"type": "index-pattern", "id": "nowhere", "name": "x"}]}) + "\n"
                      + json.dumps({"id": "b", "type": "search"}) + "\n")
    with pytest.raises(KibanaError):
        import_saved_objects(kibana_server, files=[broken])
    assert any("nowhere" in p for p in _Kibana.problems) and any("missing ['attributes']" in p
                                                                  for p in _Kibana.problems)


def test_import_errors_are_reported(kibana_server: str) -> None:
    _Kibana.reply = {"success": False, "successCount": 0,
                     "errors": [{"type": "map", "id": "narcowatch-map-ships-from", "error": {"type": "unknown"}}]}
    with pytest.raises(KibanaError, match="narcowatch-map-ships-from"):
        import_saved_objects(kibana_server)
