# adstream — every target bootstraps .venv itself; on a fresh machine `make demo` and `make test`
# are the only two commands a user types.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help demo test test-unit test-integration test-scenarios lint bench bench-families bench-detection bench-memory clean

help: ## Show the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  make %-18s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) on PATH"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $(STAMP)

demo: $(STAMP) ## Run the 60 s demo on the embedded broker (ARGS="--duration 30 --rate 200")
	$(BIN)/adstream demo $(ARGS)

test: $(STAMP) ## Run the whole suite: lint and the import layers, unit, doctests, integration on the embedded broker
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-cache
	$(BIN)/pytest -q $(ARGS)

test-unit: $(STAMP) ## Unit tests and doctests only (no broker)
	$(BIN)/pytest -q --ignore=tests/integration $(ARGS)

test-integration: $(STAMP) ## Integration tests on the embedded broker only
	$(BIN)/pytest -q tests/integration $(ARGS)

test-scenarios: $(STAMP) ## Long runs on the broker: 100k stationary queries, drift, label corruption, imbalance, a 60 s broker pause (~20 min)
	$(BIN)/pytest -q -m scenario tests/integration $(ARGS)

lint: $(STAMP) ## ruff, and the import layers of pyproject.toml (lint-imports)
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-cache

bench: $(STAMP) ## Hot path, adstream vs the floor at 1k/5k queries/s, saturation and overload, recovery, learner drain; benchmarks/results/ (~8 min)
	$(BIN)/adstream bench $(ARGS)

bench-families: $(STAMP) ## What each model family costs to serve and learn: FTRL, River LR, pipeline, Hoeffding tree, forest (~1 min; ARGS="--quick")
	$(BIN)/python -m benchmarks.families $(ARGS)

bench-detection: $(STAMP) ## Detection delays of the model alerts, offline (ARGS="--scenario drift --runs 11")
	$(BIN)/python -m benchmarks.detection $(ARGS)

bench-memory: $(STAMP) ## Worker RSS and join state under steady traffic, 10 min (ARGS="--duration 120 --rate 200")
	$(BIN)/python -m benchmarks.memory $(ARGS)

clean: ## Remove the virtualenv, caches and demo runs
	rm -rf $(VENV) runs .pytest_cache .benchmarks
