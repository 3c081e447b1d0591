# Two commands matter: `make run` (the product with a demo network) and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cksum requirements.lock | cut -d' ' -f1)
PG_TEST_URL ?= postgresql://postgres@127.0.0.1:5432/carehub
REDIS_TEST_URL ?= redis://127.0.0.1:6379/15

# Probes the server (via its maintenance database, since the test database may not exist
# yet) and Redis; prints why when either is down.
define SERVICES_PROBE
import os, sys, urllib.parse, psycopg, redis
url = urllib.parse.urlsplit(os.environ["PG_TEST_URL"])
try:
    psycopg.connect(urllib.parse.urlunsplit(url._replace(path="/postgres")), connect_timeout=3).close()
    redis.Redis.from_url(os.environ["REDIS_TEST_URL"], socket_connect_timeout=3).ping()
except Exception as exc:
    sys.exit(f"service probe failed: {exc}")
endef
export SERVICES_PROBE

.PHONY: run test install lock lint pytest pytest-sqlite pytest-postgres browser bench clean

# Installs exactly what requirements.lock pins, hashes checked; pyproject.toml only states
# the ranges the lock is compiled from. The project itself is run from the checkout.
$(STAMP): requirements.lock
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --require-hashes --no-deps -r requirements.lock
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP)

# Refresh the lock after editing the ranges in pyproject.toml (needs the package index).
lock: install
	$(VENV)/bin/uv pip compile pyproject.toml --extra dev --generate-hashes --universal \
	  --python-version 3.11 -q -o requirements.lock

# The demo runs the development settings on plain http://127.0.0.1; everything else
# (wsgi, asgi, run_hub without HUB_ENV) runs production settings.
run: install
	$(PY) manage.py migrate --noinput -v0
	$(PY) manage.py seed_demo --if-empty
	$(PY) manage.py collectstatic --noinput -v0
	HUB_ENV=development $(PY) manage.py run_hub

# Debian's chromium for the browser tests (Playwright cannot download its own here).
browser:
	@command -v chromium >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy .
	$(VENV)/bin/lint-imports --no-cache

# The suite runs twice: on PostgreSQL + Redis (production's stack) and on the embedded
# default (SQLite + filesystem broker). With CI=true a missing service fails the run.
pytest-postgres: install
	@if PG_TEST_URL='$(PG_TEST_URL)' REDIS_TEST_URL='$(REDIS_TEST_URL)' $(PY) -c "$$SERVICES_PROBE"; then \
	  DATABASE_URL=$(PG_TEST_URL) CELERY_BROKER_URL=$(REDIS_TEST_URL) $(PY) -m pytest -q -p no:cacheprovider $(PYTEST_ARGS); \
	elif [ "$$CI" = "true" ]; then echo "PostgreSQL or Redis is not reachable; CI requires both." >&2; exit 1; \
	else echo "PostgreSQL/Redis not reachable: skipping the PostgreSQL pass (run .ci/run to start them)."; fi

pytest-sqlite: install
	env -u DATABASE_URL -u CELERY_BROKER_URL HUB_VAR_DIR=$(CURDIR)/var/test-sqlite $(PY) -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

pytest: pytest-postgres pytest-sqlite

test: install browser lint pytest

bench: install
	$(PY) -m pytest tests/bench -q -s -p no:cacheprovider --override-ini="addopts="

clean:
	rm -rf $(VENV) var
