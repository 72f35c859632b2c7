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
# environments, one per bench/requirements-NAME.txt, linked as .bench-venv/NAME. Building one
# takes minutes (tests/interop starts a real MLflow server from its own), so it is kept in
# PEER_CACHE under the hash of its requirements and Python version: a fresh clone on the same
# machine links the built one; a changed requirements file builds a new one.
PEERS := $(patsubst bench/requirements-%.txt,.bench-venv/%/.ok,$(wildcard bench/requirements-*.txt))
PEER_CACHE ?= $(HOME)/.cache/mlwarden/peers

.bench-venv/%/.ok: bench/requirements-%.txt
	@mkdir -p $(PEER_CACHE) .bench-venv
	@key=$$( { cat $<; $(PYTHON) -VV; } | sha256sum | cut -c1-16 ); dir=$(PEER_CACHE)/$*-$$key; \
	flock $(PEER_CACHE)/$*.lock sh -c '\
	  if [ ! -f "$$1/.ok" ]; then \
	    echo "building $$1"; rm -rf "$$1" && $(PYTHON) -m venv "$$1" && \
	    "$$1/bin/pip" install --quiet -r $< && touch "$$1/.ok"; \
	  fi' sh "$$dir" && \
	rm -rf .bench-venv/$* && ln -s "$$dir" .bench-venv/$*

bench: $(STAMP) $(PEERS)
	@for b in bench/[a-z]*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

bench-quick: $(STAMP)
	@for b in bench/[a-z]*.py; do echo "== $$b"; $(BIN)/python $$b --quick || exit 1; done

clean:
	rm -rf $(VENV) .bench-venv mlwarden .pytest_cache
