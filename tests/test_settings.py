"""Settings come from the environment: SQLite, a filesystem broker and file emails when nothing
is set; PostgreSQL with DATABASE_URL; Redis with REDIS_URL; production refuses to start without
its secrets."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PROBE = (
    "import json, django; django.setup(); from django.conf import settings as s; "
    "print(json.dumps({'engine': s.DATABASES['default']['ENGINE'], "
    "'name': str(s.DATABASES['default']['NAME']), 'broker': s.CELERY_BROKER_URL, "
    "'cache': s.CACHES['default']['BACKEND'], 'email': s.EMAIL_BACKEND, "
    "'use_tz': s.USE_TZ, 'tz': s.TIME_ZONE, 'debug': s.DEBUG, "
    "'options': s.DATABASES['default'].get('OPTIONS', {})}))"
)


def load(settings_module: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO", "DATABASE", "REDIS", "EMAIL", "CLINIC"))
    }
    clean.update(env, DJANGO_SETTINGS_MODULE=settings_module)
    return subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
    )


def probe(settings_module: str = "itb.settings.local", **env: str) -> dict[str, object]:
    result = load(settings_module, **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_nothing_set_means_sqlite_filesystem_broker_and_file_email():
    s = probe()
    assert s["engine"] == "django.db.backends.sqlite3"
    assert str(s["name"]).endswith("var/itb.sqlite3")
    assert s["broker"] == "filesystem://"
    assert s["cache"] == "django.core.cache.backends.filebased.FileBasedCache"
    assert s["email"] == "django.core.mail.backends.filebased.EmailBackend"
    assert s["use_tz"] is True
    assert s["tz"] == "America/New_York"


def test_database_url_switches_to_postgresql():
    s = probe(DATABASE_URL="postgres://itb@127.0.0.1:5432/itb")
    assert s["engine"] == "django.db.backends.postgresql"
    assert s["name"] == "itb"
    # Prepared statements on for itb.db.prepared_cursor, never by psycopg's own count.
    assert s["options"] == {"prepare_threshold": 2**31 - 1}


def test_redis_url_switches_broker_and_cache_to_redis():
    s = probe(REDIS_URL="redis://127.0.0.1:6379/3")
    assert s["broker"] == "redis://127.0.0.1:6379/3"
    assert s["cache"] == "django.core.cache.backends.redis.RedisCache"


def test_email_url_switches_to_smtp():
    s = probe(EMAIL_URL="smtp://127.0.0.1:2525")
    assert s["email"] == "django.core.mail.backends.smtp.EmailBackend"


def test_clinic_time_zone_is_a_setting():
    assert probe(CLINIC_TIME_ZONE="Europe/London")["tz"] == "Europe/London"
    bad = load("itb.settings.local", CLINIC_TIME_ZONE="Mars/Olympus")
    assert bad.returncode != 0 and "not an IANA time zone" in bad.stderr


@pytest.mark.parametrize(
    ("missing", "env"),
    [
        (
            "DJANGO_SECRET_KEY",
            {
                "DJANGO_ALLOWED_HOSTS": "itb.example.org",
                "DATABASE_URL": "postgres://x@db/itb",
                "REDIS_URL": "redis://r:6379/0",
            },
        ),
        (
            "DJANGO_ALLOWED_HOSTS",
            {
                "DJANGO_SECRET_KEY": "s" * 50,
                "DATABASE_URL": "postgres://x@db/itb",
                "REDIS_URL": "redis://r:6379/0",
            },
        ),
        (
            "DATABASE_URL",
            {
                "DJANGO_SECRET_KEY": "s" * 50,
                "DJANGO_ALLOWED_HOSTS": "itb.example.org",
                "REDIS_URL": "redis://r:6379/0",
            },
        ),
        (
            "REDIS_URL",
            {
                "DJANGO_SECRET_KEY": "s" * 50,
                "DJANGO_ALLOWED_HOSTS": "itb.example.org",
                "DATABASE_URL": "postgres://x@db/itb",
            },
        ),
    ],
)
def test_production_refuses_to_start_without_its_environment(missing, env):
    result = load("itb.settings.production", **env)
    assert result.returncode != 0
    assert f"{missing} must be set" in result.stderr


def test_production_starts_with_its_environment():
    s = probe(
        "itb.settings.production",
        DJANGO_SECRET_KEY="s" * 50,
        DJANGO_ALLOWED_HOSTS="itb.example.org",
        DATABASE_URL="postgres://x@db/itb",
        REDIS_URL="redis://r:6379/0",
    )
    assert s["debug"] is False
    assert s["engine"] == "django.db.backends.postgresql"
    assert s["options"] == {"prepare_threshold": 2**31 - 1}
