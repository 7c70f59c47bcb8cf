# `make demo` and `make test` are all a new user types: each sets up .venv when needed.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.flowprov-installed
PYTEST_ARGS ?=
# The UI's browser libraries come from the npm registry (versions pinned in package-lock.json)
# and are copied into the package's static files, so the wheel and `flowprov ui` work offline.
UI_DIR := src/flowprov/ui
VENDOR := $(UI_DIR)/static/vendor
VENDOR_STAMP := $(VENDOR)/.built

.PHONY: demo test lint bench bench-adapters venv clean ui-vendor

$(STAMP): pyproject.toml $(VENDOR_STAMP)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev,snakemake,prefect,nextflow,ui,interop]"
	touch $(STAMP)

venv: $(STAMP)

$(VENDOR_STAMP): $(UI_DIR)/package.json $(UI_DIR)/package-lock.json
	cd $(UI_DIR) && npm ci --no-audit --no-fund --loglevel=error
	mkdir -p $(VENDOR)
	cp $(UI_DIR)/node_modules/cytoscape/dist/cytoscape.min.js $(UI_DIR)/node_modules/cytoscape-dagre/dist/cytoscape-dagre.js \
		$(UI_DIR)/node_modules/htmx.org/dist/htmx.min.js $(VENDOR)/
	for p in cytoscape cytoscape-dagre htmx.org; do cp $(UI_DIR)/node_modules/$$p/LICENSE $(VENDOR)/LICENSE.$$p; done
	touch $@

ui-vendor: $(VENDOR_STAMP)

demo: $(STAMP)
	$(PY) examples/demo.py

# lint, format and types first: a finding fails `make test` (and CI) before the suite runs
lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks examples
	$(VENV)/bin/ruff format --check src tests benchmarks examples
	$(VENV)/bin/mypy

test: lint
	$(PY) -m pytest -n 2 --dist loadgroup $(PYTEST_ARGS)

# lamindb and MLflow are installed into benchmarks/.venvs/ on first use
bench: $(STAMP)
	$(PY) benchmarks/run.py --suite main $(if $(QUICK),--quick,)

bench-adapters: $(STAMP)
	$(PY) benchmarks/run.py --suite adapters $(if $(QUICK),--quick,)

clean:
	rm -rf $(VENV) .pytest_cache $(VENDOR) $(UI_DIR)/node_modules
