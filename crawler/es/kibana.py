"""Kibana saved objects: import ``kibana/*.ndjson`` through the saved-objects API, and list the fields
they reference so a test can check them against the mappings (Kibana itself cannot run here)."""

from __future__ import annotations

import base64
import json
import os
import re
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from crawler import paths
from crawler.common.redaction import redact_url
from crawler.es.names import KINDS, IndexNames

AGGREGATABLE = {"keyword", "long", "integer", "short", "byte", "double", "float", "half_float", "date", "boolean",
                "ip"}
NUMERIC = {"long", "integer", "short", "byte", "double", "float", "half_float"}
SUITABLE: dict[str, set[str] | None] = {
    "date": {"date"},
    "aggregatable": AGGREGATABLE,
    "sortable": AGGREGATABLE,
    "numeric": NUMERIC,
    "geo": {"geo_point"},
    "any": None,  # any mapped field
}
_KQL_FIELD = re.compile(r"([A-Za-z_@][\w.@]*)\s*(?::|>=|<=|>|<)")
_AGG_USAGE = {"terms": "aggregatable", "date_histogram": "date", "cardinality": "aggregatable", "max": "numeric",
              "min": "numeric", "avg": "numeric", "sum": "numeric", "histogram": "numeric"}


class KibanaError(RuntimeError):
    """The import was refused or Kibana did not answer; the message names the URL and the objects."""


def saved_object_files(directory: Path | None = None) -> list[Path]:
    """The NDJSON files to import, in name order."""
    return sorted((directory or paths.KIBANA_DIR).glob("*.ndjson"))


def load_objects(files: list[Path] | None = None) -> list[dict[str, Any]]:
    """Every saved object of the NDJSON files."""
    out = []
    for path in files or saved_object_files():
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if line.strip():
                try:
                    out.append(json.loads(line))
                except ValueError as exc:
                    raise KibanaError(f"{path}:{n}: not JSON: {exc}") from exc
    return out


def with_prefix(text: str, prefix: str) -> str:
    """Rewrite the default ``narcowatch-<kind>`` data view ids and titles for another index prefix."""
    if prefix == "narcowatch":
        return text
    for kind in KINDS:
        text = text.replace(f'"narcowatch-{kind}"', f'"{prefix}-{kind}"')
    return text


def _auth_headers(kibana_url: str | None = None) -> dict[str, str]:
    local = bool(kibana_url) and urllib.parse.urlsplit(kibana_url or "").hostname in ("127.0.0.1", "localhost", "::1")
    # The same precedence as the Elasticsearch client (crawler.es.client.client_options): NARCOWATCH_ES_*
    # credentials belong to a cluster of the user's own (NARCOWATCH_ES_URL set); a Kibana on this machine in
    # front of the managed node gets the node's generated credentials even when ES_* are left in the shell.
    # NARCOWATCH_KIBANA_* always win: they are given for Kibana itself.
    own_cluster = bool(os.environ.get("NARCOWATCH_ES_URL"))
    es_env = own_cluster or not local
    api_key = os.environ.get("NARCOWATCH_KIBANA_API_KEY") or (
        os.environ.get("NARCOWATCH_ES_API_KEY") if es_env else None
    )
    user = os.environ.get("NARCOWATCH_KIBANA_USER") or (os.environ.get("NARCOWATCH_ES_USER") if es_env else None)
    password = os.environ.get("NARCOWATCH_KIBANA_PASSWORD") or (
        os.environ.get("NARCOWATCH_ES_PASSWORD") if es_env else None
    )
    if api_key:
        return {"Authorization": f"ApiKey {api_key}"}
    if not user and local and not own_cluster:
        # a Kibana on this machine, in front of the managed node: log in with the node's own credentials
        from crawler.es.node import read_credentials

        found = read_credentials()
        if found:
            user, password = found
    if user and password is not None:
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        return {"Authorization": f"Basic {token}"}
    return {}


