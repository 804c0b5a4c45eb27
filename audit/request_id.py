"""The request id: one short token per request that ties together its response (the
``X-Request-ID`` header, the error page), its log lines and its access-log rows.

``RequestIdMiddleware`` (audit/middleware.py) sets it; code that runs during the request reads
it with ``current_request_id()``, and ``RequestIdFilter`` puts it on every log record so the
log format can show it (``%(request_id)s``; ``-`` outside a request, e.g. in Celery tasks).

Django's development server (``make run``) logs each request's line after the middleware has
returned, while it sends the response: the middleware leaves the id as the one of the response
this thread is sending (``sending_request_id``) until the response is closed, so that line
names its request too.
"""

import logging
import re
import uuid
from contextvars import ContextVar

REQUEST_ID_HEADER = "X-Request-ID"
# An id sent by a proxy or a client is kept only when it is plainly an id: letters, digits and
# ``._-``, 8 to 64 characters. Anything else (spaces, newlines that could forge log lines,
# markup, a whole sentence) is replaced by a fresh one.
VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{8,64}")
NO_REQUEST_ID = "-"

_request_id: ContextVar[str] = ContextVar("request_id", default="")
# The id of the response this thread is sending: set when the middleware returns, cleared when
# a request starts and when its response is closed (``forget_sending_request_id``).
_sending_request_id: ContextVar[str] = ContextVar("sending_request_id", default="")


def new_request_id() -> str:
    return uuid.uuid4().hex


def accepted_request_id(incoming: str | None) -> str:
    """``incoming`` when it is a well-formed id, else a new one."""
    if incoming and VALID_REQUEST_ID.fullmatch(incoming):
        return incoming
    return new_request_id()


def current_request_id() -> str:
    """The id of the request being handled; empty outside a request."""
    return _request_id.get()


def sending_request_id() -> str:
    """The id of the request whose response this thread is sending (after the middleware has
    returned, before the response is closed); empty otherwise."""
    return _sending_request_id.get()


def forget_sending_request_id(**kwargs: object) -> None:
    """Receiver of ``request_started`` and ``request_finished`` (connected in audit/apps.py):
    nothing is being sent any more, or not yet."""
    _sending_request_id.set("")


class RequestIdFilter(logging.Filter):
    """Adds ``request_id`` to every record (it never drops one). Django logs a request's
    error status ("Not Found: ...") after the middleware has finished, with the request on the
    record: its id is taken from there. The development server logs the request line while it
    sends the response: the id is the one of the response being sent."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "request_id", None):
            request = getattr(record, "request", None)
            record.request_id = (
                getattr(request, "request_id", "")
                or _request_id.get()
                or _sending_request_id.get()
                or NO_REQUEST_ID
            )
        return True
