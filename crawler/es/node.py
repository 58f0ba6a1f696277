"""The managed local Elasticsearch node: download the pinned distribution, check it, run it on 127.0.0.1, stop it.

It changes nothing it does not own. Started as root, the node runs as the unprivileged ``narcowatch``
user with its files in a directory made for it (``/var/lib/narcowatch``), never inside a home
directory that would have to be opened up; the unpacked distribution and the node's configuration are
root-owned and read-only to that user; configuration files are written through a new file and a
rename (never through a symlink); ``stop`` kills only the process it started (same user, program,
configuration and start time). Security is on: a generated password, kept 0600 beside ``node.json``,
which ``crawler.es.client`` uses automatically.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import time
import urllib.error
import urllib.request
import zipfile
from base64 import b64encode
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from crawler import paths
from crawler.common.durable import write_atomic

log = logging.getLogger(__name__)

ES_VERSION = "9.2.4"
"""The pinned server version; the Python client's major (pyproject.toml) must equal its major."""
ARTIFACT = f"org.elasticsearch.distribution.integ-test-zip:elasticsearch:{ES_VERSION}:zip"
ES_ZIP_SHA512 = (
    "5da6465950f7d26ca293794ead3d840f0698ce99bb15b5db7d10c19199e3431d"
    "ba21c83c737f4befa4fc282e12e5f215343a4cb7da52ac85e52b0c488e7b7057"
)
"""SHA-512 of the pinned zip (Maven Central); a download that does not match is refused."""
PREFERRED_JAVA_HOME = Path("/usr/lib/jvm/temurin-25-jdk-amd64")
MIN_JAVA = 21
DEFAULT_HTTP_PORT = 9200
DEFAULT_HEAP = "512m"
NODE_USER = "narcowatch"
CLUSTER_NAME = "narcowatch"
ES_USER = "narcowatch"
"""The file-realm user (superuser role) narcowatch creates on its node and authenticates as."""
SYSTEM_ROOT = Path("/var/lib/narcowatch")
"""Started as root: where the node user's directories and the unpacked distribution live
(``NARCOWATCH_NODE_ROOT`` overrides it)."""
_VERIFIED_MARK = ".narcowatch-sha512"
_OWNER_MARK = "state_home"
"""In a node directory under ``system_root()/nodes``: the state home it belongs to (so leftovers can be found)."""
_BIND_ATTEMPTS = 3
_BIND_FAILED = re.compile(r"Bind(?:Http|Transport)Exception: Failed to bind to 127\.0\.0\.1:\[?(\d+)")
_MAIN_CLASS = "org.elasticsearch.bootstrap.Elasticsearch"


class NodeError(RuntimeError):
    """The managed node could not be downloaded, started, reached or stopped; the message says why."""


class _PortTaken(NodeError):
    """The node could not bind a port (someone took it after we saw it free); ``ports`` are the ones named."""

    def __init__(self, message: str, ports: set[int]) -> None:
        super().__init__(message)
        self.ports = ports


@dataclass
class NodeInfo:
    """What ``state_home()/es/node.json`` records about a started node."""

    url: str
    pid: int
    version: str
    home: str
    data_dir: str
    logs_dir: str = ""
    config_dir: str = ""
    uid: int = -1
    """The user the node process runs as."""
    start_ticks: int = 0
    """The process's start time (``/proc/PID/stat`` field 22): a reused PID has another."""


# ----------------------------------------------------------------------------- small helpers


def es_state_dir(state_home: Path | None = None) -> Path:
    """Where a state home keeps ``node.json``, the node's credentials and its lock (and, when not
    started as root, the node's own config, data and logs)."""
    return (state_home or paths.state_home()) / "es"


def node_json_path(state_home: Path | None = None) -> Path:
    """The state file other commands read to find the managed node."""
    return es_state_dir(state_home) / "node.json"


def credentials_path(state_home: Path | None = None) -> Path:
    """The managed node's generated credentials (``{"user", "password"}``, mode 0600)."""
    return es_state_dir(state_home) / "credentials.json"


def read_node_info(state_home: Path | None = None) -> NodeInfo | None:
    """The recorded node of this state home, or None when none was started (or the file is unreadable)."""
    path = node_json_path(state_home)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return NodeInfo(**{k: data[k] for k in NodeInfo.__dataclass_fields__ if k in data})
    except (OSError, ValueError, TypeError, KeyError):
        return None


def read_credentials(state_home: Path | None = None) -> tuple[str, str] | None:
    """``(user, password)`` of the managed node of a state home, or None when there are none."""
    try:
        data = json.loads(credentials_path(state_home).read_text(encoding="utf-8"))
        return str(data["user"]), str(data["password"])
    except (OSError, ValueError, TypeError, KeyError):
        return None


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child still answers kill(0); treat it as gone.
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            return fh.read().split(") ", 1)[1][:1] != "Z"
    except (OSError, IndexError):
        return True


