#!/usr/bin/env bash
# The whole suite, as `make test` and CI run it: lint, Django's checks, migrations in sync, then
# pytest (unit, service, database, task and browser tests) on the configured services.
set -euo pipefail
cd "$(dirname "$0")/.."
export DJANGO_SETTINGS_MODULE=itb.settings.test
: "${DATABASE_URL:?DATABASE_URL must point at the PostgreSQL server for the suite}"
: "${REDIS_URL:?REDIS_URL must point at the Redis server for the suite}"
echo "== ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
echo "== mypy"
.venv/bin/mypy .
echo "== django checks"
.venv/bin/python manage.py check --fail-level WARNING
.venv/bin/python manage.py makemigrations --check --dry-run
echo "== django deploy checks (production settings)"
# Test-only values: this key signs nothing real; production reads its own from the environment.
DJANGO_SETTINGS_MODULE=itb.settings.production \
  DJANGO_SECRET_KEY="test-only-xNMZyYvOeVRYqiSPJeQ9WpX3oFk0VIztZz2Pgl486OxiAOglrJu6fRhVhN-sy_mU" \
  DJANGO_ALLOWED_HOSTS=itb.example.org \
  DATABASE_URL=postgres://itb@db.invalid:5432/itb REDIS_URL=redis://redis.invalid:6379/0 \
  ITB_TRUSTED_PROXIES=1 \
  .venv/bin/python manage.py check --deploy --fail-level WARNING
echo "== pytest"
.venv/bin/pytest --create-db "$@"
