"""Unit tests for model selection: the dev part never touches the test split, and dev scoring counts spans right."""

from __future__ import annotations

from nlp import datasets
from nlp.analyzer import Analyzer, build_pipeline
from nlp.tools.select import dev_report, parts


def test_fit_and_dev_come_from_the_training_split_only() -> None:
    fit, dev = parts()
    _train, test = datasets.split(datasets.drugs_ner())
    test_texts = {x.text for x in test}
    assert fit and dev
    assert not test_texts & {x.text for x in fit + dev}
    assert not {x.text for x in fit} & {x.text for x in dev}
    assert len(dev) == round((len(fit) + len(dev)) * datasets.DEV_FRACTION)


def test_dev_report_counts_exact_and_overlapping_spans() -> None:
    examples = [datasets.NerExample("took heroin today", [(5, 11)]),  # found exactly
                datasets.NerExample("some oxycodone pills", [(5, 20)]),  # found in part: overlap only
                datasets.NerExample("a quiet day", [(2, 7)])]  # missed
    report = dev_report(Analyzer(build_pipeline()), examples)
    assert (report.exact.tp, report.exact.fn) == (1, 2)
    assert report.overlap.tp == 2 and report.overlap.fn == 1
    assert ("quiet", "a [quiet] day") in report.misses
    assert "F1" in report.text() and "misses:" in report.text(errors=True)
