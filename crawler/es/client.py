"""The one way narcowatch connects to Elasticsearch: environment (URL, auth, CA) or the managed node.

The managed node runs with security on; its generated credentials (``state_home/es/credentials.json``)
are used automatically, but only for that node's own URL and only while that node is running: they are never
sent to another cluster, nor to whatever listens on the port after the node died (a reboot leaves node.json).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from elastic_transport import TransportError
from elasticsearch import Elasticsearch
from elasticsearch import exceptions as es_exc

from crawler.common.redaction import redact_url
from crawler.es.node import is_node_process, read_credentials, read_node_info

log = logging.getLogger(__name__)


class EsUnavailable(RuntimeError):
    """No Elasticsearch answers at the configured URL (or none is configured); the message says what to do."""

    def __init__(self, message: str, url: str | None = None) -> None:
        super().__init__(message)
        self.url = url


def resolve_url(url: str | None = None, state_home: Path | None = None) -> tuple[str, str]:
    """The URL to use and where it came from: the argument, ``NARCOWATCH_ES_URL``, or the managed node."""
    if url:
        return url, "argument"
    env = os.environ.get("NARCOWATCH_ES_URL")
    if env:
        return env, "NARCOWATCH_ES_URL"
    info = read_node_info(state_home)
    if info is not None:
        running, why = is_node_process(info.pid, info)
        if not running:
            raise EsUnavailable(
                f"the local node recorded at {redact_url(info.url)} is not running ({why}): start it with "
                "`narcowatch es start`, or set NARCOWATCH_ES_URL to a cluster",
                redact_url(info.url),
            )
        return info.url, "managed node (narcowatch es start)"
    raise EsUnavailable(
        "no Elasticsearch configured: set NARCOWATCH_ES_URL to a cluster, or start the local node "
        "with `narcowatch es start`"
    )


def managed_credentials(url: str, state_home: Path | None = None) -> tuple[str, str] | None:
    """The managed node's ``(user, password)`` when ``url`` is the URL of that node and it is running, else None.

    A node.json left by a node that died (a reboot, a kill) names a port some other server may hold now:
    its credentials are not sent there.
    """
    info = read_node_info(state_home)
    if info is None or info.url.rstrip("/") != url.rstrip("/"):
        return None
    if not is_node_process(info.pid, info)[0]:
        return None
    return read_credentials(state_home)


_IGNORED_WARNED: set[str] = set()


def client_options(url: str, state_home: Path | None = None) -> dict[str, Any]:
    """Auth and TLS options for ``url``.

    Precedence: the managed node (``url`` is the URL in ``state_home``'s ``node.json``) is reached with its
    own generated credentials, unless ``NARCOWATCH_ES_URL`` names that very URL, and only then do the
    environment's credentials win there. Every other URL (a cluster of the user's own) gets the
    environment's API key or user/password. So ``NARCOWATCH_ES_USER``/``_API_KEY`` left in a shell for
    another cluster neither locks the managed node out (HTTP 401) nor reaches it; a WARNING says they were
    not used. The managed credentials never go to any other URL.
    """
    opts: dict[str, Any] = {}
    api_key = os.environ.get("NARCOWATCH_ES_API_KEY")
    user = os.environ.get("NARCOWATCH_ES_USER")
    password = os.environ.get("NARCOWATCH_ES_PASSWORD")
    ca = os.environ.get("NARCOWATCH_ES_CA")
    managed = managed_credentials(url, state_home)
    named = (os.environ.get("NARCOWATCH_ES_URL") or "").rstrip("/") == url.rstrip("/")
    if managed is not None and not named:
        given = [v for v, value in (("NARCOWATCH_ES_API_KEY", api_key), ("NARCOWATCH_ES_USER", user)) if value]
        if given and url not in _IGNORED_WARNED:
            _IGNORED_WARNED.add(url)
            log.warning("%s set, but %s is the managed node and NARCOWATCH_ES_URL does not name it: using the "
                        "node's own generated credentials (set NARCOWATCH_ES_URL to send yours to a cluster of "
                        "your own)", " and ".join(given), redact_url(url))
        api_key = user = None
    if api_key:
        opts["api_key"] = api_key
    elif user:
        if password is None:
            raise EsUnavailable("NARCOWATCH_ES_USER is set but NARCOWATCH_ES_PASSWORD is not", redact_url(url))
        opts["basic_auth"] = (user, password)
    elif managed is not None:
        opts["basic_auth"] = managed
    if ca:
        if not Path(ca).is_file():
            raise EsUnavailable(f"NARCOWATCH_ES_CA={ca} is not a readable file", redact_url(url))
        opts["ca_certs"] = ca
    return opts


def get_client(
    url: str | None = None, *, check: bool = True, state_home: Path | None = None, **kw: Any
) -> Elasticsearch:
    """An Elasticsearch client for narcowatch.

    ``url`` (else ``NARCOWATCH_ES_URL``, else the managed node's ``node.json``); auth and TLS from
    ``NARCOWATCH_ES_API_KEY``, ``NARCOWATCH_ES_USER``/``NARCOWATCH_ES_PASSWORD``, ``NARCOWATCH_ES_CA``, else
    the managed node's generated credentials when the URL is that node's.
    Extra keyword arguments go to ``Elasticsearch()``. With ``check`` (default) the node is asked for
    its version once and ``EsUnavailable`` names the URL when it does not answer.
    """
    target, origin = resolve_url(url, state_home)
    opts = {"request_timeout": 30, **client_options(target, state_home), **kw}
    shown = redact_url(target)
    try:
        client = Elasticsearch(target, **opts)
    except (ValueError, TypeError) as exc:
        raise EsUnavailable(f"bad Elasticsearch URL {shown} (from {origin}): {exc}", shown) from exc
    if check:
        try:
            server_version(client)
        except (TransportError, es_exc.ApiError, OSError) as exc:
            client.close()
            raise EsUnavailable(
                f"Elasticsearch at {shown} (from {origin}) does not answer: {_reason(exc)}. "
                "Start the local node with `narcowatch es start` or check NARCOWATCH_ES_URL.",
                shown,
            ) from exc
        log.debug("connected to Elasticsearch at %s (%s)", shown, origin)
    return client


def server_version(client: Elasticsearch) -> str:
    """The version of the node answering (``GET /_nodes/_local``: ``GET /`` is 405 on the minimal node)."""
    resp = client.nodes.info(node_id="_local", metric="_none")
    for node in resp.get("nodes", {}).values():
        return str(node.get("version", ""))
    return ""


def _reason(exc: BaseException) -> str:
    if isinstance(exc, es_exc.ApiError):
        return f"HTTP {exc.meta.status} {exc.message}"
    text = str(getattr(exc, "message", "") or exc)
    if "Connection refused" in text:
        text = "connection refused (nothing listens there)"
    return text if len(text) < 300 else text[:300] + "..."
