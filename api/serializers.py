"""Representations of the resources, and the inputs of their writes. Quantities carry their
unit in the field name; times are ISO 8601 in UTC."""

import functools
from decimal import Decimal
from typing import Any, get_args

from django.contrib.auth import get_user_model
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from alerts.models import Alert
from dosing.engine.reconciliation import Flag as ReconciliationFlag
from pumps.models import (
    CareTeamMember,
    Catheter,
    Patient,
    Pump,
    PumpProgram,
    RefillDueReason,
)
from pumps.models.patients import SCI_LEVELS
from pumps.program_change import CONTEXTS
from refills.models import RefillVisit

User = get_user_model()


@extend_schema_field(OpenApiTypes.STR)
class PersonField(serializers.RelatedField):  # type: ignore[type-arg]
    """A user shown as their username."""

    def to_representation(self, value: Any) -> str:
        return str(value.get_username())


class PatientSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    sci_level = serializers.ChoiceField(
        choices=SCI_LEVELS,
        allow_blank=True,
        read_only=True,
        help_text="Spinal-cord-injury level; empty when none.",
    )
    clinic_name = serializers.CharField(source="clinic.name", read_only=True)
    time_zone = serializers.CharField(source="effective_time_zone", read_only=True)
    high_withdrawal_risk = serializers.BooleanField(read_only=True)

    class Meta:
        model = Patient
        fields = [
            "id",
            "clinic",
            "clinic_name",
            "mrn",
            "given_name",
            "family_name",
            "date_of_birth",
            "spasticity_origin",
            "sci_level",
            "communication_difficulty",
            "history_of_withdrawal",
            "high_withdrawal_risk",
            "time_zone",
        ]
        read_only_fields = fields


class CareTeamMemberSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    username = serializers.CharField(source="user.username", read_only=True)
    name = serializers.CharField(source="user.get_full_name", read_only=True)

    class Meta:
        model = CareTeamMember
        fields = [
            "id",
            "username",
            "name",
            "role",
            "clinic",
            "patient",
            "is_clinic_lead",
            "is_on_call",
            "relationship",
        ]
        read_only_fields = fields


class ProgramStepSerializer(serializers.Serializer):  # type: ignore[type-arg]
    start_time = serializers.TimeField(help_text="Wall-clock start in the patient's time zone.")
    rate_mcg_per_hour = serializers.DecimalField(
        max_digits=9, decimal_places=3, min_value=Decimal("0")
    )


class ProgramSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    steps = ProgramStepSerializer(many=True, read_only=True)
    entered_by = PersonField(read_only=True, allow_null=True)
    verified_by = PersonField(read_only=True, allow_null=True)

    class Meta:
        model = PumpProgram
        fields = [
            "id",
            "pump",
            "effective_from",
            "mode",
            "concentration_mcg_per_ml",
            "daily_dose_mcg",
            "steps",
            "reason",
            "dose_change_verdict",
            "override_reason",
            "entered_by",
            "entered_at",
            "verified_by",
        ]
        read_only_fields = fields


