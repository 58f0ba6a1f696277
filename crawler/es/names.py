"""Index, alias and template names for one narcowatch installation (prefix ``narcowatch`` by default)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

DEFAULT_PREFIX = "narcowatch"
KINDS: tuple[str, ...] = ("listings", "vendors", "alerts", "crawl-runs", "changes", "rules")
"""Every kind of document narcowatch stores; each has an alias, a versioned index and a mapping file."""

_VALID = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")


def default_prefix() -> str:
    """``NARCOWATCH_INDEX_PREFIX`` or ``narcowatch``."""
    return os.environ.get("NARCOWATCH_INDEX_PREFIX") or DEFAULT_PREFIX


@dataclass(frozen=True)
class IndexNames:
    """The names of one installation: aliases ``<prefix>-<kind>``, indices ``<prefix>-<kind>-v<N>``."""

    prefix: str = ""

    def __post_init__(self) -> None:
        prefix = self.prefix or default_prefix()
        if not _VALID.match(prefix) or len(prefix) > 200:
            raise ValueError(
                f"index prefix {prefix!r} is not usable in Elasticsearch index names: use lower-case "
                "letters, digits, '-', '_' or '.', starting with a letter or digit (NARCOWATCH_INDEX_PREFIX)"
            )
        object.__setattr__(self, "prefix", prefix)

    def alias(self, kind: str) -> str:
        """The alias readers and writers use for ``kind`` (``listings`` -> ``narcowatch-listings``)."""
        kind = kind.replace("_", "-")
        if kind not in KINDS:
            raise KeyError(f"unknown index kind {kind!r}; known: {', '.join(KINDS)}")
        return f"{self.prefix}-{kind}"

    def index(self, kind: str, version: int) -> str:
        """The concrete index behind the alias for mapping version ``version``."""
        return f"{self.alias(kind)}-v{int(version)}"

    def index_pattern(self, kind: str) -> str:
        """The pattern matching every version's concrete index of ``kind`` (used by its template)."""
        return f"{self.alias(kind)}-v*"

    def template(self, kind: str) -> str:
        """The name of the index template of ``kind``."""
        return f"{self.alias(kind)}-template"

    @property
    def listings(self) -> str:
        return self.alias("listings")

    @property
    def vendors(self) -> str:
        return self.alias("vendors")

    @property
    def alerts(self) -> str:
        return self.alias("alerts")

    @property
    def crawl_runs(self) -> str:
        return self.alias("crawl-runs")

    @property
    def changes(self) -> str:
        return self.alias("changes")

    @property
    def rules(self) -> str:
        return self.alias("rules")

    def all_aliases(self) -> list[str]:
        """Every alias of this installation."""
        return [self.alias(k) for k in KINDS]
