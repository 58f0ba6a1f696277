"""Find and load sources files (a file, or a directory's sources.yaml and sources/*.yaml) into models."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import TypeAdapter, ValidationError

from crawler.addresses import start_urls_of
from crawler.config.loader import ConfigError, ConfigIssue, format_loc, line_of, load_yaml_with_lines
from crawler.paths import CONFIG_DIR
from crawler.sources.models import KINDS, SourceBase, SourceConfig, mirror_host

_ADAPTER: TypeAdapter[Any] = TypeAdapter(SourceConfig)


def config_path(path: Path | str | None = None) -> Path:
    """The configuration to read: ``path``, else ``NARCOWATCH_CONFIG``, else the repository's config/."""
    if path is not None:
        return Path(path)
    env = os.environ.get("NARCOWATCH_CONFIG")
    return Path(env) if env else CONFIG_DIR


def source_files(path: Path) -> list[Path]:
    """The sources files under ``path``: the file itself, or ``sources.yaml`` and ``sources/*.yaml`` of a directory."""
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise ConfigError([ConfigIssue(str(path), None, "", "no such file or directory (set NARCOWATCH_CONFIG "
                                                             "or pass a configuration path)")])
    files = [p for p in (path / "sources.yaml", path / "sources.yml") if p.is_file()]
    sub = path / "sources"
    if sub.is_dir():
        files += sorted(p for p in sub.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())
    return files


