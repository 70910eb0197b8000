# One venv (.venv) for the connector, the emulator and the tests; PyAirbyte gets its own, cached under .cache/.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv demo test lint typecheck unit bench clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 10), "Python 3.10+ is required, found " + sys.version.split()[0]'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	@touch $(STAMP)

venv: $(STAMP)

## Start a local Dust emulator, sync the bundled sample (tickets, users...) and show what landed.
demo: $(STAMP)
	$(BIN)/python examples/demo.py $$([ -t 0 ] && echo --serve)

## Everything CI runs: lint, types, and the whole test suite (unit, contract, e2e, PyAirbyte, browser).
test: $(STAMP) lint typecheck
	bash scripts/ensure-chromium.sh
	$(BIN)/python -m pytest -q -p no:cacheprovider

lint: $(STAMP)
	$(BIN)/ruff check src tests bench examples main.py
	$(BIN)/ruff format --check src tests bench examples main.py

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/python -m pytest -q tests/unit

## Benchmarks and soaks (not part of CI); figures go to docs/benchmarks.md.
bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .cache .pytest_cache .mypy_cache .ruff_cache

## Regenerate the configuration tables of docs/ and the README from spec.json (a test compares them).
.PHONY: docs
docs: $(STAMP)
	$(BIN)/python -m scripts.spec_tables
