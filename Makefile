# One entry point for every routine task. `make demo` and `make test` set themselves up.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
DEMO_LAKE ?= out/demo-lake

.PHONY: setup test demo check lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

setup: $(STAMP)

test: setup
	$(BIN)/pytest -q

demo: setup
	rm -rf $(DEMO_LAKE) out/scenario-lake out/scenario-data
	$(BIN)/python -m pipeline.demo --lake $(DEMO_LAKE)

lint: setup
	$(BIN)/ruff check pipeline tests bench
	$(BIN)/mypy

check: lint test

bench: setup
	$(BIN)/python bench/run.py

clean:
	rm -rf out .pytest_cache .mypy_cache .ruff_cache
