# Everything a fresh machine needs: `make demo` and `make test` create .venv and install first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: demo test fuzz lint bench test-ray clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/apertura demo
	$(BIN)/apertura app releases/demo --headless

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/pytest -q

fuzz: $(STAMP)  # nightly-style: more hypothesis examples and corrupt variants than the test suite runs
	APERTURA_FUZZ_EXAMPLES=2000 $(BIN)/pytest -q -p no:cacheprovider tests/hardening

bench: $(STAMP) .venv-bench/.installed  # every benchmark, peers (datatrove) in their own venv; figures as JSON lines
	$(BIN)/python -m bench --jsonl bench/runs.jsonl

.venv-bench/.installed: bench/requirements-peer.txt
	$(PYTHON) -m venv .venv-bench && .venv-bench/bin/pip install --quiet -r bench/requirements-peer.txt && touch $@

test-ray: $(STAMP)  # the Ray executor test (Ray is an optional extra, not installed by `make test`)
	$(BIN)/pip install --quiet -e '.[dev,ray]' && $(BIN)/pytest -q tests/test_ray_executor.py

clean:
	rm -rf $(VENV) .venv-bench releases crawls .pytest_cache
