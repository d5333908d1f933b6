# stepmetrics developer commands. Quick start: `make up`, `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# Re-install when the package metadata changes.
DEV_STAMP   := $(VENV)/.dev-installed
STACK_STAMP := $(VENV)/.stack-installed
BENCH_STAMP := $(VENV)/.bench-installed

.PHONY: up test lint typecheck unit integration bench fuzz system-deps clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STACK_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[stack]'
	touch $@

$(DEV_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@ $(STACK_STAMP)

$(BENCH_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	touch $@ $(DEV_STAMP) $(STACK_STAMP)

system-deps:
	@bash scripts/system-deps.sh

## up: install and run the whole local stack (broker, Redis, worker, API).
## Options go through UP_ARGS, e.g. `make up UP_ARGS="--api-port 9000"`.
up: system-deps $(STACK_STAMP)
	$(BIN)/stepmetrics up $(UP_ARGS)

## test: lint, type-check and the whole suite, integration included.
# The browser tests need Debian's chromium: system-deps installs it for these targets.
test integration: export STEPMETRICS_NEED_BROWSER = 1
test: system-deps $(DEV_STAMP) lint typecheck
	$(BIN)/pytest

## lint: ruff, and the dependency rule between the source roots (import-linter).
lint: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: $(DEV_STAMP)
	$(BIN)/mypy

unit: $(DEV_STAMP)
	$(BIN)/pytest tests/unit

integration: system-deps $(DEV_STAMP)
	$(BIN)/pytest tests/integration

## fuzz: every coverage-guided fuzz target (tests/fuzz), FUZZ_SECONDS each.
FUZZ_SECONDS ?= 300
fuzz: $(DEV_STAMP)
	@mkdir -p test-artifacts/fuzz; for target in tests/fuzz/fuzz_*.py; do \
		module=$$(echo $${target%.py} | tr / .); \
		echo "== $$module ($(FUZZ_SECONDS) s)"; \
		$(BIN)/python -m $$module -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 -artifact_prefix=test-artifacts/fuzz/ || exit 1; \
	done

## bench: the benchmark suite (not part of `make test`).
bench: system-deps $(BENCH_STAMP)
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache test-artifacts
