"""The managed node's generated credentials go only to that node (and to a Kibana on this machine)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from crawler.es.client import client_options
from crawler.es.kibana import _auth_headers

URL = "http://127.0.0.1:9299"


@pytest.fixture
def managed_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    (home / "es").mkdir(parents=True)
    (home / "es" / "node.json").write_text(json.dumps({"url": URL, "pid": 1, "version": "9.2.4", "home": "/x",
                                                       "data_dir": "/x"}))
    (home / "es" / "credentials.json").write_text(json.dumps({"user": "narcowatch", "password": "gen-pw"}))
    monkeypatch.setenv("NARCOWATCH_HOME", str(home))
    for var in ("NARCOWATCH_ES_URL", "NARCOWATCH_ES_USER", "NARCOWATCH_ES_PASSWORD", "NARCOWATCH_ES_API_KEY",
                "NARCOWATCH_KIBANA_USER", "NARCOWATCH_KIBANA_PASSWORD", "NARCOWATCH_KIBANA_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    return home


def test_client_uses_the_managed_password_for_the_managed_node_only(managed_home: Path) -> None:
    assert client_options(URL)["basic_auth"] == ("narcowatch", "gen-pw")
    assert client_options(URL + "/")["basic_auth"] == ("narcowatch", "gen-pw")
    assert "basic_auth" not in client_options("https://cluster.example:9200")
    assert "basic_auth" not in client_options("http://127.0.0.1:9200")  # another node on this machine


def test_environment_credentials_win(managed_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NARCOWATCH_ES_USER", "analyst")
    monkeypatch.setenv("NARCOWATCH_ES_PASSWORD", "own")
    assert client_options(URL)["basic_auth"] == ("analyst", "own")


def test_kibana_import_falls_back_to_the_managed_password_on_loopback_only(managed_home: Path) -> None:
    assert _auth_headers("http://127.0.0.1:5601")["Authorization"].startswith("Basic ")
    assert _auth_headers("http://localhost:5601")["Authorization"].startswith("Basic ")
    assert _auth_headers("https://kibana.example.org") == {}
