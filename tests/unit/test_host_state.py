"""The suite and the managed node do not depend on what earlier runs left on the host (docs/testing.md,
"Host state and CI"): NARCOWATCH_* variables in the shell, directories of test sessions that died, a
truncated download or an interrupted unpack of the distribution, a port taken between check and bind."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import pytest

from crawler.es import node as es_node
from crawler.es.node import ES_VERSION, ManagedNode, NodeError
from crawler.paths import ROOT
from tests import conftest
from tests.plugins import leftovers

# ----------------------------------------------------------------------------- environment


def test_stale_narcowatch_variables_are_dropped_host_ones_kept() -> None:
    env = {
        "NARCOWATCH_ES_URL": "http://127.0.0.1:9200",  # the user's demo node
        "NARCOWATCH_ES_API_KEY": "stale",
        "NARCOWATCH_SPOOL_DIR": "/root/.local/share/narcowatch/spool",
        "NARCOWATCH_TEST_CRASH_AT": "after_send",
        "NARCOWATCH_JAVA_HOME": "/usr/lib/jvm/x",
        "NARCOWATCH_CHROMIUM": "/usr/bin/chromium",
        "PATH": "/usr/bin",
    }
    dropped = conftest.scrub_environment(env)
    assert dropped == ["NARCOWATCH_ES_API_KEY", "NARCOWATCH_ES_URL", "NARCOWATCH_SPOOL_DIR",
                       "NARCOWATCH_TEST_CRASH_AT"]
    assert env == {"NARCOWATCH_JAVA_HOME": "/usr/lib/jvm/x", "NARCOWATCH_CHROMIUM": "/usr/bin/chromium",
                   "PATH": "/usr/bin"}


def test_external_test_cluster_keeps_its_credentials_and_ci_never_updates_fixtures() -> None:
    env = {"NARCOWATCH_TEST_ES_URL": "https://es.test:9200", "NARCOWATCH_ES_API_KEY": "k",
           "NARCOWATCH_UPDATE_FIXTURES": "1", "CI": "true"}
    conftest.scrub_environment(env)
    assert env == {"NARCOWATCH_TEST_ES_URL": "https://es.test:9200", "NARCOWATCH_ES_API_KEY": "k", "CI": "true"}


def test_session_started_with_no_variable_of_the_shell() -> None:
    """The session began with host variables only (the scrub runs when conftest is loaded, before any test)."""
    allowed = conftest.HOST_VARIABLES | {"NARCOWATCH_UPDATE_FIXTURES"}
    if "NARCOWATCH_TEST_ES_URL" in conftest.KEPT_VARIABLES:
        allowed |= set(conftest.EXTERNAL_CLUSTER_AUTH)
    assert conftest.KEPT_VARIABLES <= allowed
    assert Path(os.environ["NARCOWATCH_HOME"]).name.startswith("narcowatch-test-home-")


# ----------------------------------------------------------------------------- dead sessions' directories

_CHILD = """
import sys, time
from tests.plugins import leftovers
path = leftovers.session_dir(sys.argv[1])
(path / "es").mkdir()
print(path, flush=True)
if sys.argv[2] == "stay":
    time.sleep(60)
