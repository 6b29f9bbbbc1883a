# One entry point for every routine task. `make demo` and `make test` set themselves up.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
DEMO_LAKE ?= out/demo-lake
# Installs take the versions the tests last passed on; LOCK= (empty) takes the newest pyproject.toml allows.
LOCK ?= requirements.lock
CONSTRAIN := $(if $(LOCK),--constraint $(LOCK))
LATEST := .venv-latest

.PHONY: setup test demo check lint fuzz bench clean browser lock test-latest race

$(STAMP): pyproject.toml $(LOCK)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade $(CONSTRAIN) pip
	$(BIN)/pip install --quiet $(CONSTRAIN) -e '.[test,dask]'
	touch $(STAMP)

# Byte-compile the package up front: where PYTHONDONTWRITEBYTECODE is set (it is on our build
# machines) every process would otherwise compile it again, ~0.15 s per ingest worker started.
setup: $(STAMP)
	@$(BIN)/python -m compileall -q pipeline >/dev/null

# Debian's Chromium for the report tests (tests/browser.py); installed only when missing and we are root.
browser:
	@if command -v chromium >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ]; then export DEBIAN_FRONTEND=noninteractive; apt-get update -q && apt-get install -y -q chromium; \
	else echo "chromium is missing and we are not root: run 'sudo make browser'; the browser tests fail without it" >&2; fi

lint: setup
	$(BIN)/ruff check pipeline tests bench
	$(BIN)/ruff format --check pipeline tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

test: lint browser
	$(BIN)/pytest -q

check: test

# The property tests with the "fuzz" Hypothesis profile (tests/conftest.py): random and many more examples.
fuzz: setup
	$(BIN)/pytest -q -m hypothesis --hypothesis-profile=fuzz

# A fresh virtualenv with the newest versions pyproject.toml allows, then every check of `make test` there.
test-latest:
	rm -rf $(LATEST)
	$(MAKE) test VENV=$(LATEST) LOCK=

# Refresh requirements.lock: resolve the newest allowed versions into a fresh virtualenv and freeze it.
lock:
	rm -rf $(LATEST)
	$(MAKE) setup VENV=$(LATEST) LOCK=
	{ echo "# The versions make setup installs (pip --constraint): every dependency and extra of pyproject.toml,"; \
	  echo "# for CPython $$($(LATEST)/bin/python -c 'import platform; print(platform.python_version(), platform.system(), platform.machine())')."; \
	  echo "# Written by 'make lock', which freezes a fresh install of the newest versions pyproject.toml allows."; \
	  $(LATEST)/bin/pip freeze --all --exclude edgelake --exclude setuptools; } > requirements.lock.new
	mv requirements.lock.new requirements.lock

demo: setup
	rm -rf $(DEMO_LAKE) out/scenario-lake out/scenario-data
	$(BIN)/python -m pipeline.demo --lake $(DEMO_LAKE)

# The concurrent-writer tests, ten times in a row: a race that passes once by luck fails here.
race: setup
	@for i in 1 2 3 4 5 6 7 8 9 10; do echo "== race run $$i"; $(BIN)/pytest -q -p no:cacheprovider tests/lake/test_concurrency.py || exit 1; done

bench: setup
	$(BIN)/python bench/run.py

clean:
	rm -rf out .pytest_cache .mypy_cache .ruff_cache .hypothesis $(LATEST)
