"""What test sessions that died left behind (SIGKILL, a CI timeout, a reboot), found and removed by the next one.

Every temporary directory a session makes for state (its ``NARCOWATCH_HOME``, each test node's state home)
comes from ``session_dir`` and holds an ``flock`` on a file inside for as long as the session lives. The
kernel drops the lock when the process dies, however it dies; so at the next session start a directory
of ours whose lock can be taken is a dead session's: ``sweep`` stops its node (only if it is still that
very Elasticsearch, ``ManagedNode.stop``), deletes the node's directory under ``/var/lib/narcowatch/nodes``
and the temporary directory. Directories without the lock file (older sessions, other tools) and those
whose session still runs are left alone, whoever's they are.
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import tempfile
from pathlib import Path

from crawler.es import node as es_node

log = logging.getLogger(__name__)

SESSION_LOCK = ".narcowatch-session.lock"
PREFIXES = ("narcowatch-test-home-", "narcowatch-es-test-", "narcowatch-hostile-node-")
"""The ``mkdtemp`` prefixes of the directories test sessions make."""

_held: dict[Path, int] = {}


def session_dir(prefix: str) -> Path:
    """A new temporary directory (0700) marked as this process's for as long as it lives (see ``release``)."""
    if not prefix.startswith(PREFIXES):
        raise ValueError(f"{prefix!r} is not one of {PREFIXES}: sweep() would never find it")
    path = Path(tempfile.mkdtemp(prefix=prefix))
    _held[path] = _lock(path, block=True)
    return path


def release(path: Path) -> None:
    """Give up the mark of a directory from ``session_dir`` (before deleting it)."""
    fd = _held.pop(path, None)
    if fd is not None:
        os.close(fd)


def _lock(path: Path, *, block: bool) -> int:
    # O_CLOEXEC: a child (the daemonised Elasticsearch, Chromium) must not inherit the lock and outlive us with it
    fd = os.open(path / SESSION_LOCK, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if block else fcntl.LOCK_NB))
    except OSError:
        os.close(fd)
        raise
    return fd


def abandoned(path: Path) -> bool:
    """Whether ``path`` is a session directory of ours whose session is gone (its lock is free)."""
    try:
        st = os.lstat(path)
        if not os.path.isdir(path) or os.path.islink(path) or st.st_uid != os.geteuid():
            return False
        if not os.path.lexists(path / SESSION_LOCK):
            return False  # not made by session_dir: not ours to judge
        fd = _lock(path, block=False)
    except OSError:
        return False  # held: that session still runs
    os.close(fd)
    return path not in _held


def _state_homes(path: Path) -> list[Path]:
    """The state homes a session directory holds (the directory itself, or ``home/`` inside)."""
    return [p for p in (path, path / "home") if (p / "es").is_dir()]


def _node_dir_in_use(node_dir: Path) -> bool:
    """Whether a live process runs Elasticsearch with its configuration in ``node_dir``."""
    needle = f"ES_PATH_CONF={node_dir / 'config'}".encode()
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/environ", "rb") as fh:
                if needle in fh.read().split(b"\0"):
                    return True
        except OSError:
            continue
    return False


def sweep(tmp: Path | None = None, node_root: Path | None = None) -> list[Path]:
    """Remove dead sessions' directories in ``tmp`` (and their nodes), then orphaned test node directories
    under ``node_root/nodes`` whose state home is gone. Returns what was removed."""
    tmp = tmp or Path(tempfile.gettempdir())
    removed: list[Path] = []
    try:
        candidates = sorted(p for p in tmp.iterdir() if p.name.startswith(PREFIXES))
    except OSError:
        candidates = []
    for path in candidates:
        if not abandoned(path):
            continue
        for home in _state_homes(path):
            try:
                es_node.ManagedNode(state_home=home).remove(timeout=30)
            except (OSError, es_node.NodeError) as exc:
                log.warning("could not remove the node of %s: %s", home, exc)
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    nodes = (node_root or es_node.system_root()) / "nodes"
    if os.geteuid() == 0 and nodes.is_dir():
        for node_dir in sorted(nodes.iterdir()):
            owner_file = node_dir / "state_home"
            try:
                owner = Path(owner_file.read_text(encoding="utf-8").strip())
            except (OSError, UnicodeDecodeError):
                continue  # no mark (an older narcowatch, or not a test's): left alone
            from_test = owner.name.startswith(PREFIXES) or owner.parent.name.startswith(PREFIXES)
            if from_test and not owner.exists() and not node_dir.is_symlink() and not _node_dir_in_use(node_dir):
                shutil.rmtree(node_dir, ignore_errors=True)
                removed.append(node_dir)
    for path in removed:
        log.info("removed %s (left by a test session that died)", path)
    return removed
