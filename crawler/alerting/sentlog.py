"""The sent log: which messages the SMTP server accepted, kept on disk until the alert record says so.

SMTP cannot hand a message over and update our record in one step. Between the server's "250 OK" and
the record's update to ``sent`` a crash (or an Elasticsearch outage) would leave the record in
``sending``, and the next deliverer would mail it again once the lease runs out. So right after the
server accepts a message, the outcome is written here (one small file per alert or digest, fsynced);
a deliverer that takes over a record looks here first and settles it from the file instead of sending
again; the file is removed once the record is updated.

What remains (docs/alerts.md, "Crash while sending"): a crash after the server accepted the message
but before this file is on disk, and a server that stored the message but whose "250" never reached
us. Both resend, with the same Message-ID. The log is per machine (the state home): deliverers on
other machines do not see it.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

from crawler.alerting.mailer import SendResult
from crawler.common.durable import write_atomic

log = logging.getLogger(__name__)
_KEY = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")


class SentLog:
    """One JSON file per accepted message, named by its key (an alert id, or ``digest-<id>``)."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    def _path(self, key: str) -> Path:
        if not _KEY.match(key):
            raise ValueError(f"sent log key {key!r} is not a plain name")
        return self.directory / f"{key}.json"

    def record(self, key: str, send: SendResult, message_id: str | None) -> None:
        """Write what the server accepted, durably (file and directory fsynced) before returning."""
        path = self._path(key)
        payload = {
            "accepted": send.accepted,
            "temporary": send.temporary,
            "permanent": send.permanent,
            "message_id": message_id,
        }
        for tries in range(3):  # another process's clear() may remove the empty directory meanwhile
            self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            try:
                write_atomic(path, json.dumps(payload))
                return
            except FileNotFoundError:
                if tries == 2:
                    raise

    def get(self, key: str) -> SendResult | None:
        """What the server accepted for ``key`` in an earlier attempt whose record update never landed."""
        try:
            data = json.loads(self._path(key).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except ValueError:  # torn by a crash before the rename: impossible with os.replace, but be safe
            log.error("sent log %s is not JSON; ignored", self._path(key))
            return None
        return SendResult(
            accepted=list(data.get("accepted") or []),
            temporary=dict(data.get("temporary") or {}),
            permanent=dict(data.get("permanent") or {}),
        )

    def clear(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)
        try:
            self.directory.rmdir()  # only when empty: leave no directory behind when nothing waits
        except OSError:
            pass
