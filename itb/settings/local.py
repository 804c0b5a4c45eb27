"""Local development: the default for ``manage.py``. Runs with no services at all."""

from .base import *  # noqa: F403
from .base import env

DEBUG = env.bool("DJANGO_DEBUG", default=True)
# Development only: a fixed key so sessions survive restarts. Production refuses to start without
# its own key (see production.py).
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="local-development-key-not-for-production")  # noqa: S105
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
