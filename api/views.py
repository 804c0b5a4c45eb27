"""The resources of the REST API under ``/api/v1/``.

Every queryset starts from the access selector: a record outside the caller's care team is a
404 on every method and never appears in a list. Writes need a clinician, nurse or integrator
role on the patient's care team (a caregiver may read, never write) and a write-scope token.
"""

from datetime import UTC, datetime
from typing import Any

from django import forms as django_forms
from django.db import connection, transaction
from django.db.models import Model, Q, QuerySet, Value
from django.db.models.functions import Coalesce
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django_filters import rest_framework as filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
    inline_serializer,
)
from rest_framework import exceptions, mixins
from rest_framework import serializers as drf_serializers
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from alerts.models import Alert, AlertKind, AlertStatus, Severity
from alerts.selectors import API_ALERT_ROLES, alerts_visible_to
from alerts.services import alert_acknowledge
from api import examples as ex
from api import serializers as s
from api.base import (
    Cursor,
    NullsLastOrdering,
    ResourceViewSet,
    TokenRateThrottle,
    etag_of,
    idempotent,
    service_errors,
)
from api.pump_page import PumpPageQuery
from api.representations import pump_documents, pump_representation, pump_representations
from dosing.models import DrugProduct, ProductUse
from pumps.models import (
    CareRole,
    CareTeamMember,
    Patient,
    Pump,
    PumpProgram,
    PumpStatus,
)
from pumps.program_change import ProposedProgram, pump_program_change
from pumps.selectors import (
    patients_visible_to,
    pumps_visible_to,
    pumps_visible_to_for_list,
    roles_for_patient,
)
from pumps.services import StepInput, pump_update
from refills.models import RefillVisit, VisitStatus
from refills.services import refill_cancel, refill_record, refill_reschedule, refill_schedule

# The stand-in of an empty time when ordering by it: after every real one.
NEVER = datetime(9999, 12, 31, tzinfo=UTC)
WRITER_ROLES = {CareRole.CLINICIAN, CareRole.NURSE, CareRole.INTEGRATOR}

ERRORS = {
    400: OpenApiResponse(description="Bad input: {field: [messages]}; each names its unit."),
    401: OpenApiResponse(
        description="No credentials, or the API token is invalid, expired or revoked."
    ),
    403: OpenApiResponse(description="A read-scope token writing, or a role that may only read."),
    404: OpenApiResponse(description="No such record on your care team."),
    429: OpenApiResponse(
        description="Too many requests for this token; retry after the delay in Retry-After."
    ),
}
READ_ERRORS = {
    304: OpenApiResponse(description="Not modified: If-None-Match names the current ETag."),
    **{k: v for k, v in ERRORS.items() if k in (401, 404, 429)},
}
LIST_ERRORS = {
    **{k: v for k, v in ERRORS.items() if k in (400, 401, 429)},
    404: OpenApiResponse(description="The cursor is not valid (use the next/previous links)."),
}
IF_MATCH = OpenApiParameter(
    "If-Match",
    str,
    OpenApiParameter.HEADER,
    required=True,
    description="The ETag of the record as you last read it (from GET).",
)
IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    # Not blank (an empty key is refused) and at most the 200 characters a key is kept with.
    {"type": "string", "minLength": 1, "maxLength": 200, "pattern": r"\S"},
    OpenApiParameter.HEADER,
    required=False,
    description="Any unique string (a UUID), up to 200 characters: sending the request again "
    "with the same key returns the first response and changes nothing. Leave the header out "
    "rather than send it empty: an empty key is refused (400).",
)
PRECONDITION_ERRORS = {
    412: OpenApiResponse(description="The record changed since you read it: GET it again."),
    428: OpenApiResponse(description="If-Match is missing."),
}
IDEMPOTENCY_ERRORS = {
    422: OpenApiResponse(description="The Idempotency-Key was used with a different request."),
}


def require_writer(request: Request, patient: Patient) -> None:
    """A caregiver (or anyone but staff of the patient's clinic) may not write."""
    if not roles_for_patient(request.user, patient) & WRITER_ROLES:
        raise exceptions.PermissionDenied(
            "Only the patient's clinicians, nurses and integrations may change records."
        )


