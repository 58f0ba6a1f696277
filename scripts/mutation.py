"""``make mutation``: mutmut over the modules where a silent bug costs most, one module at a time.

Each target is mutated in its own copy of the project (build/mutation/<target>/), with only the fast
tests that cover it, at low CPU priority and one test process at a time (the machine is shared).
Prints killed / surviving mutants per target, then every survivor (``mutmut show NAME`` run in that
target's directory shows its diff). Not part of CI: a full run takes tens of minutes.

    python scripts/mutation.py                  # every target
    python scripts/mutation.py fingerprint      # one target
    python scripts/mutation.py --report         # print the figures of the last runs only
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "build" / "mutation"
COPY = ["crawler", "nlp", "spiders", "config", "tests", "index_mappings", "kibana", "scrapy.cfg"]
KILLED_CODES = {1, 3}  # pytest: tests failed / internal error
SURVIVED_CODES = {0}
TIMEOUT_CODES = {36, 24, -24, 152, 255}


@dataclass(frozen=True)
class Target:
    name: str
    module: str
    tests: tuple[str, ...]
    select: str | None = None
    """A ``pytest -k`` expression: the smallest subset of the test files that covers the target."""
    functions: tuple[str, ...] = ()
    """The part of the module in scope: function names, ``Class.method`` or ``Class.*``; empty for all.
    Only their mutants are run and counted."""

    def globs(self) -> list[str]:
        """mutmut name patterns of the functions in scope (``nlp.extractors.x_find_shipping__mutmut_*``)."""
        mod = self.module.removesuffix(".py").replace("/", ".")
        out = []
        for f in self.functions:
            cls, _, meth = f.rpartition(".")
            out.append(f"{mod}.xǁ{cls}ǁ{meth}__mutmut_*" if cls else f"{mod}.x_{f}__mutmut_*")
        return out


def _delivery_target() -> Target:
    """The alert delivery state machine: its decisions (settle, backoff, attempt) in crawler/alerting/outbox.py.

    Its conditional writes (due, claim, finish) need the real node: tests/integration/test_alert_engine.py
    covers them, too slowly for a mutation run. Before the engine split the machine was in engine.py.
    """
    if (ROOT / "crawler/alerting/outbox.py").exists():
        return Target("delivery", "crawler/alerting/outbox.py", ("tests/unit/test_alert_outbox.py",),
                      functions=("settle", "backoff", "Outbox.attempt"))
    return Target("delivery", "crawler/alerting/engine.py", ("tests/unit/test_alert_outbox.py",))


TARGETS = [
    Target("fingerprint", "crawler/fingerprint.py",
           ("tests/unit/test_fingerprint.py", "tests/unit/test_properties_fingerprint.py")),
    Target("query", "crawler/alerting/query.py",
           ("tests/unit/test_alert_query.py", "tests/unit/test_alert_query_semantics.py")),
    Target("shipping", "nlp/extractors.py",
           ("tests/unit/test_properties_shipping.py", "tests/unit/test_nlp_shipping_grammar.py",
            "tests/unit/test_nlp_shipping_edges.py", "tests/unit/test_nlp_patterns.py"),
           select="shipping or test_ships_from_to_and_exclusions or test_no_shipping_to_never_yields_ships_to or "
                  "test_carriers_stealth_domestic or test_lowercase_two_letter_words_are_not_countries",
           functions=("CountryTable.*", "find_carriers", "_clause_cues", "_within_any", "_is_gap", "_fallback_role",
                      "_assign_roles", "_is_list_line", "_heading_above", "find_shipping")),
    Target("processing", "crawler/processing.py",
           ("tests/unit/test_processing.py", "tests/unit/test_processing_batches.py")),
    _delivery_target(),
]


def _mutmut_config(target: Target) -> str:
    tests = ", ".join(json.dumps(t) for t in [*target.tests, *(["-k", target.select] if target.select else [])])
    root = target.module.split("/")[0]
    also = ", ".join(json.dumps(n) for n in COPY if n not in (root, "tests"))  # mutmut copies tests/ itself
    return (
        "\n[tool.mutmut]\n"
        f'source_paths = ["{root}"]\n'
        f"also_copy = [{also}]\n"
        f"only_mutate = [{json.dumps(target.module)}]\n"
        f"pytest_add_cli_args_test_selection = [{tests}]\n"
        'pytest_add_cli_args = ["-p", "tests.support.mutmut_compat", "-p", "no:cacheprovider", "-q", "-x"]\n'
        "use_git_change_detection = false\n"
    )


def prepare(target: Target) -> Path:
    """A fresh copy of the project for one target, with its mutmut configuration."""
    work = BUILD / target.name
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", ".hypothesis", "*.pyc")
    for name in COPY:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, work / name, ignore=ignore)
        elif src.exists():
            shutil.copy2(src, work / name)
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    (work / "pyproject.toml").write_text(pyproject + _mutmut_config(target), encoding="utf-8")
    return work


def run(target: Target) -> int:
    work = prepare(target)
    env = {**os.environ, "NARCOWATCH_HYPOTHESIS_PROFILE": "mutation", "PYTHONDONTWRITEBYTECODE": "1"}
    mutmut = Path(sys.executable).with_name("mutmut")
    cmd = ["nice", "-n", "15", str(mutmut), "run", "--max-children", "1", *target.globs()]
    print(f"== {target.name}: mutmut over {target.module} with {' '.join(target.tests)}", flush=True)
    proc = subprocess.run(cmd, cwd=work, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                          check=False)
    if proc.returncode != 0:
        print(proc.stderr[-3000:], file=sys.stderr)
    return proc.returncode


def results(target: Target) -> dict[str, list[str]] | None:
    """Mutant names by outcome (killed, survived, timeout, no tests, other) for the target's functions."""
    meta = BUILD / target.name / "mutants" / (target.module + ".meta")
    if not meta.exists():
        return None
    codes = json.loads(meta.read_text(encoding="utf-8"))["exit_code_by_key"]
    globs = target.globs()
    out: dict[str, list[str]] = {"killed": [], "survived": [], "timeout": [], "no tests": [], "not checked": [],
                                 "other": []}
    for name, code in sorted(codes.items()):
        if globs and not any(fnmatch.fnmatchcase(name, g) for g in globs):
            continue
        if code in KILLED_CODES:
            out["killed"].append(name)
        elif code in SURVIVED_CODES:
            out["survived"].append(name)
        elif code in TIMEOUT_CODES:
            out["timeout"].append(name)  # an endless loop: the tests noticed, a kill
        elif code in (5, 33):
            out["no tests"].append(name)
        elif code is None:
            out["not checked"].append(name)  # the run was stopped before it got there
        else:
            out["other"].append(f"{name} (exit {code})")
    return out


