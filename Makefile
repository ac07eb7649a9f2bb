# The two commands a newcomer needs: `make run`, then `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
FLASK := $(BIN)/flask --app wsgi
HOST ?= 127.0.0.1
PORT ?= 5000

.PHONY: run install init-db demo serve test test-postgres bench bench-scale lint format clean screenshots

run: install init-db demo serve  ## first run: install, migrate, demo data, serve on :5000

install: $(VENV)/.installed  ## virtual environment with the app and its test tools

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test]"
	touch $@

init-db: install
	$(FLASK) biobank init-db

demo: install
	$(FLASK) biobank seed-demo

serve: install
	@echo "Serving on http://$(HOST):$(PORT) (demo logins in README.md); Ctrl-C stops."
	$(FLASK) run --host $(HOST) --port $(PORT)

test: install  ## the whole suite (PostgreSQL too when BIOBANK_TEST_DATABASE_URL is set)
	$(BIN)/python -m pytest -q

test-postgres: install
	BIOBANK_TEST_DATABASE_URL=$${BIOBANK_TEST_DATABASE_URL:-postgresql+psycopg://postgres@127.0.0.1:5432/test} $(BIN)/python -m pytest -q

bench: install  ## benchmarks; figures into bench/RESULTS.md
	$(BIN)/python -m bench

# Not part of `make bench`: grows one PostgreSQL database to 10,000,000 stored tubes (about
# an hour and 20 GB of disk; BIOBANK_SCALE_SIZES=200000,1000000 for a quick run).
bench-scale: install  ## 1M and 10M tubes on PostgreSQL; figures into bench/RESULTS.md
	$(BIN)/python -m bench scale10m

lint: install  ## ruff and mypy, as CI runs them
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) instance .pytest_cache .ruff_cache tests/.artifacts

screenshots: install  ## the browser tests, saving the user guide's screenshots into docs/images
	BIOBANK_SCREENSHOTS_DIR=docs/images $(BIN)/python -m pytest tests/browser -q
