# bananasite: `make run` sets up and runs the product on its embedded defaults;
# `make test` runs every test suite (SQLite, PostgreSQL + Redis, browser).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat requirements/*.txt | sha256sum | cut -c1-12)

.PHONY: run run-production check-production bench-load test test-fast test-services test-browser lint format venv migrate demo bench clean

venv: $(STAMP)

$(STAMP): requirements/base.txt requirements/dev.txt requirements/constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements/dev.txt -c requirements/constraints.txt
	@rm -f $(VENV)/.installed-* && touch $@

migrate: venv
	$(PY) manage.py migrate --noinput

demo: migrate
	$(PY) manage.py make_dev_certificate
	$(PY) manage.py seed_demo

run: demo
	./scripts/run-dev

# The distributed profile on this machine: PostgreSQL, Redis, an S3 stand-in, gunicorn, workers.
run-production: venv
	./scripts/run-production

check-production: venv
	./scripts/run-production --check

# The load benchmark on both profiles (about 15 minutes); results in benchmarks/results/load.*
bench-load: venv
	$(PY) benchmarks/load.py

test: venv
	./scripts/test-all

test-fast: venv
	$(PY) -m pytest -n 2

test-services: venv
	./scripts/with-services $(PY) -m pytest

test-browser: venv
	$(PY) -m pytest -m browser

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy bananasite accounts billing moderation webhooks catalogue compositions sharing api ops

format: venv
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

clean:
	rm -rf media db.sqlite3 test-db.sqlite3* .pytest_cache artifacts