# --- ping --------------------------------------------------------------------------------------


class PingView(APIView):
    """The lightest authenticated endpoint: the framework's own cost (benchmarks, monitoring)."""

    throttle_classes = [TokenRateThrottle]

    @extend_schema(
        summary="Check credentials",
        description='Answers `{"ok": true}` to any authenticated caller; reads no record.',
        responses={
            200: inline_serializer("Ping", fields={"ok": drf_serializers.BooleanField()}),
            **{k: v for k, v in ERRORS.items() if k in (401, 429)},
        },
        examples=[OpenApiExample("OK", value={"ok": True}, response_only=True)],
        tags=["meta"],
    )
    def get(self, request: Request) -> Response:
        return Response({"ok": True})


# --- patients and care teams --------------------------------------------------------------------


@extend_schema_field(OpenApiTypes.INT)
class IdFilter(filters.NumberFilter):
    """A record's id: a whole number (``clinic=1.5`` is refused), an integer in the schema."""

    field_class = django_forms.IntegerField


class UtcDateTimeFilter(filters.IsoDateTimeFilter):
    """An ISO 8601 time with any offset Python accepts (up to ±23:59), compared in UTC (the
    database accepts offsets below 16 hours only)."""

    def filter(self, qs: Any, value: Any) -> Any:
        if isinstance(value, datetime):
            value = value.astimezone(UTC)
        return super().filter(qs, value)


class PatientFilter(filters.FilterSet):
    high_withdrawal_risk = filters.BooleanFilter()
    mrn = filters.CharFilter()

    class Meta:
        model = Patient
        fields = ["clinic", "mrn", "spasticity_origin", "high_withdrawal_risk"]


@extend_schema_view(
    list=extend_schema(
        summary="List patients",
        description="The patients on your care team. Filter by clinic, MRN, origin or risk; "
        "order by family_name or id.",
        responses={200: s.PatientSerializer(many=True), **LIST_ERRORS},
        examples=[ex.page("A page of patients", ex.PATIENT)],
    ),
    retrieve=extend_schema(
        summary="A patient",
        description="One patient; the ETag header identifies this version.",
        responses={200: s.PatientSerializer, **READ_ERRORS},
        examples=[ex.detail("A patient", ex.PATIENT)],
    ),
)
class PatientViewSet(mixins.ListModelMixin, ResourceViewSet):
    serializer_class = s.PatientSerializer
    access_patient_path = "id"
    filterset_class = PatientFilter
    filter_backends = [filters.DjangoFilterBackend, NullsLastOrdering]
    ordering_fields = ["id", "family_name"]
    ordering = ["id"]

    def get_queryset(self) -> QuerySet[Patient]:
        return patients_visible_to(self.request.user).select_related("clinic")


@extend_schema_view(
    list=extend_schema(
        summary="List care-team members",
        description="Who looks after your patients: staff of your clinics and the caregivers "
        "of your patients.",
        responses={200: s.CareTeamMemberSerializer(many=True), **LIST_ERRORS},
        examples=[ex.page("A page of members", ex.CARE_TEAM_MEMBER)],
    ),
    retrieve=extend_schema(
        summary="A care-team member",
        description="One member: role, clinic (staff) or patient (caregivers), lead and on-call "
        "flags.",
        responses={200: s.CareTeamMemberSerializer, **READ_ERRORS},
        examples=[ex.detail("A nurse", ex.CARE_TEAM_MEMBER)],
    ),
)
class CareTeamViewSet(mixins.ListModelMixin, ResourceViewSet):
    serializer_class = s.CareTeamMemberSerializer
    access_patient_path = "patient_id"
    filter_backends = [filters.DjangoFilterBackend, NullsLastOrdering]
    filterset_fields = ["clinic", "patient", "role"]
    ordering_fields = ["id"]
    ordering = ["id"]

    def get_queryset(self) -> QuerySet[CareTeamMember]:
        patients = patients_visible_to(self.request.user)
        clinics = patients.values("clinic_id")
        return CareTeamMember.objects.filter(
            Q(clinic_id__in=clinics) | Q(patient__in=patients)
        ).select_related("user")


# --- pumps ---------------------------------------------------------------------------------------


