"""Load YAML keeping the line of every key, and turn pydantic errors into ``file:line: field: message``."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")

MAX_CONFIG_BYTES = 5 * 1024 * 1024
"""Largest configuration file read (a YAML file is written by hand; anything bigger is a mistake or an attack)."""
MAX_NESTING = 64
"""Deepest nesting of mappings and lists accepted in a configuration file."""

_SECRET_VALUES: dict[str, str] = {}
"""Values substituted for ``${VAR}`` references -> ``${VAR}``: masked in every ConfigIssue message."""
_MIN_MASKED = 3
"""Shorter substituted values are not masked (they would blank digits and words of the message)."""


def mask_env_values(text: str) -> str:
    """``text`` with every value that ``${VAR}`` expansion substituted shown as ``${VAR}`` again."""
    for value in sorted(_SECRET_VALUES, key=len, reverse=True):
        if value in text:
            text = text.replace(value, _SECRET_VALUES[value])
    return text


@dataclass(frozen=True)
class ConfigIssue:
    """One problem in one configuration file."""

    file: str
    line: int | None
    field: str
    message: str

    def __post_init__(self) -> None:
        # Errors may quote a value that came from ${VAR} (a URL with a password, a session token):
        # show the reference, never the value.
        if _SECRET_VALUES:
            object.__setattr__(self, "message", mask_env_values(self.message))
            object.__setattr__(self, "field", mask_env_values(self.field))

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"


class ConfigError(Exception):
    """Configuration that cannot be used; carries every issue found, each with file, line and field."""

    def __init__(self, issues: list[ConfigIssue]):
        self.issues = issues
        super().__init__("\n".join(str(i) for i in issues))


class _LineLoader(yaml.SafeLoader):  # type: ignore[misc]  # PyYAML has no type hints here: its classes are Any
    """SafeLoader that records, for every mapping, the 1-based line of each key.

    Aliases (``*name``) are refused: a few hundred bytes of nested aliases expand to gigabytes (the
    "billion laughs"), and hand-written configuration does not need them. Nesting deeper than
    ``MAX_NESTING`` is refused too.
    """

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(
                None, None,
                f"YAML aliases are not allowed (*{event.anchor}): write the value out instead",
                event.start_mark,
            )
        depth = getattr(self, "_nw_depth", 0)
        if depth >= MAX_NESTING:
            event = self.peek_event()
            raise yaml.composer.ComposerError(
                None, None, f"nested more than {MAX_NESTING} levels deep", event.start_mark
            )
        self._nw_depth = depth + 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._nw_depth = depth


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode, deep: bool = False) -> dict[str, Any]:
    loader.flatten_mapping(node)
    mapping = _LineDict()
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in mapping:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        mapping[key] = loader.construct_object(value_node, deep=True)
        mapping.lines[key] = key_node.start_mark.line + 1
    mapping.line = node.start_mark.line + 1
    return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


class _LineDict(dict[Any, Any]):
    """A dict that remembers where its keys were written."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: dict[Any, int] = {}
        self.line: int = 0


def _env_value(m: re.Match[str]) -> str:
    name = m.group(1)
    value = os.environ.get(name)
    if value is None:
        return m.group(2) or ""
    if len(value) >= _MIN_MASKED:
        _SECRET_VALUES[value] = "${" + name + "}"
    return value


def expand_env(value: Any) -> Any:
    """Replace ``${VAR}`` and ``${VAR:-default}`` in strings, recursively; unknown variables stay empty."""
    if isinstance(value, str):
        return _ENV_REF.sub(_env_value, value)
    if isinstance(value, _LineDict):
        out = _LineDict()
        out.lines, out.line = value.lines, value.line
        for k, v in value.items():
            out[k] = expand_env(v)
        return out
    if isinstance(value, dict):
        return {k: expand_env(v) for k, v in value.items()}
    if isinstance(value, list):
        return [expand_env(v) for v in value]
    return value


def load_yaml_with_lines(path: Path, *, env: bool = True) -> Any:
    """Parse one YAML file; mappings are dicts that know their keys' lines. Syntax errors -> ConfigError."""
    try:
        size = path.stat().st_size
        if size > MAX_CONFIG_BYTES:
            raise ConfigError([ConfigIssue(str(path), None, "", f"file is {size} bytes (at most {MAX_CONFIG_BYTES})")])
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([ConfigIssue(str(path), None, "", f"cannot read file: {exc}")]) from exc
    try:
        data = yaml.load(text, Loader=_LineLoader)  # a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError([ConfigIssue(str(path), line, "", f"YAML syntax: {problem}")]) from exc
    return expand_env(data) if env else data


def line_of(data: Any, loc: tuple[int | str, ...]) -> int | None:
    """The line of the deepest key of ``loc`` found in ``data`` (as returned by load_yaml_with_lines)."""
    line: int | None = getattr(data, "line", None) or None
    node = data
    for part in loc:
        if isinstance(node, _LineDict) and part in node:
            line = node.lines.get(part, line)
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
            line = getattr(node, "line", None) or line
        else:
            break
    return line


def format_loc(loc: tuple[int | str, ...]) -> str:
    """``("sources", 0, "fields", "title")`` -> ``sources[0].fields.title``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def validation_issues(
    path: Path, data: Any, exc: ValidationError, prefix: tuple[int | str, ...] = ()
) -> list[ConfigIssue]:
    """Turn a pydantic ValidationError on ``data`` into issues with the file's lines."""
    issues = []
    for err in exc.errors():
        loc = prefix + tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        issues.append(ConfigIssue(str(path), line_of(data, loc), format_loc(loc), err["msg"]))
    return issues


def load_yaml_model(path: Path, model: type[M]) -> M:
    """Load one YAML file into a pydantic model; every problem raised together as a ConfigError."""
    data = load_yaml_with_lines(path)
    if data is None:
        data = {}
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(validation_issues(path, data, exc)) from None