def _strip_tag(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    # pydantic puts the discriminator's value first in a tagged union's error locations
    return loc[1:] if loc and loc[0] in KINDS else loc


def parse_sources_file(path: Path) -> tuple[list[SourceBase], list[ConfigIssue]]:
    """Validate one file; returns the sources that are valid and every issue found (with lines)."""
    try:
        data = load_yaml_with_lines(path)
    except ConfigError as exc:
        return [], list(exc.issues)
    if data is None:
        return [], []
    if not isinstance(data, dict):
        return [], [ConfigIssue(str(path), 1, "", "expected a mapping with a 'sources' list")]
    issues: list[ConfigIssue] = []
    for key in data:
        if key != "sources":
            issues.append(ConfigIssue(str(path), line_of(data, (key,)), str(key),
                                      "unknown top-level key (expected only 'sources')"))
    raw = data.get("sources")
    if raw is None:
        issues.append(ConfigIssue(str(path), getattr(data, "line", None), "sources", "missing 'sources' list"))
        return [], issues
    if not isinstance(raw, list):
        issues.append(ConfigIssue(str(path), line_of(data, ("sources",)), "sources", "must be a list of sources"))
        return [], issues
    out: list[SourceBase] = []
    for i, entry in enumerate(raw):
        try:
            out.append(_ADAPTER.validate_python(entry))
        except ValidationError as exc:
            name = entry.get("name") if isinstance(entry, dict) else None
            for err in exc.errors():
                loc = ("sources", i, *_strip_tag(tuple(err["loc"])))
                if err["type"] in ("union_tag_invalid", "union_tag_not_found"):
                    loc = (*loc, "kind")
                msg = err["msg"].removeprefix("Value error, ") + (f" (source {name!r})" if name else "")
                issues.append(ConfigIssue(str(path), line_of(data, loc), format_loc(loc), msg))
    return out, issues


def check_sources(path: Path | str | None = None) -> tuple[list[SourceBase], list[ConfigIssue]]:
    """Every source and every issue under ``path`` (no exception): what ``config check`` prints."""
    root = config_path(path)
    try:
        files = source_files(root)
    except ConfigError as exc:
        return [], list(exc.issues)
    sources: list[SourceBase] = []
    issues: list[ConfigIssue] = []
    seen: dict[str, str] = {}
    origin: dict[str, Path] = {}
    for file in files:
        found, problems = parse_sources_file(file)
        issues += problems
        data = None
        for src in found:
            if src.name in seen:
                if data is None:
                    data = load_yaml_with_lines(file)
                idx = next((i for i, e in enumerate(data["sources"]) if isinstance(e, dict)
                            and e.get("name") == src.name), 0)
                issues.append(ConfigIssue(str(file), line_of(data, ("sources", idx, "name")),
                                          f"sources[{idx}].name",
                                          f"duplicate source name {src.name!r} (first defined in {seen[src.name]})"))
                continue
            seen[src.name] = str(file)
            sources.append(src)
            origin[src.name] = file
    issues += _shared_addresses(sources, origin)
    return sources, issues


def _mirror_or_none(entry: Any) -> str | None:
    try:
        return mirror_host(entry)
    except ValueError:
        return None


_ADDRESS_FIELD = {"telegram_public": "base_url", "reddit": "base_url", "mastodon": "instance"}


def _shared_addresses(sources: list[SourceBase], origin: dict[str, Path]) -> list[ConfigIssue]:
    """An address that is one source's mirror and another source's address (a start URL's host or a mirror)
    must belong to one site: both sources must name the same platform and canonical address, else the one
    offer seen through either would be two listings, or two sites' offers one. Reported at the line of the
    second source's entry, naming the first's."""
    issues: list[ConfigIssue] = []
    claims: dict[str, tuple[SourceBase, str]] = {}
    files: dict[Path, Any] = {}

    def where(src: SourceBase, field: str, index: int | None) -> tuple[str, int | None, str]:
        file = origin[src.name]
        if file not in files:
            files[file] = load_yaml_with_lines(file)
        data = files[file]
        i = next((i for i, e in enumerate(data["sources"]) if isinstance(e, dict) and e.get("name") == src.name), 0)
        if index is None:
            return str(file), line_of(data, ("sources", i, field)), format_loc(("sources", i, field))
        # scalars in lists carry no line: find the entry (as written) below its key
        raw = list(data["sources"][i].get(field) or [])
        j = index
        if field == "mirrors":  # the validated list is normalised and de-duplicated
            j = next((j for j, e in enumerate(raw) if _mirror_or_none(e) == src.mirrors[index]), index)
        line = line_of(data, ("sources", i, field))
        if line is not None and j < len(raw):
            text = file.read_text(encoding="utf-8").splitlines()
            line = next((n for n in range(line, len(text) + 1) if str(raw[j]) in text[n - 1]), line)
        return str(file), line, format_loc(("sources", i, field, j))

    def field_of(src: SourceBase, host: str) -> tuple[str, int | None]:
        if host in src.mirrors:
            return "mirrors", src.mirrors.index(host)
        hosts = [(urlsplit(u).hostname or "") for u in src.start_urls]
        if host in hosts:
            return "start_urls", hosts.index(host)
        return _ADDRESS_FIELD.get(src.kind, "start_urls"), None

    for src in sources:
        # every address the source starts from, not only the first (whose host is its canonical address)
        starts = [h for u in start_urls_of(src) if (h := (urlsplit(u).hostname or "").lower())]
        for host in dict.fromkeys([*src.site_hosts, *starts]):
            if host not in claims:
                claims[host] = (src, "mirror" if host in src.mirrors else "address")
                continue
            other, how = claims[host]
            same_site = other.platform_name == src.platform_name and other.site_host == src.site_host
            if same_site or (how != "mirror" and host not in src.mirrors):
                continue
            file, line, field = where(src, *field_of(src, host))
            o_file, o_line, o_field = where(other, *field_of(other, host))
            issues.append(ConfigIssue(file, line, field, (
                f"{host} is an address of source {src.name!r} (platform {src.platform_name!r}, canonical address "
                f"{src.site_host}) and of source {other.name!r} (platform {other.platform_name!r}, canonical "
                f"address {other.site_host}; {o_file}:{o_line} {o_field}); an address belongs to one site: remove "
                "the mirror, or make both sources one site (same platform and canonical address)")))
    return issues


def load_sources(path: Path | str | None = None) -> list[SourceBase]:
    """All configured sources under ``path`` (default NARCOWATCH_CONFIG or config/); any issue -> ConfigError."""
    sources, issues = check_sources(path)
    if issues:
        raise ConfigError(issues)
    return sources


def get_source(name: str, path: Path | str | None = None) -> SourceBase:
    """One configured source by name; ConfigError naming the configured ones if it does not exist."""
    sources = load_sources(path)
    for src in sources:
        if src.name == name:
            return src
    names = ", ".join(sorted(s.name for s in sources)) or "none"
    message = f"no source named {name!r} (configured: {names})"
    raise ConfigError([ConfigIssue(str(config_path(path)), None, "", message)])