class PumpFilter(filters.FilterSet):
    clinic = IdFilter(field_name="patient__clinic_id")
    high_withdrawal_risk = filters.BooleanFilter(field_name="patient__high_withdrawal_risk")
    refill_due_before = UtcDateTimeFilter(field_name="refill_due_at", lookup_expr="lt")
    refill_due_after = UtcDateTimeFilter(field_name="refill_due_at", lookup_expr="gte")

    class Meta:
        model = Pump
        fields = ["patient", "status", "clinic", "high_withdrawal_risk"]


@extend_schema_view(
    list=extend_schema(
        summary="List pumps",
        description="Your patients' pumps with the current program, the catheter and the stored "
        "projection (alarm, empty and refill-due times). Order by refill_due_at to get the most "
        "urgent first; filter by refill_due_before for what is due soon.",
        responses={200: s.PumpSerializer(many=True), **LIST_ERRORS},
        examples=[ex.page("A page of pumps", ex.PUMP)],
    ),
    retrieve=extend_schema(
        summary="A pump",
        description="One pump; the ETag header identifies this version (send it as If-Match "
        "to change it).",
        responses={200: s.PumpSerializer, **READ_ERRORS},
        examples=[ex.detail("A pump", ex.PUMP)],
    ),
)
class PumpViewSet(mixins.ListModelMixin, ResourceViewSet):
    serializer_class = s.PumpSerializer
    access_patient_path = "patient_id"
    filterset_class = PumpFilter
    filter_backends = [filters.DjangoFilterBackend, NullsLastOrdering]
    ordering_fields = ["id", "refill_due_at", "projected_alarm_at", "implanted_on"]
    nullable_orderings = ("refill_due_at", "projected_alarm_at")
    ordering = ["id"]

    def get_queryset(self) -> QuerySet[Pump, Any]:
        if self.detail:
            return pumps_visible_to(self.request.user).select_related(None)
        # A list page needs only the ids (and the ordering keys, for the cursor): the
        # representations are read by api.representations in one statement for the page.
        # Only the ordering keys asked for: each one is read and parsed for every row.
        ordering = self.request.query_params.get(NullsLastOrdering.ordering_param, "")
        asked = {term.strip().lstrip("-") for term in ordering.split(",")}
        columns = ["id", "patient_id"] + [name for name in ("implanted_on",) if name in asked]
        stand_ins = {
            f"{name}_sort": Coalesce(name, Value(NEVER))
            for name in self.nullable_orderings
            if name in asked
        }
        return pumps_visible_to_for_list(self.request.user).values(*columns).annotate(**stand_ins)

    def represent(self, instance: Model) -> Any:
        return pump_representation(instance.pk)

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        # One statement reads the pump, checks the caller may see its patient, and brings the
        # program in force and the catheter in place (api.representations).
        data = pump_representation(int(kwargs[self.lookup_field]), user=request.user)
        if data is None:
            raise exceptions.NotFound()
        self.note_patient_reads([data["patient"]], "pump detail")
        return self.conditional(data)

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        if connection.vendor == "postgresql" and not self._filters_asked():
            # No filter to apply: the page query without the ORM (api.pump_page).
            page = self.paginate_queryset(PumpPageQuery(user=request.user, never=NEVER))
        else:
            page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        assert page is not None  # always paginated
        ids = [row["id"] for row in page]
        # The page's representations as JSON written by PostgreSQL where it can write them
        # exactly as the serializer does (api.representations); else encoded here.
        documents = pump_documents(ids)
        if documents is None:
            return self.get_paginated_response(pump_representations(ids))
        assert isinstance(self.paginator, Cursor)
        return self.paginator.get_paginated_json_response(documents)

    @extend_schema(
        summary="Change a pump's record",
        description="Change the low-reservoir alarm volume (mL), the elective replacement date "
        "or the notes, with a reason. Needs If-Match: two people editing the same pump cannot "
        "overwrite each other. The projection is recomputed in the same transaction.",
        parameters=[IF_MATCH],
        request=s.PumpUpdateSerializer,
        responses={200: s.PumpSerializer, **ERRORS, **PRECONDITION_ERRORS},
        examples=[
            OpenApiExample(
                "Raise the alarm volume",
                value={"low_reservoir_alarm_ml": "4.00", "reason": "Withdrawal above 2 mL"},
                request_only=True,
            )
        ],
    )
    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        pump = self.get_object()
        require_writer(request, pump.patient)
        incoming = s.PumpUpdateSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = dict(incoming.validated_data)
        reason = data.pop("reason")
        with transaction.atomic(), service_errors():
            self.lock_matching(pump)
            pump_update(actor=request.user, pump=pump, reason=reason, **data)
        return self.with_etag(self.represent(self.get_object()))


