# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-test

.PHONY: demo test lint bench bench-quick clean

# uv resolves and installs the same versions as pip in well under a minute (pip took ~13 min
# here on a clean clone); pip stays the fallback where uv cannot be installed. Bytecode is
# compiled at install, as pip does: where PYTHONDONTWRITEBYTECODE is set (CI sandboxes), no
# import writes it later, and every server process the tests start would compile pandas,
# scikit-learn and mlwarden from source again (3x the CPU of `import pandas, sklearn`).
$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet uv || true

INSTALL = if [ -x $(BIN)/uv ]; then $(BIN)/uv pip install --quiet --compile-bytecode --python $(1)/bin/python $(2); \
	else $(1)/bin/pip install --quiet $(2); fi

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(call INSTALL,$(VENV),-e .)
	touch $@

$(STAMP): pyproject.toml | $(BIN)/python
	$(call INSTALL,$(VENV),-e '.[test]')
	touch $@ $(VENV)/.installed

demo: $(VENV)/.installed
	$(BIN)/mlwarden demo

# The suite runs in PYTEST_WORKERS processes (pytest-xdist): most of its time is spent waiting
# on real servers (uvicorn, PostgreSQL, Chromium, Node, moto, MLflow), so three workers keep two
# cores busy. PYTEST_WORKERS=0 runs it serially in one process. `--dist loadscope` keeps each
# module on one worker: module-scoped fixtures (the dashboard's scenario, the security tests'
# servers, the OpenID Provider) are built once rather than once per worker.
PYTEST_WORKERS ?= 3
PYTEST_ARGS ?=

# The checks run first: a lint or type error fails CI as surely as a test does.
test: lint
	$(BIN)/python -m compileall -q src tests
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadscope $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy src/mlwarden
	$(BIN)/lint-imports

# Peers that conflict with our dependencies (MLflow, Evidently need pandas < 3) get their own
# environments, one per bench/requirements-NAME.txt, linked as .bench-venv/NAME. Building one
# takes minutes (tests/interop starts a real MLflow server from its own), so it is kept in
# PEER_CACHE under the hash of its requirements and Python version: a fresh clone on the same
# machine links the built one; a changed requirements file builds a new one. The link is left
# alone when it is already right: test workers may ask for it while another one uses it.
PEERS := $(patsubst bench/requirements-%.txt,.bench-venv/%/.ok,$(wildcard bench/requirements-*.txt))
PEER_CACHE ?= $(HOME)/.cache/mlwarden/peers

.bench-venv/%/.ok: bench/requirements-%.txt | $(BIN)/python
	@mkdir -p $(PEER_CACHE)
	@# A worktree may carry .bench-venv as a link to another checkout's: keep only a real folder.
	@if [ -L .bench-venv ] && [ ! -d .bench-venv/. ]; then rm -f .bench-venv; fi; mkdir -p .bench-venv
	@dir=$(PEER_CACHE)/$*-$$( { cat $<; $(PYTHON) -VV; } | sha256sum | cut -c1-16 ); \
	exec 9>$(PEER_CACHE)/$*.lock; flock 9; \
	if [ ! -f $$dir/.ok ]; then \
	  echo "building $$dir"; \
	  { rm -rf $$dir && $(PYTHON) -m venv $$dir && $(call INSTALL,$$dir,-r $<) && \
	    touch $$dir/.ok; } || exit 1; \
	fi; \
	if [ "$$(readlink .bench-venv/$*)" != "$$dir" ]; then \
	  rm -rf .bench-venv/$* && ln -s $$dir .bench-venv/$*; \
	fi

bench: $(STAMP) $(PEERS)
	@for b in bench/[a-z]*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

bench-quick: $(STAMP)
	@for b in bench/[a-z]*.py; do echo "== $$b"; $(BIN)/python $$b --quick || exit 1; done

clean:
	rm -rf $(VENV) .bench-venv mlwarden .pytest_cache
