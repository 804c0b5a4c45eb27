"""What every resource of the REST API shares: service errors as field messages, ETags and
If-Match, Idempotency-Key replay, per-token throttling, cursor pagination, and audit entries
that name the API token.

The resources never write on their own: they call the same services as the web pages, inside
the same access selector, so the API cannot do what the pages refuse.
"""

import functools
import hashlib
import json
import re
from base64 import b64decode, b64encode
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import Token
from datetime import UTC
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlencode

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, transaction
from django.db.models import F, Model
from django.utils import timezone
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework import exceptions, status
from rest_framework.filters import OrderingFilter
from rest_framework.pagination import CursorPagination
from rest_framework.parsers import JSONParser
from rest_framework.permissions import SAFE_METHODS
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param
from rest_framework.viewsets import GenericViewSet

from accounts.models import ApiToken
from api.models import IdempotencyRecord
from api.throttling import TokenRateThrottle
from audit.access import note_patient_read
from audit.context import _via
from audit.models import AccessChannel

M = TypeVar("M", bound=Model)


@contextmanager
def service_errors() -> Iterator[None]:
    """A service's ValidationError as a 400 with messages by field (``non_field_errors`` for
    the rest); its PermissionDenied as a 403."""
    try:
        yield
    except DjangoValidationError as exc:
        if hasattr(exc, "error_dict"):
            detail = {
                ("non_field_errors" if field == "__all__" else field): messages
                for field, messages in exc.message_dict.items()
            }
            raise exceptions.ValidationError(detail) from None
        raise exceptions.ValidationError({"non_field_errors": exc.messages}) from None
    except DjangoPermissionDenied as exc:
        raise exceptions.PermissionDenied(str(exc) or None) from None


def etag_of(data: Any) -> str:
    """A strong ETag of a representation: it changes whenever any field of it does."""
    payload = json.dumps(data, sort_keys=True, cls=DjangoJSONEncoder).encode()
    return '"' + hashlib.sha256(payload).hexdigest()[:32] + '"'


class PreconditionRequired(exceptions.APIException):
    status_code = 428
    default_detail = (
        "Send the record's ETag in an If-Match header (GET it first), so a change made by "
        "someone else meanwhile is not overwritten."
    )
    default_code = "precondition_required"


class PreconditionFailed(exceptions.APIException):
    status_code = status.HTTP_412_PRECONDITION_FAILED
    default_detail = (
        "The record changed since you read it (its ETag no longer matches If-Match). GET it "
        "again, check the change, and retry."
    )
    default_code = "precondition_failed"


class NullsLastOrdering(OrderingFilter):
    """``?ordering=`` on fields that may be empty (a pump with no projection yet): they are
    ordered through a non-null stand-in (``<field>_sort``, annotated by the view), so cursor
    pagination never loses the empty ones and they come last; ``id`` breaks ties."""

    def get_ordering(self, request: Request, queryset: Any, view: Any) -> Any:
        asked = request.query_params.get(self.ordering_param)
        if asked:
            # A field the list cannot be ordered by is refused, not silently dropped: the
            # caller would otherwise page through an order it did not ask for.
            valid = [name for name, _label in self.get_valid_fields(queryset, view, {})]
            unknown = [term for term in asked.split(",") if term.strip().lstrip("-") not in valid]
            if unknown:
                raise exceptions.ValidationError(
                    {
                        self.ordering_param: [
                            f"Cannot order by {', '.join(repr(t) for t in unknown)}: order by "
                            f"{', '.join(valid)}, each reversed with a leading '-', several "
                            "separated by commas."
                        ]
                    }
                )
        ordering = super().get_ordering(request, queryset, view)
        mapped = getattr(view, "nullable_orderings", ())
        if not ordering:
            return ordering
        terms = [
            f"{'-' if term.startswith('-') else ''}{term.lstrip('-')}_sort"
            if term.lstrip("-") in mapped
            else term
            for term in ordering
        ]
        # Rows with equal values (all the empty ones) keep one order from page to page.
        if not any(term.lstrip("-") == "id" for term in terms):
            terms.append("id")
        return terms

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        fields = [field if isinstance(field, str) else field[0] for field in view.ordering_fields]
        names = "|".join(re.escape(field) for field in fields)
        default = ",".join(view.ordering)
        empty = getattr(view, "nullable_orderings", ())
        return [
            {
                "name": self.ordering_param,
                "required": False,
                "in": "query",
                "description": f"Order by {', '.join(f'`{f}`' for f in fields)}; a leading `-` "
                f"reverses a field (`-{fields[-1]}`), several are separated by commas. Default "
                f"`{default}`; ties are broken by `id`."
                + (
                    f" Records without {' or '.join(f'`{f}`' for f in empty)} come last."
                    if empty
                    else ""
                )
                + " Another field is refused (400). A cursor (next/previous link) belongs to "
                "the ordering it was made with.",
                "schema": {"type": "string", "pattern": f"^-?({names})(,-?({names}))*$"},
            }
        ]


