# Two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test fuzz check audit bench schema migrations messages install clean

# A new venv's own setuptools is years old (known advisories): upgraded with pip.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip setuptools
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## Serve the API on the embedded default (a PostgreSQL of its own under ./var/postgres, started
## and stopped with it; in-process jobs), with demo data.
run: $(STAMP)
	mkdir -p var
	$(BIN)/presta serve --demo

## The whole suite, on the PostgreSQL and Redis of PRESTA_TEST_*_URL when they answer, else on
## private ones started for the run (CI makes the machine's mandatory).
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
	$(BIN)/presta check-schema
	$(MAKE) audit

## Known vulnerabilities in the installed dependencies (pip-audit; see tests/audit.py).
audit: $(STAMP)
	$(BIN)/python -m tests.audit

bench: $(STAMP)
	$(BIN)/python -m bench

## Regenerate schema.graphql from the code (`presta check-schema` compares it with the release).
schema: $(STAMP)
	$(BIN)/presta export-schema schema.graphql

## Extract the texts marked with _() / ngettext() into presta/locale/messages.pot (not kept) and update
## the French catalogue (then translate its new entries; tests/test_i18n.py fails until then).
## The catalogues are compiled in memory when first used: nothing to compile.
LOCALE_DIR := presta/locale
messages: $(STAMP)
	$(BIN)/pybabel --quiet extract -F babel.cfg --no-location --sort-output --omit-header \
		-o $(LOCALE_DIR)/messages.pot models presta resolvers schema service workers
	$(BIN)/pybabel --quiet update -i $(LOCALE_DIR)/messages.pot -d $(LOCALE_DIR) -l fr \
		--no-fuzzy-matching --ignore-obsolete

## Write a migration for model changes (needs no database: the URL is never connected to).
migrations: $(STAMP)
	PRESTA_DATABASE_URL=postgres://postgres@127.0.0.1:1/unused $(BIN)/tortoise -c presta.db.TORTOISE_ORM makemigrations

clean:
	rm -rf $(VENV) $(CODEGEN) var .mypy_cache .ruff_cache .pytest_cache

## Partner clients (README): a typed Python client generated from schema.graphql by
## ariadne-codegen, and one query with it against the demo (PRESTA_URL, default `make run`'s;
## when nothing answers there, the example starts `presta serve --demo` itself).
.PHONY: client-example codegen-tool
CODEGEN := .venv-codegen

# ariadne-codegen needs graphql-core < 3.3, strawberry 3.3: it gets a virtualenv of its own.
$(CODEGEN)/.installed: examples/partner/codegen-requirements.txt
	test -x $(CODEGEN)/bin/python || $(PYTHON) -m venv $(CODEGEN)
	$(CODEGEN)/bin/pip install --quiet --upgrade pip
	$(CODEGEN)/bin/pip install --quiet -r examples/partner/codegen-requirements.txt
	touch $@

codegen-tool: $(CODEGEN)/.installed

client-example: $(STAMP) $(CODEGEN)/.installed
	mkdir -p var/partner
	$(CODEGEN)/bin/ariadne-codegen --config examples/partner/codegen.toml
	PYTHONPATH=var/partner $(BIN)/python examples/partner/example.py
