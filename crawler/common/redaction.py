"""Masking secrets in URLs and text before they reach a log, an error message or a report.

The one URL rule: a password in the userinfo becomes ``***`` (the user stays readable), a userinfo
that is a bare name with no password (often a token: ``https://TOKEN@host``) becomes ``***``, and the
value of any query parameter whose name says it is a credential (``token``, ``api_key``, ``password``,
``sid``, ...; ``is_secret_param``) becomes ``***``. ``redact_url`` applies it to one URL, ``redact_text``
to every URL inside free text and also masks given secret values (the configured ones) wherever they appear.

A bare ``key`` (or ``search_key``, ``sort_key``) is not a credential name: markets search with
``?key=fentanyl``, and analysts need that text in logged URLs. A key parameter is masked by name only
with a credential qualifier (``api_key``, ``apiKey``, ``x-api-key``, ``access_key``, ``client_key``, ...);
an API key we send under another name is one of our configured secrets, so its value is masked anyway.
docs/security.md ("Secrets in logs") states the rule.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import urlsplit, urlunsplit

MASK = "***"

# Query parameter names whose values are secrets: the name is, or ends in, one of these words
# (``token``, ``access_token``, ``X-Auth``, ``client_secret``); ``keyword``, ``monkey`` or ``author`` are not.
_SECRET_WORDS = (
    "password|passwd|pass|pwd|secret|token|auth|authorization|credential|credentials"
    "|signature|sig|session|sessionid|sid"
)
# ...or ends in a key word with a credential qualifier (``api_key``, ``apiKey``, ``X-Api-Key``, ``access-key``).
# A bare ``key`` is a search box as often as a credential (``/search?key=fentanyl``): not masked by name.
_KEY_QUALIFIERS = "api|access|secret|private|client|app|auth|subscription|license|licence|consumer|signing|master"
_SECRET_PARAM = re.compile(
    rf"^(?:.*[_\-.])?(?:{_SECRET_WORDS}|(?:{_KEY_QUALIFIERS})[_\-.]?key)$", re.IGNORECASE
)
# ?name=value or &name=value inside text; the value ends at &, #, white space or a quote/bracket.
_QUERY_PARAM = re.compile(r"(?P<sep>[?&;])(?P<name>[^=&#?;\s'\"<>]+)=(?P<value>[^&#;\s'\"<>]*)")
# scheme://user:password@  and  scheme://token@  inside text
_URL_USERINFO = re.compile(r"(?P<head>\b[a-zA-Z][a-zA-Z0-9+.\-]*://)(?P<user>[^\s:/@]*)(?::(?P<pw>[^\s@/]+))?(?P<at>@)")


def is_secret_param(name: str) -> bool:
    """Whether a query parameter of this name carries a secret (its value is masked)."""
    return bool(_SECRET_PARAM.match(name))


def _mask_query(text: str) -> str:
    def sub(m: re.Match[str]) -> str:
        if m.group("value") and is_secret_param(m.group("name")):
            return f"{m.group('sep')}{m.group('name')}={MASK}"
        return m.group(0)

    return _QUERY_PARAM.sub(sub, text)


def _mask_userinfo(text: str) -> str:
    def sub(m: re.Match[str]) -> str:
        if m.group("pw") is not None:
            return f"{m.group('head')}{m.group('user')}:{MASK}{m.group('at')}"
        if m.group("user") and not any(c in m.group("user") for c in "?#"):  # "host?q=a@b" has no userinfo
            return f"{m.group('head')}{MASK}{m.group('at')}"
        return m.group(0)

    return _URL_USERINFO.sub(sub, text)


def redact_url(url: str) -> str:
    """``url`` with its password (or bare-token userinfo) and secret query values replaced by ``***``.

    ``http://u:pw@h:1/p?q=x&token=t`` -> ``http://u:***@h:1/p?q=x&token=***``;
    ``https://tok@h/`` -> ``https://***@h/``; a URL with nothing secret comes back unchanged.
    """
    try:
        parts = urlsplit(url)
    except ValueError:  # not parseable as a URL (bad IPv6 brackets, ...): mask textually
        return redact_text(url)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        user, colon, _password = userinfo.partition(":")
        netloc = f"{user}:{MASK}@{hostport}" if colon else f"{MASK}@{hostport}"
    query = _mask_query("?" + parts.query)[1:] if parts.query else parts.query
    if netloc == parts.netloc and query == parts.query:
        return url
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def mask_values(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every occurrence of each secret value replaced by ``***`` (longest first)."""
    for value in sorted((s for s in secrets if s), key=len, reverse=True):
        if value in text:
            text = text.replace(value, MASK)
    return text


def redact_text(text: str, secrets: Iterable[str] = ()) -> str:
    """Free text with every URL's password/token userinfo, secret query values and ``secrets`` masked."""
    return mask_values(_mask_query(_mask_userinfo(text)), secrets)