class Cursor(CursorPagination):
    """Cursor pagination: pages stay stable while rows are added. ``page_size`` up to 200."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200
    ordering = "-id"

    def paginate_queryset(self, queryset: Any, request: Any, view: Any = None) -> Any:
        self._queryset = queryset  # for decode_cursor, which DRF calls once it has the ordering
        return super().paginate_queryset(queryset, request, view)

    # The key, in a cursor's query string, of the ordering the cursor was made with.
    ordering_key = "k"

    def encode_cursor(self, cursor: Any) -> str:
        """DRF's cursor, with the ordering it belongs to (``ordering_key``)."""
        tokens = {self.ordering_key: ",".join(self.ordering)}
        if cursor.offset != 0:
            tokens["o"] = str(cursor.offset)
        if cursor.reverse:
            tokens["r"] = "1"
        if cursor.position is not None:
            tokens["p"] = cursor.position
        encoded = b64encode(urlencode(tokens, doseq=True).encode("ascii")).decode("ascii")
        assert self.base_url is not None  # set by paginate_queryset
        return str(replace_query_param(self.base_url, self.cursor_query_param, encoded))

    def decode_cursor(self, request: Any) -> Any:
        """The cursor, refused like one that cannot be decoded (404) when it was made with
        another ordering, or when its position is not a value of the ordering's first field: a
        cursor kept from another ``?ordering=`` (or made up) would otherwise give a wrong or
        empty page, or reach the query as a value of the wrong type (a 500)."""
        cursor = super().decode_cursor(request)
        if cursor is None:
            return cursor
        encoded = request.query_params.get(self.cursor_query_param, "")
        tokens = parse_qs(b64decode(encoded.encode("ascii")).decode("ascii"), True)
        if tokens.get(self.ordering_key, [None])[0] != ",".join(self.ordering):
            raise exceptions.NotFound(self.invalid_cursor_message)
        if cursor.position is None:
            return cursor
        try:
            field = _position_field(self._queryset, self.ordering[0].lstrip("-"))
            if field is not None:
                field.to_python(cursor.position)
        except (DjangoValidationError, ValueError, TypeError):
            raise exceptions.NotFound(self.invalid_cursor_message) from None
        return cursor

    def get_paginated_json_response(self, results: list[str]) -> Response:
        """``get_paginated_response`` for results already written as JSON texts (the pump
        list: ``api.representations.pump_documents``): the same page, not encoded again."""
        next_link = json.dumps(self.get_next_link())
        previous_link = json.dumps(self.get_previous_link())
        body = f'{{"next":{next_link},"previous":{previous_link},"results":[{",".join(results)}]}}'
        return WrittenJSONResponse(body.encode())


class WrittenJSONResponse(Response):
    """A response whose JSON body is already written: rendered as it is, with the JSON
    renderer's content type."""

    def __init__(self, body: bytes) -> None:
        super().__init__(status=status.HTTP_200_OK)
        self.written_body = body

    @property
    def rendered_content(self) -> bytes:  # type: ignore[override]  # bytes, as JSONRenderer gives
        self["Content-Type"] = "application/json"
        return self.written_body


def _position_field(queryset: Any, name: str) -> Any:
    """The field whose values the ordering key ``name`` of ``queryset`` holds: a model field,
    an annotation's output field, or the pump page query's own (``api.pump_page``)."""
    if hasattr(queryset, "position_field"):
        return queryset.position_field(name)
    annotation = queryset.query.annotations.get(name)
    if annotation is not None:
        return annotation.output_field
    return queryset.model._meta.get_field(name)


