# Two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test fuzz check audit bench schema migrations install clean

# A new venv's own setuptools is years old (known advisories): upgraded with pip.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip setuptools
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## Serve the API on the embedded default (SQLite under ./var, in-process jobs), with demo data.
run: $(STAMP)
	mkdir -p var
	$(BIN)/presta serve --demo

## The whole suite; on PostgreSQL and Redis when they answer (CI makes them mandatory).
test: $(STAMP)
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

## The dispatch model at length (tests/test_dispatch_model.py): at least FUZZ_STEPS random steps.
FUZZ_STEPS ?= 10000
fuzz: $(STAMP)
	PRESTA_MODEL_EXAMPLES=400 PRESTA_MODEL_STEPS=50 PRESTA_MODEL_MIN_STEPS=$(FUZZ_STEPS) \
		$(BIN)/python -m pytest -q tests/test_dispatch_model.py $(PYTEST_ARGS)

check: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .
	$(BIN)/lint-imports
	$(MAKE) audit

## Known vulnerabilities in the installed dependencies (pip-audit; see tests/audit.py).
audit: $(STAMP)
	$(BIN)/python -m tests.audit

bench: $(STAMP)
	$(BIN)/python -m bench

## Regenerate schema.graphql from the code.
schema: $(STAMP)
	$(BIN)/presta export-schema schema.graphql

## Write a migration for model changes (needs no database).
migrations: $(STAMP)
	PRESTA_DATABASE_URL=sqlite://:memory: $(BIN)/tortoise -c presta.db.TORTOISE_ORM makemigrations

clean:
	rm -rf $(VENV) var .mypy_cache .ruff_cache .pytest_cache
