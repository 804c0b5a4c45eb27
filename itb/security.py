"""Security headers Django does not set itself, and what must never reach a log line.

``SecurityHeadersMiddleware`` adds a Content-Security-Policy and a Permissions-Policy to every
response (Django 5.2 has no built-in CSP). The policy allows scripts, styles, fonts and images
from the app's own origin only and no inline script or style at all: the pages are
server-rendered with the app's own stylesheet, the reservoir chart is SVG with presentation
attributes, and the API docs load their sidecar scripts from our static files. A cross-site
script injected into a page therefore cannot run. The other headers (X-Frame-Options,
X-Content-Type-Options, Referrer-Policy, Cross-Origin-Opener-Policy) come from Django's own
middleware, configured in the "Security headers" block of the base settings; this one adds
X-Frame-Options to the static files, which WhiteNoise answers before Django's middleware.

``RedactingFilter`` (on the log handler) and ``redact_path`` (the access log, in
``gunicorn.conf.py``) keep credentials in URLs and the row values PostgreSQL repeats in its
errors out of the logs. ``QueryStringFilter`` (on Django's ``django.server`` logger) keeps the
query string out of the development server's request lines, as ``gunicorn.conf.py`` does for
gunicorn's.
"""

import logging
import re
from collections.abc import Callable, Mapping, Sequence
from functools import wraps
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse

CSP_HEADER = "Content-Security-Policy"
PERMISSIONS_POLICY_HEADER = "Permissions-Policy"


def content_security_policy(directives: Mapping[str, Sequence[str]]) -> str:
    """``{"default-src": ["'self'"], ...}`` as the header value ``default-src 'self'; ...``."""
    return "; ".join(
        " ".join([name, *sources]) if sources else name for name, sources in directives.items()
    )


def permissions_policy(features: Mapping[str, Sequence[str]]) -> str:
    """``{"camera": [], "fullscreen": ["self"]}`` as ``camera=(), fullscreen=(self)``."""
    return ", ".join(f"{name}=({' '.join(allowed)})" for name, allowed in features.items())


# The two inline <style> elements ReDoc's script (drf-spectacular-sidecar 2026.10.1) adds, by the
# hash of their exact text; only the ReDoc page admits them (``with_extra_sources``). They come
# from our own static file, but a hash admits exactly that text and nothing else.
# - An empty <style>: styled-components creates it and fills it through the CSSOM, which the
#   policy allows; without it ReDoc cannot draw at all.
# - The stylesheet of its scroll bars (perfect-scrollbar).
# An upgrade of the sidecar that changes either shows as a violation in tests/e2e/test_csp.py.
REDOC_INLINE_STYLES = (
    "'sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU='",
    "'sha256-QMIg+bpjm3JdElJ388KYke01izlUW0UoNOeKjpMxdgc='",
)


def with_extra_sources(
    view: Callable[..., HttpResponse], **extra: Sequence[str]
) -> Callable[..., HttpResponse]:
    """``view`` answering with the site's policy plus ``extra`` sources per directive (keyword
    names use ``_`` for ``-``: ``style_src=[...]``)."""
    directives = {
        name: list(sources) for name, sources in settings.ITB_CONTENT_SECURITY_POLICY.items()
    }
    for name, sources in extra.items():
        directives.setdefault(name.replace("_", "-"), []).extend(sources)
    policy = content_security_policy(directives)

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response = view(request, *args, **kwargs)
        response.headers[CSP_HEADER] = policy
        return response

    return wrapped


