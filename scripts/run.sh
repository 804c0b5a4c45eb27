#!/usr/bin/env bash
# Migrate, seed the demo and start web, worker and scheduler together (Ctrl-C stops all three).
# With nothing set: SQLite, a filesystem broker and emails as files, all under var/.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p var/celery-broker var/mail
export PYTHONUNBUFFERED=1
# honcho sets PORT for each process itself, so the web port travels as ITB_PORT.
export ITB_PORT=${PORT:-8000}
PORT=$ITB_PORT
# Links in alert emails point here.
export ITB_BASE_URL=${ITB_BASE_URL:-http://127.0.0.1:$ITB_PORT}
.venv/bin/python manage.py migrate --noinput
.venv/bin/python manage.py seed_demo
db=$(.venv/bin/python -c 'import django,os;os.environ.setdefault("DJANGO_SETTINGS_MODULE","itb.settings.local");django.setup();from django.conf import settings as s;print(s.DATABASES["default"]["ENGINE"].rsplit(".",1)[-1])')
broker=$([ -n "${REDIS_URL:-}" ] && echo "Redis" || echo "filesystem queue in var/celery-broker")
cat <<MSG

  ITB pump clinic is starting (database: $db; broker: $broker)
    Open      http://127.0.0.1:$PORT/
    Admin     http://127.0.0.1:$PORT/admin/
    Logins    admin, clinician, nurse, caregiver, caregiver2, integrator, clinician2
    Password  itb-demo-2026
    Emails    $([ -n "${EMAIL_URL:-}" ] && echo "sent via EMAIL_URL" || echo "written to var/mail/")
    Alerts    swept every minute (and when the worker starts); health at /healthz/alerts
  Stop with Ctrl-C.

MSG
exec .venv/bin/honcho --procfile Procfile.dev start
