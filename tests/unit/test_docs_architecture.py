"""docs/architecture.md's internal contracts match the code (issue 14): every module it names exists with the
names it is said to offer, and every module of ``crawler/`` is named there."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "architecture.md"
_DOTTED = re.compile(r"`((?:crawler|nlp|spiders)(?:\.\w+)+)")


def modules(root: Path = ROOT) -> dict[str, Path]:
    out = {}
    for package in ("crawler", "spiders", "nlp"):
        for path in (root / package).rglob("*.py"):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join(parts)] = path
    return out


def contracts_section(text: str) -> str:
    start = text.index("## Internal contracts")
    end = text.find("\n## ", start + 1)
    return text[start:] if end < 0 else text[start:end]


def defined_names(path: Path) -> dict[str, set[str] | None]:
    """Top-level names of a module -> the names its class defines (None for anything but a class)."""
    out: dict[str, set[str] | None] = {}
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.ClassDef):
            out[node.name] = {
                n.name if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) else n.target.id
                for n in node.body
                if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
                or (isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name))
            }
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            out[node.name] = None
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            for t in node.targets if isinstance(node, ast.Assign) else [node.target]:
                if isinstance(t, ast.Name):
                    out[t.id] = None
        elif isinstance(node, ast.ImportFrom | ast.Import):
            for a in node.names:
                out[(a.asname or a.name).split(".")[0]] = None
    return out


def unknown_names(section: str, mods: dict[str, Path]) -> list[str]:
    """Dotted names in ``section`` that are no module, no name in a module, no attribute of a class."""
    bad = []
    for dotted in sorted(set(_DOTTED.findall(section))):
        parts = dotted.split(".")
        k = len(parts)
        while k and ".".join(parts[:k]) not in mods:
            k -= 1
        if not k:
            bad.append(f"{dotted}: no such module")
            continue
        rest = parts[k:]
        if not rest:
            continue
        names = defined_names(mods[".".join(parts[:k])])
        if rest[0] not in names:
            bad.append(f"{dotted}: {'.'.join(parts[:k])} defines no {rest[0]!r}")
        elif len(rest) > 1 and names[rest[0]] is not None and rest[1] not in names[rest[0]]:  # type: ignore[operator]
            bad.append(f"{dotted}: class {rest[0]} has no {rest[1]!r}")
    return bad


def undocumented(text: str, section: str, mods: dict[str, Path]) -> list[str]:
    """Modules of crawler/ the contracts table does not name (shared helpers, crawler.common: the document)."""
    named = set(_DOTTED.findall(section))
    named_anywhere = set(_DOTTED.findall(text))
    missing = []
    for module, path in sorted(mods.items()):
        if not module.startswith("crawler.") or path.name in ("__init__.py", "__main__.py"):
            continue
        pool = named_anywhere if module.startswith("crawler.common.") else named
        if not any(n == module or n.startswith(module + ".") for n in pool):
            missing.append(module)
    return missing


def test_architecture_contracts_name_real_modules_and_every_crawler_module() -> None:
    text = DOC.read_text(encoding="utf-8")
    section = contracts_section(text)
    mods = modules()
    assert "crawler.alerting.outbox" in mods
    assert unknown_names(text, mods) == []  # the whole document: data flow and shared helpers too
    assert undocumented(text, section, mods) == []


def test_security_doc_names_real_modules_and_names() -> None:
    """docs/security.md names the code of each defence: those names are defined in their modules (a name a
    module only provides through ``__getattr__`` is not: ``import`` finds it, a reader of the module does not)."""
    text = (ROOT / "docs" / "security.md").read_text(encoding="utf-8")
    assert "crawler.resolver.PublicOnlyResolver" in text
    assert unknown_names(text, modules()) == []


def test_the_checks_catch_a_stale_name_and_a_missing_module() -> None:
    mods = modules()
    section = "## Internal contracts\n| `crawler.es.indexer.ListingIndexer` | `crawler.alerting.outbox.Outbox.due` |\n"
    assert unknown_names(section, mods) == []
    stale = section + "| `crawler.alerting.gone` | `crawler.es.indexer.NoSuch` |\n"
    stale += "| `crawler.alerting.outbox.Outbox.nope` |\n"
    assert unknown_names(stale, mods) == [
        "crawler.alerting.gone: crawler.alerting defines no 'gone'",
        "crawler.alerting.outbox.Outbox.nope: class Outbox has no 'nope'",
        "crawler.es.indexer.NoSuch: crawler.es.indexer defines no 'NoSuch'",
    ]
    missing = undocumented(section, section, mods)
    assert "crawler.alerting.sentlog" in missing and "crawler.es.indexer" not in missing


def layout_paths(readme: str) -> set[str]:
    """The paths of the README's layout table (first column)."""
    start = readme.index("## Layout")
    end = readme.find("\n## ", start + 1)
    table = readme[start:] if end < 0 else readme[start:end]
    return set(re.findall(r"^\| `([^`]+)` \|", table, flags=re.MULTILINE))


def test_readme_layout_names_every_crawler_package_and_kibana_as_output() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    paths = layout_paths(readme)
    packages = {f"crawler/{p.parent.name}/" for p in (ROOT / "crawler").glob("*/__init__.py")}
    assert {"crawler/pages/", "crawler/sources/", "crawler/config/"} <= packages
    assert packages - paths == set(), "crawler packages missing from the README's layout table"
    assert {"nlp/tools/", "kibana/", "crawler/demo_web/"} <= paths
    assert not list((ROOT / "kibana").glob("*.py")), "kibana/ holds output; its generator is crawler/es/dashboards.py"
