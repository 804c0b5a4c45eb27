"""Test settings: the suite runs on PostgreSQL and Redis when DATABASE_URL / REDIS_URL are set
(``make test`` sets both), and on the SQLite/filesystem defaults otherwise."""

from .base import *  # noqa: F403
from .base import VAR_DIR, env

DEBUG = False
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="test-key-not-for-production")  # noqa: S105
ALLOWED_HOSTS = ["localhost", "127.0.0.1", "testserver"]
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
EMAIL_FILE_PATH = VAR_DIR / "test-mail"
# Static files come from the app folders (no collectstatic before tests).
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
(VAR_DIR / "static").mkdir(parents=True, exist_ok=True)
# The permission matrix and schemathesis make thousands of requests; the throttle test sets its
# own rate.
ITB_API_THROTTLE_RATE = "1000000/min"
