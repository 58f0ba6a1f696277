"""The `narcowatch nlp` command group: extract, evaluate, select, bench and train."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import click

MAX_LINE_BYTES = 32 * 1024 * 1024
MODEL_OPTION = click.option("--model", type=click.Path(file_okay=False), default=None,
                            help="Pipeline directory (default: nlp/model).")


def _lines(stream: IO[bytes], limit: int) -> Iterator[tuple[bytes, bool]]:
    """(line, too long) for each line; a line over ``limit`` bytes is skipped in chunks, never held whole."""
    while True:
        raw = stream.readline(limit + 1)
        if not raw:
            return
        if len(raw) <= limit or raw.endswith(b"\n"):
            yield raw, False
            continue
        while raw and not raw.endswith(b"\n"):  # read on to the end of the long line, keeping none of it
            raw = stream.readline(1 << 20)
        yield b"", True


def _read_lines(stream: IO[bytes]) -> Iterator[tuple[int, dict[str, Any] | None, str | None]]:
    """(line number, object or None, error or None) for each input line; never raises on bad input."""
    for n, (raw, too_long) in enumerate(_lines(stream, MAX_LINE_BYTES), 1):
        if too_long:
            yield n, None, f"line is longer than {MAX_LINE_BYTES} bytes"
            continue
        raw = raw.rstrip(b"\r\n")
        if not raw.strip():
            yield n, None, "empty line"
            continue
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            yield n, None, f"not UTF-8: byte 0x{raw[exc.start]:02x} at offset {exc.start}"
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            yield n, None, f"invalid JSON: {exc.msg} at column {exc.colno}"
            continue
        except RecursionError:
            yield n, None, "invalid JSON: nested too deeply"
            continue
        if not isinstance(obj, dict):
            yield n, None, f"expected a JSON object, got {type(obj).__name__}"
            continue
        text = obj.get("text")
        if not isinstance(text, str):
            yield n, None, 'missing "text" string' if text is None else f'"text" is {type(text).__name__}, not a string'
            continue
        yield n, obj, None


def run_extract(inp: IO[bytes], out: IO[str], model: str | None = None, batch_size: int = 256,
                keep_text: bool = False) -> tuple[int, int]:
    """Analyse JSON lines from ``inp`` into ``out`` in the same order; returns (ok, errors)."""
    from nlp.analyzer import Analyzer

    analyzer = Analyzer.load(model)
    ok = errors = 0
    pending: list[tuple[int, dict[str, Any] | None, str | None]] = []

    def flush() -> None:
        nonlocal ok, errors
        good = [obj for _n, obj, _e in pending if obj is not None]
        try:
            analysed: list[dict[str, Any] | str] = list(analyzer.analyze_many([o["text"] for o in good],
                                                                              batch_size=batch_size))
        except Exception:  # one bad text must not sink its batch: retry one by one
            analysed = []
            for o in good:
                try:
                    analysed.append(analyzer.analyze(o["text"]))
                except Exception as exc:
                    analysed.append(f"analysis failed: {type(exc).__name__}: {exc}")
        results = iter(analysed)
        for n, obj, err in pending:
            if obj is not None:
                res = next(results)
                if isinstance(res, str):
                    obj, err = None, res
            if obj is None:
                errors += 1
                out.write(json.dumps({"line": n, "error": err}, ensure_ascii=False) + "\n")
                continue
            assert isinstance(res, dict)
            merged = {k: v for k, v in obj.items() if keep_text or k != "text"}
            merged.update(res)
            if "id" in obj:
                merged = {"id": obj["id"], **{k: v for k, v in merged.items() if k != "id"}}
            try:
                line = json.dumps(merged, ensure_ascii=False)
            except (RecursionError, ValueError) as exc:  # a passed-through key nested too deeply
                errors += 1
                out.write(json.dumps({"line": n, "error": f"cannot write the result: {type(exc).__name__}"}) + "\n")
                continue
            ok += 1
            out.write(line + "\n")
        out.flush()
        pending.clear()

    for item in _read_lines(inp):
        pending.append(item)
        if len(pending) >= batch_size:
            flush()
    if pending:
        flush()
    return ok, errors


@click.group("nlp")
def nlp_group() -> None:
    """Substance, vendor, shipping, intent and risk extraction (spaCy pipeline in nlp/model)."""


@nlp_group.command("extract")
@click.argument("input_file", required=False, type=click.Path(dir_okay=False, allow_dash=True))
@click.option("-o", "--output", type=click.Path(dir_okay=False, allow_dash=True), default="-",
              help="Where to write JSON lines (default: stdout).")
@MODEL_OPTION
@click.option("--batch-size", type=click.IntRange(1, 100_000), default=256, show_default=True)
@click.option("--keep-text", is_flag=True, help='Copy the input "text" into the output too.')
def extract_command(input_file: str | None, output: str, model: str | None, batch_size: int,
                    keep_text: bool) -> None:
    """Read {"id", "text", ...} JSON lines (file or stdin), write the analysis as JSON lines in the same order.

    Bad lines (empty, not UTF-8, invalid JSON, no "text") become {"line": N, "error": "..."} and the run goes on.
    """
    inp = sys.stdin.buffer if input_file in (None, "-") else open(input_file, "rb")
    out = sys.stdout if output == "-" else open(output, "w", encoding="utf-8")
    try:
        ok, errors = run_extract(inp, out, model, batch_size, keep_text)
    finally:
        if inp is not sys.stdin.buffer:
            inp.close()
        if out is not sys.stdout:
            out.close()
    click.echo(f"{ok} analysed, {errors} error lines", err=True)


@nlp_group.command("evaluate")
@MODEL_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
def evaluate_command(model: str | None, as_json: bool) -> None:
    """Precision, recall and F1 per label and field on the fixed-seed held-out splits."""
    from nlp.analyzer import Analyzer
    from nlp.evaluate import evaluate

    report = evaluate(Analyzer.load(model))
    click.echo(json.dumps(report.as_dict(), indent=2) if as_json else report.text())


@nlp_group.command("select")
@click.option("--dir", "dev_dir", type=click.Path(file_okay=False), default=None,
              help="Where the dev pipeline lives (default: ~/.cache/narcowatch/nlp-dev).")
@click.option("--rebuild", is_flag=True, help="Train the dev pipeline again from the fit part.")
@click.option("--epochs", type=click.IntRange(1, 500), default=30, show_default=True)
@click.option("--errors", is_flag=True, help="List the false positives and misses.")
@click.option("--fixes/--no-fixes", default=None,
              help="Build from the re-annotated training split (annotation_fixes.tsv) or the original one "
                   "(default: as the shipped pipeline, datasets.TRAIN_WITH_FIXES).")
def select_command(dev_dir: str | None, rebuild: bool, epochs: int, errors: bool, fixes: bool | None) -> None:
    """Model selection: SUBSTANCE F1 on the dev part of the training split (never the test split).

    The dev pipeline is learned from the other 80% of the training split; runtime rules (merging,
    context) are the current code's, so settings can be compared without retraining.
    """
    import logging

    from nlp.analyzer import Analyzer
    from nlp.tools.select import DEV_DIR, build_dev, dev_report

    path = Path(dev_dir) if dev_dir else DEV_DIR
    if rebuild or not (path / "config.cfg").exists():
        logging.basicConfig(level=logging.INFO, format="%(message)s")
        click.echo(f"training the dev pipeline in {path} (fit part only) ...", err=True)
        build_dev(path, epochs=epochs, fixes=fixes)
    analyzer = Analyzer.load(path)
    click.echo("original dev annotations (comparable with every earlier dev figure):")
    click.echo(dev_report(analyzer, fixes=False).text(errors))
    click.echo("re-annotated dev part (annotation_fixes.tsv; comparable only with itself):")
    click.echo(dev_report(analyzer, fixes=True).text())


@nlp_group.command("cv")
@click.option("--folds", "k", type=click.IntRange(2, 20), default=3, show_default=True)
@click.option("--epochs", type=click.IntRange(1, 500), default=20, show_default=True,
              help="NER epochs, the same for every candidate (the shipped NER trains 30).")
@click.option("--candidate", "names", multiple=True,
              help="Candidate to score (repeatable; default: all but no-news). See nlp/tools/cv.py CANDIDATES.")
@click.option("--dir", "cv_dir", type=click.Path(file_okay=False), default=None,
              help="Cache of fold pipelines and NER models (default: ~/.cache/narcowatch/nlp-cv).")
def cv_command(k: int, epochs: int, names: tuple[str, ...], cv_dir: str | None) -> None:
    """Model selection by k-fold cross-validation over the training split (never the test split).

    Prints, per candidate, SUBSTANCE exact F1 of the pooled folds and the mean and spread over folds.
    """
    import logging

    from nlp.tools.cv import CANDIDATES, CV_DIR, DEFAULT, run, table

    unknown = [n for n in names if n not in CANDIDATES]
    if unknown:
        raise click.BadParameter(f"unknown candidate(s) {', '.join(unknown)}; known: {', '.join(CANDIDATES)}",
                                 param_hint="--candidate")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    workdir = Path(cv_dir) if cv_dir else CV_DIR
    workdir.mkdir(parents=True, exist_ok=True)
    scores = run([CANDIDATES[n] for n in names or DEFAULT], k=k, epochs=epochs, workdir=workdir,
                 results=workdir / "results.jsonl")
    click.echo(f"{k}-fold CV over the training split, NER {epochs} epochs, SUBSTANCE exact (original gold):")
    click.echo(table(scores))


@nlp_group.command("bench")
@click.option("-n", "--texts", "n", type=click.IntRange(100, 1_000_000), default=5000, show_default=True)
@click.option("--words", type=click.IntRange(5, 10_000), default=80, show_default=True)
@MODEL_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
@click.option("--long/--no-long", "long_texts", default=True, show_default=True,
              help="Also time one 200 KB, 1 MB and 5 MB text (uncapped and capped).")
def bench_command(n: int, words: int, model: str | None, as_json: bool, long_texts: bool) -> None:
    """Listings per second on one core: full pipeline and bare tokenizer, same texts, same run.

    Then the seconds for one long text of 200 KB, 1 MB and 5 MB: linear growth, and the analysis cap.
    """
    from nlp.tools.bench import long_report, run, run_long

    result = run(n, words, model)
    long_result = run_long(model=model) if long_texts else None
    if as_json:
        click.echo(json.dumps({**result.as_dict(), "long_texts": long_result}, indent=2))
        return
    d = result.as_dict()
    click.echo(f"{d['texts']} listings of {d['words_per_text']} words, {d['cpu']}")
    click.echo(f"{'':15}{'wall clock':>14}{'CPU time':>14}  (listings/s; CPU time = this process's own core)")
    click.echo(f"{'bare tokenizer':15}{d['tokenizer_listings_per_s']:>14}{d['tokenizer_listings_per_cpu_s']:>14}")
    click.echo(f"{'full pipeline':15}{d['pipeline_listings_per_s']:>14}{d['pipeline_listings_per_cpu_s']:>14}")
    click.echo(f"{'ratio':15}{d['pipeline_to_tokenizer']:>14.3f}{d['pipeline_to_tokenizer_cpu']:>14.3f}")
    click.echo(f"statistical NER ran on {d['ner_gate_share_of_texts']:.1%} of the texts (gated)")
    if long_result is not None:
        click.echo(long_report(long_result))


@nlp_group.command("train")
@click.option("-o", "--output", type=click.Path(file_okay=False), default=None,
              help="Where to write the pipeline (default: nlp/model, the shipped one).")
@click.option("--seed", type=int, default=None, help="Random seed (default: the fixed project seed).")
@click.option("--epochs", type=click.IntRange(1, 500), default=30, show_default=True)
@click.option("--no-ner", is_flag=True, help="Rules and intent model only (fast).")
def train_command(output: str | None, seed: int | None, epochs: int, no_ner: bool) -> None:
    """Rebuild lexicon tables and the trained pipeline from nlp/data (reproducible, no downloads)."""
    import logging

    from nlp import datasets
    from nlp.tools.train import MODEL_DIR, train

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    path = train(Path(output) if output else MODEL_DIR, seed if seed is not None else datasets.SEED,
                 with_ner=not no_ner, epochs=epochs)
    click.echo(f"pipeline written to {path}")


if __name__ == "__main__":
    nlp_group()