"""


def _child_session(tmp: Path, prefix: str, stay: bool) -> tuple[Path, subprocess.Popen[str]]:
    proc = subprocess.Popen([sys.executable, "-c", _CHILD, prefix, "stay" if stay else "exit"], cwd=ROOT,
                            env={**os.environ, "TMPDIR": str(tmp)}, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    return Path(proc.stdout.readline().strip()), proc


def test_sweep_removes_only_dead_sessions_directories(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NARCOWATCH_NODE_ROOT", str(tmp_path / "system"))
    dead, proc = _child_session(tmp_path, "narcowatch-es-test-", stay=False)
    proc.wait(timeout=30)
    alive, running = _child_session(tmp_path, "narcowatch-test-home-", stay=True)
    try:
        foreign = tmp_path / "narcowatch-es-test-older"  # no lock file: an older session or another tool's
        (foreign / "es").mkdir(parents=True)
        monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
        mine = leftovers.session_dir("narcowatch-test-home-")
        try:
            assert dead.is_dir()
            assert leftovers.sweep(tmp_path) == [dead]
            assert not dead.exists()
            assert alive.is_dir() and foreign.is_dir() and mine.is_dir()
        finally:
            leftovers.release(mine)
    finally:
        running.kill()
        running.wait()
    assert sorted(leftovers.sweep(tmp_path)) == sorted([alive, mine])  # both sessions are gone now


@pytest.mark.skipif(os.geteuid() != 0, reason="node directories live under the node root only as root")
def test_sweep_removes_node_directories_of_deleted_test_homes(tmp_path: Path) -> None:
    nodes = tmp_path / "system" / "nodes"
    made = {}
    for name, owner in {"gone-test": tmp_path / "narcowatch-es-test-x1", "gone-hostile": tmp_path /
                        "narcowatch-hostile-node-x2" / "home", "gone-user": tmp_path / "someone" / "home",
                        "alive-test": tmp_path / "narcowatch-es-test-x3", "unmarked": None}.items():
        d = nodes / name
        (d / "data").mkdir(parents=True)
        if owner is not None:
            (d / "state_home").write_text(f"{owner}\n")
        made[name] = d
    (tmp_path / "narcowatch-es-test-x3").mkdir()
    removed = leftovers.sweep(tmp_path / "empty", node_root=tmp_path / "system")
    assert sorted(removed) == [made["gone-hostile"], made["gone-test"]]
    assert {p.name for p in nodes.iterdir()} == {"gone-user", "alive-test", "unmarked"}


# ----------------------------------------------------------------------------- the distribution


def test_truncated_zip_is_downloaded_again_and_interrupted_unpacks_removed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NARCOWATCH_NODE_ROOT", str(tmp_path / "system"))
    cache = tmp_path / "cache"
    base = cache / "elasticsearch"
    base.mkdir(parents=True)
    whole = tmp_path / "whole.zip"
    with zipfile.ZipFile(whole, "w") as zf:
        zf.writestr(f"elasticsearch-{ES_VERSION}/bin/elasticsearch", "#!/bin/sh\n" + "x" * 5000)
    zip_path = base / f"elasticsearch-{ES_VERSION}.zip"
    zip_path.write_bytes(whole.read_bytes()[:1000])  # a download killed halfway
    home = es_node.distribution_dir(cache)
    home.parent.mkdir(parents=True, exist_ok=True)
    stale = [home.parent / f".unpack-{ES_VERSION}-999999", home.parent / f".old-{ES_VERSION}-999999",
             base / ".download-999999"]
    for d in stale:
        (d / "lib").mkdir(parents=True)
    downloads = []

    def fake_download(into: Path) -> None:
        downloads.append(into)
        zip_path.write_bytes(whole.read_bytes())  # well-formed, but not the pinned zip: refused below

    monkeypatch.setattr(es_node, "_maven_download", fake_download)
    with pytest.raises(NodeError, match="SHA-512"):
        es_node.ensure_distribution(cache)
    assert downloads == [base]
    assert not any(d.exists() for d in stale)
    assert not home.exists()


# ----------------------------------------------------------------------------- ports


def test_port_zero_never_takes_9200_and_a_taken_port_is_retried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    node = ManagedNode(state_home=tmp_path / "home", cache_home=tmp_path / "cache", http_port=0)
    assert {node._choose_ports()[0] for _ in range(20)}.isdisjoint({9200, es_node.DEFAULT_HTTP_PORT})
    monkeypatch.setattr(es_node, "find_java_home", lambda: Path("/nonexistent"))
    monkeypatch.setattr(es_node, "ensure_distribution", lambda cache=None: Path("/nonexistent"))
    monkeypatch.setattr(es_node, "ensure_node_user", lambda: None)
    monkeypatch.setattr(ManagedNode, "_prepare_dirs", lambda self, user: None)
    tried: list[tuple[int, int]] = []

    def launch(self: ManagedNode, java: Path, home: Path, user: object, port: int, transport: int,
               timeout: float) -> str:
        tried.append((port, transport))
        if len(tried) == 1:  # a second session took our transport port between the check and the bind
            raise es_node._PortTaken("taken", {transport})
        return "started"

    monkeypatch.setattr(ManagedNode, "_launch", launch)
    assert node._start_locked(10) == "started"
    assert len(tried) == 2 and tried[0] != tried[1]
    tried.clear()
    fixed = ManagedNode(state_home=tmp_path / "home2", cache_home=tmp_path / "cache", http_port=es_node.free_port())

    def launch_fixed(self: ManagedNode, java: Path, home: Path, user: object, port: int, transport: int,
                     timeout: float) -> str:
        tried.append((port, transport))
        raise es_node._PortTaken("taken", {port})

    monkeypatch.setattr(ManagedNode, "_launch", launch_fixed)
    with pytest.raises(NodeError, match="taken"):
        fixed._start_locked(10)  # the port the user asked for is not silently changed
    assert len(tried) == 1


def test_bind_failures_are_recognised_in_the_servers_words() -> None:
    out = ("[2026-12-03T16:35:19,101][ERROR][o.e.b.Elasticsearch] fatal exception while booting Elasticsearch"
           "org.elasticsearch.transport.BindTransportException: Failed to bind to 127.0.0.1:[57865]\n"
           "org.elasticsearch.http.BindHttpException: Failed to bind to 127.0.0.1:42401\n"
           "Caused by: java.net.BindException: Address already in use\n")
    assert {int(p) for p in es_node._BIND_FAILED.findall(out)} == {57865, 42401}
    assert es_node._BIND_FAILED.findall("BindHttpException: Failed to bind to 10.0.0.1:9200") == []


def test_unwritable_cache_does_not_stop_a_node_whose_distribution_is_elsewhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A read-only home directory (CI's HOME on a read-only mount) made every ES fixture error at set-up:
    ``cache_home()`` created the directory eagerly although, as root, nothing is written there."""
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("NARCOWATCH_CACHE", str(blocker / "cache"))  # mkdir there fails like on a read-only mount
    monkeypatch.setenv("NARCOWATCH_NODE_ROOT", str(tmp_path / "system"))
    from crawler import paths

    assert paths.cache_home() == blocker / "cache"
    node = ManagedNode(state_home=tmp_path / "home")  # what the test fixtures and `es start` construct first
    assert node.cache_home == blocker / "cache"
    with pytest.raises(NodeError, match="NARCOWATCH_CACHE"):  # only a download needs it, and says so
        es_node.ensure_distribution()
