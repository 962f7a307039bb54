# Everything a fresh machine needs: `make demo` and `make test` create .venv and install first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: demo test fuzz lint bench clean

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

bench: $(STAMP)
	$(BIN)/python -m bench.spine

clean:
	rm -rf $(VENV) releases .pytest_cache