def idempotent(handler: Callable[..., Response]) -> Callable[..., Response]:
    """Honour an ``Idempotency-Key`` header on a POST: the first successful response is kept;
    the same key with the same request replays it (``Idempotent-Replayed: true``) and writes
    nothing; the same key with a different request answers 422. A request that fails keeps
    no record, so it can be corrected and sent again with the same key. A header sent empty
    (a key generator that printed nothing) is a 400: the caller meant the request to be safe
    to repeat, and without a key it would not be."""

    @functools.wraps(handler)
    def wrapper(self: Any, request: Request, *args: Any, **kwargs: Any) -> Response:
        sent = request.headers.get("Idempotency-Key")
        if sent is None:
            return handler(self, request, *args, **kwargs)
        key = sent.strip()
        if not key:
            raise exceptions.ValidationError(
                {
                    "Idempotency-Key": [
                        "The Idempotency-Key header is empty: send a unique key (a UUID), or "
                        "leave the header out."
                    ]
                }
            )
        if len(key) > 200:
            raise exceptions.ValidationError(
                {"Idempotency-Key": ["At most 200 characters; a UUID is a good key."]}
            )
        user: Any = request.user  # authenticated: the permission classes ran first
        body = json.dumps(request.data, sort_keys=True, cls=DjangoJSONEncoder)
        fingerprint = hashlib.sha256(
            f"{request.method} {request.path}\n{body}".encode()
        ).hexdigest()
        with transaction.atomic():
            try:
                with transaction.atomic():
                    record = IdempotencyRecord.objects.create(
                        user=user,
                        key=key,
                        method=request.method or "",
                        path=request.path[:300],
                        fingerprint=fingerprint,
                        status_code=0,
                    )
            except IntegrityError:
                # The key is taken (or being used by a request in flight: the insert waited
                # for it to finish): replay its response.
                record = IdempotencyRecord.objects.select_for_update().get(user=user, key=key)
                if record.fingerprint != fingerprint:
                    return Response(
                        {
                            "detail": "This Idempotency-Key was already used with a different "
                            "request. Use a new key for a new request."
                        },
                        status=status.HTTP_422_UNPROCESSABLE_ENTITY,
                    )
                replay = Response(record.response, status=record.status_code)
                replay["Idempotent-Replayed"] = "true"
                return replay
            response = handler(self, request, *args, **kwargs)
            if 200 <= response.status_code < 300:
                record.status_code = response.status_code
                record.response = json.loads(json.dumps(response.data, cls=DjangoJSONEncoder))
                record.save(update_fields=["status_code", "response"])
            else:
                record.delete()
            return response

    return wrapper


# The annotation that carries a record's patient id on reads (ResourceViewSet.filter_queryset).
ACCESS_PATIENT_ID = "access_patient_id"


def _patient_id_of(record: Any, path: str) -> Any:
    """The patient id of a record read through the API: the annotation, or the path walked
    (a list may read its page as dicts of values: ``PumpViewSet``)."""
    if isinstance(record, dict):
        return record[ACCESS_PATIENT_ID]
    if hasattr(record, ACCESS_PATIENT_ID):
        return getattr(record, ACCESS_PATIENT_ID)
    value = record
    for part in path.split("__"):
        value = getattr(value, part)
    return value


