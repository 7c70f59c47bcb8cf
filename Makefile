# `make demo` and `make test` are all a new user types: each sets up .venv when needed.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.flowprov-installed
PYTEST_ARGS ?=

.PHONY: demo test bench bench-adapters venv clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev,snakemake,prefect,interop]"
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(PY) examples/demo.py

test: $(STAMP)
	$(PY) -m pytest -n 2 --dist loadgroup $(PYTEST_ARGS)

# lamindb and MLflow are installed into benchmarks/.venvs/ on first use
bench: $(STAMP)
	$(PY) benchmarks/run.py --suite main $(if $(QUICK),--quick,)

bench-adapters: $(STAMP)
	$(PY) benchmarks/run.py --suite adapters $(if $(QUICK),--quick,)

clean:
	rm -rf $(VENV) .pytest_cache
