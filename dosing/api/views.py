"""The dosing calculators: stateless POST endpoints, thin views over ``dosing.engine``.

Each view validates its input serializer, builds the engine's inputs, calls one engine function
and renders the output serializer. Bad input is a 400 mapping each field to its messages; an
input the engine cannot compute (for example a rate so small the reservoir would outlast the
calendar) is a 400 too. Nothing here does arithmetic of its own.
"""

import math
from dataclasses import asdict
from datetime import datetime
from typing import Any, ClassVar

from django.utils import timezone
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import serializers, status
from rest_framework.parsers import JSONParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from dosing.api import serializers as s
from dosing.engine.boluses import concentration_change, dead_volume_ml
from dosing.engine.fixed_rate import FixedRateError, fixed_rate_fill
from dosing.engine.limits import assess_dose_change
from dosing.engine.programs import FlexProgram, FlexStep, Program, ProgramError, SimpleProgram
from dosing.engine.projection import ReservoirFill, project_refill
from dosing.engine.reconciliation import reconcile_refill
from dosing.engine.screening import starting_daily_dose
from dosing.selectors import DosingRulesMissing, EngineRules, engine_rules
from pumps.selectors import default_time_zone_for

# {field name: [messages]}: any field of the request (or non_field_errors) may appear. A flex
# program's steps are checked one by one: their messages are by step (its index) and field.
MESSAGES = {"type": "array", "items": {"type": "string"}}
STEP_MESSAGES = {"type": "object", "additionalProperties": MESSAGES}
ERROR_RESPONSE = {
    "type": "object",
    "description": "Messages by field; each names the expected unit. Errors that concern no "
    "single field are under non_field_errors. A step's messages are by step index and field: "
    '`{"steps": {"0": {"rate": ["..."]}}}`.',
    "additionalProperties": {
        "anyOf": [
            MESSAGES,
            {"type": "object", "additionalProperties": STEP_MESSAGES},
            {"type": "array", "items": STEP_MESSAGES},
        ]
    },
}
ERRORS = {
    400: OpenApiResponse(ERROR_RESPONSE, description="Bad input: messages by field."),
    401: OpenApiResponse(description="Not signed in, or the API token is missing or invalid."),
    403: OpenApiResponse(description="Signed in but not allowed."),
    503: OpenApiResponse(description="No active dosing rules are configured."),
}