def import_saved_objects(
    kibana_url: str,
    files: list[Path] | None = None,
    *,
    prefix: str | None = None,
    space: str | None = None,
    overwrite: bool = True,
    timeout: float = 60.0,
) -> dict[str, Any]:
    """POST the NDJSON files to ``<kibana>/api/saved_objects/_import`` (one request per file).

    Auth from ``NARCOWATCH_KIBANA_API_KEY`` or ``NARCOWATCH_KIBANA_USER``/``_PASSWORD`` (falling back to
    the Elasticsearch ones). ``prefix`` rewrites the data views for a non-default index prefix.
    Returns ``{"success": bool, "successCount": n, "files": [...responses]}``; raises ``KibanaError``
    when Kibana refuses a file or reports errors for some objects.
    """
    prefix = IndexNames(prefix or "").prefix
    base = kibana_url.rstrip("/") + (f"/s/{space}" if space else "")
    url = f"{base}/api/saved_objects/_import" + ("?overwrite=true" if overwrite else "")
    shown = redact_url(url)
    total = 0
    responses = []
    for path in files or saved_object_files():
        body_text = with_prefix(path.read_text(encoding="utf-8"), prefix)
        boundary = f"narcowatch-{uuid.uuid4().hex}"
        body = (
            f"--{boundary}\r\n"
            f'Content-Disposition: form-data; name="file"; filename="{path.name}"\r\n'
            "Content-Type: application/ndjson\r\n\r\n"
            f"{body_text}\r\n--{boundary}--\r\n"
        ).encode()
        headers = {
            "kbn-xsrf": "narcowatch",
            "Content-Type": f"multipart/form-data; boundary={boundary}",
            **_auth_headers(kibana_url),
        }
        req = urllib.request.Request(url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:  # URL given by the operator
                payload = json.loads(resp.read().decode("utf-8") or "{}")
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode("utf-8", "replace")[:500]
            raise KibanaError(f"Kibana at {shown} refused {path.name}: HTTP {exc.code} {detail}") from exc
        except (urllib.error.URLError, OSError) as exc:
            raise KibanaError(f"Kibana at {shown} does not answer: {exc}") from exc
        responses.append(payload)
        if not payload.get("success", False):
            errors = payload.get("errors") or []
            first = "; ".join(f"{e.get('type')}/{e.get('id')}: {e.get('error')}" for e in errors[:5])
            raise KibanaError(f"Kibana at {shown} imported {path.name} with {len(errors)} errors: {first}")
        total += int(payload.get("successCount", 0))
    return {"success": True, "successCount": total, "files": responses}


# ----------------------------------------------------------------------------- field references


def _kind_of(data_view_id: str) -> str | None:
    for kind in KINDS:
        if data_view_id.endswith(f"-{kind}"):
            return kind
    return None


def referenced_fields(objects: list[dict[str, Any]]) -> list[tuple[str, str, str, str]]:
    """``(object id, mapping kind, field, usage)`` for every field the saved objects use.

    Usage is one of ``date``, ``aggregatable``, ``sortable``, ``numeric``, ``geo``, ``any``.
    """
    out: list[tuple[str, str, str, str]] = []
    for obj in objects:
        oid, attrs = obj.get("id", "?"), obj.get("attributes", {})
        refs = {r["name"]: r["id"] for r in obj.get("references", []) if r.get("type") == "index-pattern"}
        if obj.get("type") == "index-pattern":
            kind = _kind_of(obj["id"])
            if kind and attrs.get("timeFieldName"):
                out.append((oid, kind, attrs["timeFieldName"], "date"))
            continue
        kind = next((k for k in (_kind_of(v) for v in refs.values()) if k), None)
        if kind is None:
            continue
        source = json.loads(attrs.get("kibanaSavedObjectMeta", {}).get("searchSourceJSON", "{}") or "{}")
        query = (source.get("query") or {}).get("query") or ""
        out.extend((oid, kind, f, "any") for f in _KQL_FIELD.findall(query))
        for col in attrs.get("columns", []):
            out.append((oid, kind, col, "any"))
        for field, _order in attrs.get("sort", []):
            out.append((oid, kind, field, "sortable"))
        if "visState" in attrs:
            for agg in json.loads(attrs["visState"]).get("aggs", []):
                field = (agg.get("params") or {}).get("field")
                if field:
                    out.append((oid, kind, field, _AGG_USAGE.get(agg["type"], "any")))
        if "layerListJSON" in attrs:
            for layer in json.loads(attrs["layerListJSON"]):
                src = layer.get("sourceDescriptor") or {}
                if src.get("geoField"):
                    out.append((oid, kind, src["geoField"], "geo"))
                for metric in src.get("metrics", []):
                    if metric.get("field"):
                        out.append((oid, kind, metric["field"], "numeric"))
    return out


def mapping_field_types(properties: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """``{"title": "text", "title.keyword": "keyword", "evidence.response_sha256": "keyword", ...}``."""
    out: dict[str, str] = {}
    for name, spec in properties.items():
        full = prefix + name
        out[full] = spec.get("type", "object")
        if "properties" in spec:
            out.update(mapping_field_types(spec["properties"], full + "."))
        for sub, sub_spec in (spec.get("fields") or {}).items():
            out[f"{full}.{sub}"] = sub_spec.get("type", "object")
    return out


def check_fields(objects: list[dict[str, Any]], mappings_dir: Path | None = None) -> list[str]:
    """Problems: fields the saved objects use that the mappings lack or type unsuitably (empty = fine)."""
    from crawler.es.templates import load_mapping

    types = {k: mapping_field_types(load_mapping(k, mappings_dir)["mappings"]["properties"]) for k in KINDS}
    problems = []
    for oid, kind, field, usage in referenced_fields(objects):
        ftype = types[kind].get(field)
        if ftype is None:
            problems.append(f"{oid}: field {field!r} is not in index_mappings/{kind}.json")
            continue
        allowed = SUITABLE[usage]
        if allowed is not None and ftype not in allowed:
            problems.append(f"{oid}: field {field!r} is {ftype} in {kind}.json; {usage} use needs {sorted(allowed)}")
    return problems