class SecurityHeadersMiddleware:
    """Adds ``Content-Security-Policy``, ``Permissions-Policy`` and (for the static files)
    ``X-Frame-Options`` to every response that has none of its own (a view may set its own:
    the ReDoc page, through ``with_extra_sources``).

    With ``DEBUG`` on, error responses go without the CSP: Django's technical 404 and 500 pages
    style and script themselves inline and would be unreadable under it. ``DEBUG`` is never on
    in production (``itb.settings.production``)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.csp = content_security_policy(settings.ITB_CONTENT_SECURITY_POLICY)
        self.permissions = permissions_policy(settings.ITB_PERMISSIONS_POLICY)

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if not (settings.DEBUG and response.status_code >= 400):
            response.headers.setdefault(CSP_HEADER, self.csp)
        response.headers.setdefault(PERMISSIONS_POLICY_HEADER, self.permissions)
        # Django's XFrameOptionsMiddleware sits below WhiteNoise, which answers static files
        # itself; the same header, set here too, covers those.
        if not getattr(response, "xframe_options_exempt", False):
            response.headers.setdefault("X-Frame-Options", settings.X_FRAME_OPTIONS)
        # A page shown to someone signed in may hold patient data: the browser must not keep
        # it, so Back after signing out on a shared clinic computer shows nothing.
        user = getattr(request, "user", None)
        if (
            getattr(user, "is_authenticated", False)
            and "Cache-Control" not in response.headers
            and response.get("Content-Type", "").startswith("text/html")
        ):
            response.headers["Cache-Control"] = "no-store"
        return response


# --- Log hygiene ---------------------------------------------------------------------------------
# Logs hold ids, never who a patient is. Two things can still carry a secret or a patient's
# details into a log line, and are redacted wherever they appear:
# - the two URL paths whose last segment is a credential: whoever holds the address can read the
#   calendar (refills:ical) or acknowledge the alert (alerts:ack_link);
# - PostgreSQL's error details, which repeat the values of the row that broke a constraint
#   ("Failing row contains (7, Alma, Atwood, 1980-05-17, ...)", "Key (clinic_id, mrn)=(1, A1)")
#   and reach the log in the traceback of a 500.
REDACTED = "[redacted]"
_SECRETS = (
    (re.compile(r"(/ical/)[^/?#\s]+(\.ics)"), rf"\g<1>{REDACTED}\g<2>"),
    (re.compile(r"(/alerts/ack/)[^/?#\s]+"), rf"\g<1>{REDACTED}"),
    (re.compile(r"(Failing row contains )\(.*\)"), rf"\g<1>({REDACTED})"),
    # Greedy to the line's last ")": values may hold parentheses; the columns are kept.
    (re.compile(r"(Key \([^)\n]*\)=)\(.*\)"), rf"\g<1>({REDACTED})"),
)


def redact(text: str) -> str:
    """``text`` with feed and acknowledge-link secrets and database row values replaced by
    ``[redacted]``; everything else unchanged."""
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


def redact_path(path: str) -> str:
    """A URL path for the access log, with the secret of a feed address or acknowledge link
    replaced by ``[redacted]``."""
    return redact(path)


class RedactingFilter(logging.Filter):
    """Applies ``redact`` to a record's message and traceback before any handler writes it (it
    never drops a record). Set on the console handler in ``LOGGING``."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, ()
        if record.exc_info and not record.exc_text:
            record.exc_text = _TRACEBACK.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


_TRACEBACK = logging.Formatter()

# A URL's query string in a request line: from "?" to the next space. Nothing in it is kept,
# quotes included (a search for O'Brien is sent as ?q=O'Brien).
_QUERY_STRING = re.compile(r"\?\S*")


def without_query_string(text: str) -> str:
    """``text`` (a request line, or a server message quoting one) with the query string of
    every URL in it removed: ``GET /?q=Atwood HTTP/1.1`` is ``GET / HTTP/1.1``."""
    return _QUERY_STRING.sub("", text)


class QueryStringFilter(logging.Filter):
    """Removes the query string from the request lines of Django's development server (the
    ``django.server`` logger: ``"GET /patients/?mrn=... HTTP/1.1" 200``), where the board's
    search puts a patient's name or MRN; gunicorn's access log leaves it out the same way
    (``gunicorn.conf.py``). Set on that logger in ``LOGGING``, so every handler (and a test's
    log capture) gets the line without it; it never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = without_query_string(message)
        if cleaned != message:
            record.msg, record.args = cleaned, ()
        return True
