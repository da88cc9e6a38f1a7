# Clarion — `make run` to start, `make test` to test. `make help` lists everything.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PYTEST_ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help install run test test-sqlite test-postgres system-packages lint bench clean

help:
	@echo "make run            install, initialise, and start the daemon (sandbox by default)"
	@echo "make test           the full test suite on SQLite, then on a throwaway PostgreSQL"
	@echo "make lint           ruff format --check, ruff check, mypy on bot/"
	@echo "make bench          every benchmark, ~30 min (results: docs/BENCHMARKS.md)"
	@echo "make clean          remove the virtualenv and caches (keeps config.env and data)"

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/python main.py init
	$(BIN)/python main.py run

system-packages:
	@scripts/ensure-system-packages.sh

test: test-sqlite test-postgres

test-sqlite: install system-packages
	$(BIN)/pytest $(PYTEST_ARGS)

test-postgres: install
	CLARION_TEST_DB=postgres $(BIN)/pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff format --check bot tests bench main.py
	$(BIN)/ruff check bot tests bench main.py
	$(BIN)/mypy

bench: install
	$(BIN)/python bench/sandbox_capacity.py
	$(BIN)/python bench/lateness.py
	$(BIN)/python bench/engagement.py
	$(BIN)/python bench/release.py
	$(BIN)/python bench/apply.py
	$(BIN)/python bench/recovery.py
	$(BIN)/python bench/lateness.py --during-release

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info
