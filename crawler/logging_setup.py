"""Logging for long-running narcowatch processes: optional JSON lines, with secrets masked in every record."""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, TextIO

from crawler.common.clock import utc_iso
from crawler.common.redaction import redact_text

SECRET_NAME_PARTS = ("PASSWORD", "KEY", "TOKEN", "SECRET")
# Values shorter than this are not masked by value: masking "1" or "on" everywhere would garble logs.
_MIN_SECRET_LEN = 4

_STD_ATTRS = frozenset(
    vars(logging.LogRecord("x", logging.INFO, "x", 0, "x", None, None)).keys() | {"message", "asctime"}
)


def secret_values(environ: Mapping[str, str] | None = None) -> list[str]:
    """Values of environment variables whose names contain PASSWORD, KEY, TOKEN or SECRET, longest first."""
    env = os.environ if environ is None else environ
    values = {
        v for k, v in env.items() if any(p in k.upper() for p in SECRET_NAME_PARTS) and len(v) >= _MIN_SECRET_LEN
    }
    return sorted(values, key=len, reverse=True)


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """Mask URL passwords/tokens, secret query values and the given secret values in ``text``."""
    return redact_text(text, secrets)


class RedactingFilter(logging.Filter):
    """Rewrites each record's message (and extra string fields) with secrets masked.

    The secret values are read from the environment when the filter is made and again on ``refresh()``,
    so a secret set later (a reloaded configuration) can be added without restarting.
    """

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        super().__init__()
        self._environ = environ
        self.secrets = secret_values(environ)

    def refresh(self) -> None:
        """Read the secret values from the environment again."""
        self.secrets = secret_values(self._environ)

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: keep the raw message, still masked
            message = str(record.msg)
        record.msg = redact(message, self.secrets)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text, self.secrets)
        for key, value in list(vars(record).items()):
            if key not in _STD_ATTRS and isinstance(value, str):
                setattr(record, key, redact(value, self.secrets))
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time (UTC ISO 8601), level, logger, message, exception, and any ``extra``."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": utc_iso(datetime.fromtimestamp(record.created, UTC)),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "process": record.process,
        }
        if record.exc_info or record.exc_text:
            out["exception"] = record.exc_text or self.formatException(record.exc_info)  # type: ignore[arg-type]
        for key, value in vars(record).items():
            if key in _STD_ATTRS or key.startswith("_"):
                continue
            try:
                json.dumps(value)
            except (TypeError, ValueError):
                value = repr(value)
            out[key] = value
        return json.dumps(out, ensure_ascii=False)


def setup_logging(*, json_logs: bool = False, level: str | int = "INFO", stream: TextIO | None = None) -> None:
    """Configure the root logger for a narcowatch process: one handler, secrets redacted, JSON on request.

    The handler replaces the root logger's handlers (the CLI's basicConfig one included), so every
    record goes through the redaction filter once; calling it again replaces it again.
    """
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(RedactingFilter())
    if json_logs:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    root.setLevel(level if isinstance(level, int) else level.upper())
