"""Publishing a configuration file's JSON Schema: one text form, printed or written to its published copy."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click


def schema_json(schema: dict[str, Any]) -> str:
    """The published text of a JSON Schema: indented, keys sorted, UTF-8 kept, newline at the end."""
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def echo_or_write_schema(text: str, path: Path, write: bool) -> None:
    """Print ``text``, or with ``write`` write it to ``path`` (creating its folder) and say so."""
    if write:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        click.echo(f"wrote {path}")
    else:
        click.echo(text, nl=False)
