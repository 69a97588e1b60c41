# Two set-up commands: `make run` and `make test`. Everything else here serves them.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 5000
# Real camera and phone files (not ours to copy into the repository): the corpus suite's input, fuzzing seeds.
CORPUS_DIR ?= $(abspath ../shared/corpus)
export FLASK_APP := wsgi

.PHONY: run test lint test-embedded test-services imports fuzz faults corpus install migrate worker browser promtool exiftool nginx miniprogram-node clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

install: $(VENV)/.installed

migrate: install
	$(BIN)/flask db upgrade

# The server prints where the docs and the admin are once it listens (core/cli.py's banner).
run: migrate
	$(BIN)/flask facilities sample
	$(BIN)/flask cases departments-import cases/data/departments_qingdao.csv
	$(BIN)/python wsgi.py --host 127.0.0.1 --port $(PORT)

worker: install
	$(BIN)/flask jobs worker

# The browser tests drive Debian's Chromium; Playwright's own browser download is never used.
# Chromium also prints the monthly report to PDF; poppler-utils' pdftoppm renders its pages in the tests.
browser:
	@command -v chromium >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }
	@command -v pdftoppm >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq poppler-utils >/dev/null; }

# The alert rules (deploy/prometheus) are checked and unit-tested with Debian's promtool, from the `prometheus`
# package. policy-rc.d refuses to start the server the package installs: installed, not started.
promtool:
	@command -v promtool >/dev/null 2>&1 || { apt-get update -qq && if [ -e /usr/sbin/policy-rc.d ]; then \
		RUNLEVEL=1 apt-get install -y -qq --no-install-recommends prometheus >/dev/null; else \
		printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d; \
		RUNLEVEL=1 apt-get install -y -qq --no-install-recommends prometheus >/dev/null; status=$$?; \
		rm -f /usr/sbin/policy-rc.d; exit $$status; fi; }

# The fault suite checks the shipped nginx site file (deploy/nginx) with `nginx -t`. RUNLEVEL=1: installed, not
# started.
nginx:
	@command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || { apt-get update -qq && RUNLEVEL=1 apt-get install -y -qq nginx-light >/dev/null; }

# The reference mini-program's page tests (tests/miniprogram) run under Node.js 20 with the packages of their lock
# file, installed again by `npm ci` whenever the lock file is newer. Without Node the embedded pass skips them (and
# says why); with CI=true that is a failure, here and in the pass.
MINIPROGRAM_TESTS := tests/miniprogram
miniprogram-node:
	@if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 && \
		node -e 'process.exit(Number(process.versions.node.split(".")[0]) < 20 ? 1 : 0)'; then \
		[ $(MINIPROGRAM_TESTS)/node_modules/.package-lock.json -nt $(MINIPROGRAM_TESTS)/package-lock.json ] || \
			(cd $(MINIPROGRAM_TESTS) && npm ci --no-audit --no-fund --loglevel=error); \
	else \
		echo "Node.js 20 and npm are needed for the mini-program's page tests (tests/miniprogram): Debian/Ubuntu" \
			"apt-get install nodejs npm (Node 20 or later), or https://nodejs.org/en/download" >&2; \
		[ "$$CI" != "true" ]; \
	fi

# The shape is checked before the behaviour: ruff, then the import contracts, then both passes of the suite.
test: lint test-embedded test-services

lint: install imports
	$(BIN)/ruff check .

test-embedded: install browser promtool miniprogram-node
	env -u DATABASE_URL TEST_BACKENDS=embedded $(BIN)/python -m pytest

test-services: install browser promtool
	@if [ -n "$$DATABASE_URL" ] && [ -n "$$REDIS_URL" ]; then \
		TEST_BACKENDS=services $(BIN)/python -m pytest; \
	elif [ "$$CI" = "true" ]; then \
		echo "CI=true but DATABASE_URL / REDIS_URL are not set: the services pass cannot run" >&2; exit 1; \
	else \
		echo "DATABASE_URL / REDIS_URL not set: skipping the PostgreSQL + Redis pass"; \
	fi

# The import contracts of pyproject.toml ([tool.importlinter]): core knows no package, packages depend downwards
# only, and none reaches into another's models, schemas, admin, api or jobs.
imports: install
	$(BIN)/lint-imports

# The long runs of the property and API fuzzing and of the admin crawl that `make test` runs briefly (fixed seeds
# both ways): 300 examples per API operation, 200 linked call sequences, every hostile value in every admin form.
fuzz: install
	env -u DATABASE_URL TEST_BACKENDS=embedded FUZZ_EXAMPLES=5000 FUZZ_API_EXAMPLES=300 FUZZ_API_SCENARIOS=200 \
		FUZZ_ADMIN_VALUES=all CORPUS_DIR=$(CORPUS_DIR) $(BIN)/python -m pytest -q \
		tests/core/test_api_fuzz.py tests/core/test_admin_crawl.py tests/core/test_geo_properties.py \
		tests/core/test_signature_properties.py tests/core/test_crypto.py tests/media/test_properties.py \
		tests/media/test_mutation_fuzz.py tests/signboard_templates/test_credit_code_properties.py

# exiftool, the corpus suite's reference reader: Debian's, installed the way the browser is.
exiftool:
	@command -v exiftool >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq libimage-exiftool-perl >/dev/null; }

# The corpus suite: real camera and phone files (CORPUS_DIR, default ../shared/corpus beside the repository) uploaded
# to gunicorn over HTTP and checked against exiftool and Pillow (tests/corpus); on PostgreSQL, Redis and S3 as well
# when DATABASE_URL and REDIS_URL are set. It prints a table of what became of the files.
corpus: install exiftool
	env -u DATABASE_URL TEST_BACKENDS=embedded CORPUS_DIR=$(CORPUS_DIR) $(BIN)/python -m pytest -q -m corpus tests/corpus
	@if [ -n "$$DATABASE_URL" ] && [ -n "$$REDIS_URL" ]; then \
		TEST_BACKENDS=services CORPUS_DIR=$(CORPUS_DIR) $(BIN)/python -m pytest -q -m corpus tests/corpus; \
	fi

# The fault suite: the production stack on private PostgreSQL and Redis servers, under load and faults
# (tests/faults). FAULT_SECONDS sets how long each fault lasts (default 4).
faults: install nginx
	$(BIN)/python -m pytest -m faults -s -p no:logging tests/faults

clean:
	rm -rf $(VENV) var .pytest_cache
