# narcowatch: the two commands of the README are `make demo` and `make test`.
.PHONY: setup demo test test-unit test-fast lint typecheck bench bench-nlp bench-index nlp-train mutation suggest-figures clean

VENV := .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=

setup:
	@bash scripts/setup.sh

## The main job on the embedded default: local Elasticsearch node, demo sites, one crawl, alerts to a local sink.
demo: setup
	$(BIN)/narcowatch demo

## Every test tier: unit, integration (real node, Chromium, SMTP, Redis) and end to end.
test: setup
	$(BIN)/pytest $(PYTEST_ARGS)

test-unit: setup
	$(BIN)/pytest tests/unit $(PYTEST_ARGS)

test-fast: setup
	$(BIN)/pytest -m "not slow" $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff check .

typecheck: setup
	$(BIN)/mypy crawler spiders nlp

## Benchmarks: speed figures are ratios against a baseline measured in the same run.
bench: setup
	$(BIN)/python bench/run_all.py

## Mutation testing (mutmut) of the core modules with their fast tests; slow, not in CI. See docs/testing.md.
mutation: setup
	$(BIN)/python scripts/mutation.py $(MUTATION_TARGETS)

## `source suggest` on the saved real pages: gold titles/vendors per market (exit 1 below 90%), other markets' fill rates; listing and vendor pages field by field (crawler/sources/listing_eval.py).
suggest-figures: setup
	$(BIN)/python -m crawler.sources.suggest_eval

nlp-train: setup
	$(BIN)/narcowatch nlp train

clean:
	rm -rf build dist *.egg-info .pytest_cache .ruff_cache .mypy_cache
