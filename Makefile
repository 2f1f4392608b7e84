# Vigil: two set-up commands on a fresh machine, `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-dev
PYTEST_ARGS ?=

.PHONY: demo test test-slow lint bench bench-peers peers system-deps install ui-assets clean
UI_VENDOR := src/vigil/ui/static/vendor

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

$(UI_VENDOR)/uPlot.iife.min.js: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	mkdir -p $(UI_VENDOR)
	cp node_modules/uplot/dist/uPlot.iife.min.js node_modules/uplot/dist/uPlot.min.css $(UI_VENDOR)/

ui-assets: $(UI_VENDOR)/uPlot.iife.min.js ## the UI's chart library, from the npm registry

install: $(STAMP) ui-assets ## create .venv and install Vigil with its dev dependencies

demo: install ## start Vigil with simulated providers and traffic
	$(BIN)/vigil demo

system-deps: ## Debian packages the tests run against (installed with apt-get when missing)
	bash scripts/install-system-deps.sh

peers: ## Evidently + NannyML (pandas<3) in .venv-peers, for the agreement tests and bench/drift.py
	bash scripts/peers-venv.sh

bench-peers: ## LiteLLM proxy in .venv-litellm, the gateway benchmark's peer
	test -x .venv-litellm/bin/python || $(PYTHON) -m venv .venv-litellm
	.venv-litellm/bin/python -m pip install --quiet 'litellm[proxy]'

test: install system-deps peers lint ## the whole suite (slow suites in their short version)
	$(BIN)/pytest -q -m "not slow" $(PYTEST_ARGS)

test-slow: install system-deps peers ## the long versions of the slow suites (browser, soak)
	$(BIN)/pytest -q -m slow $(PYTEST_ARGS)

lint: install ## ruff and mypy --strict on src/
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy src

bench: install peers bench-peers ## print the benchmark figures (bench/)
	$(BIN)/python bench/pipeline.py
	$(BIN)/python bench/gateway.py
	$(BIN)/python bench/drift.py
	$(BIN)/python bench/stats.py
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/ui.py

clean:
	rm -rf $(VENV) .venv-peers .venv-litellm vigil-data build *.egg-info src/*.egg-info \
		node_modules $(UI_VENDOR)
