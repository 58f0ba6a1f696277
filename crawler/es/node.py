"""The managed local Elasticsearch node: download the pinned distribution, run it on 127.0.0.1, stop it."""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import pwd
import re
import shutil
import signal
import socket
import stat
import subprocess
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from crawler import paths

log = logging.getLogger(__name__)

ES_VERSION = "9.2.4"
"""The pinned server version; the Python client's major (pyproject.toml) must equal its major."""
ARTIFACT = f"org.elasticsearch.distribution.integ-test-zip:elasticsearch:{ES_VERSION}:zip"
PREFERRED_JAVA_HOME = Path("/usr/lib/jvm/temurin-25-jdk-amd64")
MIN_JAVA = 21
DEFAULT_HTTP_PORT = 9200
DEFAULT_HEAP = "512m"
NODE_USER = "narcowatch"
CLUSTER_NAME = "narcowatch"


class NodeError(RuntimeError):
    """The managed node could not be downloaded, started, reached or stopped; the message says why."""


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


# ----------------------------------------------------------------------------- small helpers


def es_state_dir(state_home: Path | None = None) -> Path:
    """Where the node of a state home keeps its config, data, logs, pid file and node.json."""
    return (state_home or paths.state_home()) / "es"


def node_json_path(state_home: Path | None = None) -> Path:
    """The state file other commands read to find the managed node."""
    return es_state_dir(state_home) / "node.json"


def read_node_info(state_home: Path | None = None) -> NodeInfo | None:
    """The recorded node of this state home, or None when none was started (or the file is unreadable)."""
    path = node_json_path(state_home)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return NodeInfo(**{k: data[k] for k in NodeInfo.__dataclass_fields__ if k in data})
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


