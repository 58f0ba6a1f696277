"""Where narcowatch keeps things: the repository's bundled files and the per-user state directory."""

from __future__ import annotations

import os
from pathlib import Path

# The repository (or installed source tree) root: crawler/ lives directly below it.
ROOT = Path(__file__).resolve().parent.parent
MAPPINGS_DIR = ROOT / "index_mappings"
CONFIG_DIR = ROOT / "config"
KIBANA_DIR = ROOT / "kibana"


def state_home() -> Path:
    """Per-user state: node state files, spool, WARC files, mail sink, job store.

    ``NARCOWATCH_HOME`` overrides it (tests point it at a temporary directory).
    """
    env = os.environ.get("NARCOWATCH_HOME")
    if env:
        path = Path(env).expanduser()
    else:
        base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
        path = Path(base) / "narcowatch"
    private_dir(path)
    return path


def private_dir(path: Path) -> Path:
    """Make sure ``path`` is a directory only its owner can enter (mails, WARC files, spool are evidence).

    Created with umask 077 (new parents too); an existing one that we own is tightened to 0700, unless it is
    a directory that is not narcowatch's to change (``/``, ``/tmp``, a home directory or one above it).
    """
    if not path.exists():
        old = os.umask(0o077)
        try:
            path.mkdir(parents=True, exist_ok=True, mode=0o700)
        finally:
            os.umask(old)
        return path
    st = path.stat()
    if st.st_mode & 0o077 and st.st_uid == os.geteuid() and not _shared_dir(path):
        path.chmod(0o700)
    return path


def _shared_dir(path: Path) -> bool:
    resolved = path.resolve()
    home = Path.home().resolve()
    return resolved in (Path("/"), Path("/tmp"), Path("/var/tmp")) or resolved == home or resolved in home.parents


def cache_home() -> Path:
    """Downloads kept outside the repository (the Elasticsearch distribution).

    ``NARCOWATCH_CACHE`` overrides it; shared between state homes so tests do not download twice. Not
    created here: only a download writes to it (as root the unpacked distribution lives in the node root,
    so a read-only home directory does not stop a node that is already unpacked).
    """
    env = os.environ.get("NARCOWATCH_CACHE")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "narcowatch"