# --- programs ------------------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(
        summary="List pump programs",
        description="The program history of your patients' pumps, newest first. Filter by pump.",
        responses={200: s.ProgramSerializer(many=True), **LIST_ERRORS},
        examples=[ex.page("A page of programs", ex.PROGRAM)],
    ),
    retrieve=extend_schema(
        summary="A pump program",
        description="One program: concentration (mcg/mL), the daily dose (mcg/day) or the flex "
        "steps (mcg/h), who entered and verified it, the dose-change verdict and override.",
        responses={200: s.ProgramSerializer, **READ_ERRORS},
        examples=[ex.detail("A simple program", ex.PROGRAM)],
    ),
)
class ProgramViewSet(mixins.ListModelMixin, ResourceViewSet):
    serializer_class = s.ProgramSerializer
    access_patient_path = "pump__patient_id"
    filter_backends = [filters.DjangoFilterBackend, NullsLastOrdering]
    filterset_fields = ["pump"]
    ordering_fields = ["id", "effective_from"]
    ordering = ["-effective_from"]

    def get_queryset(self) -> QuerySet[PumpProgram]:
        return (
            PumpProgram.objects.filter(pump__in=pumps_visible_to(self.request.user))
            .select_related("entered_by", "verified_by")
            .prefetch_related("steps")
        )

    @extend_schema(
        summary="Change a pump's program",
        description="The same service and checks as the program-change page: the dose-change "
        "verdict (a soft stop needs `override_reason`, a hard stop is refused), a concentration "
        "change needs `bridge_confirmed` (the bridge bolus is recorded), `pump_running_confirmed` "
        "must be true, and `expected_current_program` must still be the current program. The "
        "projection is recomputed in the same transaction.",
        parameters=[IDEMPOTENCY_KEY],
        request=s.ProgramCreateSerializer,
        responses={201: s.ProgramSerializer, **ERRORS, **IDEMPOTENCY_ERRORS},
        examples=[
            OpenApiExample(
                "Titrate a simple program",
                value={
                    "pump": 1,
                    "expected_current_program": 3,
                    "mode": "simple",
                    "concentration_mcg_per_ml": "500",
                    "daily_dose_mcg": "330",
                    "context": "titration",
                    "reason": "Spasticity not controlled",
                    "pump_running_confirmed": True,
                },
                request_only=True,
            )
        ],
    )
    @idempotent
    def create(self, request: Request) -> Response:
        incoming = s.ProgramCreateSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = incoming.validated_data
        pump = get_object_or_404(pumps_visible_to(request.user), pk=data["pump"])
        require_writer(request, pump.patient)
        if pump.status != PumpStatus.ACTIVE:
            raise exceptions.ValidationError({"pump": ["The pump has been explanted."]})
        proposed = ProposedProgram(
            concentration_mcg_per_ml=data["concentration_mcg_per_ml"],
            mode=data["mode"],
            daily_dose_mcg=data.get("daily_dose_mcg"),
            steps=tuple(
                StepInput(
                    start_time=step["start_time"], rate_mcg_per_hour=step["rate_mcg_per_hour"]
                )
                for step in data.get("steps") or ()
            ),
        )
        with service_errors():
            program = pump_program_change(
                actor=request.user,
                pump=pump,
                proposed=proposed,
                context=data["context"],
                reason=data["reason"],
                effective_from=data.get("effective_from") or timezone.now(),
                expected_current_program_id=data["expected_current_program"],
                override_reason=data.get("override_reason", ""),
                bridge_confirmed=data["bridge_confirmed"],
                pump_running_confirmed=data["pump_running_confirmed"],
                verified_by=data.get("verified_by"),
            )
        return self.with_etag(self.represent(self.get_queryset().get(pk=program.pk)), code=201)