class ResourceViewSet(GenericViewSet):  # type: ignore[type-arg]
    """The base of every resource: throttled per token, cursor-paginated, audited as coming
    through the API (naming the token), with ETag / If-Match on single records."""

    pagination_class = Cursor
    # JSON in, as JSON out: a form-encoded or multipart body is a 415, and the schema lists
    # application/json request bodies only.
    parser_classes = [JSONParser]
    throttle_classes = [TokenRateThrottle]
    lookup_value_regex = r"\d+"
    # How a record reaches its patient ("patient_id", "pump__patient_id"): every read (list page
    # or single record) is then recorded in the patient access log. None: names no patient.
    access_patient_path: str | None = None

    def dispatch(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        """Times in and out in UTC, whatever the clinic's zone; both the zone and the audit
        ``via`` are put back however the request ends (even with an unhandled error)."""
        self._via_reset: Token[str] | None = None
        timezone.activate(UTC)
        try:
            return super().dispatch(request, *args, **kwargs)
        finally:
            if self._via_reset is not None:
                _via.reset(self._via_reset)
                self._via_reset = None
            timezone.deactivate()

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        token = request.auth
        via = f"API token itb_{token.prefix}" if isinstance(token, ApiToken) else "API (session)"
        self._via_reset = _via.set(via)

    def filter_queryset(self, queryset: Any) -> Any:
        """Filters and ordering are for lists; a single record is looked up by id alone. Reads
        carry each record's patient id (in the same query) for the access log."""
        if self.access_patient_path and self.request.method in SAFE_METHODS:
            queryset = queryset.annotate(**{ACCESS_PATIENT_ID: F(self.access_patient_path)})
        if self.detail:
            return queryset
        for backend in self.filter_backends:
            if issubclass(backend, DjangoFilterBackend) and not self._filters_asked():
                # No filter asked: the filter set would build and validate its form to apply
                # nothing (a measurable share of a list request).
                continue
            queryset = backend().filter_queryset(self.request, queryset, self)
        return queryset

    def _filters_asked(self) -> bool:
        """Whether the query string holds any of this view's filters (True when the view's
        filters cannot be named without building them)."""
        filterset_class = getattr(self, "filterset_class", None)
        fields = getattr(self, "filterset_fields", None)
        if filterset_class is not None:
            names = set(filterset_class.base_filters)
        elif isinstance(fields, list | tuple):
            names = set(fields)
        else:
            return True
        # A filter may read more than one parameter, each named after it (``<name>_min``).
        return any(
            param == name or param.startswith(f"{name}_")
            for param in self.request.query_params
            for name in names
        )

    def paginate_queryset(self, queryset: Any) -> Any:
        page = super().paginate_queryset(queryset)
        self.note_reads(page or (), "list")
        return page

    def note_patient_reads(self, patient_ids: list[Any], what: str) -> None:
        """Note reads of these patients' records ("pump detail" is written "API pump detail")
        when a view reads without model instances."""
        if self.request.method in SAFE_METHODS:
            note_patient_read(self.request, patient_ids, f"API {what}", channel=AccessChannel.API)

    def _model_of(self, record: Any) -> Any:
        if isinstance(record, dict):  # a page read as values: the serializer names the model
            return self.get_serializer_class().Meta.model  # type: ignore[attr-defined]
        return type(record)

    def note_reads(self, records: Any, kind: str) -> None:
        """Note the patients of ``records`` as read ("API pump list", "API pump detail"); the
        rows are written after the response, in one INSERT (audit.access)."""
        path = self.access_patient_path
        if not path or not records or self.request.method not in SAFE_METHODS:
            return
        note_patient_read(
            self.request,
            [_patient_id_of(record, path) for record in records],
            f"API {self._model_of(records[0])._meta.verbose_name} {kind}",
            channel=AccessChannel.API,
        )

    # --- ETags ---------------------------------------------------------------------------

    def represent(self, instance: Model) -> Any:
        return self.get_serializer(instance).data

    def with_etag(self, data: Any, *, code: int = status.HTTP_200_OK) -> Response:
        response = Response(data, status=code)
        response["ETag"] = etag_of(data)
        return response

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        instance = self.get_object()
        self.note_reads([instance], "detail")
        return self.conditional(self.represent(instance))

    def conditional(self, data: Any) -> Response:
        """``data`` with its ETag, or 304 Not Modified when it matches If-None-Match."""
        etag = etag_of(data)
        if self.request.headers.get("If-None-Match") == etag:
            response = Response(status=status.HTTP_304_NOT_MODIFIED)
            response["ETag"] = etag
            return response
        return self.with_etag(data)

    def lock_matching(self, instance: M) -> M:
        """Lock ``instance`` (inside the caller's transaction) and check the request's
        If-Match against its current representation: 428 without one, 412 when stale."""
        expected = self.request.headers.get("If-Match")
        if not expected:
            raise PreconditionRequired()
        model = type(instance)
        locked = (
            self.get_queryset().select_for_update(no_key=True, of=("self",)).get(pk=instance.pk)
            if self.get_queryset().model is model
            else model._default_manager.select_for_update(no_key=True).get(pk=instance.pk)
        )
        if expected.strip() not in ("*", etag_of(self.represent(locked))):
            raise PreconditionFailed()
        return locked