def _start_ticks(pid: int) -> int:
    """The start time of a process in clock ticks since boot (0 when it cannot be read)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            fields = fh.read().rsplit(") ", 1)[1].split()
        return int(fields[19])  # field 22 of stat(5); fields[0] is field 3
    except (OSError, IndexError, ValueError):
        return 0


def _proc_args(pid: int, name: str) -> list[str]:
    try:
        with open(f"/proc/{pid}/{name}", "rb") as fh:
            return [a.decode("utf-8", "replace") for a in fh.read().split(b"\0") if a]
    except OSError:
        return []


def is_node_process(pid: int, info: NodeInfo) -> tuple[bool, str]:
    """Whether ``pid`` is the node ``info`` describes: alive, same user, Elasticsearch from ``info.home`` with
    ``info.config_dir``, and (when recorded) the same start time. Returns (answer, reason when not)."""
    if not _pid_alive(pid):
        return False, f"pid {pid} is not running"
    try:
        uid = os.stat(f"/proc/{pid}").st_uid
    except OSError:
        return False, f"pid {pid} is not running"
    if info.uid >= 0 and uid != info.uid:
        return False, f"pid {pid} belongs to uid {uid}, the node ran as uid {info.uid}"
    if info.start_ticks and _start_ticks(pid) != info.start_ticks:
        return False, f"pid {pid} was started after the node (the node exited and the pid was reused)"
    args = _proc_args(pid, "cmdline")
    if not any(a.endswith(_MAIN_CLASS) for a in args) or f"-Des.path.home={info.home}" not in args:
        shown = " ".join(args)[:120] or "?"
        return False, f"pid {pid} is not Elasticsearch from {info.home} ({shown})"
    env = _proc_args(pid, "environ")
    if env and info.config_dir and f"ES_PATH_CONF={info.config_dir}" not in env:
        return False, f"pid {pid} is another Elasticsearch node (not configured from {info.config_dir})"
    return True, ""


def _auth_header(credentials: tuple[str, str] | None) -> dict[str, str]:
    if not credentials:
        return {}
    token = b64encode(f"{credentials[0]}:{credentials[1]}".encode()).decode("ascii")
    return {"Authorization": f"Basic {token}"}


def _http_json(url: str, timeout: float = 5.0, credentials: tuple[str, str] | None = None) -> Any:
    req = urllib.request.Request(url, headers={"Accept": "application/json", **_auth_header(credentials)})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return json.loads(resp.read().decode("utf-8"))


def node_version(url: str, timeout: float = 5.0, credentials: tuple[str, str] | None = None) -> str:
    """The server version from ``GET /_nodes/_local`` (``GET /`` answers 405 on the minimal distribution)."""
    data = _http_json(url.rstrip("/") + "/_nodes/_local", timeout, credentials)
    nodes = data.get("nodes") or {}
    for node in nodes.values():
        return str(node.get("version", ""))
    raise NodeError(f"{url}/_nodes/_local listed no node")


def cluster_health(
    url: str, timeout: float = 5.0, wait_for_status: str | None = None, credentials: tuple[str, str] | None = None
) -> dict[str, Any]:
    """``GET /_cluster/health`` (optionally waiting server-side for a status)."""
    q = f"?wait_for_status={wait_for_status}&timeout={max(1, int(timeout))}s" if wait_for_status else ""
    data: dict[str, Any] = _http_json(url.rstrip("/") + "/_cluster/health" + q, timeout + 5, credentials)
    return data


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    """True when nothing listens on host:port and we may bind it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1") -> int:
    """A port the OS says is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """An exclusive advisory lock shared by every narcowatch process on this machine."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _read_nofollow(path: Path, limit: int = 1 << 20) -> bytes:
    """The start of a regular file, never through a symlink (files the node user writes are read this way)."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise OSError(f"{path} is not a regular file")
        if st.st_size > limit:
            os.lseek(fd, st.st_size - limit, os.SEEK_SET)
        return os.read(fd, limit)
    finally:
        os.close(fd)


def _tail(path: Path, lines: int = 30) -> str:
    try:
        text = _read_nofollow(path, 256 * 1024).decode("utf-8", errors="replace")
    except OSError:
        return f"(no log at {path})"
    return "\n".join(text.splitlines()[-lines:])


def write_file(path: Path, data: bytes, mode: int = 0o600, gid: int = -1) -> None:
    """Write a file without following symlinks: a new file (O_EXCL|O_NOFOLLOW) renamed over ``path``.

    A symlink planted at ``path`` is replaced, never written through. ``gid`` >= 0 sets its group.
    (``crawler.common.durable.write_atomic``; the node's files are regenerated at each start, so no fsync.)
    """
    write_atomic(path, data, mode=mode, gid=gid, durable=False)


def own_dir(path: Path, mode: int, uid: int = -1, gid: int = -1, *, adopt: bool = True) -> Path:
    """Create (or take over) one directory narcowatch owns, with ``mode`` and owner; never through a symlink.

    An existing directory must be a real directory owned by us or by ``uid``; anything else (a symlink,
    a file, someone else's directory) is an error, not something to chmod. With ``adopt=False`` an
    existing directory is only checked (not writable by group or others), never changed.
    """
    created = True
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        created = False
    if not created and not adopt:
        try:
            st = os.lstat(path)
        except OSError as exc:
            raise NodeError(f"{path}: {exc.strerror}") from None
        if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid() or st.st_mode & 0o022:
            raise NodeError(f"{path} must be a directory owned by uid {os.geteuid()} and not writable by others "
                            "(narcowatch does not change a directory it did not create); fix it or set "
                            "NARCOWATCH_NODE_ROOT elsewhere")
        return path
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        raise NodeError(f"{path} is not a directory narcowatch can use ({exc.strerror}); remove it") from None
    try:
        st = os.fstat(fd)
        if st.st_uid not in (os.geteuid(), uid):
            raise NodeError(f"{path} belongs to uid {st.st_uid}, not to narcowatch; remove it or choose another "
                            "NARCOWATCH_HOME / NARCOWATCH_NODE_ROOT")
        if uid >= 0 or gid >= 0:
            os.fchown(fd, uid, gid)
        os.fchmod(fd, mode)
    finally:
        os.close(fd)
    return path


# ----------------------------------------------------------------------------- Java and distribution


def _java_major(java_home: Path) -> int | None:
    release = java_home / "release"
    try:
        text = release.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    m = re.search(r'^JAVA_VERSION="(\d+)(?:\.(\d+))?', text, re.M)
    if not m:
        return None
    major = int(m.group(1))
    return int(m.group(2) or 0) if major == 1 else major


def find_java_home() -> Path:
    """A JDK that can run the pinned server (Java 21 or newer).

    ``NARCOWATCH_JAVA_HOME`` wins; then the Temurin 25 JDK; then any JDK >= 21 under /usr/lib/jvm.
    """
    env = os.environ.get("NARCOWATCH_JAVA_HOME")
    candidates: list[Path] = [Path(env)] if env else []
    candidates.append(PREFERRED_JAVA_HOME)
    jvm = Path("/usr/lib/jvm")
    if jvm.is_dir():
        candidates.extend(sorted(p for p in jvm.iterdir() if p.is_dir() and not p.is_symlink()))
    seen: list[str] = []
    for cand in candidates:
        major = _java_major(cand)
        seen.append(f"{cand} ({'Java ' + str(major) if major else 'no JDK'})")
        if major and major >= MIN_JAVA and (cand / "bin" / "java").exists():
            return cand
    raise NodeError(
        f"Elasticsearch {ES_VERSION} needs Java {MIN_JAVA} or newer and none was found; looked at: "
        + ", ".join(seen)
        + ". Install one (e.g. temurin-25-jdk) or set NARCOWATCH_JAVA_HOME."
    )


def system_root() -> Path:
    """Root of the node user's directories and the unpacked distribution when started as root."""
    return Path(os.environ.get("NARCOWATCH_NODE_ROOT") or SYSTEM_ROOT)


def distribution_dir(cache_home: Path | None = None) -> Path:
    """Where the pinned distribution is unpacked: ``system_root()/dist`` as root, else the user's cache."""
    if _running_as_root():
        return system_root() / "dist" / f"elasticsearch-{ES_VERSION}"
    return (cache_home or paths.cache_home()) / "elasticsearch" / f"elasticsearch-{ES_VERSION}"


def sha512_of(path: Path) -> str:
    """Hex SHA-512 of a file."""
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha512").hexdigest()


def verify_zip(zip_path: Path, expected: str = ES_ZIP_SHA512) -> None:
    """Refuse a zip whose SHA-512 is not the pinned one (NodeError naming both)."""
    got = sha512_of(zip_path)
    if got != expected:
        raise NodeError(
            f"{zip_path} is not the pinned Elasticsearch {ES_VERSION} distribution: its SHA-512 is {got}, "
            f"expected {expected} (crawler/es/node.py ES_ZIP_SHA512). It may be corrupt or tampered with; "
            "delete it to download it again."
        )


def _distribution_ok(home: Path) -> bool:
    """An unpacked distribution we made from the verified zip: ours, not a symlink, not writable by others."""
    try:
        st = os.lstat(home)
        mark = _read_nofollow(home / _VERIFIED_MARK, 4096).decode("ascii", "replace").strip()
    except OSError:
        return False
    return (stat.S_ISDIR(st.st_mode) and st.st_uid == os.geteuid() and not st.st_mode & 0o022
            and mark == ES_ZIP_SHA512 and (home / "bin" / "elasticsearch").is_file())


def ensure_distribution(cache_home: Path | None = None) -> Path:
    """Download the pinned integ-test-zip through Maven (once), check its SHA-512, unpack it read-only (once).

    Returns the distribution's home. As root it is unpacked under ``system_root()/dist``, root-owned, so
    the node user can read and run it but not change it.
    """
    base = (cache_home or paths.cache_home()) / "elasticsearch"
    home = distribution_dir(cache_home)
    if _distribution_ok(home):
        return home
    try:
        base.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise NodeError(f"cannot create the download cache {base} ({exc.strerror}); set NARCOWATCH_CACHE to a "
                        "writable directory") from None
    with _file_lock(base / ".lock"):
        if _distribution_ok(home):
            return home
        _remove_interrupted(base, home.parent)
        zip_path = base / f"elasticsearch-{ES_VERSION}.zip"
        if zip_path.exists() and not zipfile.is_zipfile(zip_path):
            # not even a zip's end record: a download that was interrupted (a different, well-formed zip is
            # refused by verify_zip below, never replaced)
            log.warning("%s is truncated (an interrupted download); downloading it again", zip_path)
            os.unlink(zip_path)
        if not zip_path.exists():
            _maven_download(base)
        if not zip_path.exists():
            raise NodeError(f"Maven reported success but {zip_path} is missing (artifact {ARTIFACT})")
        verify_zip(zip_path)
        if _running_as_root():
            own_dir(system_root(), 0o755, adopt=False)
            own_dir(home.parent, 0o755)
        else:
            home.parent.mkdir(parents=True, exist_ok=True)
        tmp = home.parent / f".unpack-{ES_VERSION}-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            _unzip(zip_path, tmp)
        except (OSError, zipfile.BadZipFile) as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            raise NodeError(f"cannot unpack {zip_path}: {exc}") from exc
        inner = tmp / f"elasticsearch-{ES_VERSION}"
        if not (inner / "bin" / "elasticsearch").exists():
            shutil.rmtree(tmp, ignore_errors=True)
            raise NodeError(f"{zip_path} does not hold elasticsearch-{ES_VERSION}/bin/elasticsearch")
        write_file(inner / _VERIFIED_MARK, (ES_ZIP_SHA512 + "\n").encode(), 0o444)
        os.chmod(inner, 0o755)
        if os.path.lexists(home):  # an older, unverified or foreign copy: set aside, then removed
            old = home.parent / f".old-{ES_VERSION}-{os.getpid()}"
            os.replace(home, old)
            shutil.rmtree(old, ignore_errors=True)
        os.replace(inner, home)
        shutil.rmtree(tmp, ignore_errors=True)
    return home


def _remove_interrupted(*dirs: Path) -> None:
    """Delete what an interrupted download or unpack left (``.unpack-*``, ``.old-*``, ``.download-*``).

    Called under the distribution lock: only its holder makes these, so any found is a dead process's.
    """
    for d in dict.fromkeys(dirs):
        try:
            entries = list(d.iterdir())
        except OSError:
            continue
        for entry in entries:
            if entry.name.startswith((".unpack-", ".old-", ".download-")) and not entry.is_symlink():
                log.info("removing %s (left by an interrupted download or unpack)", entry)
                shutil.rmtree(entry, ignore_errors=True)


def _maven_download(base: Path) -> None:
    """Download the pinned zip into ``base`` through a temporary directory: a killed download leaves no zip."""
    mvn = shutil.which("mvn")
    if not mvn:
        raise NodeError(
            f"Maven (mvn) is not installed; it is needed once to download {ARTIFACT}. "
            "Install maven, or set NARCOWATCH_ES_URL to use an existing cluster."
        )
    base.mkdir(parents=True, exist_ok=True)
    staging = base / f".download-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    cmd = [mvn, "-q", "-B", "dependency:copy", f"-Dartifact={ARTIFACT}", f"-DoutputDirectory={staging}"]
    log.info("downloading Elasticsearch %s with Maven (about 100 MB, once)", ES_VERSION)
    try:
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1800, check=False)
        except subprocess.TimeoutExpired as exc:
            raise NodeError(f"Maven download of {ARTIFACT} took more than 30 minutes") from exc
        if proc.returncode != 0:
            out = "\n".join((proc.stdout + proc.stderr).splitlines()[-20:])
            raise NodeError(f"Maven could not download {ARTIFACT} (exit {proc.returncode}):\n{out}")
        name = f"elasticsearch-{ES_VERSION}.zip"
        if (staging / name).is_file():
            os.replace(staging / name, base / name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _unzip(zip_path: Path, dest: Path) -> None:
    """Extract read-only: files keep only their read and execute bits (bin/ must stay executable), directories
    are 0755; nothing is writable by the node user, no setuid bits, no entry outside ``dest``."""
    dest.mkdir(parents=True)
    with zipfile.ZipFile(zip_path) as zf:
        for info in zf.infolist():
            target = dest / info.filename
            if not target.resolve().is_relative_to(dest.resolve()):
                raise zipfile.BadZipFile(f"entry {info.filename!r} escapes the target directory")
            if stat.S_ISLNK((info.external_attr >> 16) & 0o170000):
                raise zipfile.BadZipFile(f"entry {info.filename!r} is a symlink")
            zf.extract(info, dest)
            mode = (info.external_attr >> 16) & 0o777
            if info.is_dir():
                os.chmod(target, 0o755)
            else:
                os.chmod(target, (mode & 0o555) | 0o444 if mode else 0o444)
    for root, dirs, _files in os.walk(dest):
        for d in dirs:
            os.chmod(os.path.join(root, d), 0o755)


# ----------------------------------------------------------------------------- unprivileged user


def _running_as_root() -> bool:
    return os.geteuid() == 0


def ensure_node_user(name: str = NODE_USER) -> pwd.struct_passwd:
    """The unprivileged system user the node runs as when we are root (created when missing)."""
    try:
        return pwd.getpwnam(name)
    except KeyError:
        pass
    useradd = shutil.which("useradd") or "/usr/sbin/useradd"
    proc = subprocess.run(
        [useradd, "-r", "-M", "-U", "-d", "/nonexistent", "-s", "/usr/sbin/nologin", name],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode not in (0, 9):  # 9: the user appeared meanwhile
        raise NodeError(f"cannot create the unprivileged user {name!r} for Elasticsearch: {proc.stderr.strip()}")
    return pwd.getpwnam(name)


# ----------------------------------------------------------------------------- the node


class ManagedNode:
    """One local node per state home.

    ``state_home/es/`` holds what narcowatch reads (``node.json``, ``credentials.json``, the lock). The
    node's own directory (``config/``, ``data/``, ``logs/``, ``run/``, ``tmp/``) is ``state_home/es/`` too
    when we are not root; as root it is ``system_root()/nodes/<key of the state home>/``: root-owned with
    group ``narcowatch`` (0750), ``config/`` root-owned and read-only to the node, ``data/``, ``logs/``,
    ``run/`` and ``tmp/`` the node user's (0700).
    """

    def __init__(
        self,
        state_home: Path | None = None,
        cache_home: Path | None = None,
        *,
        http_port: int | None = None,
        heap: str = DEFAULT_HEAP,
        password: str | None = None,
    ) -> None:
        self.state_home = state_home or paths.state_home()
        self.cache_home = cache_home or paths.cache_home()
        self.http_port = http_port
        self.heap = heap
        self.password = password
        self.dir = es_state_dir(self.state_home)
        if _running_as_root():
            key = hashlib.sha256(str(self.state_home.resolve()).encode()).hexdigest()[:16]
            self.node_dir = system_root() / "nodes" / key
        else:
            self.node_dir = self.dir
        self.config_dir = self.node_dir / "config"
        self.data_dir = self.node_dir / "data"
        self.logs_dir = self.node_dir / "logs"
        self.run_dir = self.node_dir / "run"
        self.tmp_dir = self.node_dir / "tmp"
        self.pid_file = self.run_dir / "elasticsearch.pid"
        self.info_file = self.dir / "node.json"
        self.credentials_file = credentials_path(self.state_home)

    # -- state

    def info(self) -> NodeInfo | None:
        """The recorded node (None when never started or stopped)."""
        return read_node_info(self.state_home)

    def credentials(self) -> tuple[str, str] | None:
        """``(user, password)`` the node was set up with (None before the first start)."""
        return read_credentials(self.state_home)

    def _answers(self, url: str) -> bool:
        try:
            node_version(url, timeout=3, credentials=self.credentials())
        except (OSError, ValueError, NodeError):
            return False
        return True

    def _owned(self, info: NodeInfo | None) -> bool:
        return info is not None and is_node_process(info.pid, info)[0]

    def running(self) -> NodeInfo | None:
        """The recorded node when its process is ours, alive, and it answers HTTP, else None."""
        info = self.info()
        if info and self._owned(info) and self._answers(info.url):
            return info
        return None

    # -- start

    def start(self, timeout: float = 180.0) -> NodeInfo:
        """Start the node (or reuse the running one) and wait until the cluster is at least yellow."""
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        with _file_lock(self.dir / ".lock"):
            info = self.info()
            if info and self._owned(info) and info.config_dir != str(self.config_dir):
                # a node an older narcowatch started (other directories, security off): replace it
                log.warning("stopping the node started by an older narcowatch (pid %s) to restart it", info.pid)
                self._kill(info.pid, 60)
                info = None
            if info and self._owned(info):
                if self._answers(info.url):
                    self._wait_healthy(info.url, info.pid, timeout)
                    return info
                # alive but not answering: another start may be in progress, or it hangs
                try:
                    self._wait_healthy(info.url, info.pid, timeout)
                    return info
                except NodeError:
                    self._kill(info.pid, 20)
            return self._start_locked(timeout)

    def _expected(self, home: Path, uid: int) -> NodeInfo:
        return NodeInfo(url="", pid=0, version="", home=str(home), data_dir=str(self.data_dir),
                        logs_dir=str(self.logs_dir), config_dir=str(self.config_dir), uid=uid)

    def _start_locked(self, timeout: float) -> NodeInfo:
        java_home = find_java_home()
        home = ensure_distribution(self.cache_home)
        user = ensure_node_user() if _running_as_root() else None
        self._prepare_dirs(user)
        for attempt in range(1, _BIND_ATTEMPTS + 1):
            port, transport = self._choose_ports()
            try:
                return self._launch(java_home, home, user, port, transport, timeout)
            except _PortTaken as exc:
                # another process (a second test session, anything) took a port between our check and the bind;
                # a port the caller chose is not changed, only one we chose
                chosen = {transport} if self.http_port else {port, transport}
                if attempt == _BIND_ATTEMPTS or not exc.ports & chosen:
                    raise
                log.warning("port %s on 127.0.0.1 was taken while Elasticsearch started; trying other ports",
                            ", ".join(map(str, sorted(exc.ports))))
        raise AssertionError("unreachable")

    def _choose_ports(self) -> tuple[int, int]:
        """(http, transport): ``http_port`` when given (0: any free port), else 9200 when free, else a free one."""
        if self.http_port == 0:
            port = free_port()
        else:
            port = self.http_port or DEFAULT_HTTP_PORT
            if not port_free(port):
                if self.http_port:
                    raise NodeError(f"port {port} on 127.0.0.1 is taken; choose another http port")
                port = free_port()
        transport = free_port()
        while transport == port:
            transport = free_port()
        return port, transport

    def _launch(self, java_home: Path, home: Path, user: pwd.struct_passwd | None, port: int, transport: int,
                timeout: float) -> NodeInfo:
        env = {
            "ES_JAVA_HOME": str(java_home),
            "ES_PATH_CONF": str(self.config_dir),
            "ES_TMPDIR": str(self.tmp_dir),
            "ES_JAVA_OPTS": f"-Xms{self.heap} -Xmx{self.heap}",
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": "C.UTF-8",
        }
        self._write_config(home, port, transport, user, env)
        # the launcher's own JVM (not ES_TMPDIR's server) makes a "final-flags*" directory per start in its
        # java.io.tmpdir; left in /tmp they pile up by the hundred: it goes to the node's tmp/ instead
        env["CLI_JAVA_OPTS"] = f"-Djava.io.tmpdir={self.tmp_dir}"
        for old in self.tmp_dir.glob("final-flags*"):  # earlier starts' (a symlink is not followed, only failed)
            shutil.rmtree(old, ignore_errors=True)
        url = f"http://127.0.0.1:{port}"

        cmd = [str(home / "bin" / "elasticsearch"), "-d", "-p", str(self.pid_file)]
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.pid_file)
        if user is not None:
            runuser = shutil.which("runuser") or "/usr/sbin/runuser"
            cmd = [runuser, "-u", user.pw_name, "--", "env", "-i", *[f"{k}={v}" for k, v in env.items()],
                   "HOME=/nonexistent", *cmd]
            run_env = {"PATH": env["PATH"]}
        else:
            run_env = {**os.environ, **env}
        log.info("starting Elasticsearch %s on %s (data in %s)", ES_VERSION, url, self.data_dir)
        started = time.monotonic()
        # Output goes to a file, not a pipe: the daemonised server may inherit and keep the descriptors.
        out_path = self.dir / "start.out"
        try:
            out_fd = os.open(out_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
            with open(out_fd, "w", encoding="utf-8") as out_fh:
                proc = subprocess.run(
                    cmd,
                    env=run_env,
                    stdin=subprocess.DEVNULL,
                    stdout=out_fh,
                    stderr=subprocess.STDOUT,
                    timeout=timeout,
                    check=False,
                    cwd=str(self.logs_dir),
                )
        except subprocess.TimeoutExpired as exc:
            pid = self._read_pid()
            if pid and is_node_process(pid, self._expected(home, user.pw_uid if user else os.geteuid()))[0]:
                self._kill(pid, 20)
            raise NodeError(
                f"Elasticsearch did not start within {timeout:.0f}s on {url}; last lines of its log:\n"
                + self._log_tail()
            ) from exc
        if proc.returncode != 0:
            out = _tail(out_path, 20)
            message = (f"Elasticsearch failed to start on {url} (exit {proc.returncode}):\n{out}\n"
                       f"last lines of its log:\n{self._log_tail()}")
            taken = {int(p) for p in _BIND_FAILED.findall(_tail(out_path, 100_000))}
            if taken:
                raise _PortTaken(f"port {', '.join(map(str, sorted(taken)))} on 127.0.0.1 was taken: {message}",
                                 taken)
            raise NodeError(message)
        pid = self._wait_pid(10)
        expected = self._expected(home, user.pw_uid if user else os.geteuid())
        ours, why = is_node_process(pid, expected)
        if not ours:
            raise NodeError(f"the pid file {self.pid_file} names a process that is not the node just started: {why}")
        remaining = max(10.0, timeout - (time.monotonic() - started))
        self._wait_healthy(url, pid, remaining)
        version = node_version(url, credentials=self.credentials())
        info = NodeInfo(
            url=url,
            pid=pid,
            version=version,
            home=str(home),
            data_dir=str(self.data_dir),
            logs_dir=str(self.logs_dir),
            config_dir=str(self.config_dir),
            uid=expected.uid,
            start_ticks=_start_ticks(pid),
        )
        write_file(self.info_file, (json.dumps(asdict(info), indent=2) + "\n").encode(), 0o600)
        log.info("Elasticsearch %s up on %s (pid %s) in %.1fs", version, url, pid, time.monotonic() - started)
        return info

    def _prepare_dirs(self, user: pwd.struct_passwd | None) -> None:
        """Create the node's directories (and only those) with their owners and modes."""
        if user is None:
            for d in (self.dir, self.config_dir, self.data_dir, self.logs_dir, self.run_dir, self.tmp_dir):
                own_dir(d, 0o700)
            return
        own_dir(system_root(), 0o755, adopt=False)
        own_dir(self.node_dir.parent, 0o755)
        own_dir(self.node_dir, 0o750, 0, user.pw_gid)
        write_file(self.node_dir / _OWNER_MARK, (str(self.state_home.resolve()) + "\n").encode(), 0o644)
        own_dir(self.config_dir, 0o750, 0, user.pw_gid)
        for d in (self.data_dir, self.logs_dir, self.run_dir, self.tmp_dir):
            own_dir(d, 0o700, user.pw_uid, user.pw_gid)

    def _write_config(
        self, home: Path, http_port: int, transport_port: int, user: pwd.struct_passwd | None, env: dict[str, str]
    ) -> None:
        """The node's configuration: the distribution's files, our elasticsearch.yml, keystore and users.

        Written by us into a directory the node user cannot write; every file through ``write_file``.
        """
        gid = user.pw_gid if user else -1
        mode = 0o640 if user else 0o600
        src = home / "config"
        for path in sorted(src.rglob("*")):
            rel = path.relative_to(src)
            target = self.config_dir / rel
            if path.is_dir():
                own_dir(target, 0o750 if user else 0o700, 0 if user else -1, gid)
            elif path.name not in ("elasticsearch.yml", "users", "users_roles") and not os.path.lexists(target):
                write_file(target, path.read_bytes(), mode, gid)
        settings = {
            "cluster.name": CLUSTER_NAME,
            "node.name": "narcowatch-local",
            "path.data": str(self.data_dir),
            "path.logs": str(self.logs_dir),
            "network.host": "127.0.0.1",
            "http.port": str(http_port),
            "transport.port": str(transport_port),
            "discovery.type": "single-node",
            # Security on: every request needs the generated password (file realm). HTTP stays plain on
            # 127.0.0.1 (the integ-test-zip has no certificates; docs/security.md says what that covers).
            "xpack.security.enabled": "true",
            "xpack.security.http.ssl.enabled": "false",
            "xpack.security.transport.ssl.enabled": "false",
            "cluster.routing.allocation.disk.threshold_enabled": "false",
            "action.destructive_requires_name": "false",
        }
        lines = ["# written by narcowatch (crawler/es/node.py); regenerated on every start"]
        lines += [f"{k}: {json.dumps(v)}" for k, v in settings.items()]
        write_file(self.config_dir / "elasticsearch.yml", ("\n".join(lines) + "\n").encode(), mode, gid)
        tools: list[tuple[str, list[str], str | None]] = []
        if not os.path.lexists(self.config_dir / "elasticsearch.keystore"):
            # The server creates a missing keystore itself, which it cannot do in a directory it may not write.
            tools.append(("elasticsearch-keystore", ["create"], None))
        user_name, password = self._ensure_credentials()
        mark = hashlib.sha256(f"{user_name}:{password}".encode()).hexdigest()
        mark_file = self.config_dir / ".narcowatch-users"
        try:
            current = _read_nofollow(mark_file, 256).decode("ascii", "replace").strip()
        except OSError:
            current = ""
        if current != mark:
            for name in ("users", "users_roles"):
                write_file(self.config_dir / name, b"", mode, gid)
            # the password goes through stdin: a command line is readable by every local user
            stdin = f"{password}\n{password}\n"
            tools.append(("elasticsearch-users", ["useradd", user_name, "-r", "superuser"], stdin))
        self._run_tools(home, tools, env)
        for name in ("elasticsearch.keystore", "users", "users_roles"):
            fd = os.open(self.config_dir / name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
            try:
                if gid >= 0:
                    os.fchown(fd, -1, gid)
                os.fchmod(fd, mode)
            finally:
                os.close(fd)
        if current != mark:
            write_file(mark_file, (mark + "\n").encode(), 0o600)

    def _ensure_credentials(self) -> tuple[str, str]:
        """The node's user and password: kept in ``credentials.json`` (0600), generated on the first start."""
        found = self.credentials()
        if found and (self.password is None or found[1] == self.password):
            return found
        password = self.password or secrets.token_urlsafe(24)
        data = json.dumps({"user": ES_USER, "password": password}) + "\n"
        write_file(self.credentials_file, data.encode(), 0o600)
        return ES_USER, password

    def _run_tools(self, home: Path, tools: list[tuple[str, list[str], str | None]], env: dict[str, str]) -> None:
        """Run the distribution's command-line tools (as us, at once) on the node's configuration."""
        procs = []
        for name, args, stdin in tools:
            proc = subprocess.Popen(
                [str(home / "bin" / name), *args], env={**env, "HOME": str(self.dir)}, cwd=str(self.dir),
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            )
            procs.append((name, args, stdin, proc))
        failed = []
        for name, args, stdin, proc in procs:
            try:
                out, _ = proc.communicate(stdin, timeout=300)
            except subprocess.TimeoutExpired:
                proc.kill()
                out, _ = proc.communicate()
            if proc.returncode != 0:
                tail = "\n".join(out.splitlines()[-15:])
                failed.append(f"{name} {args[0]} failed (exit {proc.returncode}):\n{tail}")
        if failed:
            raise NodeError("\n".join(failed))

    def _read_pid(self) -> int | None:
        try:
            return int(_read_nofollow(self.pid_file, 64).decode("ascii").strip())
        except (OSError, ValueError):
            return None

    def _wait_pid(self, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pid = self._read_pid()
            if pid:
                return pid
            time.sleep(0.2)
        raise NodeError(f"Elasticsearch started but wrote no pid file at {self.pid_file}")

    def _log_tail(self) -> str:
        return _tail(self.logs_dir / f"{CLUSTER_NAME}.log")

    def _wait_healthy(self, url: str, pid: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last = "no answer yet"
        credentials = self.credentials()
        while time.monotonic() < deadline:
            if not _pid_alive(pid):
                raise NodeError(
                    f"Elasticsearch (pid {pid}) exited before {url} answered; last lines of its log:\n"
                    + self._log_tail()
                )
            try:
                health = cluster_health(url, timeout=5, wait_for_status="yellow", credentials=credentials)
                if health.get("status") in ("yellow", "green") and not health.get("timed_out"):
                    return
                last = f"status {health.get('status')}"
            except urllib.error.HTTPError as exc:
                last = f"HTTP {exc.code}"
            except (OSError, ValueError) as exc:
                last = str(exc)
            time.sleep(0.5)
        raise NodeError(
            f"Elasticsearch on {url} was not healthy within {timeout:.0f}s ({last}); last lines of its log:\n"
            + self._log_tail()
        )

    # -- stop

    def _kill(self, pid: int, timeout: float) -> None:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not _pid_alive(pid):
                return
            time.sleep(0.2)
        log.warning("Elasticsearch pid %s ignored SIGTERM for %.0fs; sending SIGKILL", pid, timeout)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and _pid_alive(pid):
            time.sleep(0.1)

    def stop(self, timeout: float = 60.0) -> bool:
        """Stop the node (SIGTERM, wait, then SIGKILL); True when a running node was stopped.

        Only the process this state home started is signalled: ``node.json``'s pid must still be that
        Elasticsearch (same user, program, configuration and start time); any other process is left alone.
        """
        if not self.dir.is_dir():
            return False
        with _file_lock(self.dir / ".lock"):
            info = self.info()
            if info is None:
                pid = self._read_pid()
                if pid is None:
                    return False
                info = self._expected(Path(distribution_dir(self.cache_home)), -1)
                info.pid = pid
            ours, why = is_node_process(info.pid, info)
            if ours:
                self._kill(info.pid, timeout)
            elif _pid_alive(info.pid):
                log.warning("not stopping pid %s: %s", info.pid, why)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.info_file)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.pid_file)
            return ours

    def remove(self, timeout: float = 60.0) -> None:
        """Stop the node and delete its files (data included): the node directory and ``state_home/es``."""
        self.stop(timeout=timeout)
        if self.node_dir != self.dir:
            shutil.rmtree(self.node_dir, ignore_errors=True)
        shutil.rmtree(self.dir, ignore_errors=True)

    # -- status

    def status(self) -> dict[str, Any]:
        """{running, url, pid, version, health, ...} of the recorded node."""
        info = self.info()
        if info is None:
            return {"running": False, "url": None, "pid": None, "version": None, "health": None}
        out: dict[str, Any] = {**asdict(info), "running": False, "health": None}
        ours, why = is_node_process(info.pid, info)
        if not ours:
            out["error"] = why
            return out
        try:
            out["version"] = node_version(info.url, credentials=self.credentials())
            out["health"] = cluster_health(info.url, credentials=self.credentials()).get("status")
            out["running"] = True
        except (OSError, ValueError, NodeError) as exc:
            out["error"] = f"{info.url} does not answer: {exc}"
        return out


def start(timeout: float = 180.0, **kw: Any) -> NodeInfo:
    """Start (or reuse) the managed node of the current state home."""
    return ManagedNode(**kw).start(timeout=timeout)


def stop(timeout: float = 60.0, **kw: Any) -> bool:
    """Stop the managed node of the current state home."""
    return ManagedNode(**kw).stop(timeout=timeout)


def status(**kw: Any) -> dict[str, Any]:
    """Status of the managed node of the current state home."""
    return ManagedNode(**kw).status()