def _http_json(url: str, timeout: float = 5.0) -> Any:
    req = urllib.request.Request(url, headers={"Accept": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return json.loads(resp.read().decode("utf-8"))


def node_version(url: str, timeout: float = 5.0) -> str:
    """The server version from ``GET /_nodes/_local`` (``GET /`` answers 405 on the minimal distribution)."""
    data = _http_json(url.rstrip("/") + "/_nodes/_local", timeout)
    nodes = data.get("nodes") or {}
    for node in nodes.values():
        return str(node.get("version", ""))
    raise NodeError(f"{url}/_nodes/_local listed no node")


def cluster_health(url: str, timeout: float = 5.0, wait_for_status: str | None = None) -> dict[str, Any]:
    """``GET /_cluster/health`` (optionally waiting server-side for a status)."""
    q = f"?wait_for_status={wait_for_status}&timeout={max(1, int(timeout))}s" if wait_for_status else ""
    data: dict[str, Any] = _http_json(url.rstrip("/") + "/_cluster/health" + q, timeout + 5)
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
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _tail(path: Path, lines: int = 30) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return f"(no log at {path})"
    return "\n".join(text.splitlines()[-lines:])


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


def distribution_dir(cache_home: Path | None = None) -> Path:
    """Where the pinned distribution is unpacked (one directory per version)."""
    return (cache_home or paths.cache_home()) / "elasticsearch" / f"elasticsearch-{ES_VERSION}"


def ensure_distribution(cache_home: Path | None = None) -> Path:
    """Download the pinned integ-test-zip through Maven (once) and unpack it (once); return its home."""
    base = (cache_home or paths.cache_home()) / "elasticsearch"
    home = distribution_dir(cache_home)
    if (home / "bin" / "elasticsearch").exists():
        return home
    with _file_lock(base / ".lock"):
        if (home / "bin" / "elasticsearch").exists():
            return home
        zip_path = base / f"elasticsearch-{ES_VERSION}.zip"
        if not zip_path.exists():
            _maven_download(base)
        if not zip_path.exists():
            raise NodeError(f"Maven reported success but {zip_path} is missing (artifact {ARTIFACT})")
        tmp = base / f".unpack-{ES_VERSION}-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            _unzip(zip_path, tmp)
        except (OSError, zipfile.BadZipFile) as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            zip_path.unlink(missing_ok=True)  # a broken download is fetched again next time
            raise NodeError(f"cannot unpack {zip_path}: {exc}; it was removed, run again to re-download") from exc
        inner = tmp / f"elasticsearch-{ES_VERSION}"
        if not (inner / "bin" / "elasticsearch").exists():
            shutil.rmtree(tmp, ignore_errors=True)
            raise NodeError(f"{zip_path} does not hold elasticsearch-{ES_VERSION}/bin/elasticsearch")
        os.replace(inner, home)
        shutil.rmtree(tmp, ignore_errors=True)
    return home


def _maven_download(base: Path) -> None:
    mvn = shutil.which("mvn")
    if not mvn:
        raise NodeError(
            f"Maven (mvn) is not installed; it is needed once to download {ARTIFACT}. "
            "Install maven, or set NARCOWATCH_ES_URL to use an existing cluster."
        )
    base.mkdir(parents=True, exist_ok=True)
    cmd = [mvn, "-q", "-B", "dependency:copy", f"-Dartifact={ARTIFACT}", f"-DoutputDirectory={base}"]
    log.info("downloading Elasticsearch %s with Maven (about 100 MB, once)", ES_VERSION)
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1800, check=False)
    except subprocess.TimeoutExpired as exc:
        raise NodeError(f"Maven download of {ARTIFACT} took more than 30 minutes") from exc
    if proc.returncode != 0:
        out = "\n".join((proc.stdout + proc.stderr).splitlines()[-20:])
        raise NodeError(f"Maven could not download {ARTIFACT} (exit {proc.returncode}):\n{out}")


def _unzip(zip_path: Path, dest: Path) -> None:
    """Extract keeping the Unix permission bits (zipfile drops them, and bin/ must stay executable)."""
    dest.mkdir(parents=True)
    with zipfile.ZipFile(zip_path) as zf:
        for info in zf.infolist():
            target = dest / info.filename
            if not target.resolve().is_relative_to(dest.resolve()):
                raise zipfile.BadZipFile(f"entry {info.filename!r} escapes the target directory")
            zf.extract(info, dest)
            mode = (info.external_attr >> 16) & 0o7777
            if mode and not info.is_dir():
                os.chmod(target, mode)


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
        [useradd, "-r", "-M", "-d", "/nonexistent", "-s", "/usr/sbin/nologin", name],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode not in (0, 9):  # 9: the user appeared meanwhile
        raise NodeError(f"cannot create the unprivileged user {name!r} for Elasticsearch: {proc.stderr.strip()}")
    return pwd.getpwnam(name)


def _chown_tree(path: Path, uid: int, gid: int) -> None:
    for root, dirs, files in os.walk(path):
        os.lchown(root, uid, gid)
        for n in dirs + files:
            os.lchown(os.path.join(root, n), uid, gid)


def _grant_traverse(path: Path, user: pwd.struct_passwd) -> None:
    """Let ``user`` reach ``path``: add the others' search bit (x, not read) where an ancestor lacks it."""
    for parent in reversed(path.resolve().parents):
        st = parent.stat()
        if st.st_uid == user.pw_uid or st.st_mode & stat.S_IXOTH:
            continue
        if st.st_gid == user.pw_gid and st.st_mode & stat.S_IXGRP:
            continue
        log.warning("granting others search permission (o+x) on %s so %s can reach %s", parent, user.pw_name, path)
        os.chmod(parent, st.st_mode | stat.S_IXOTH)


# ----------------------------------------------------------------------------- the node


class ManagedNode:
    """One local node per state home: its own config, data and logs under ``state_home/es/``."""

    def __init__(
        self,
        state_home: Path | None = None,
        cache_home: Path | None = None,
        *,
        http_port: int | None = None,
        heap: str = DEFAULT_HEAP,
    ) -> None:
        self.state_home = state_home or paths.state_home()
        self.cache_home = cache_home or paths.cache_home()
        self.http_port = http_port
        self.heap = heap
        self.dir = es_state_dir(self.state_home)
        self.config_dir = self.dir / "config"
        self.data_dir = self.dir / "data"
        self.logs_dir = self.dir / "logs"
        self.pid_file = self.dir / "elasticsearch.pid"
        self.info_file = self.dir / "node.json"

    # -- state

    def info(self) -> NodeInfo | None:
        """The recorded node (None when never started or stopped)."""
        return read_node_info(self.state_home)

    def _answers(self, url: str) -> bool:
        try:
            node_version(url, timeout=3)
        except (OSError, ValueError, NodeError):
            return False
        return True

    def running(self) -> NodeInfo | None:
        """The recorded node when its process is alive and it answers HTTP, else None."""
        info = self.info()
        if info and _pid_alive(info.pid) and self._answers(info.url):
            return info
        return None

    # -- start

    def start(self, timeout: float = 180.0) -> NodeInfo:
        """Start the node (or reuse the running one) and wait until the cluster is at least yellow."""
        with _file_lock(self.dir / ".lock"):
            info = self.info()
            if info and _pid_alive(info.pid):
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

    def _start_locked(self, timeout: float) -> NodeInfo:
        java_home = find_java_home()
        home = ensure_distribution(self.cache_home)
        port = self.http_port or DEFAULT_HTTP_PORT
        if not port_free(port):
            if self.http_port:
                raise NodeError(f"port {port} on 127.0.0.1 is taken; choose another http port")
            port = free_port()
        transport = free_port()
        while transport == port:
            transport = free_port()
        self._write_config(home, port, transport)
        url = f"http://127.0.0.1:{port}"

        env = {
            "ES_JAVA_HOME": str(java_home),
            "ES_PATH_CONF": str(self.config_dir),
            "ES_JAVA_OPTS": f"-Xms{self.heap} -Xmx{self.heap}",
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": "C.UTF-8",
        }
        cmd = [str(home / "bin" / "elasticsearch"), "-d", "-p", str(self.pid_file)]
        self.pid_file.unlink(missing_ok=True)
        if _running_as_root():
            user = ensure_node_user()
            for p in (self.dir, home):
                _chown_tree(p, user.pw_uid, user.pw_gid)
                _grant_traverse(p, user)
            runuser = shutil.which("runuser") or "/usr/sbin/runuser"
            cmd = [runuser, "-u", user.pw_name, "--", "env", *[f"{k}={v}" for k, v in env.items()], *cmd]
            run_env = None
            home_env = {"HOME": "/tmp"}
        else:
            run_env = {**os.environ, **env}
            home_env = {}
        log.info("starting Elasticsearch %s on %s (data in %s)", ES_VERSION, url, self.data_dir)
        started = time.monotonic()
        # Output goes to a file, not a pipe: the daemonised server may inherit and keep the descriptors.
        out_path = self.dir / "start.out"
        try:
            with open(out_path, "w", encoding="utf-8") as out_fh:
                proc = subprocess.run(
                    cmd,
                    env={**(run_env or {"PATH": env["PATH"]}), **home_env},
                    stdin=subprocess.DEVNULL,
                    stdout=out_fh,
                    stderr=subprocess.STDOUT,
                    timeout=timeout,
                    check=False,
                    cwd=str(self.dir),
                )
        except subprocess.TimeoutExpired as exc:
            pid = self._read_pid()
            if pid:
                self._kill(pid, 20)
            raise NodeError(
                f"Elasticsearch did not start within {timeout:.0f}s on {url}; last lines of its log:\n"
                + self._log_tail()
            ) from exc
        if proc.returncode != 0:
            out = _tail(out_path, 20)
            raise NodeError(
                f"Elasticsearch failed to start on {url} (exit {proc.returncode}):\n{out}\n"
                f"last lines of its log:\n{self._log_tail()}"
            )
        pid = self._wait_pid(10)
        remaining = max(10.0, timeout - (time.monotonic() - started))
        self._wait_healthy(url, pid, remaining)
        version = node_version(url)
        info = NodeInfo(
            url=url,
            pid=pid,
            version=version,
            home=str(home),
            data_dir=str(self.data_dir),
            logs_dir=str(self.logs_dir),
            config_dir=str(self.config_dir),
        )
        tmp = self.info_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(info), indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, self.info_file)
        log.info("Elasticsearch %s up on %s (pid %s) in %.1fs", version, url, pid, time.monotonic() - started)
        return info

    def _write_config(self, home: Path, http_port: int, transport_port: int) -> None:
        for d in (self.dir, self.data_dir, self.logs_dir):
            d.mkdir(parents=True, exist_ok=True)
        if not (self.config_dir / "jvm.options").exists():
            shutil.copytree(home / "config", self.config_dir, dirs_exist_ok=True)
        settings = {
            "cluster.name": CLUSTER_NAME,
            "node.name": "narcowatch-local",
            "path.data": str(self.data_dir),
            "path.logs": str(self.logs_dir),
            "network.host": "127.0.0.1",
            "http.port": str(http_port),
            "transport.port": str(transport_port),
            "discovery.type": "single-node",
            "xpack.security.enabled": "false",
            "cluster.routing.allocation.disk.threshold_enabled": "false",
            "action.destructive_requires_name": "false",
        }
        lines = ["# written by narcowatch (crawler/es/node.py); regenerated on every start"]
        lines += [f"{k}: {json.dumps(v)}" for k, v in settings.items()]
        (self.config_dir / "elasticsearch.yml").write_text("\n".join(lines) + "\n", encoding="utf-8")

    def _read_pid(self) -> int | None:
        try:
            return int(self.pid_file.read_text().strip())
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
        while time.monotonic() < deadline:
            if not _pid_alive(pid):
                raise NodeError(
                    f"Elasticsearch (pid {pid}) exited before {url} answered; last lines of its log:\n"
                    + self._log_tail()
                )
            try:
                health = cluster_health(url, timeout=5, wait_for_status="yellow")
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
        """Stop the node (SIGTERM, wait, then SIGKILL); True when a running node was stopped."""
        with _file_lock(self.dir / ".lock"):
            info = self.info()
            pid = info.pid if info else self._read_pid()
            was_running = bool(pid and _pid_alive(pid))
            if pid and was_running:
                self._kill(pid, timeout)
            self.info_file.unlink(missing_ok=True)
            self.pid_file.unlink(missing_ok=True)
            return was_running

    # -- status

    def status(self) -> dict[str, Any]:
        """{running, url, pid, version, health, ...} of the recorded node."""
        info = self.info()
        if info is None:
            return {"running": False, "url": None, "pid": None, "version": None, "health": None}
        out: dict[str, Any] = {**asdict(info), "running": False, "health": None}
        if not _pid_alive(info.pid):
            out["error"] = f"pid {info.pid} is not running"
            return out
        try:
            out["version"] = node_version(info.url)
            out["health"] = cluster_health(info.url).get("status")
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
