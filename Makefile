# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-test

.PHONY: demo test lint bench bench-quick clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@ $(VENV)/.installed

demo: $(VENV)/.installed
	$(BIN)/mlwarden demo

# The checks run first: a lint or type error fails CI as surely as a test does.
test: lint
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy src/mlwarden
	$(BIN)/lint-imports

# Peers that conflict with our dependencies (MLflow, Evidently need pandas < 3) get their own
# environments under .bench-venv/, one per bench/requirements-NAME.txt.
PEERS := $(patsubst bench/requirements-%.txt,.bench-venv/%/.ok,$(wildcard bench/requirements-*.txt))

.bench-venv/%/.ok: bench/requirements-%.txt
	$(PYTHON) -m venv .bench-venv/$*
	.bench-venv/$*/bin/pip install --quiet -r $<
	touch $@

bench: $(STAMP) $(PEERS)
	@for b in bench/[a-z]*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

bench-quick: $(STAMP)
	@for b in bench/[a-z]*.py; do echo "== $$b"; $(BIN)/python $$b --quick || exit 1; done

clean:
	rm -rf $(VENV) .bench-venv mlwarden .pytest_cache