def report(targets: list[Target]) -> int:
    total_surv = total = 0
    lines = [f"{'target':<12} {'module':<32} {'mutants':>7} {'killed':>7} {'timeout':>7} {'survived':>8} "
             f"{'no tests':>8} {'survived %':>10}"]
    details: list[str] = []
    for t in targets:
        res = results(t)
        if res is None:
            lines.append(f"{t.name:<12} {t.module:<32} (not run)")
            continue
        n = sum(len(v) for k, v in res.items() if k != "not checked")
        surv = len(res["survived"]) + len(res["no tests"]) + len(res["other"])
        total, total_surv = total + n, total_surv + surv
        pct = 100.0 * surv / n if n else 0.0
        lines.append(f"{t.name:<12} {t.module:<32} {n:>7} {len(res['killed']):>7} {len(res['timeout']):>7} "
                     f"{len(res['survived']):>8} {len(res['no tests']):>8} {pct:>9.1f}%"
                     + (f"  ({len(res['not checked'])} not checked)" if res["not checked"] else ""))
        for key in ("survived", "no tests", "other"):
            details += [f"  [{t.name}] {key}: {name}" for name in res[key]]
    if total:
        lines.append(f"{'all':<12} {'':<32} {total:>7} {'':>7} {'':>7} {'':>8} {'':>8} "
                     f"{100.0 * total_surv / total:>9.1f}%")
    print("\n".join(lines))
    if details:
        print("\nSurviving mutants (see one: cd build/mutation/<target> && mutmut show <name>):")
        print("\n".join(details))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("targets", nargs="*", help=f"targets ({', '.join(t.name for t in TARGETS)}); default all")
    parser.add_argument("--report", action="store_true", help="only print the figures of the last runs")
    args = parser.parse_args(argv)
    unknown = set(args.targets) - {t.name for t in TARGETS}
    if unknown:
        parser.error(f"unknown target(s): {', '.join(sorted(unknown))}")
    chosen = [t for t in TARGETS if not args.targets or t.name in args.targets]
    if not args.report:
        for t in chosen:
            missing = [p for p in t.tests if not (ROOT / p).exists()]
            if missing:
                print(f"== {t.name}: skipped, test file(s) missing: {', '.join(missing)}", file=sys.stderr)
                continue
            run(t)
    return report(chosen)


if __name__ == "__main__":
    sys.exit(main())
