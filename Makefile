# Vigil: two set-up commands on a fresh machine, `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-dev
PYTEST_ARGS ?=

.PHONY: demo test lint bench system-deps install clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP) ## create .venv and install Vigil with its dev dependencies

demo: install ## start Vigil with simulated providers and traffic
	$(BIN)/vigil demo

system-deps: ## Debian packages the tests run against (installed with apt-get when missing)
	bash scripts/install-system-deps.sh

test: install system-deps lint ## the whole suite (slow suites in their short version)
	$(BIN)/pytest -q $(PYTEST_ARGS)

lint: install ## ruff and mypy --strict on src/
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy src

bench: install ## print the benchmark figures (bench/)
	$(BIN)/python bench/pipeline.py

clean:
	rm -rf $(VENV) vigil-data build *.egg-info src/*.egg-info
