# One venv (.venv) for the connector, the emulator and the tests; PyAirbyte gets its own, cached under .cache/.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PY_PATHS := src tests bench scripts examples main.py

.PHONY: venv demo check fmt test lint typecheck unit bench clean

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

## The fast loop (about 2 minutes): lint, types, and the tests that need no browser, no PyAirbyte and no soak,
## on 2 workers. Left to `make test`: tests/reliability (faults, kills and resumes), tests/integration's
## throughput runs, the e2e runs at scale or killed mid-sync, and the tests marked slow, browser or pyairbyte.
CHECK_TESTS := tests/unit tests/contract tests/emulator tests/packaging tests/e2e \
	tests/integration/test_compose_property.py tests/test_bench_smoke.py
CHECK_LEFT_OUT := --ignore=tests/e2e/test_overwrite_at_scale.py --ignore=tests/e2e/test_crash_resume.py
check: $(STAMP) lint typecheck
	$(BIN)/python -m pytest -q -p no:cacheprovider -n 2 -m "not slow and not browser and not pyairbyte" \
		$(CHECK_LEFT_OUT) $(CHECK_TESTS)

## Format the code and apply ruff's safe fixes (then `make lint` passes, or names what is left to fix by hand).
fmt: $(STAMP)
	$(BIN)/ruff check --fix $(PY_PATHS)
	$(BIN)/ruff format $(PY_PATHS)

## Everything CI runs: lint, types, and the whole test suite (unit, contract, e2e, PyAirbyte, browser), on 2
## workers (each with its own emulator).
test: $(STAMP) lint typecheck
	bash scripts/ensure-chromium.sh
	$(BIN)/python -m pytest -q -p no:cacheprovider -n 2

lint: $(STAMP)
	$(BIN)/ruff check $(PY_PATHS)
	$(BIN)/ruff format --check $(PY_PATHS)

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
