"""Writing a file so that a crash leaves either the old content or the new, never a torn mix.

``write_atomic`` writes a fresh temporary file beside the target (``O_EXCL | O_NOFOLLOW``: a symlink
planted there is never written through), fsyncs it, renames it over the target and fsyncs the
directory, so the new name survives a power cut. Every queue and record that must not be lost
(the bulk-action spool, the batch spool, the sent log, failure streaks) writes through it; callers that
only need atomicity (generated config files, test mail) pass ``durable=False``.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

_SEQ = itertools.count()


def fsync_dir(directory: Path) -> None:
    """Make the entries of ``directory`` (a rename, a new file) durable."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_file(path: Path) -> None:
    """Make the data of the file at ``path`` (written by someone else, e.g. ``shutil.copy2``) durable."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes | str, *, mode: int = 0o600, gid: int = -1, durable: bool = True) -> Path:
    """Replace ``path`` with ``data`` atomically (and durably unless ``durable=False``); returns ``path``.

    The file gets permission ``mode`` and, when ``gid`` >= 0, that group. The directory must exist.
    """
    raw = data.encode("utf-8") if isinstance(data, str) else data
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{next(_SEQ)}.tmp")
    with contextlib.suppress(FileNotFoundError):
        os.unlink(tmp)  # left by a crashed process that had our pid
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        view = memoryview(raw)
        while view:
            view = view[os.write(fd, view) :]
        if gid >= 0:
            os.fchown(fd, -1, gid)
        os.fchmod(fd, mode)
        if durable:
            os.fsync(fd)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    os.close(fd)
    os.replace(tmp, path)
    if durable:
        fsync_dir(path.parent)
    return path


def write_json_lines(path: Path, rows: Iterable[Any], *, durable: bool = True) -> Path:
    """``write_atomic`` of one compact JSON document a line (the spools' format)."""
    text = "".join(json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n" for row in rows)
    return write_atomic(path, text, durable=durable)
