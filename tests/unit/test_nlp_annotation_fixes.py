"""Unit tests for the re-annotation of the training split: only training comments change, and bad rows fail."""

from __future__ import annotations

from pathlib import Path

import pytest

from nlp import datasets

TRAIN = [datasets.NerExample("I carry narcan always", []), datasets.NerExample("on this sub we talk", [(8, 11)])]
TEST = [datasets.NerExample("held out narcan text", [])]


def _fixes(tmp_path: Path, *rows: str) -> Path:
    path = tmp_path / "fixes.tsv"
    path.write_text("# id\taction\tstart\tend\ttext\n" + "".join(r + "\n" for r in rows), encoding="utf-8")
    return path


def test_rows_add_and_remove_spans_on_copies(tmp_path: Path) -> None:
    path = _fixes(tmp_path, f"{datasets.text_id(TRAIN[0].text)}\tadd\t8\t14\tnarcan\t1\tfit\tctx",
                  f"{datasets.text_id(TRAIN[1].text)}\tremove\t8\t11\tsub\t3\tfit\tctx")
    out = datasets.apply_fixes(TRAIN, TEST, path)
    assert [x.spans for x in out] == [[(8, 14)], []]
    assert TRAIN[0].spans == [] and TRAIN[1].spans == [(8, 11)]  # the originals are untouched


@pytest.mark.parametrize(("row", "message"), [
    (f"{datasets.text_id(TEST[0].text)}\tadd\t9\t15\tnarcan", "test split"),
    ("0123456789abcdef\tadd\t0\t1\tx", "not in the training split"),
    (f"{datasets.text_id(TRAIN[0].text)}\tadd\t0\t6\tnarcan", "not 'narcan'"),
    (f"{datasets.text_id(TRAIN[0].text)}\ttag\t8\t14\tnarcan", "add or remove"),
    (f"{datasets.text_id(TRAIN[0].text)}\tadd\teight\t14\tnarcan", "expected id"),
])
def test_bad_rows_name_the_file_and_line(tmp_path: Path, row: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as info:
        datasets.apply_fixes(TRAIN, TEST, _fixes(tmp_path, row))
    assert "fixes.tsv:2" in str(info.value)


def test_shipped_fixes_touch_training_comments_only() -> None:
    train, test = datasets.split(datasets.drugs_ner())
    fixed = datasets.drugs_train(fixes=True)
    assert [x.text for x in fixed] == [x.text for x in train]  # same comments, same order: same dev cut
    changed = [i for i, (a, b) in enumerate(zip(train, fixed, strict=True)) if a.spans != b.spans]
    assert changed
    assert not {train[i].text for i in changed} & {x.text for x in test}
    assert datasets.split(datasets.drugs_ner())[1] == test  # the test gold is read as it is


def test_guideline_test_gold_is_a_separate_copy_of_the_test_split() -> None:
    _train, test = datasets.split(datasets.drugs_ner())
    guideline = datasets.drugs_test_guideline()
    assert [x.text for x in guideline] == [x.text for x in test]  # same comments, same order as the test split
    added = sum(len(g.spans) - len(o.spans) for o, g in zip(test, guideline, strict=True))
    assert added == 19  # docs/annotation.md: 19 spans added, none removed
    assert all(set(o.spans) <= set(g.spans) for o, g in zip(test, guideline, strict=True))
    assert datasets.split(datasets.drugs_ner())[1] == test  # the original test gold is not changed


def test_guideline_rows_may_name_test_comments_only(tmp_path: Path) -> None:
    row = f"{datasets.text_id(TRAIN[0].text)}\tadd\t8\t14\tnarcan\t1\ttest\tctx"
    with pytest.raises(ValueError, match="in the training split; only test comments") as info:
        datasets.apply_fixes(TEST, TRAIN, _fixes(tmp_path, row), part="test")
    assert "fixes.tsv:2" in str(info.value)
    ok = f"{datasets.text_id(TEST[0].text)}\tadd\t9\t15\tnarcan\t1\ttest\tctx"
    assert datasets.apply_fixes(TEST, TRAIN, _fixes(tmp_path, ok), part="test")[0].spans == [(9, 15)]
