# Everything a fresh machine needs: `make demo` and `make test` create .venv and install first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: demo test fuzz mutate lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	$(BIN)/apertura --log-format text warmup  # numba kernels compiled into ~/.cache/apertura/numba now, not in a first run
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/apertura demo
	$(BIN)/apertura app releases/demo --headless

$(VENV)/.ray-stamp: $(STAMP)  # the tests also cover the Ray executor (the optional `ray` extra)
	$(BIN)/pip install --quiet -e '.[dev,ray]'
	touch $@

test: $(STAMP) $(VENV)/.ray-stamp
	$(BIN)/ruff check .
	$(BIN)/pytest -q

fuzz: $(STAMP)  # nightly-style: more hypothesis examples and corrupt variants than the test suite runs
	APERTURA_FUZZ_EXAMPLES=2000 $(BIN)/pytest -q -p no:cacheprovider tests/hardening

$(VENV)/.mutate-stamp: $(STAMP)  # mutmut (the `mutate` extra), only for `make mutate`
	$(BIN)/pip install --quiet -e '.[dev,mutate]'
	touch $@

mutate: $(VENV)/.mutate-stamp  # slow (hours on 2 cores): mutation testing of the proof code; MUTATE="verify robots" for some
	$(BIN)/python -m tests.mutation.run $(MUTATE)

bench: $(STAMP) .venv-bench/.installed  # every benchmark, peers (datatrove) in their own venv; figures as JSON lines
	$(BIN)/python -m bench --jsonl bench/runs.jsonl

.venv-bench/.installed: bench/requirements-peer.txt
	$(PYTHON) -m venv .venv-bench && .venv-bench/bin/pip install --quiet -r bench/requirements-peer.txt && touch $@

clean:
	rm -rf $(VENV) .venv-bench releases crawls .pytest_cache .mutate
