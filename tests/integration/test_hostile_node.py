"""The managed node changes nothing it does not own (issue 13 item 2).

Each test plants what the issue found: a home directory opened with o+x, a node user able to plant a
symlink that root then writes through, ``es stop`` killing whatever pid ``node.json`` names, a zip that is
not the pinned one, a world-readable state home, a node anyone local can read without a password.
"""

from __future__ import annotations

import base64
import json
import os
import pwd
import shutil
import stat
import subprocess
import sys
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from crawler import paths
from crawler.es.client import get_client, managed_credentials, server_version
from crawler.es.node import (
    ES_VERSION,
    NODE_USER,
    ManagedNode,
    NodeError,
    distribution_dir,
    ensure_distribution,
)
from tests.plugins import leftovers

AS_ROOT = os.geteuid() == 0
needs_root = pytest.mark.skipif(not AS_ROOT, reason="the node runs as another user only when started as root")


def _mode_owner(path: Path) -> tuple[int, int]:
    st = os.stat(path)
    return stat.S_IMODE(st.st_mode), st.st_uid


# ----------------------------------------------------------------------------- without a node


def test_zip_that_is_not_the_pinned_one_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "cache"
    (cache / "elasticsearch").mkdir(parents=True)
    monkeypatch.setenv("NARCOWATCH_NODE_ROOT", str(tmp_path / "system"))
    fake = cache / "elasticsearch" / f"elasticsearch-{ES_VERSION}.zip"
    with zipfile.ZipFile(fake, "w") as zf:  # a well-formed zip with the right layout, but not Elastic's
        zf.writestr(f"elasticsearch-{ES_VERSION}/bin/elasticsearch", "#!/bin/sh\necho pwned\n")
    with pytest.raises(NodeError) as info:
        ensure_distribution(cache)
    assert "SHA-512" in str(info.value) and str(fake) in str(info.value)
    assert not distribution_dir(cache).exists()


def test_stop_signals_only_the_node_it_started(tmp_path: Path) -> None:
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        home = tmp_path / "home"
        (home / "es").mkdir(parents=True)
        info = {"url": "http://127.0.0.1:9", "pid": bystander.pid, "version": ES_VERSION,
                "home": str(distribution_dir()), "data_dir": "", "config_dir": str(home / "es" / "config")}
        (home / "es" / "node.json").write_text(json.dumps(info))
        node = ManagedNode(state_home=home)
        assert node.stop(timeout=5) is False
        assert bystander.poll() is None, "es stop killed a process that is not its node"
        assert node.status()["running"] is False
    finally:
        bystander.kill()
        bystander.wait()


