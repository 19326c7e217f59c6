# Two commands: `make run` starts the platform, `make test` passes the tests.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.requirements-installed
HOST ?= 127.0.0.1
PORT ?= 8000
# nginx's callbacks reach the web process here (honcho gives every process its own $PORT).
MEDIA_CALLBACK_BASE_URL ?= http://127.0.0.1:$(PORT)
export HOST PORT MEDIA_CALLBACK_BASE_URL

.PHONY: run test reliability venv frontend migrate lint format clean system-deps bench

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMP): requirements.txt | $(PY)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $(STAMP)

venv: $(STAMP)

# Front-end libraries (hls.js; socket.io-client for the Socket.IO tests) come from npm at setup time.
node_modules/.package-lock.json: package-lock.json package.json
	npm ci --no-audit --no-fund --silent

frontend: node_modules/.package-lock.json

migrate: venv
	$(PY) manage.py migrate --noinput

system-deps:
	bash scripts/system-deps.sh

run: system-deps migrate frontend
	$(PY) manage.py seed_demo --if-empty --if-debug
	$(PY) manage.py collectstatic --noinput --verbosity 0
	$(PY) manage.py metrics_reset
	@echo "Platform at http://$(HOST):$(PORT)/  (admin: /admin/, API: /api/, docs: /api/docs/)"
	@echo "RTMP ingest at rtmp://127.0.0.1:$${RTMP_PORT:-1935}/live (stream key from GET /api/livestreams/{id}/ingest)"
	$(VENV)/bin/honcho start -f Procfile

# Tests run on PostgreSQL and Redis (the local servers unless DATABASE_URL / REDIS_URL say otherwise),
# with real nginx, ffmpeg and Chromium.
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/postgres
TEST_REDIS_URL ?= redis://127.0.0.1:6379/0

test: venv frontend
	WITH_BROWSER=1 bash scripts/system-deps.sh
	DATABASE_URL="$${DATABASE_URL:-$(TEST_DATABASE_URL)}" REDIS_URL="$${REDIS_URL:-$(TEST_REDIS_URL)}" \
		$(PY) -m pytest $(PYTEST_ARGS)

# The reliability suite at length: schemathesis and the WebSocket fuzzer with many more examples than in
# `make test` (which runs them bounded), the authorization matrices, the regression tests of what they found.
reliability: venv
	RELIABILITY=1 DATABASE_URL="$${DATABASE_URL:-$(TEST_DATABASE_URL)}" REDIS_URL="$${REDIS_URL:-$(TEST_REDIS_URL)}" \
		$(PY) -m pytest livestream_site/tests/reliability $(PYTEST_ARGS)

# ruff (lint and format) and the layering contracts of pyproject.toml (import-linter).
lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports --no-cache

# Every benchmark in benchmarks/, each against its baseline in the same run, then the table of ratios
# (benchmarks/report.py, from the JSON results in benchmarks/results/). PostgreSQL and Redis as in the
# production shape; the web tier with the machine's cores for the fan-out and the join storms.
BENCH_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/bench
BENCH_REDIS_URL ?= redis://127.0.0.1:6379/1
BENCH_WEB_PROCESSES ?= $(shell nproc)

bench: venv
	WITH_BENCH=1 bash scripts/system-deps.sh
	export DATABASE_URL="$(BENCH_DATABASE_URL)" REDIS_URL="$(BENCH_REDIS_URL)"; set -e; \
	$(PY) -c 'import sys; sys.path.insert(0, "benchmarks"); from analytics_ingest import database_ensure; database_ensure("$(BENCH_DATABASE_URL)")'; \
	echo "== chat fan-out, 1,000 viewers x 20 msg/s, web tier"; $(PY) benchmarks/chat_fanout.py --viewers 1000 --web-processes $(BENCH_WEB_PROCESSES); \
	echo "== chat fan-out, 10,000 viewers x 2 msg/s, web tier"; $(PY) benchmarks/chat_fanout.py --viewers 10000 --rate 2 --web-processes $(BENCH_WEB_PROCESSES); \
	echo "== Socket.IO fan-out, 1,000 viewers"; $(PY) benchmarks/chat_fanout.py --viewers 1000 --servers ours,ours-socketio,socketio-minimal; \
	echo "== join storm, 2,000 viewers"; $(PY) benchmarks/join_storm.py --viewers 2000 --web-processes $(BENCH_WEB_PROCESSES); \
	echo "== join storm, 10,000 viewers"; $(PY) benchmarks/join_storm.py --viewers 10000 --web-processes $(BENCH_WEB_PROCESSES); \
	echo "== API: a page of 50 streams, /access"; DATABASE_URL="$(BENCH_DATABASE_URL)_api" $(PY) benchmarks/api_list.py --seconds 5; \
	echo "== segment delivery"; $(PY) benchmarks/segment_delivery.py --seconds 5; \
	echo "== analytics ingest"; $(PY) benchmarks/analytics_ingest.py; \
	echo "== analytics rollup"; $(PY) benchmarks/analytics_rollup.py; \
	echo "== glass-to-glass latency, normal and HLS_LOW_LATENCY"; $(PY) benchmarks/glass_to_glass.py --seconds 20; \
	echo "== ratios to the baselines of the same runs"; $(PY) benchmarks/report.py

format: venv
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

clean:
	rm -rf $(VENV) var staticfiles node_modules
