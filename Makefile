# The README's commands. Everything sets itself up: a fresh machine needs only Python >= 3.11.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test bench chaos install lint messages clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python >= 3.11 is required")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)
	@$(BIN)/python scripts/compile_messages.py

## make demo: migrate SQLite, seed demo data, start web + worker (+ emulator), print URL and login
demo: install
	$(BIN)/python scripts/demo.py

## make test: ruff, mypy and pytest (SQLite; PostgreSQL+Redis and Chromium stages when available)
test: install
	$(BIN)/python scripts/test_stages.py

## make bench: benchmarks that print figures (never part of pass/fail)
bench: install
	$(BIN)/python scripts/bench.py

## make chaos: the chaos run (every fault at once vs. the reference; CHAOS=--short|--long)
chaos: install
	$(BIN)/python bench/chaos.py $(CHAOS)

## make messages: refresh the German and English catalogues from the code
messages: install
	$(BIN)/python scripts/update_messages.py

clean:
	rm -rf $(VENV) var
