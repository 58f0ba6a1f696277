"""What the installed package ships: modules of its packages, and data files, never loose developer scripts."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def loose_scripts(root: Path = ROOT) -> list[str]:
    """Python files under the shipped packages that sit in no package (no ``__init__.py`` beside them).

    ``package-data`` globs (``demo_web/**/*``) ship such files with the wheel although nothing imports them:
    one-off developer scripts belong in ``scripts/``.
    """
    out = []
    for package in ("crawler", "spiders", "nlp"):
        for path in (root / package).rglob("*.py"):
            if not (path.parent / "__init__.py").is_file():
                out.append(str(path.relative_to(root)))
    return sorted(out)


def test_no_developer_script_inside_the_packages() -> None:
    assert loose_scripts() == []


def test_loose_scripts_finds_a_script_in_a_data_directory(tmp_path: Path) -> None:
    (tmp_path / "crawler" / "demo_web" / "data").mkdir(parents=True)
    (tmp_path / "crawler" / "__init__.py").write_text("")
    (tmp_path / "crawler" / "demo_web" / "__init__.py").write_text("")
    (tmp_path / "crawler" / "demo_web" / "server.py").write_text("")
    (tmp_path / "crawler" / "demo_web" / "data" / "extract_rows.py").write_text("")
    assert loose_scripts(tmp_path) == ["crawler/demo_web/data/extract_rows.py"]
