# bananasite: `make run` sets up and runs the product on its embedded defaults;
# `make test` runs every test suite (SQLite, PostgreSQL + Redis, browser).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat requirements/*.txt | sha256sum | cut -c1-12)

.PHONY: run run-production check-production bench-load test test-fast test-services test-browser lint format venv migrate demo bench clean messages translations

venv: $(STAMP)

$(STAMP): requirements/base.txt requirements/dev.txt requirements/constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements/dev.txt -c requirements/constraints.txt
	@rm -f $(VENV)/.installed-* && touch $@

migrate: translations
	$(PY) manage.py migrate --noinput

# The German and Spanish catalogues (locale/) compiled to .mo: pure Python, no gettext needed.
translations: venv
	$(PY) manage.py compile_translations

# After adding or changing user-facing strings: extract them into locale/{de,es}/LC_MESSAGES/
# (django.po and djangojs.po), translate the new msgids (no empty or fuzzy msgstr; the test
# bananasite/tests/test_translations.py says which), then `make translations`. Needs GNU
# gettext's xgettext (Debian: apt-get install gettext; scripts/system-packages installs it).
MESSAGES_IGNORE := --ignore='staticfiles/*' --ignore='media/*' --ignore='benchmarks/*' --ignore='scripts/*' --ignore='*/tests/*'
messages: venv
	$(PY) manage.py makemessages -l de -l es --no-obsolete --no-location $(MESSAGES_IGNORE)
	$(PY) manage.py makemessages -d djangojs -l de -l es --no-obsolete --no-location $(MESSAGES_IGNORE)

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
	$(VENV)/bin/mypy bananasite accounts billing moderation webhooks catalogue compositions sharing api ops privacy references blueprints

format: venv
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

clean:
	rm -rf media db.sqlite3 test-db.sqlite3* .pytest_cache artifacts
