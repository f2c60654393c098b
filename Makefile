# trackerdash: `make run` serves the dashboard, `make test` runs the whole suite.
# Both set up the virtualenv first. DATABASE_URL / REDIS_URL switch to PostgreSQL / Redis.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cksum requirements.txt | cut -d' ' -f1)
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install migrate run test lint clean bench loadtest

$(STAMP): requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	rm -f $(VENV)/.installed-* && touch $(STAMP)

install: $(STAMP)

migrate: install
	$(PY) manage.py migrate --noinput

run: migrate
	$(PY) manage.py seed_demo --if-empty
	DB_POOL=true $(PY) manage.py serve --host $(HOST) --port $(PORT)

# Production serving: DEBUG off (settings refuse to start without SECRET_KEY and ALLOWED_HOSTS),
# Django's deployment checks, static files for whitenoise, then gunicorn with uvicorn workers
# (gunicorn.conf.py names the ASGI app; SERVER_INTERFACE=wsgi serves trackerdash.wsgi with sync workers).
# Run `make migrate` first on a new database; the listener runs beside it (Procfile).
.PHONY: serve
serve: install
	DEBUG=false $(PY) manage.py check --deploy
	DEBUG=false $(PY) manage.py collectstatic --noinput --verbosity 0
	DEBUG=false $(VENV)/bin/gunicorn --config gunicorn.conf.py --bind $(HOST):$(PORT)

test: install
	$(PY) -m pytest $(PYTEST_ARGS)

# ruff, then import-linter's contracts in pyproject.toml (layers, and no import cycle anywhere).
lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports

# Bench and load test run on a profile seeded into its own database (see docs/performance.md).
bench: install
	$(PY) manage.py bench $(BENCH_ARGS)

loadtest: install
	$(PY) bench/loadtest/run.py $(LOADTEST_ARGS)

clean:
	rm -rf $(VENV) staticfiles .pytest_cache
