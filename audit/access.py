"""The patient access log: who read which patient's record, through what, and when.

Reads are many and must stay cheap, so recording has two halves:

1. A view (or the API base class, the admin, a feed) calls ``note_patient_read(request,
   patient_ids, what)`` once it has decided to show those patients. That only appends to a
   list on the request: no query.
2. ``AccessLogMiddleware`` (audit/middleware.py) calls ``flush_patient_reads`` after the view
   and, when the response status is below 400, writes every noted read in ONE bulk INSERT,
   however many patients the page showed. A refused or failed read (404, 403, 500) records
   nothing of the record: the server log has those.

If the INSERT fails, the exception propagates and the response becomes a server error: a
record is never shown without its read being recorded.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from accounts.models import ApiToken
from audit.models import AccessChannel, AccessLogEntry
from audit.request_id import current_request_id
from itb.db import prepared_cursor
from itb.security import redact_path

PENDING_ATTRIBUTE = "_patient_reads"
PATH_MAX = AccessLogEntry._meta.get_field("path").max_length or 300
WHAT_MAX = AccessLogEntry._meta.get_field("what").max_length or 60


@dataclass(frozen=True, slots=True)
class PendingRead:
    patient_id: int
    what: str
    actor: Any
    channel: str


def _django_request(request: Any) -> HttpRequest:
    """The Django request under a REST framework ``Request`` (or the request itself)."""
    return getattr(request, "_request", request)


def note_patient_read(
    request: Any,
    patient_ids: Iterable[int | None],
    what: str,
    *,
    actor: Any = None,
    channel: str = AccessChannel.PAGE,
) -> None:
    """Remember that this request shows the records of ``patient_ids`` (``None`` ids are
    skipped) as ``what`` ("patient page", "board", "API pump list"...). ``actor`` defaults to
    the signed-in user when the response is written; pass it when someone else is the reader
    (a calendar feed's owner). Costs no query: the rows are written after the view."""
    pending: list[PendingRead] = _django_request(request).__dict__.setdefault(PENDING_ATTRIBUTE, [])
    label = what[:WHAT_MAX]
    for patient_id in patient_ids:
        if patient_id is not None:
            pending.append(PendingRead(int(patient_id), label, actor, str(channel)))


def client_address(request: HttpRequest) -> str | None:
    """The client's IP address. Behind ``ITB_TRUSTED_PROXIES`` reverse proxies that each append
    to ``X-Forwarded-For``, the address the outermost of them saw; otherwise the socket's
    peer. Entries a client could have forged (further left) are never used."""
    remote = request.META.get("REMOTE_ADDR", "")
    hops = int(getattr(settings, "ITB_TRUSTED_PROXIES", 0))
    candidate = remote
    if hops > 0:
        forwarded = [
            part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
        ]
        forwarded = [part for part in forwarded if part]
        if len(forwarded) >= hops:
            candidate = forwarded[-hops]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        try:
            return str(ipaddress.ip_address(remote))
        except ValueError:
            return None


def flush_patient_reads(request: HttpRequest, response: HttpResponse) -> int:
    """Write the reads noted on ``request`` in one INSERT when ``response`` succeeded; return
    how many rows were written. Each (patient, what, reader) is written once per request."""
    pending = request.__dict__.pop(PENDING_ATTRIBUTE, None)
    if not pending or response.status_code >= 400:
        return 0
    user = getattr(request, "user", None)
    signed_in = user if getattr(user, "is_authenticated", False) else None
    token = getattr(request, "auth", None)
    token_id = token.pk if isinstance(token, ApiToken) else None
    now = timezone.now()
    request_id = getattr(request, "request_id", "") or current_request_id()
    address = client_address(request)
    method = (request.method or "")[:10]
    path = redact_path(request.path)[:PATH_MAX]
    common = {
        "occurred_at": now,
        "request_id": request_id,
        "client_address": address,
        "method": method,
        "path": path,
    }
    rows: list[dict[str, Any]] = []  # the values of _PER_ROW
    seen: set[tuple[int, str, int | None]] = set()
    for read in pending:
        actor = read.actor if read.actor is not None else signed_in
        actor_id = getattr(actor, "pk", None)
        key = (read.patient_id, read.what, actor_id)
        if key in seen:
            continue
        seen.add(key)
        rows.append(
            {
                "actor_id": actor_id,
                "api_token_id": token_id if read.channel == AccessChannel.API else None,
                "patient_id": read.patient_id,
                "what": read.what,
                "channel": read.channel,
            }
        )
    if connection.vendor == "postgresql":
        _insert_unnest(common, rows)
    else:  # SQLite, the demo database, splits a long page into batches of its parameter limit
        AccessLogEntry.objects.bulk_create([AccessLogEntry(**common, **row) for row in rows])
    return len(rows)


# The columns that differ between the rows of one request; the others are the request's own.
_PER_ROW = ("actor_id", "api_token_id", "patient_id", "what", "channel")
_PER_REQUEST = ("occurred_at", "request_id", "client_address", "method", "path")
# The columns' SQL types (text when not named): the statement names every parameter's type.
_SQL_TYPES = {
    "occurred_at": "timestamptz",
    "client_address": "inet",
    "actor_id": "bigint",
    "api_token_id": "bigint",
    "patient_id": "bigint",
}


def _insert_unnest(common: dict[str, Any], rows: list[dict[str, Any]]) -> None:
    """The rows in one ``INSERT ... SELECT FROM unnest(...)``: a parameter an array per
    varying column, so the statement is the same whatever the number of rows, and without
    model instances (``bulk_create`` costs four times the insert on a 50-row page). ``common``
    holds the request's own values (``_PER_REQUEST``), each row the others (``_PER_ROW``)."""
    quote = connection.ops.quote_name
    table = quote(AccessLogEntry._meta.db_table)
    columns = ", ".join(quote(name) for name in (*_PER_REQUEST, *_PER_ROW))
    values = ", ".join(f"%s::{_SQL_TYPES.get(name, 'text')}" for name in _PER_REQUEST)
    arrays = ", ".join(f"%s::{_SQL_TYPES.get(name, 'text')}[]" for name in _PER_ROW)
    params: list[Any] = [common[name] for name in _PER_REQUEST]
    params += [[row[name] for row in rows] for name in _PER_ROW]
    # Prepared (itb.db): the statement's text is the same for every request.
    with prepared_cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({columns}) "  # noqa: S608 - the model's own table and columns
            f"SELECT {values}, r.* FROM unnest({arrays}) AS r",
            params,
        )