class ProgramCreateSerializer(serializers.Serializer):  # type: ignore[type-arg]
    """A program change, checked exactly as in the web form."""

    pump = serializers.IntegerField(help_text="The pump's id.")
    expected_current_program = serializers.IntegerField(
        allow_null=True,
        help_text="The id of the program you reviewed as current (null for a pump with none). "
        "The change is refused if another program was entered meanwhile.",
    )
    effective_from = serializers.DateTimeField(
        required=False, help_text="When the pump starts the new program (default: now)."
    )
    mode = serializers.ChoiceField(choices=["simple", "flex"])
    concentration_mcg_per_ml = serializers.DecimalField(
        max_digits=8, decimal_places=2, min_value=Decimal("0.01")
    )
    daily_dose_mcg = serializers.DecimalField(
        max_digits=9,
        decimal_places=3,
        required=False,
        allow_null=True,
        min_value=Decimal("0"),
        help_text="Simple programs: the daily dose in mcg/day.",
    )
    steps = ProgramStepSerializer(
        many=True, required=False, help_text="Flex programs: the steps of one day."
    )
    # As in the dosing calculator's contract. The serializer metaclass moves declared fields out
    # of the class body, so this field does not shadow Serializer.context at run time.
    context = serializers.ChoiceField(  # type: ignore[assignment]
        choices=list(CONTEXTS),
        help_text="Why the dose changes: titration, refill or side_effect (sets which of the "
        "label's limits apply).",
    )
    reason = serializers.CharField(max_length=2000)
    override_reason = serializers.CharField(
        max_length=2000,
        required=False,
        allow_blank=True,
        help_text="Required when the change is a soft stop (outside the label's limits).",
    )
    bridge_confirmed = serializers.BooleanField(
        default=False,
        help_text="A concentration change: the bridge bolus is programmed (required then).",
    )
    pump_running_confirmed = serializers.BooleanField(
        help_text="The pump was interrogated and is running the new program (must be true)."
    )
    verified_by = serializers.SlugRelatedField(
        slug_field="username",
        queryset=User.objects.filter(is_active=True),
        required=False,
        allow_null=True,
        help_text="Username of the second clinician or nurse, when the clinic requires one.",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs["mode"] == "simple" and attrs.get("daily_dose_mcg") is None:
            raise serializers.ValidationError(
                {"daily_dose_mcg": ["A simple program needs its daily dose in mcg/day."]}
            )
        if attrs["mode"] == "flex" and not attrs.get("steps"):
            raise serializers.ValidationError(
                {"steps": ["A flex program needs its steps (start time, rate in mcg/h)."]}
            )
        return attrs


class CatheterSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    model = serializers.CharField(source="catheter_model.name", read_only=True)
    catheter_volume_ml = serializers.FloatField(read_only=True)

    class Meta:
        model = Catheter
        fields = [
            "id",
            "model",
            "implanted_on",
            "implanted_length_cm",
            "volume_per_cm_ml",
            "catheter_volume_ml",
        ]
        read_only_fields = fields


class ProjectionSerializer(serializers.Serializer):  # type: ignore[type-arg]
    """The pump's stored projection: every time is empty (null) until the pump has a program
    and a fill, or when it cannot be projected (``error`` says why)."""

    low_reservoir_alarm_at = serializers.DateTimeField(
        source="projected_alarm_at",
        allow_null=True,
        help_text="When the reservoir reaches the pump's low-reservoir alarm volume (UTC).",
    )
    empty_at = serializers.DateTimeField(
        source="projected_empty_at",
        allow_null=True,
        help_text="When the reservoir is projected to run empty (UTC).",
    )
    refill_due_at = serializers.DateTimeField(
        allow_null=True,
        help_text="When the refill is due: the alarm time less the clinic's refill buffer, or "
        "the drug's stability limit, whichever comes first (UTC).",
    )
    refill_due_reason = serializers.ChoiceField(
        choices=RefillDueReason.choices,
        allow_blank=True,
        help_text="Which of the two set the refill-due time; empty without a projection.",
    )
    stability_limit_at = serializers.DateTimeField(
        allow_null=True, help_text="When the drug in the reservoir reaches its stability limit."
    )
    updated_at = serializers.DateTimeField(
        source="projection_updated_at",
        allow_null=True,
        help_text="When this projection was computed.",
    )
    error = serializers.CharField(
        source="projection_error",
        allow_blank=True,
        help_text="Why the pump cannot be projected; empty when it can.",
    )


class PumpSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    model_number = serializers.CharField(source="pump_model.model_number", read_only=True)
    model_name = serializers.CharField(source="pump_model.name", read_only=True)
    reservoir_capacity_ml = serializers.DecimalField(
        source="pump_model.reservoir_capacity_ml", max_digits=6, decimal_places=2, read_only=True
    )
    current_program = serializers.SerializerMethodField()
    catheter = serializers.SerializerMethodField()
    projection = serializers.SerializerMethodField()

    class Meta:
        model = Pump
        fields = [
            "id",
            "patient",
            "serial_number",
            "model_number",
            "model_name",
            "reservoir_capacity_ml",
            "implanted_on",
            "status",
            "low_reservoir_alarm_ml",
            "fixed_flow_rate_ml_per_day",
            "elective_replacement_on",
            "replace_by_on",
            "next_visit_at",
            "current_program",
            "catheter",
            "projection",
            "notes",
        ]
        read_only_fields = fields

    # The nested serializers are built once per response, not once per row: building a
    # serializer's fields is most of the cost of a list page.
    @functools.cached_property
    def _program(self) -> "ProgramSerializer":
        return ProgramSerializer()

    @functools.cached_property
    def _catheter(self) -> "CatheterSerializer":
        return CatheterSerializer()

    @functools.cached_property
    def _projection(self) -> "ProjectionSerializer":
        return ProjectionSerializer()

    @extend_schema_field(ProgramSerializer(allow_null=True))
    def get_current_program(self, pump: Pump) -> dict[str, Any] | None:
        """The program in force now (prefetched by the view: the latest one only)."""
        programs = list(pump.programs.all())
        if not programs:
            return None
        latest = max(programs, key=lambda program: program.effective_from)
        return dict(self._program.to_representation(latest))

    @extend_schema_field(CatheterSerializer(allow_null=True))
    def get_catheter(self, pump: Pump) -> dict[str, Any] | None:
        current = [c for c in pump.catheters.all() if c.removed_on is None]
        return dict(self._catheter.to_representation(current[0])) if current else None

    @extend_schema_field(ProjectionSerializer)
    def get_projection(self, pump: Pump) -> dict[str, Any]:
        return dict(self._projection.to_representation(pump))


class PumpUpdateSerializer(serializers.Serializer):  # type: ignore[type-arg]
    low_reservoir_alarm_ml = serializers.DecimalField(
        max_digits=5, decimal_places=2, required=False, min_value=Decimal("0.01")
    )
    elective_replacement_on = serializers.DateField(required=False, allow_null=True)
    notes = serializers.CharField(required=False, allow_blank=True, max_length=5000)
    reason = serializers.CharField(max_length=2000, help_text="Why the pump record changes.")


class RefillVisitSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    patient = serializers.IntegerField(source="pump.patient_id", read_only=True)
    booked_by = PersonField(read_only=True, allow_null=True)
    cancelled_by = PersonField(read_only=True, allow_null=True)
    completed_by = PersonField(read_only=True, allow_null=True)

    class Meta:
        model = RefillVisit
        fields = [
            "id",
            "pump",
            "patient",
            "scheduled_at",
            "duration_minutes",
            "status",
            "late_reason",
            "booked_by",
            "booked_at",
            "cancelled_by",
            "cancelled_at",
            "cancel_reason",
            "completed_by",
            "completed_at",
            "fill",
        ]
        read_only_fields = fields


class VisitBookSerializer(serializers.Serializer):  # type: ignore[type-arg]
    pump = serializers.IntegerField(help_text="The pump's id.")
    scheduled_at = serializers.DateTimeField()
    duration_minutes = serializers.IntegerField(min_value=5, max_value=240, default=30)
    late_reason = serializers.CharField(
        max_length=2000,
        required=False,
        allow_blank=True,
        help_text="Required when the visit is after the pump's refill-due time.",
    )


class VisitRescheduleSerializer(serializers.Serializer):  # type: ignore[type-arg]
    scheduled_at = serializers.DateTimeField()
    reason = serializers.CharField(max_length=2000, help_text="Why the visit moves.")
    late_reason = serializers.CharField(max_length=2000, required=False, allow_blank=True)


class VisitCancelSerializer(serializers.Serializer):  # type: ignore[type-arg]
    reason = serializers.CharField(max_length=2000, help_text="Why the visit is cancelled.")


class VisitCompleteSerializer(serializers.Serializer):  # type: ignore[type-arg]
    """The refill done at the visit: the same checks as the refill page."""

    refilled_at = serializers.DateTimeField(required=False, help_text="Default: now.")
    volume_removed_ml = serializers.DecimalField(
        max_digits=6, decimal_places=2, min_value=Decimal("0")
    )
    volume_added_ml = serializers.DecimalField(
        max_digits=6, decimal_places=2, min_value=Decimal("0.01")
    )
    product = serializers.IntegerField(
        required=False,
        allow_null=True,
        help_text="The drug library product's id (default: the labeled pump-fill product of "
        "this concentration).",
    )
    concentration_mcg_per_ml = serializers.DecimalField(
        max_digits=8, decimal_places=2, min_value=Decimal("0.01")
    )
    lot_number = serializers.CharField(max_length=60)
    expiry_date = serializers.DateField(required=False, allow_null=True)
    observation_note = serializers.CharField(required=False, allow_blank=True, max_length=5000)
    septum_confirmed = serializers.BooleanField(
        help_text="The drug went through the reservoir fill septum (must be true)."
    )


# The codes a refill's reconciliation may raise (dosing.engine.reconciliation), in its order.
RECONCILIATION_FLAGS: tuple[str, ...] = get_args(ReconciliationFlag)


class ReconciliationSerializer(serializers.Serializer):  # type: ignore[type-arg]
    """The volume removed at a refill against the projection of the previous fill (null
    figures: no previous fill to compare with)."""

    expected_residual_ml = serializers.DecimalField(
        max_digits=8,
        decimal_places=4,
        allow_null=True,
        help_text="The volume (mL) the projection expected in the reservoir when it was "
        "emptied at this refill; null when there is no previous fill to compare with.",
    )
    residual_discrepancy_ml = serializers.DecimalField(
        max_digits=8,
        decimal_places=4,
        allow_null=True,
        help_text="Volume removed − expected residual (mL): below zero, less was left than "
        "expected (the pump delivered more); null when there is no previous fill.",
    )
    # The stored fields' own digits (pumps.ReservoirFill): a refill just after the last one
    # has a tiny expected delivery, so the percentage can run to six digits.
    delivered_discrepancy_percent = serializers.DecimalField(
        max_digits=9,
        decimal_places=3,
        allow_null=True,
        help_text="(Delivered − expected delivered volume) / expected delivered volume × 100 "
        "(%): above zero, the pump delivered more than programmed. Null when there is no "
        "previous fill, or when almost nothing was due to be delivered (a refill just after "
        "the last one: no meaningful percentage).",
    )
    flags = serializers.ListField(
        child=serializers.ChoiceField(choices=RECONCILIATION_FLAGS),
        help_text="What is beyond the tolerances of the dosing rules (empty: nothing). "
        "`under_delivery`: less delivered than expected by more than the delivered-volume "
        "tolerance (default 14.5 %), so more was left in the reservoir (suspect a catheter "
        "occlusion, kink or a motor stall; watch for withdrawal). `over_delivery`: more "
        "delivered than expected beyond that tolerance (suspect a leak, over-infusion or an "
        "earlier data error; watch for overdose). `residual_discrepancy`: the volume removed "
        "differs from the expected residual by more than the residual tolerance (default "
        "1 mL for reservoirs up to 20 mL, 2 mL above).",
    )


class RefillVisitCompletedSerializer(RefillVisitSerializer):
    """A visit just completed: the visit as GET gives it (and its ETag), with the
    reconciliation of the refill recorded."""

    reconciliation = ReconciliationSerializer(
        read_only=True,
        help_text="The volume removed against the projection, with the flags to act on.",
    )

    class Meta(RefillVisitSerializer.Meta):
        fields = [*RefillVisitSerializer.Meta.fields, "reconciliation"]
        read_only_fields = fields


class AlertSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    acknowledged_by = PersonField(read_only=True, allow_null=True)
    resolved_by = PersonField(read_only=True, allow_null=True)

    class Meta:
        model = Alert
        fields = [
            "id",
            "pump",
            "patient",
            "clinic",
            "kind",
            "severity",
            "status",
            "high_risk",
            "subject_at",
            "raised_at",
            "stage",
            "next_escalation_at",
            "acknowledged_at",
            "acknowledged_by",
            "acknowledged_via",
            "acknowledge_note",
            "resolved_at",
            "resolved_by",
            "resolution",
        ]
        read_only_fields = fields


class AcknowledgeSerializer(serializers.Serializer):  # type: ignore[type-arg]
    note = serializers.CharField(required=False, allow_blank=True, max_length=2000)