class EngineInputError(Exception):
    """The engine refused an input the serializer let through; reported as a 400."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class CalculatorView(APIView):
    """POST a JSON body, get the calculation. Read-scope API tokens may call it: it writes
    nothing."""

    # JSON only: a form-encoded or multipart body is a 415 (the schema lists JSON only).
    parser_classes = [JSONParser]
    allows_read_scope_post = True
    input_serializer: ClassVar[type[serializers.Serializer]]
    output_serializer: ClassVar[type[serializers.Serializer]]

    def calculate(self, data: dict[str, Any], request: Request) -> dict[str, Any]:
        raise NotImplementedError

    def post(self, request: Request) -> Response:
        incoming = self.input_serializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        try:
            result = self.calculate(incoming.validated_data, request)
        except EngineInputError as exc:
            return Response({exc.field: [exc.message]}, status=status.HTTP_400_BAD_REQUEST)
        except DosingRulesMissing as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_503_SERVICE_UNAVAILABLE)
        except (ValueError, ArithmeticError) as exc:
            # The engine validates what it computes; whatever it still refuses is bad input.
            return Response({"non_field_errors": [str(exc)]}, status=status.HTTP_400_BAD_REQUEST)
        if not _all_finite(result):
            # Finite inputs so extreme that a result overflows: no number would be right.
            return Response(
                {"non_field_errors": ["These values give a result out of range; check the units."]},
                status=status.HTTP_400_BAD_REQUEST,
            )
        return Response(self.output_serializer(result).data)


def _all_finite(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(_all_finite(v) for v in value.values())
    if isinstance(value, list | tuple):
        return all(_all_finite(v) for v in value)
    return True


def _rules() -> EngineRules:
    return engine_rules()


def build_program(data: dict[str, Any]) -> Program:
    try:
        if "steps" in data:
            steps = tuple(
                FlexStep(start=x["start"], rate_mcg_per_hour=x["rate"]) for x in data["steps"]
            )
            return FlexProgram(concentration_mcg_per_ml=data["concentration"], steps=steps)
        return SimpleProgram(
            concentration_mcg_per_ml=data["concentration"], daily_dose_mcg=data["daily_dose"]
        )
    except ProgramError as exc:
        raise EngineInputError("steps" if "steps" in data else "daily_dose", str(exc)) from None


def build_fill(data: dict[str, Any], request: Request) -> ReservoirFill:
    program = build_program(data)
    zone = data.get("timezone")
    if zone is None and isinstance(program, FlexProgram):
        # Only a flex schedule runs on the wall clock; look up the clinic's zone for it.
        zone = default_time_zone_for(request.user)
    return ReservoirFill(
        filled_at=data["filled_at"],
        reservoir_volume_ml=data["reservoir_volume"],
        programs=program,
        timezone=zone,
    )


PROJECTION_EXAMPLE = OpenApiExample(
    "TC-01: 300 mcg/day at 500 mcg/mL in a 20 mL SynchroMed II",
    value={
        "concentration": "500 mcg/mL",
        "daily_dose": 300,
        "reservoir_volume": "20 mL",
        "low_reservoir_alarm": 2,
        "filled_at": "2025-03-03T00:00:00Z",
        "refill_buffer_days": 7,
    },
    request_only=True,
)
FLEX_EXAMPLE = OpenApiExample(
    "TC-06: two-step flex schedule",
    value={
        "concentration": 500,
        "steps": [{"start": "06:00", "rate": "12.5 mcg/h"}, {"start": "22:00", "rate": 25}],
        "reservoir_volume": 20,
        "filled_at": "2025-03-03T08:00:00-05:00",
        "timezone": "America/New_York",
    },
    request_only=True,
)


@extend_schema_view(
    post=extend_schema(
        operation_id="dosing_projection",
        summary="Project alarm, empty and refill-due times",
        description="When will this reservoir reach its low-reservoir alarm, run empty, and need a "
        "refill? Flex schedules follow the real stepped schedule in the given time zone (daylight "
        "saving included), not the daily average. refill_due_at = min(alarm − refill_buffer_days, "
        "filled_at + max_refill_interval_days).",
        request=s.ProjectionInput,
        responses={200: s.ProjectionOutput, **ERRORS},
        examples=[PROJECTION_EXAMPLE, FLEX_EXAMPLE],
        tags=["dosing calculators"],
    )
)
class ProjectionView(CalculatorView):
    input_serializer = s.ProjectionInput
    output_serializer = s.ProjectionOutput

    def calculate(self, data: dict[str, Any], request: Request) -> dict[str, Any]:
        rules = _rules()
        alarm_ml = data.get("low_reservoir_alarm", rules.default_low_reservoir_alarm_ml)
        if alarm_ml >= data["reservoir_volume"]:
            raise EngineInputError(
                "low_reservoir_alarm",
                f"The alarm volume ({alarm_ml:g} mL) must be below the reservoir volume "
                f"({data['reservoir_volume']:g} mL).",
            )
        projection = project_refill(
            fill=build_fill(data, request),
            low_reservoir_alarm_ml=alarm_ml,
            refill_buffer_days=data.get("refill_buffer_days", rules.default_refill_buffer_days),
            max_refill_interval_days=data.get(
                "max_refill_interval_days", rules.default_max_refill_interval_days
            ),
        )
        return asdict(projection)


@extend_schema_view(
    post=extend_schema(
        operation_id="dosing_concentration_change",
        summary="Washout and bridge bolus for a concentration change",
        description="What happens to the delivered dose while the old drug in the pump tubing and "
        "catheter washes out? Without a bridge the old drug runs at the new rate; the bridge bolus "
        "delivers the dead volume at the old rate so the prescribed mcg/day continues.",
        request=s.ConcentrationChangeInput,
        responses={200: s.ConcentrationChangeOutput, **ERRORS},
        examples=[
            OpenApiExample(
                "TC-04: 500 → 2000 mcg/mL at 600 mcg/day",
                value={
                    "old_concentration": "500 mcg/mL",
                    "new_concentration": "2 mg/mL",
                    "daily_dose": 600,
                    "pump_tubing_volume": "0.140 mL",
                    "catheter_volume": 0.12,
                },
                request_only=True,
            )
        ],
        tags=["dosing calculators"],
    )
)
class ConcentrationChangeView(CalculatorView):
    input_serializer = s.ConcentrationChangeInput
    output_serializer = s.ConcentrationChangeOutput

    def calculate(self, data: dict[str, Any], request: Request) -> dict[str, Any]:
        dead = data.get("dead_volume")
        if dead is None:
            dead = dead_volume_ml(
                pump_tubing_volume_ml=data["pump_tubing_volume"],
                catheter_volume_ml=data["catheter_volume"],
            )
        change = concentration_change(
            old_concentration_mcg_per_ml=data["old_concentration"],
            new_concentration_mcg_per_ml=data["new_concentration"],
            daily_dose_mcg=data["daily_dose"],
            dead_volume_ml=dead,
        )
        return asdict(change)


@extend_schema_view(
    post=extend_schema(
        operation_id="dosing_dose_change",
        summary="Check a daily-dose change against the titration limits",
        description="Is this change within the label's limits for the patient's origin, age and "
        "the context? ok; soft_stop: outside the limits, needs a documented override; hard_stop: "
        "never allowed (a many-fold jump that looks like a unit error). The limits are the "
        "clinic's active dosing rules.",
        request=s.DoseChangeInput,
        responses={200: s.DoseChangeOutput, **ERRORS},
        examples=[
            OpenApiExample(
                "ISMP case: 400 → 1440 mcg/day (60 mcg/h read as mcg/day)",
                value={
                    "current_daily_dose": 400,
                    "proposed_daily_dose": "60 mcg/h",
                    "origin": "spinal",
                    "context": "titration",
                    "at": "2025-03-10T09:00:00Z",
                },
                request_only=True,
            )
        ],
        tags=["dosing calculators"],
    )
)
class DoseChangeView(CalculatorView):
    input_serializer = s.DoseChangeInput
    output_serializer = s.DoseChangeOutput

    def calculate(self, data: dict[str, Any], request: Request) -> dict[str, Any]:
        at: datetime = data.get("at") or timezone.now()
        assessment = assess_dose_change(
            current_daily_dose_mcg=data["current_daily_dose"],
            proposed_daily_dose_mcg=data["proposed_daily_dose"],
            origin=data["origin"],
            context=data["context"],
            limits=_rules().dose_limits,
            age_years=data.get("age_years"),
            implanted_at=data.get("implanted_at"),
            last_change_at=data.get("last_change_at"),
            at=at,
        )
        return asdict(assessment)


@extend_schema_view(
    post=extend_schema(
        operation_id="dosing_fixed_rate_fill",
        summary="Concentration and mixing recipe for a constant-flow pump",
        description="For a fixed-rate pump: the concentration that gives the target daily dose at "
        "the label flow rate, and how to mix it from stock and preservative-free 0.9 % saline "
        "(with the priming excess). A required concentration above the stock is refused.",
        request=s.FixedRateFillInput,
        responses={200: s.FixedRateFillOutput, **ERRORS},
        examples=[
            OpenApiExample(
                "400 mcg/day at 1 mL/day from 500 mcg/mL stock",
                value={
                    "flow_rate": "1 mL/day",
                    "reservoir_volume": 30,
                    "daily_dose": 400,
                    "stock_concentration": "500 mcg/mL",
                    "priming_excess": 3,
                },
                request_only=True,
            )
        ],
        tags=["dosing calculators"],
    )
)
class FixedRateFillView(CalculatorView):
    input_serializer = s.FixedRateFillInput
    output_serializer = s.FixedRateFillOutput

    def calculate(self, data: dict[str, Any], request: Request) -> dict[str, Any]:
        try:
            recipe = fixed_rate_fill(
                flow_rate_ml_per_day=data["flow_rate"],
                reservoir_volume_ml=data["reservoir_volume"],
                daily_dose_mcg=data["daily_dose"],
                stock_concentration_mcg_per_ml=data["stock_concentration"],
                priming_excess_ml=data.get("priming_excess", 0.0),
            )
        except FixedRateError as exc:
            raise EngineInputError("stock_concentration", str(exc)) from None
        return asdict(recipe)


@extend_schema_view(
    post=extend_schema(
        operation_id="dosing_refill_reconciliation",
        summary="Compare the volume removed at a refill with the projection",
        description="At a refill, does the volume removed match what the pump should have "
        "delivered since the last fill? Flags under- and over-delivery beyond the tolerance and a "
        "residual off by more than the reservoir-size threshold (the clinic's dosing rules).",
        request=s.ReconciliationInput,
        responses={200: s.ReconciliationOutput, **ERRORS},
        examples=[
            OpenApiExample(
                "20 mL at 300 mcg/day, refilled after 25 days",
                value={
                    "reservoir_volume": 20,
                    "filled_at": "2025-03-03T00:00:00Z",
                    "concentration": 500,
                    "daily_dose": 300,
                    "refilled_at": "2025-03-28T00:00:00Z",
                    "volume_removed": "5.1 mL",
                    "reservoir_capacity": 20,
                },
                request_only=True,
            )
        ],
        tags=["dosing calculators"],
    )
)
class ReconciliationView(CalculatorView):
    input_serializer = s.ReconciliationInput
    output_serializer = s.ReconciliationOutput

    def calculate(self, data: dict[str, Any], request: Request) -> dict[str, Any]:
        result = reconcile_refill(
            fill=build_fill(data, request),
            refilled_at=data["refilled_at"],
            volume_removed_ml=data["volume_removed"],
            reservoir_capacity_ml=data["reservoir_capacity"],
            tolerances=_rules().reconciliation,
        )
        return asdict(result)


@extend_schema_view(
    post=extend_schema(
        operation_id="dosing_starting_dose",
        summary="Starting daily dose from the screening bolus",
        description="Twice the effective screening dose over 24 h, or the screening dose itself "
        "when its effect lasted longer than the threshold (8 h).",
        request=s.StartingDoseInput,
        responses={200: s.StartingDoseOutput, **ERRORS},
        examples=[
            OpenApiExample(
                "75 mcg with a 6 h effect",
                value={"screening_dose": "75 mcg", "effect_duration": "6 h"},
                request_only=True,
            )
        ],
        tags=["dosing calculators"],
    )
)
class StartingDoseView(CalculatorView):
    input_serializer = s.StartingDoseInput
    output_serializer = s.StartingDoseOutput

    def calculate(self, data: dict[str, Any], request: Request) -> dict[str, Any]:
        rules = _rules().screening
        if data["screening_dose"] > rules.max_bolus_mcg:
            raise EngineInputError(
                "screening_dose",
                f"No screening bolus above {rules.max_bolus_mcg:g} mcg; a patient who does not "
                "respond to it is not a pump candidate.",
            )
        dose = starting_daily_dose(
            screening_dose_mcg=data["screening_dose"],
            effect_duration_hours=data["effect_duration"],
            rules=rules,
        )
        return {"daily_dose_mcg": dose.daily_dose_mcg, "rule": dose.rule}