# --- refill visits -------------------------------------------------------------------------------


class VisitFilter(filters.FilterSet):
    patient = IdFilter(field_name="pump__patient_id")
    clinic = IdFilter(field_name="pump__patient__clinic_id")
    scheduled_after = UtcDateTimeFilter(field_name="scheduled_at", lookup_expr="gte")
    scheduled_before = UtcDateTimeFilter(field_name="scheduled_at", lookup_expr="lt")

    class Meta:
        model = RefillVisit
        fields = ["pump", "status", "patient", "clinic"]


@extend_schema_view(
    list=extend_schema(
        summary="List refill visits",
        description="Booked, completed and cancelled refill visits of your patients' pumps. "
        "Filter by status, pump, patient, clinic or time; order by scheduled_at.",
        responses={200: s.RefillVisitSerializer(many=True), **LIST_ERRORS},
        examples=[ex.page("A page of visits", ex.VISIT)],
    ),
    retrieve=extend_schema(
        summary="A refill visit",
        description="One visit; the ETag header identifies this version.",
        responses={200: s.RefillVisitSerializer, **READ_ERRORS},
        examples=[ex.detail("A booked visit", ex.VISIT)],
    ),
)
class VisitViewSet(mixins.ListModelMixin, ResourceViewSet):
    serializer_class = s.RefillVisitSerializer
    access_patient_path = "pump__patient_id"
    filterset_class = VisitFilter
    filter_backends = [filters.DjangoFilterBackend, NullsLastOrdering]
    ordering_fields = ["id", "scheduled_at"]
    ordering = ["scheduled_at"]

    def get_queryset(self) -> QuerySet[RefillVisit]:
        return RefillVisit.objects.filter(
            pump__in=pumps_visible_to(self.request.user)
        ).select_related("pump", "booked_by", "cancelled_by", "completed_by")

    @extend_schema(
        summary="Book a refill",
        description="Book a refill visit for a pump (one booked visit per pump). A visit after "
        "the pump's refill-due time needs `late_reason`; one at or after the projected empty "
        "time is refused.",
        parameters=[IDEMPOTENCY_KEY],
        request=s.VisitBookSerializer,
        responses={201: s.RefillVisitSerializer, **ERRORS, **IDEMPOTENCY_ERRORS},
        examples=[
            OpenApiExample(
                "Book",
                value={"pump": 1, "scheduled_at": "2026-12-01T15:00:00Z"},
                request_only=True,
            )
        ],
    )
    @idempotent
    def create(self, request: Request) -> Response:
        incoming = s.VisitBookSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = incoming.validated_data
        pump = get_object_or_404(pumps_visible_to(request.user), pk=data["pump"])
        require_writer(request, pump.patient)
        with service_errors():
            visit = refill_schedule(
                actor=request.user,
                pump=pump,
                scheduled_at=data["scheduled_at"],
                late_reason=data.get("late_reason", ""),
                duration_minutes=data["duration_minutes"],
            )
        return self.with_etag(self.represent(self.get_queryset().get(pk=visit.pk)), code=201)

    @extend_schema(
        summary="Reschedule a refill",
        description="Move a booked visit, with a reason (kept in the audit trail). Needs If-Match.",
        parameters=[IF_MATCH],
        request=s.VisitRescheduleSerializer,
        responses={200: s.RefillVisitSerializer, **ERRORS, **PRECONDITION_ERRORS},
        examples=[
            OpenApiExample(
                "Move a day earlier",
                value={"scheduled_at": "2026-11-25T15:00:00Z", "reason": "Family asked"},
                request_only=True,
            ),
            ex.detail("Moved", {**ex.VISIT, "scheduled_at": "2026-11-25T15:00:00Z"}),
            ex.bad_input(),
        ],
    )
    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        visit = self.get_object()
        require_writer(request, visit.pump.patient)
        incoming = s.VisitRescheduleSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = incoming.validated_data
        with transaction.atomic(), service_errors():
            self.lock_matching(visit)
            refill_reschedule(
                actor=request.user,
                visit=visit,
                scheduled_at=data["scheduled_at"],
                reason=data["reason"],
                late_reason=data.get("late_reason", ""),
            )
        return self.with_etag(self.represent(self.get_object()))

    @extend_schema(
        summary="Cancel a refill",
        description="Cancel a booked visit, with a reason. Needs If-Match.",
        parameters=[IF_MATCH, IDEMPOTENCY_KEY],
        request=s.VisitCancelSerializer,
        responses={
            200: s.RefillVisitSerializer,
            **ERRORS,
            **PRECONDITION_ERRORS,
            **IDEMPOTENCY_ERRORS,
        },
        examples=[
            OpenApiExample(
                "Cancel", value={"reason": "Patient admitted to hospital"}, request_only=True
            ),
            ex.detail(
                "Cancelled",
                {
                    **ex.VISIT,
                    "status": "cancelled",
                    "cancelled_by": "integrator",
                    "cancelled_at": "2026-11-25T09:00:00Z",
                    "cancel_reason": "Patient admitted to hospital",
                },
            ),
        ],
    )
    @action(detail=True, methods=["post"])
    @idempotent
    def cancel(self, request: Request, pk: str | None = None) -> Response:
        visit = self.get_object()
        require_writer(request, visit.pump.patient)
        incoming = s.VisitCancelSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        with transaction.atomic(), service_errors():
            self.lock_matching(visit)
            refill_cancel(actor=request.user, visit=visit, reason=incoming.validated_data["reason"])
        return self.with_etag(self.represent(self.get_object()))

    @extend_schema(
        summary="Complete a refill",
        description="Record the refill done at this visit: the same checks as the refill page "
        "(septum confirmation, the concentration the pump is programmed for) and the "
        "reconciliation of the volume removed against the projection, with its flags "
        "(`under_delivery`, `over_delivery`, `residual_discrepancy`). Completes the visit and "
        "recomputes the projection. Needs If-Match. The answer is the visit as GET gives it "
        "(the ETag is the visit's) with `reconciliation` added.",
        parameters=[IF_MATCH, IDEMPOTENCY_KEY],
        request=s.VisitCompleteSerializer,
        responses={
            200: s.RefillVisitCompletedSerializer,
            **ERRORS,
            **PRECONDITION_ERRORS,
            **IDEMPOTENCY_ERRORS,
        },
        examples=[
            OpenApiExample(
                "Complete",
                value={
                    "volume_removed_ml": "2.1",
                    "volume_added_ml": "20",
                    "concentration_mcg_per_ml": "500",
                    "lot_number": "L2026-11",
                    "expiry_date": "2027-06-30",
                    "septum_confirmed": True,
                },
                request_only=True,
            ),
            ex.detail("Completed", ex.COMPLETED_VISIT),
        ],
    )
    @action(detail=True, methods=["post"])
    @idempotent
    def complete(self, request: Request, pk: str | None = None) -> Response:
        visit = self.get_object()
        require_writer(request, visit.pump.patient)
        incoming = s.VisitCompleteSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = incoming.validated_data
        products = DrugProduct.objects.filter(is_active=True)
        if data.get("product") is not None:
            product = products.filter(pk=data["product"]).first()
            if product is None:
                raise exceptions.ValidationError(
                    {"product": ["No such product in the drug library."]}
                )
        else:
            product = (
                products.filter(
                    use=ProductUse.PUMP_FILL,
                    concentration_mcg_per_ml=data["concentration_mcg_per_ml"],
                )
                .order_by("pk")
                .first()
            )
            if product is None:
                raise exceptions.ValidationError(
                    {
                        "concentration_mcg_per_ml": [
                            "No labeled pump-fill product has this concentration (mcg/mL)."
                        ]
                    }
                )
        with transaction.atomic(), service_errors():
            visit = self.lock_matching(visit)
            if visit.status != VisitStatus.BOOKED:
                raise exceptions.ValidationError(
                    {"non_field_errors": [f"This visit is {visit.status}, not booked."]}
                )
            outcome = refill_record(
                actor=request.user,
                pump=visit.pump,
                refilled_at=data.get("refilled_at") or timezone.now(),
                volume_removed_ml=data["volume_removed_ml"],
                volume_added_ml=data["volume_added_ml"],
                product=product,
                concentration_mcg_per_ml=data["concentration_mcg_per_ml"],
                lot_number=data["lot_number"],
                expiry_date=data.get("expiry_date"),
                observation_note=data.get("observation_note", ""),
                septum_confirmed=data["septum_confirmed"],
            )
            if outcome.visit is None or outcome.visit.pk != visit.pk:
                raise exceptions.ValidationError(
                    {"non_field_errors": ["The visit was not the pump's booked visit."]}
                )
        visit_data = self.represent(self.get_object())
        body = dict(visit_data)
        fill = outcome.fill
        body["reconciliation"] = s.ReconciliationSerializer(
            {
                "expected_residual_ml": fill.expected_residual_ml,
                "residual_discrepancy_ml": fill.residual_discrepancy_ml,
                "delivered_discrepancy_percent": fill.delivered_discrepancy_percent,
                "flags": [f for f in fill.reconciliation_flags.split(",") if f],
            }
        ).data
        response = Response(body)
        response["ETag"] = etag_of(visit_data)  # the visit's own ETag, as GET gives it
        return response


