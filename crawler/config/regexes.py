"""User regexes (from analysts' YAML, run on text hostile sites write): checked at load, run with a time limit.

Two defences, because neither alone is enough:

- ``check_user_regex`` (at load, so ``config check`` fails with file, line and field) refuses patterns
  longer than ``MAX_PATTERN_LENGTH`` and *nested quantifiers*: a repeated group that itself holds an
  unbounded repeat, such as ``(a+)+``, ``(\\w+\\s?)*`` or ``(?:x*y?)+``, the shape behind most
  catastrophic backtracking.
- ``user_search`` runs the pattern with the ``regex`` package (``re``-compatible syntax) and a
  ``USER_REGEX_TIMEOUT`` second limit, which also stops what the static check cannot see (overlapping
  alternatives such as ``(a|aa)+$``). A search that times out is logged and treated as no match.
"""

from __future__ import annotations

import functools
import logging
import re
from typing import Any

import regex

log = logging.getLogger(__name__)

MAX_PATTERN_LENGTH = 1000
"""Longest user regex accepted (characters)."""
USER_REGEX_TIMEOUT = 0.1
"""Seconds one search of one user regex on one value may take; slower searches count as no match."""

try:  # Python 3.11+: the parser moved to re._parser (sre_parse is deprecated)
    from re import _constants as _sre_constants  # type: ignore[attr-defined]
    from re import _parser as _sre_parse  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - older Pythons
    import sre_constants as _sre_constants
    import sre_parse as _sre_parse

_REPEATS = {
    op
    for op in (
        getattr(_sre_constants, "MAX_REPEAT", None),
        getattr(_sre_constants, "MIN_REPEAT", None),
        getattr(_sre_constants, "POSSESSIVE_REPEAT", None),
    )
    if op is not None
}
_MAXREPEAT = _sre_constants.MAXREPEAT


def _unbounded_repeat_inside(items: Any) -> str | None:
    """The first unbounded repeat found anywhere in a parsed sub-pattern (as a short description)."""
    for op, av in items:
        if op in _REPEATS:
            _lo, hi, sub = av
            if hi == _MAXREPEAT:
                return "an unbounded repeat (*, + or {n,})"
            found = _unbounded_repeat_inside(sub)
            if found:
                return found
        elif op is _sre_constants.SUBPATTERN:
            found = _unbounded_repeat_inside(av[-1])
            if found:
                return found
        elif op is _sre_constants.BRANCH:
            for alt in av[1]:
                found = _unbounded_repeat_inside(alt)
                if found:
                    return found
        elif op in (_sre_constants.ASSERT, _sre_constants.ASSERT_NOT):
            found = _unbounded_repeat_inside(av[1])
            if found:
                return found
        elif op is getattr(_sre_constants, "ATOMIC_GROUP", None):
            found = _unbounded_repeat_inside(av)
            if found:
                return found
    return None


def _nested_quantifier(items: Any) -> bool:
    for op, av in items:
        if op in _REPEATS:
            _lo, hi, sub = av
            if hi > 1 and _unbounded_repeat_inside(sub):
                return True
            if _nested_quantifier(sub):
                return True
        elif op is _sre_constants.SUBPATTERN:
            if _nested_quantifier(av[-1]):
                return True
        elif op is _sre_constants.BRANCH:
            if any(_nested_quantifier(alt) for alt in av[1]):
                return True
        elif op in (_sre_constants.ASSERT, _sre_constants.ASSERT_NOT):
            if _nested_quantifier(av[1]):
                return True
        elif op is getattr(_sre_constants, "ATOMIC_GROUP", None) and _nested_quantifier(av):
            return True
    return False


def check_user_regex(pattern: str, *, min_groups: int = 0) -> int:
    """Validate a user regex; return its number of groups. ``ValueError`` with a readable reason otherwise."""
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise ValueError(f"regex is {len(pattern)} characters long (at most {MAX_PATTERN_LENGTH})")
    try:
        compiled = re.compile(pattern)
        parsed = _sre_parse.parse(pattern)
    except (re.error, RecursionError, OverflowError) as exc:
        raise ValueError(f"invalid regex {pattern!r}: {exc}") from None
    if _nested_quantifier(parsed):
        raise ValueError(
            f"regex {pattern!r} nests quantifiers (a repeated group holding *, + or {{n,}}, like (a+)+): "
            "it can take exponential time on hostile text; rewrite it without the inner repeat"
        )
    if compiled.groups < min_groups:
        raise ValueError(f"regex {pattern!r} needs {min_groups} group(s)")
    return int(compiled.groups)


@functools.lru_cache(maxsize=512)
def compile_user_regex(pattern: str, flags: int = 0) -> Any:
    """The ``regex``-package pattern object for a user regex (cached); ``flags`` are ``re`` flags."""
    return regex.compile(pattern, _regex_flags(flags))


def _regex_flags(flags: int) -> int:
    out = 0
    for name in ("IGNORECASE", "MULTILINE", "DOTALL", "VERBOSE", "ASCII"):
        if flags & getattr(re, name):
            out |= getattr(regex, name)
    return out


def user_search(pattern: str, text: str, *, flags: int = 0, what: str = "user regex") -> Any:
    """``pattern.search(text)`` under ``USER_REGEX_TIMEOUT``; None (and a warning) when it takes longer."""
    try:
        return compile_user_regex(pattern, flags).search(text, timeout=USER_REGEX_TIMEOUT)
    except TimeoutError:
        log.warning("%s %r took more than %.2fs on %d characters of text; treated as no match",
                    what, pattern, USER_REGEX_TIMEOUT, len(text))
        return None
