"""Pytest fixtures for Redis: a real ``redis-server`` (Debian package) on a free loopback port in a temp dir."""

from __future__ import annotations

import contextlib
import ctypes
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REDIS_SERVER = "redis-server"


@dataclass
class RedisServer:
    """A running redis-server; ``url`` is ``redis://127.0.0.1:<port>/0``."""

    port: int
    directory: Path
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> object:
        import redis

        return redis.Redis.from_url(self.url)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


_PRCTL = None
if sys.platform.startswith("linux"):
    with contextlib.suppress(OSError, AttributeError):
        _PRCTL = ctypes.CDLL(None, use_errno=True).prctl  # loaded here: no dlopen between fork and exec


def _die_with_session() -> None:  # in the child between fork and exec
    """A redis-server outlives a session killed with SIGKILL unless told to die with it (PR_SET_PDEATHSIG)."""
    if _PRCTL is not None:
        _PRCTL(1, signal.SIGTERM)  # 1: PR_SET_PDEATHSIG


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_redis(directory: Path, *, attempts: int = 5) -> RedisServer:
    """Start redis-server bound to 127.0.0.1 on a free port, no persistence, and wait until it answers PING."""
    exe = shutil.which(REDIS_SERVER) or ("/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists() else None)
    if exe is None:
        raise RuntimeError("redis-server not found: install the Debian package (apt-get install redis-server)")
    import redis

    last_err = ""
    for _ in range(attempts):
        port = _free_port()
        proc = subprocess.Popen(
            [exe, "--bind", "127.0.0.1", "--port", str(port), "--dir", str(directory), "--save", "",
             "--appendonly", "no", "--daemonize", "no", "--protected-mode", "yes", "--loglevel", "warning",
             "--logfile", str(directory / f"redis-{port}.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, preexec_fn=_die_with_session,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                break
            try:
                if redis.Redis(host="127.0.0.1", port=port, socket_timeout=1).ping():
                    return RedisServer(port=port, directory=directory, process=proc)
            except redis.exceptions.ConnectionError:
                time.sleep(0.05)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log = directory / f"redis-{port}.log"
        last_err = log.read_text(errors="replace")[-500:] if log.exists() else ""
    raise RuntimeError(f"redis-server did not start on 127.0.0.1 after {attempts} attempts: {last_err}")


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """One redis-server for the session, in its own temp directory, stopped at the end."""
    with tempfile.TemporaryDirectory(prefix="narcowatch-redis-") as tmp:
        server = start_redis(Path(tmp))
        try:
            yield server
        finally:
            server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> Iterator[str]:
    """The session server's URL, emptied before and after the test."""
    import redis

    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    yield redis_server.url
    client.flushall()
    client.close()