# --- alerts --------------------------------------------------------------------------------------


class AlertFilter(filters.FilterSet):
    acknowledged = filters.BooleanFilter(
        field_name="acknowledged_at", lookup_expr="isnull", exclude=True
    )
    kind = filters.ChoiceFilter(choices=AlertKind.choices)
    severity = filters.ChoiceFilter(choices=Severity.choices)
    status = filters.ChoiceFilter(choices=AlertStatus.choices)

    class Meta:
        model = Alert
        fields = ["status", "kind", "severity", "pump", "patient", "clinic", "acknowledged"]


@extend_schema_view(
    list=extend_schema(
        summary="List alerts",
        description="Withdrawal-risk alerts of your patients (clinicians, nurses and "
        "integrations). Filter by status, kind, severity, acknowledged, pump or patient.",
        responses={200: s.AlertSerializer(many=True), **LIST_ERRORS},
        examples=[ex.page("A page of alerts", ex.ALERT)],
    ),
    retrieve=extend_schema(
        summary="An alert",
        description="One alert: kind, severity, the time it is about, its escalation stage, "
        "who acknowledged or resolved it.",
        responses={200: s.AlertSerializer, **READ_ERRORS},
        examples=[ex.detail("An overdue refill", ex.ALERT)],
    ),
)
class AlertViewSet(mixins.ListModelMixin, ResourceViewSet):
    serializer_class = s.AlertSerializer
    access_patient_path = "patient_id"
    filterset_class = AlertFilter
    filter_backends = [filters.DjangoFilterBackend, NullsLastOrdering]
    ordering_fields = ["id", "raised_at"]
    ordering = ["-raised_at"]

    def get_queryset(self) -> QuerySet[Alert]:
        return alerts_visible_to(self.request.user, API_ALERT_ROLES).select_related("resolved_by")

    @extend_schema(
        summary="Acknowledge an alert",
        description="Someone is acting on it: escalation stops (the alert stays open until its "
        "condition clears). Acknowledging again keeps the first acknowledgement.",
        parameters=[IDEMPOTENCY_KEY],
        request=s.AcknowledgeSerializer,
        responses={200: s.AlertSerializer, **ERRORS, **IDEMPOTENCY_ERRORS},
        examples=[
            OpenApiExample(
                "Acknowledge", value={"note": "Calling the family now"}, request_only=True
            ),
            ex.detail(
                "Acknowledged",
                {
                    **ex.ALERT,
                    "acknowledged_at": "2026-11-24T21:40:00Z",
                    "acknowledged_by": "integrator",
                    "acknowledged_via": "api",
                    "acknowledge_note": "Calling the family now",
                    "next_escalation_at": None,
                },
            ),
        ],
    )
    @action(detail=True, methods=["post"])
    @idempotent
    def acknowledge(self, request: Request, pk: str | None = None) -> Response:
        alert = self.get_object()
        incoming = s.AcknowledgeSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        with service_errors():
            alert_acknowledge(
                actor=request.user,
                alert=alert,
                via="api",
                note=incoming.validated_data.get("note", ""),
                roles=API_ALERT_ROLES,
            )
        return self.with_etag(self.represent(self.get_object()))
