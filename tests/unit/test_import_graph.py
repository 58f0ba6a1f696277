"""No import cycles in crawler, spiders and nlp, counting imports inside functions too (issue 14 item 5).

An import inside a function hides a cycle from a reader and from Python's start-up order, not from the
design: two modules that need each other are one module, or share a piece that belongs in a third.
The graph is built from the source (AST), so a cycle fails here before any code runs.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("crawler", "spiders", "nlp")


@dataclass(frozen=True)
class Edge:
    """``source`` imports ``target`` at ``line`` (``local``: inside a function or class body)."""

    source: str
    target: str
    line: int
    local: bool


def module_files(root: Path, packages: tuple[str, ...] = PACKAGES) -> dict[str, Path]:
    """``{dotted module name: file}`` of every module of ``packages`` under ``root``."""
    out: dict[str, Path] = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join(parts)] = path
    return out


def _known(name: str, modules: dict[str, Path]) -> str | None:
    """The module ``name`` lands in: itself, else its longest prefix that is one of ours (a name in it)."""
    while name:
        if name in modules:
            return name
        name = name.rpartition(".")[0]
    return None


def _targets(node: ast.Import | ast.ImportFrom, module: str, is_package: bool, modules: dict[str, Path]) -> set[str]:
    if isinstance(node, ast.Import):
        return {t for a in node.names if (t := _known(a.name, modules))}
    if node.level:  # relative: from . import x / from ..y import z
        base = module.split(".") if is_package else module.split(".")[:-1]
        base = base[: len(base) - (node.level - 1)]
        frm = ".".join([*base, *([node.module] if node.module else [])])
    else:
        frm = node.module or ""
    out = set()
    for alias in node.names:
        sub = f"{frm}.{alias.name}"
        target = sub if sub in modules else _known(frm, modules)  # `from pkg import submodule` is the submodule
        if target:
            out.add(target)
    return out


def import_edges(modules: dict[str, Path]) -> list[Edge]:
    """Every import between our modules, at module level and inside functions, classes and ``if`` blocks."""
    edges: list[Edge] = []
    for module, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        local_lines = {
            n.lineno
            for scope in ast.walk(tree)
            if isinstance(scope, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda)
            for n in ast.walk(scope)
            if isinstance(n, ast.Import | ast.ImportFrom)
        }
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                for target in _targets(node, module, path.name == "__init__.py", modules):
                    if target != module:
                        edges.append(Edge(module, target, node.lineno, node.lineno in local_lines))
    return edges


def find_cycles(edges: list[Edge]) -> list[list[Edge]]:
    """One cycle (as its edges) per strongly connected component of the graph that has more than one module."""
    graph: dict[str, dict[str, Edge]] = {}
    for e in edges:
        graph.setdefault(e.source, {}).setdefault(e.target, e)
        graph.setdefault(e.target, {})
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan; the graph is small enough for recursion
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                components.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return [_one_cycle(comp, graph) for comp in components]


def _one_cycle(comp: list[str], graph: dict[str, dict[str, Edge]]) -> list[Edge]:
    """A shortest cycle through the component's first module (breadth-first inside the component)."""
    members = set(comp)
    start = comp[0]
    came: dict[str, Edge] = {}
    frontier = [start]
    while frontier:
        nxt = []
        for v in frontier:
            for w, edge in sorted(graph[v].items()):
                if w not in members:
                    continue
                if w == start:
                    path = [edge]
                    while path[0].source != start:
                        path.insert(0, came[path[0].source])
                    return path
                if w not in came:
                    came[w] = edge
                    nxt.append(w)
        frontier = nxt
    raise AssertionError(f"no cycle through {start} in {comp}")  # a component of 2+ always has one


def describe(cycle: list[Edge], modules: dict[str, Path], root: Path) -> str:
    hops = [
        f"{modules[e.source].relative_to(root)}:{e.line} imports {e.target}{' (inside a function)' if e.local else ''}"
        for e in cycle
    ]
    return " -> ".join(e.source for e in cycle) + f" -> {cycle[0].source}\n    " + "\n    ".join(hops)


def test_no_import_cycles_in_crawler_spiders_nlp() -> None:
    modules = module_files(ROOT)
    assert "crawler.processing" in modules and "spiders.base" in modules and "nlp.extractors" in modules
    edges = import_edges(modules)
    assert len(edges) > 200  # the graph was really built
    cycles = find_cycles(edges)
    if cycles:
        pytest.fail("import cycles (move the shared piece to where it belongs):\n" + "\n".join(
            describe(c, modules, ROOT) for c in cycles), pytrace=False)


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def test_a_cycle_hidden_in_a_function_is_found_and_named(tmp_path: Path) -> None:
    _write(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/a.py": "from pkg.sub.b import helper\n",
        "pkg/sub/__init__.py": "",
        "pkg/sub/b.py": "def helper():\n    from ..a import thing\n    return thing\n",
        "pkg/sub/c.py": "from pkg import a\n",  # into the cycle, not part of it
    })
    modules = module_files(tmp_path, ("pkg",))
    edges = import_edges(modules)
    cycles = find_cycles(edges)
    assert len(cycles) == 1
    text = describe(cycles[0], modules, tmp_path)
    assert text.startswith("pkg.a -> pkg.sub.b -> pkg.a\n")
    assert "pkg/sub/b.py:2 imports pkg.a (inside a function)" in text


def test_three_module_cycle_and_clean_graph(tmp_path: Path) -> None:
    _write(tmp_path, {
        "p/__init__.py": "from p.x import X\n",  # a package importing its own submodule is no cycle
        "p/x.py": "import p.y\nX = 1\n",
        "p/y.py": "from p import z\n",
        "p/z.py": "import os\n",
    })
    modules = module_files(tmp_path, ("p",))
    assert find_cycles(import_edges(modules)) == []
    (tmp_path / "p/z.py").write_text("class Z:\n    def f(self):\n        import p.x\n", encoding="utf-8")
    cycles = find_cycles(import_edges(modules))
    assert [[e.source for e in c] for c in cycles] == [["p.x", "p.y", "p.z"]]
    assert cycles[0][-1].local
