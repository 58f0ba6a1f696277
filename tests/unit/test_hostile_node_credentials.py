"""The managed node's generated credentials go only to that node (and to a Kibana on this machine)."""

from __future__ import annotations

import base64
import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from crawler.es.client import EsUnavailable, client_options, get_client, resolve_url
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
    monkeypatch.setattr("crawler.es.client._IGNORED_WARNED", set())  # the warning is once per URL and process
    # pid 1 stands for the running node here; the stale node.json tests below use the real check
    monkeypatch.setattr("crawler.es.client.is_node_process", lambda pid, info: (pid == 1, "" if pid == 1 else "dead"))
    for var in ("NARCOWATCH_ES_URL", "NARCOWATCH_ES_USER", "NARCOWATCH_ES_PASSWORD", "NARCOWATCH_ES_API_KEY",
                "NARCOWATCH_KIBANA_USER", "NARCOWATCH_KIBANA_PASSWORD", "NARCOWATCH_KIBANA_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    return home


def test_client_uses_the_managed_password_for_the_managed_node_only(managed_home: Path) -> None:
    assert client_options(URL)["basic_auth"] == ("narcowatch", "gen-pw")
    assert client_options(URL + "/")["basic_auth"] == ("narcowatch", "gen-pw")
    assert "basic_auth" not in client_options("https://cluster.example:9200")
    assert "basic_auth" not in client_options("http://127.0.0.1:9200")  # another node on this machine


def test_environment_credentials_go_to_the_users_own_cluster_not_the_managed_node(
    managed_home: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Credentials left in the shell for another cluster used to win over the node's generated password
    (the managed node then answered 401, and got the user's password)."""
    monkeypatch.setenv("NARCOWATCH_ES_USER", "analyst")
    monkeypatch.setenv("NARCOWATCH_ES_PASSWORD", "own")
    with caplog.at_level(logging.WARNING, logger="crawler.es.client"):
        assert client_options(URL)["basic_auth"] == ("narcowatch", "gen-pw")
    assert "NARCOWATCH_ES_USER set, but http://127.0.0.1:9299 is the managed node" in caplog.text
    assert client_options("https://cluster.example:9200")["basic_auth"] == ("analyst", "own")
    monkeypatch.setenv("NARCOWATCH_ES_URL", "https://cluster.example:9200")  # the user's cluster, not the node
    assert client_options(URL)["basic_auth"] == ("narcowatch", "gen-pw")
    assert client_options("https://cluster.example:9200")["basic_auth"] == ("analyst", "own")
    monkeypatch.setenv("NARCOWATCH_ES_URL", URL + "/")  # named explicitly: the user's own credentials win
    assert client_options(URL)["basic_auth"] == ("analyst", "own")
    monkeypatch.delenv("NARCOWATCH_ES_USER")
    monkeypatch.setenv("NARCOWATCH_ES_API_KEY", "key-1")
    assert client_options(URL) == {"api_key": "key-1"}
    monkeypatch.delenv("NARCOWATCH_ES_URL")
    assert client_options(URL)["basic_auth"] == ("narcowatch", "gen-pw") and "api_key" not in client_options(URL)


def test_what_the_managed_node_receives_on_the_wire(managed_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A loopback server in the managed node's place records the Authorization header get_client sends."""
    seen: list[str] = []

    class Node(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.headers.get("Authorization") or "")
            self.send_response(401)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Node)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    node = json.loads((managed_home / "es" / "node.json").read_text())
    (managed_home / "es" / "node.json").write_text(json.dumps({**node, "url": url}))
    monkeypatch.setenv("NARCOWATCH_ES_USER", "analyst")
    monkeypatch.setenv("NARCOWATCH_ES_PASSWORD", "own-SECRET")
    try:
        with pytest.raises(EsUnavailable):
            get_client(max_retries=0)
    finally:
        server.shutdown()
        server.server_close()
    assert seen and all(h == "Basic " + base64.b64encode(b"narcowatch:gen-pw").decode() for h in seen), seen


def test_kibana_import_falls_back_to_the_managed_password_on_loopback_only(managed_home: Path) -> None:
    assert _auth_headers("http://127.0.0.1:5601")["Authorization"].startswith("Basic ")
    assert _auth_headers("http://localhost:5601")["Authorization"].startswith("Basic ")
    assert _auth_headers("https://kibana.example.org") == {}


def test_kibana_on_loopback_keeps_the_managed_password_when_es_user_is_left_in_the_shell(
    managed_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    managed = _auth_headers("http://127.0.0.1:5601")["Authorization"]
    monkeypatch.setenv("NARCOWATCH_ES_USER", "analyst")
    monkeypatch.setenv("NARCOWATCH_ES_PASSWORD", "own-SECRET")
    monkeypatch.delenv("NARCOWATCH_ES_URL", raising=False)
    # the managed node's Kibana: the shell's ES credentials (for another cluster) neither win nor leak there
    assert _auth_headers("http://127.0.0.1:5601")["Authorization"] == managed
    # a cluster of the user's own: its credentials go to its Kibana, the node's password does not
    monkeypatch.setenv("NARCOWATCH_ES_URL", "https://es.example.org:9200")
    own = "Basic " + base64.b64encode(b"analyst:own-SECRET").decode()
    assert _auth_headers("http://127.0.0.1:5601")["Authorization"] == own
    assert _auth_headers("https://kibana.example.org")["Authorization"] == own
    # Kibana's own credentials always win
    monkeypatch.setenv("NARCOWATCH_KIBANA_USER", "kib")
    monkeypatch.setenv("NARCOWATCH_KIBANA_PASSWORD", "kib-pw")
    kib = "Basic " + base64.b64encode(b"kib:kib-pw").decode()
    assert _auth_headers("http://127.0.0.1:5601")["Authorization"] == kib


def _dead_pid() -> int:
    """A pid no process has now (a child that has exited and been reaped)."""
    import subprocess

    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_a_stale_node_json_sends_no_credentials_and_says_the_node_is_not_running(
    managed_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a reboot node.json still names 127.0.0.1:9200; whatever holds that port now (CI's test node did)
    must not get the old node's password, and with no URL configured the error says to start the node."""
    from crawler.es import client as client_mod
    from crawler.es.node import is_node_process

    monkeypatch.setattr(client_mod, "is_node_process", is_node_process)  # the real check
    node = json.loads((managed_home / "es" / "node.json").read_text())
    (managed_home / "es" / "node.json").write_text(json.dumps({**node, "pid": _dead_pid()}))
    assert "basic_auth" not in client_options(URL)
    with pytest.raises(EsUnavailable, match=r"recorded at http://127.0.0.1:9299 is not running .*narcowatch es start"):
        resolve_url()
    (managed_home / "es" / "node.json").write_text(json.dumps({**node, "pid": 1}))  # alive, but not Elasticsearch
    assert "basic_auth" not in client_options(URL)
    with pytest.raises(EsUnavailable, match="is not running"):
        resolve_url()
