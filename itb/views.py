"""Project-level views."""

from django.db import connection
from django.http import HttpRequest, JsonResponse


def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness: the web process answers and reaches its database."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        database_ok = True
    except Exception:  # any database failure makes the process unhealthy
        database_ok = False
    status = 200 if database_ok else 503
    return JsonResponse({"database": "ok" if database_ok else "unreachable"}, status=status)
