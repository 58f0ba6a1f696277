"""The Kibana saved objects (data views, saved searches, visualizations, map, dashboard) as code.

Their output, ``kibana/saved_objects.ndjson``, is what ``narcowatch kibana import`` sends and what
tests/unit/test_es_kibana.py checks against the mappings: run ``narcowatch kibana generate`` after
changing this module (``--check`` says whether the committed file is current).

The objects carry no ``coreMigrationVersion``/``typeMigrationVersion``: Kibana treats such objects as
written before its first migration and migrates them on import, so one file serves the tested Kibana
(9.2.4, docker-compose.yml) and later ones. Stamping a version would make older Kibanas refuse it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from crawler import paths

PREFIX = "narcowatch"
OUT = paths.KIBANA_DIR / "saved_objects.ndjson"
IDX_REF = "kibanaSavedObjectMeta.searchSourceJSON.index"

DATA_VIEWS = {
    "listings": ("first_seen", "narcowatch: listings"),
    "vendors": ("last_seen", "narcowatch: vendor profiles"),
    "alerts": ("@timestamp", "narcowatch: alerts"),
    "crawl-runs": ("started_at", "narcowatch: crawl runs"),
    "changes": ("@timestamp", "narcowatch: listing changes"),
}


def dv_id(kind: str) -> str:
    return f"{PREFIX}-{kind}"


def search_source(query: str, kind: str) -> dict[str, Any]:
    return {
        "kibanaSavedObjectMeta": {
            "searchSourceJSON": json.dumps(
                {"query": {"query": query, "language": "kuery"}, "filter": [], "indexRefName": IDX_REF}
            )
        }
    }


def ref(kind: str) -> list[dict[str, str]]:
    return [{"name": IDX_REF, "type": "index-pattern", "id": dv_id(kind)}]


def data_views() -> list[dict[str, Any]]:
    return [
        {
            "type": "index-pattern",
            "id": dv_id(kind),
            "attributes": {"title": dv_id(kind), "name": name, "timeFieldName": time_field},
            "references": [],
        }
        for kind, (time_field, name) in DATA_VIEWS.items()
    ]


def saved_search(sid: str, title: str, description: str, kind: str, query: str, columns: list[str],
                 sort: list[list[str]], time_from: str | None = None) -> dict[str, Any]:
    attrs: dict[str, Any] = {
        "title": title,
        "description": description,
        "columns": columns,
        "sort": sort,
        **search_source(query, kind),
    }
    if time_from:
        attrs["timeRestore"] = True
        attrs["timeRange"] = {"from": time_from, "to": "now"}
    return {"type": "search", "id": sid, "attributes": attrs, "references": ref(kind)}


def searches() -> list[dict[str, Any]]:
    return [
        saved_search(
            "narcowatch-search-new-fentanyl-24h",
            "New fentanyl listings, last 24h",
            "Active listings of fentanyl or its analogues first seen in the last 24 hours, riskiest first.",
            "listings",
            'substance_classes : "fentanyl" and status : "active"',
            ["title", "vendor", "platform", "price", "currency", "ships_from", "ships_to", "risk", "url"],
            [["risk", "desc"], ["first_seen", "desc"]],
            time_from="now-24h",
        ),
        saved_search(
            "narcowatch-search-precursors-by-ships-from",
            "Precursors by ships-from",
            "Precursor chemical listings grouped by the country they ship from.",
            "listings",
            'substance_classes : "precursor"',
            ["ships_from", "substance_names", "cas", "title", "vendor", "platform", "price", "currency"],
            [["ships_from", "asc"], ["last_seen", "desc"]],
        ),
        saved_search(
            "narcowatch-search-vendors-several-platforms",
            "Vendors on several platforms",
            "Vendor profiles linked across two or more platforms by shared handles, contacts, keys or wallets.",
            "vendors",
            "platform_count >= 2",
            ["display_name", "platforms", "platform_count", "listing_count", "substances", "countries",
             "contact_values"],
            [["platform_count", "desc"], ["listing_count", "desc"]],
        ),
    ]


def _vis(vid: str, title: str, kind: str, vis_type: str, params: dict[str, Any], aggs: list[dict[str, Any]],
         query: str = "") -> dict[str, Any]:
    vis_state = {"title": title, "type": vis_type, "params": params, "aggs": aggs}
    return {
        "type": "visualization",
        "id": vid,
        "attributes": {
            "title": title,
            "description": "",
            "visState": json.dumps(vis_state),
            "uiStateJSON": "{}",
            **search_source(query, kind),
        },
        "references": ref(kind),
    }


def _count() -> dict[str, Any]:
    return {"id": "1", "enabled": True, "type": "count", "schema": "metric", "params": {}}


def _terms(agg_id: str, field: str, size: int, schema: str) -> dict[str, Any]:
    return {
        "id": agg_id, "enabled": True, "type": "terms", "schema": schema,
        "params": {"field": field, "size": size, "order": "desc", "orderBy": "1", "otherBucket": False,
                   "missingBucket": False},
    }


def visualizations() -> list[dict[str, Any]]:
    histogram_params = {
        "type": "histogram", "addTooltip": True, "addLegend": True, "legendPosition": "right",
        "times": [], "addTimeMarker": False, "grid": {"categoryLines": False},
        "categoryAxes": [{"id": "CategoryAxis-1", "type": "category", "position": "bottom", "show": True,
                          "scale": {"type": "linear"}, "labels": {"show": True, "filter": True, "truncate": 100},
                          "title": {}}],
        "valueAxes": [{"id": "ValueAxis-1", "name": "LeftAxis-1", "type": "value", "position": "left", "show": True,
                       "scale": {"type": "linear", "mode": "normal"},
                       "labels": {"show": True, "rotate": 0, "filter": False, "truncate": 100},
                       "title": {"text": "Listings"}}],
        "seriesParams": [{"show": True, "type": "histogram", "mode": "stacked",
                          "data": {"label": "Listings", "id": "1"}, "valueAxis": "ValueAxis-1"}],
    }
    return [
        _vis(
            "narcowatch-vis-listings-over-time-by-class", "Listings over time by substance class", "listings",
            "histogram", histogram_params,
            [_count(),
             {"id": "2", "enabled": True, "type": "date_histogram", "schema": "segment",
              "params": {"field": "first_seen", "interval": "auto", "min_doc_count": 1, "extended_bounds": {}}},
             _terms("3", "substance_classes", 10, "group")],
        ),
        _vis(
            "narcowatch-vis-top-vendors", "Top vendors", "listings", "table",
            {"perPage": 15, "showPartialRows": False, "showMetricsAtAllLevels": False, "showTotal": False},
            [_count(),
             {"id": "4", "enabled": True, "type": "cardinality", "schema": "metric", "params": {"field": "platform"}},
             {"id": "5", "enabled": True, "type": "max", "schema": "metric", "params": {"field": "risk"}},
             _terms("2", "vendor", 15, "bucket")],
        ),
        _vis(
            "narcowatch-vis-top-platforms", "Top platforms", "listings", "pie",
            {"type": "pie", "addTooltip": True, "addLegend": True, "legendPosition": "right", "isDonut": True},
            [_count(), _terms("2", "platform", 15, "segment")],
        ),
    ]


def ships_from_map() -> dict[str, Any]:
    layers = [
        {"id": "base", "type": "EMS_VECTOR_TILE", "label": None, "minZoom": 0, "maxZoom": 24, "alpha": 1,
         "visible": True, "sourceDescriptor": {"type": "EMS_TMS", "isAutoSelect": True}, "style": {}},
        {
            "id": "ships-from",
            "type": "GEOJSON_VECTOR",
            "label": "Listings by ships-from country",
            "minZoom": 0, "maxZoom": 24, "alpha": 0.8, "visible": True, "applyGlobalQuery": True,
            "applyGlobalTime": True,
            "sourceDescriptor": {
                "type": "ES_GEO_GRID",
                "id": "ships-from-grid",
                "geoField": "ships_from_geo",
                "requestType": "point",
                "resolution": "COARSE",
                "metrics": [{"type": "count"}, {"type": "max", "field": "risk"}],
                "indexPatternRefName": "layer_1_source_index_pattern",
            },
            "style": {"type": "VECTOR", "properties": {
                "fillColor": {"type": "DYNAMIC", "options": {"field": {"name": "doc_count", "origin": "source"},
                                                             "color": "Reds"}},
                "iconSize": {"type": "DYNAMIC", "options": {"field": {"name": "doc_count", "origin": "source"},
                                                            "minSize": 6, "maxSize": 32}},
            }},
        },
    ]
    return {
        "type": "map",
        "id": "narcowatch-map-ships-from",
        "attributes": {
            "title": "Listings by ships-from country",
            "description": "Where offered fentanyl, opioids and precursors ship from (country centroids).",
            "mapStateJSON": json.dumps({"zoom": 1.4, "center": {"lon": 20, "lat": 25},
                                        "query": {"query": "", "language": "kuery"}, "filters": []}),
            "layerListJSON": json.dumps(layers),
            "uiStateJSON": "{}",
        },
        "references": [{"name": "layer_1_source_index_pattern", "type": "index-pattern", "id": dv_id("listings")}],
    }


def dashboard(panels: list[tuple[str, str, dict[str, int]]]) -> dict[str, Any]:
    panel_list, references = [], []
    for i, (ptype, pid, grid) in enumerate(panels, 1):
        panel_list.append({"type": ptype, "gridData": {**grid, "i": str(i)}, "panelIndex": str(i),
                           "embeddableConfig": {}, "panelRefName": f"panel_{i}"})
        references.append({"name": f"panel_{i}", "type": ptype, "id": pid})
    return {
        "type": "dashboard",
        "id": "narcowatch-dashboard-overview",
        "attributes": {
            "title": "narcowatch: overview",
            "description": "Listings over time by substance class, ships-from map, top vendors and platforms.",
            "panelsJSON": json.dumps(panel_list),
            "optionsJSON": json.dumps({"useMargins": True, "hidePanelTitles": False}),
            "timeRestore": True,
            "timeFrom": "now-30d",
            "timeTo": "now",
            "kibanaSavedObjectMeta": {"searchSourceJSON": json.dumps(
                {"query": {"query": "", "language": "kuery"}, "filter": []})},
        },
        "references": references,
    }


def build() -> list[dict[str, Any]]:
    objs = data_views() + searches() + visualizations() + [ships_from_map()]
    objs.append(dashboard([
        ("visualization", "narcowatch-vis-listings-over-time-by-class", {"x": 0, "y": 0, "w": 48, "h": 14}),
        ("map", "narcowatch-map-ships-from", {"x": 0, "y": 14, "w": 24, "h": 18}),
        ("visualization", "narcowatch-vis-top-vendors", {"x": 24, "y": 14, "w": 24, "h": 18}),
        ("visualization", "narcowatch-vis-top-platforms", {"x": 0, "y": 32, "w": 16, "h": 16}),
        ("search", "narcowatch-search-new-fentanyl-24h", {"x": 16, "y": 32, "w": 32, "h": 16}),
    ]))
    return objs


def render() -> str:
    return "".join(json.dumps(o, sort_keys=True, ensure_ascii=False) + "\n" for o in build())


def write(path: Path | None = None) -> bool:
    """Write the saved objects to ``path`` (default ``OUT``); False when it already held exactly them."""
    path = path or OUT
    text = render()
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return False
    path.write_text(text, encoding="utf-8")
    return True