def test_state_home_is_private(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fresh = tmp_path / "fresh" / "home"
    monkeypatch.setenv("NARCOWATCH_HOME", str(fresh))
    assert paths.state_home() == fresh
    assert _mode_owner(fresh)[0] == 0o700
    wide = tmp_path / "wide"
    wide.mkdir(mode=0o755)
    wide.chmod(0o755)
    monkeypatch.setenv("NARCOWATCH_HOME", str(wide))
    paths.state_home()
    assert _mode_owner(wide)[0] == 0o700  # mails, WARC files and the spool inside are nobody else's


# ----------------------------------------------------------------------------- one node of its own


@pytest.fixture(scope="module")
def own_node() -> Iterator[tuple[ManagedNode, Path, dict[str, tuple[int, int]]]]:
    """A node whose state home sits in a fresh 0700 directory; what the start must not change is recorded."""
    parent = leftovers.session_dir("narcowatch-hostile-node-")  # removed by the next session if this one dies
    home = parent / "home"
    watched = {"parent": parent, "home directory": Path.home()}
    before = {name: _mode_owner(p) for name, p in watched.items()}
    node = ManagedNode(state_home=home, cache_home=paths.cache_home(), http_port=0)  # never the user's 9200
    try:
        node.start(timeout=300)
        yield node, parent, before
    finally:
        node.remove(timeout=30)
        leftovers.release(parent)
        shutil.rmtree(parent, ignore_errors=True)


@pytest.mark.slow
def test_launcher_temporary_files_stay_in_the_nodes_directory(own_node: tuple[ManagedNode, Path, dict]) -> None:
    """The launcher's JVM left a ``final-flags*`` directory in /tmp at every start (410 of them in a day)."""
    node = own_node[0]
    assert list(node.tmp_dir.glob("final-flags*")), "the launcher's temporary files went elsewhere (/tmp)"


@pytest.mark.slow
def test_start_changes_no_directory_it_does_not_own(own_node: tuple[ManagedNode, Path, dict]) -> None:
    node, parent, before = own_node
    after = {"parent": _mode_owner(parent), "home directory": _mode_owner(Path.home())}
    assert after == before  # `ls -ld ~` and the state home's parent are as they were
    if AS_ROOT:
        assert not node.node_dir.is_relative_to(Path.home()) and not node.node_dir.is_relative_to(parent)


@pytest.mark.slow
@needs_root
def test_distribution_and_config_are_root_owned_and_read_only_to_the_node(own_node: tuple) -> None:
    node, _parent, _before = own_node
    info = node.info()
    assert info is not None
    user = pwd.getpwnam(NODE_USER)
    assert os.stat(f"/proc/{info.pid}").st_uid == user.pw_uid  # the node does not run as root
    dist = Path(info.home)
    for path in (dist, dist / "bin", dist / "bin" / "elasticsearch", dist / "lib", node.config_dir,
                 node.config_dir / "elasticsearch.yml", node.config_dir / "jvm.options"):
        mode, uid = _mode_owner(path)
        assert uid == 0 and not mode & 0o022, f"{path} is {oct(mode)} uid {uid}"
    for target in (node.config_dir / "planted", dist / "planted", dist / "bin" / "planted"):
        proc = subprocess.run(["runuser", "-u", NODE_USER, "--", "ln", "-s", "/etc/passwd", str(target)],
                              capture_output=True, text=True, check=False)
        assert proc.returncode != 0 and not os.path.lexists(target), f"the node user could write {target}"


@pytest.mark.slow
def test_restart_does_not_write_through_a_planted_symlink(own_node: tuple, tmp_path: Path) -> None:
    node, _parent, _before = own_node
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    node.stop(timeout=60)
    config = node.config_dir / "elasticsearch.yml"
    config.unlink()
    config.symlink_to(victim)  # what the node user could do when it owned the config directory
    node.start(timeout=300)
    assert victim.read_text() == "precious\n"
    assert config.is_file() and not config.is_symlink()


@pytest.mark.slow
def test_node_refuses_unauthenticated_requests(own_node: tuple, monkeypatch: pytest.MonkeyPatch) -> None:
    node, _parent, _before = own_node
    info = node.info()
    assert info is not None
    for path in ("/_cluster/health", "/_all/_search", "/_nodes/_local"):
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(info.url + path, timeout=10)
        assert err.value.code == 401, path
    user, password = node.credentials() or ("", "")
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(urllib.request.Request(
            info.url + "/_cluster/health", headers={"Authorization": "Basic " + base64.b64encode(
                f"{user}:wrong-{password}".encode()).decode()}), timeout=10)
    assert err.value.code == 401
    # the generated password is the state home owner's alone, and the client finds it by itself
    assert _mode_owner(node.credentials_file) == (0o600, os.geteuid())
    for var in ("NARCOWATCH_ES_URL", "NARCOWATCH_ES_USER", "NARCOWATCH_ES_PASSWORD", "NARCOWATCH_ES_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    client = get_client(state_home=node.state_home)
    try:
        assert server_version(client) == ES_VERSION
    finally:
        client.close()
    # ... and never sends it to another address
    assert managed_credentials("http://127.0.0.1:1", node.state_home) is None
    assert managed_credentials(info.url, node.state_home) == (user, password)
