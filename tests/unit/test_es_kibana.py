"""Kibana saved objects: every referenced field exists in the mappings with a suitable type; import API."""

from __future__ import annotations

import importlib.util
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest

from crawler import paths
from crawler.es.kibana import (
    KibanaError,
    check_fields,
    import_saved_objects,
    load_objects,
    referenced_fields,
    saved_object_files,
)


def test_committed_ndjson_matches_generator() -> None:
    spec = importlib.util.spec_from_file_location("kibana_generate", paths.KIBANA_DIR / "generate.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert (paths.KIBANA_DIR / "saved_objects.ndjson").read_text(encoding="utf-8") == mod.render()


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
    requests: list[dict[str, Any]] = []
    reply: dict[str, Any] = {"success": True, "successCount": 13}

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"])).decode()
        type(self).requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
        data = json.dumps(type(self).reply).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def kibana_server() -> Iterator[str]:
    _Kibana.requests = []
    server = HTTPServer(("127.0.0.1", 0), _Kibana)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_import_posts_multipart_ndjson_with_xsrf_header(kibana_server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NARCOWATCH_KIBANA_API_KEY", "k3y")
    _Kibana.reply = {"success": True, "successCount": 13}
    out = import_saved_objects(kibana_server, prefix="acme", space="analysts")
    assert out["successCount"] == 13 * len(saved_object_files())
    req = _Kibana.requests[0]
    assert req["path"] == "/s/analysts/api/saved_objects/_import?overwrite=true"
    headers = {k.lower(): v for k, v in req["headers"].items()}
    assert headers["kbn-xsrf"] and headers["authorization"] == "ApiKey k3y"
    assert headers["content-type"].startswith("multipart/form-data; boundary=")
    assert '"acme-listings"' in req["body"] and '"narcowatch-listings"' not in req["body"]


def test_import_errors_are_reported(kibana_server: str) -> None:
    _Kibana.reply = {"success": False, "successCount": 0,
                     "errors": [{"type": "map", "id": "narcowatch-map-ships-from", "error": {"type": "unknown"}}]}
    with pytest.raises(KibanaError, match="narcowatch-map-ships-from"):
        import_saved_objects(kibana_server)
