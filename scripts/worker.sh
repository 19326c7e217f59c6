#!/usr/bin/env bash
# The Celery worker, when there is a broker. Without REDIS_URL (the embedded default) Celery runs
# tasks eagerly in the web process, so this process only idles: honcho stops everything when one exits.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ -n "${REDIS_URL:-}" || -n "${CELERY_BROKER_URL:-}" ]]; then
  mkdir -p "${RUN_DIR:-var/run}"
  exec .venv/bin/celery -A livestream_site worker --beat --schedule "${RUN_DIR:-var/run}/celerybeat-schedule" --loglevel "${LOG_LEVEL:-info}" --concurrency "${CELERY_CONCURRENCY:-2}"
fi
echo "worker: no REDIS_URL, tasks run in the web process (eager Celery)"
exec sleep infinity
