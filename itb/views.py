"""Project-level views."""

from django.db import connection
from django.http import HttpRequest, HttpResponse, HttpResponsePermanentRedirect, JsonResponse
from django.template.loader import render_to_string
from django.templatetags.static import static
from django.views.decorators.http import require_safe


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


@require_safe
def favicon(request: HttpRequest) -> HttpResponsePermanentRedirect:
    """The icon, for browsers that ask for /favicon.ico (the admin and the API docs pages do
    not name one)."""
    return HttpResponsePermanentRedirect(static("img/favicon.svg"))


# --- Error pages ---------------------------------------------------------------------------------
# The four error pages and the refused-form page say what happened and what to do, and show the
# request id to quote to support (set by the request-id middleware, when present). They reveal
# nothing else: no exception text, no path, no settings. They are rendered without the request,
# so no context processor runs and a 500 page needs no database. Under /api/ the same answers
# are JSON, like every other API error.

ERROR_DETAILS = {
    400: "Bad request.",
    403: "You do not have permission to perform this action.",
    404: "Not found.",
    500: "Server error.",
}
CSRF_DETAIL = "The form has expired or did not come from this site."


def request_id_of(request: HttpRequest) -> str:
    return str(getattr(request, "request_id", "") or "")


def _error_response(
    request: HttpRequest, status: int, *, csrf: bool = False
) -> HttpResponse | JsonResponse:
    request_id = request_id_of(request)
    if request.path.startswith("/api/"):
        body = {"detail": CSRF_DETAIL if csrf else ERROR_DETAILS[status]}
        if request_id:
            body["request_id"] = request_id
        return JsonResponse(body, status=status)
    html = render_to_string(f"{status}.html", {"request_id": request_id, "csrf": csrf})
    return HttpResponse(html, status=status)


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _error_response(request, 400)


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _error_response(request, 403)


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _error_response(request, 404)


def server_error(request: HttpRequest) -> HttpResponse:
    return _error_response(request, 500)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """``CSRF_FAILURE_VIEW``: a form sent without a valid token (it expired with the session,
    or it came from another site). Nothing was done; the page says to reload and send again."""
    return _error_response(request, 403, csrf=True)
