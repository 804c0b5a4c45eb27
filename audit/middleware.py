"""Request middleware of the audit app.

``RequestIdMiddleware`` runs first: it gives the request its id (``request.request_id``), makes
the id available to log records for the whole request and while its response is sent (the
development server logs the request line then), and returns it in ``X-Request-ID``.

``AccessLogMiddleware`` runs after authentication and the view: it writes the patient reads
the view noted (``audit.access.note_patient_read``) in one INSERT when the response succeeded.
"""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from audit.access import flush_patient_reads
from audit.request_id import (
    REQUEST_ID_HEADER,
    _request_id,
    _sending_request_id,
    accepted_request_id,
)


class RequestIdMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = accepted_request_id(request.headers.get(REQUEST_ID_HEADER))
        request.request_id = request_id  # type: ignore[attr-defined]
        reset = _request_id.set(request_id)
        try:
            response = self.get_response(request)
        finally:
            _request_id.reset(reset)
            # Until the response is closed (audit/apps.py clears it on request_finished).
            _sending_request_id.set(request_id)
        response[REQUEST_ID_HEADER] = request_id
        return response


class AccessLogMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        flush_patient_reads(request, response)
        return response
