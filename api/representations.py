"""The pump representation, built without the serializer machinery: the pump detail and the
pump list are the API's busiest reads.

``api.serializers.PumpSerializer`` stays the definition of the representation (the schema is
generated from it) and the reference: ``tests/api/test_representations.py`` checks, field by
field, that what is built here is exactly what the serializer gives for every kind of pump, and
fails when a field is added to one and not the other.

Where the time went: a serializer rebuilds and walks its fields for every object (about 50
fields a pump, with the program, catheter and projection), the prefetches compile correlated
subqueries and build model instances, and compiling an ORM query costs more than PostgreSQL
takes to run it. Here, on PostgreSQL, one hand-written statement reads a page of pumps with their
model, current program with its flex steps, and catheter in place; on other databases (the
embedded SQLite default) the same rows come from four ORM queries.
Values are formatted exactly as the serializer's own fields format them (decimals to their
places, times in ISO 8601 in the active time zone: UTC in the API).
"""

# The SQL here is put together from the models' table and column names only; every value is a
# query parameter.
# ruff: noqa: S608

import decimal
import functools
from collections.abc import Callable, Iterable, Sequence
from contextvars import ContextVar
from datetime import UTC, date, datetime, time, tzinfo
from typing import Any

from django.core.exceptions import FieldDoesNotExist
from django.db import connection, models
from django.db.models import OuterRef, Subquery
from django.utils import timezone
from rest_framework import ISO_8601
from rest_framework.settings import api_settings

from dosing.engine.boluses import catheter_volume_ml
from itb.db import prepared_cursor
from pumps.models import (
    Catheter,
    CatheterModel,
    FlexStep,
    Patient,
    Pump,
    PumpModel,
    PumpProgram,
)
from pumps.selectors import visible_patients_sql

Formatter = Callable[[Any], Any]

# The active time zone, looked up once per call of pump_representations rather than once per
# time written (the lookup goes through asgiref's thread-and-task-local storage).
_ZONE: ContextVar[tzinfo | None] = ContextVar("representation_zone", default=None)
# Whether that zone is UTC itself (the API's): times read as UTC text are then written as they
# are, with a Z.
_IN_UTC: ContextVar[bool] = ContextVar("representation_in_utc", default=False)
UTC_NAMES = frozenset({"UTC", "Etc/UTC"})

# --- formatting: the serializer fields' own output, without their per-call set-up --------------


def _plain_decimal(field: Any) -> bool:
    """Whether the serializer writes this decimal as a plain string to its places."""
    coerce = getattr(field, "coerce_to_string", api_settings.COERCE_DECIMAL_TO_STRING)
    return bool(
        coerce
        and not field.localize
        and not field.normalize_output
        and field.decimal_places is not None
        and field.rounding is None
    )


def _decimal_formatter(field: Any) -> Formatter:
    """``DecimalField.to_representation`` for the usual case (a Decimal, written as a string
    to the field's places); anything else goes through the field itself."""
    if not _plain_decimal(field):
        return field.to_representation  # type: ignore[no-any-return]
    exponent = decimal.Decimal(".1") ** field.decimal_places
    context = decimal.Context(prec=field.max_digits) if field.max_digits else None

    def fmt(value: Any) -> Any:
        if type(value) is str:  # the SQL reader's text, already to these places (_select)
            return value
        if type(value) is not decimal.Decimal:
            return field.to_representation(value)
        if context is None:
            return f"{value.quantize(exponent):f}"
        return f"{value.quantize(exponent, context=context):f}"

    return fmt


def _datetime_formatter(field: Any) -> Formatter:
    """``DateTimeField.to_representation`` (ISO 8601 in the active time zone, ``Z`` for UTC)
    for an aware datetime; anything else goes through the field itself."""
    if getattr(field, "format", api_settings.DATETIME_FORMAT) != ISO_8601:
        return field.to_representation  # type: ignore[no-any-return]

    def fmt(value: Any) -> Any:
        if type(value) is str:  # the SQL reader's UTC text, 'YYYY-MM-DDTHH:MM:SS.ffffff'
            if _IN_UTC.get():  # as isoformat() writes it: no fraction when it is zero
                return (value[:-7] if value.endswith(".000000") else value) + "Z"
            value = datetime.fromisoformat(value).replace(tzinfo=UTC)
        if type(value) is not datetime or value.tzinfo is None:
            return field.to_representation(value)
        zone = _ZONE.get() or timezone.get_current_timezone()
        text = value.astimezone(zone).isoformat()
        return text[:-6] + "Z" if text.endswith("+00:00") else text

    return fmt


def _isoformat_formatter(field: Any, kind: type[date] | type[time], setting: str) -> Formatter:
    """``DateField`` / ``TimeField.to_representation`` in ISO 8601."""
    if getattr(field, "format", getattr(api_settings, setting)) != ISO_8601:
        return field.to_representation  # type: ignore[no-any-return]

    def fmt(value: Any) -> Any:
        if type(value) is str:  # the SQL reader's ISO text (_select)
            return value
        if type(value) is not kind:
            return field.to_representation(value)
        return value.isoformat()

    return fmt


def _formatter(field: Any) -> Formatter:
    from rest_framework import serializers

    if isinstance(field, serializers.DecimalField):
        formatter = _decimal_formatter(field)
    elif isinstance(field, serializers.DateTimeField):
        formatter = _datetime_formatter(field)
    elif isinstance(field, serializers.DateField):
        formatter = _isoformat_formatter(field, date, "DATE_FORMAT")
    elif isinstance(field, serializers.TimeField):
        formatter = _isoformat_formatter(field, time, "TIME_FORMAT")
    else:
        formatter = field.to_representation

    def fmt(value: Any) -> Any:  # as a serializer writes it: None stays None
        return None if value is None else formatter(value)

    return fmt


@functools.cache
def _fields() -> dict[str, dict[str, Any]]:
    """The serializers' own fields, by part of the representation."""
    from api import serializers as s

    return {
        name: dict(serializer.fields)
        for name, serializer in {
            "pump": s.PumpSerializer(),
            "program": s.ProgramSerializer(),
            "step": s.ProgramStepSerializer(),
            "catheter": s.CatheterSerializer(),
            "projection": s.ProjectionSerializer(),
        }.items()
    }


@functools.cache
def _formats() -> dict[str, dict[str, Formatter]]:
    """The formatters of the serializers' own fields, so that a decimal's places and a time's
    format are the serializer's by construction."""
    return {
        name: {field_name: _formatter(field) for field_name, field in fields.items()}
        for name, fields in _fields().items()
    }


# --- building: one flat row a pump -> its representation --------------------------------------


def _program(row: dict[str, Any]) -> dict[str, Any] | None:
    if row["program_id"] is None:
        return None
    f = _formats()["program"]
    return {
        "id": row["program_id"],
        "pump": row["id"],
        "effective_from": f["effective_from"](row["program_effective_from"]),
        "mode": row["program_mode"],
        "concentration_mcg_per_ml": f["concentration_mcg_per_ml"](
            row["program_concentration_mcg_per_ml"]
        ),
        "daily_dose_mcg": f["daily_dose_mcg"](row["program_daily_dose_mcg"]),
        "steps": [_step(start_time, rate) for start_time, rate in row["program_steps"]],
        "reason": row["program_reason"],
        "dose_change_verdict": row["program_dose_change_verdict"],
        "override_reason": row["program_override_reason"],
        "entered_by": row["program_entered_by"],
        "entered_at": f["entered_at"](row["program_entered_at"]),
        "verified_by": row["program_verified_by"],
    }


def _step(start_time: Any, rate: Any) -> dict[str, Any]:
    f = _formats()["step"]
    return {
        "start_time": f["start_time"](start_time),
        "rate_mcg_per_hour": f["rate_mcg_per_hour"](rate),
    }


def _catheter(row: dict[str, Any]) -> dict[str, Any] | None:
    if row["catheter_id"] is None:
        return None
    f = _formats()["catheter"]
    return {
        "id": row["catheter_id"],
        "model": row["catheter_model"],
        "implanted_on": f["implanted_on"](row["catheter_implanted_on"]),
        "implanted_length_cm": f["implanted_length_cm"](row["catheter_implanted_length_cm"]),
        "volume_per_cm_ml": f["volume_per_cm_ml"](row["catheter_volume_per_cm_ml"]),
        "catheter_volume_ml": catheter_volume_ml(
            implanted_length_cm=float(row["catheter_implanted_length_cm"]),
            volume_per_cm_ml=float(row["catheter_volume_per_cm_ml"]),
        ),
    }


def _projection(row: dict[str, Any]) -> dict[str, Any]:
    f = _formats()["projection"]
    return {
        "low_reservoir_alarm_at": f["low_reservoir_alarm_at"](row["projected_alarm_at"]),
        "empty_at": f["empty_at"](row["projected_empty_at"]),
        "refill_due_at": f["refill_due_at"](row["refill_due_at"]),
        "refill_due_reason": row["refill_due_reason"],
        "stability_limit_at": f["stability_limit_at"](row["stability_limit_at"]),
        "updated_at": f["updated_at"](row["projection_updated_at"]),
        "error": row["projection_error"],
    }


def _pump(row: dict[str, Any]) -> dict[str, Any]:
    f = _formats()["pump"]
    return {
        "id": row["id"],
        "patient": row["patient_id"],
        "serial_number": row["serial_number"],
        "model_number": row["model_number"],
        "model_name": row["model_name"],
        "reservoir_capacity_ml": f["reservoir_capacity_ml"](row["reservoir_capacity_ml"]),
        "implanted_on": f["implanted_on"](row["implanted_on"]),
        "status": row["status"],
        "low_reservoir_alarm_ml": f["low_reservoir_alarm_ml"](row["low_reservoir_alarm_ml"]),
        "fixed_flow_rate_ml_per_day": f["fixed_flow_rate_ml_per_day"](
            row["fixed_flow_rate_ml_per_day"]
        ),
        "elective_replacement_on": f["elective_replacement_on"](row["elective_replacement_on"]),
        "replace_by_on": f["replace_by_on"](row["replace_by_on"]),
        "next_visit_at": f["next_visit_at"](row["next_visit_at"]),
        "current_program": _program(row),
        "catheter": _catheter(row),
        "projection": _projection(row),
        "notes": row["notes"],
    }


# --- reading: the flat rows -------------------------------------------------------------------

PUMP_COLUMNS = (
    "id",
    "patient_id",
    "serial_number",
    "implanted_on",
    "status",
    "low_reservoir_alarm_ml",
    "fixed_flow_rate_ml_per_day",
    "elective_replacement_on",
    "replace_by_on",
    "next_visit_at",
    "notes",
    "projected_alarm_at",
    "projected_empty_at",
    "refill_due_at",
    "refill_due_reason",
    "stability_limit_at",
    "projection_updated_at",
    "projection_error",
)
PROGRAM_COLUMNS = (
    "id",
    "effective_from",
    "mode",
    "concentration_mcg_per_ml",
    "daily_dose_mcg",
    "reason",
    "dose_change_verdict",
    "override_reason",
    "entered_at",
)
CATHETER_COLUMNS = ("id", "implanted_on", "implanted_length_cm", "volume_per_cm_ml")


# Times are read as text in UTC and parsed here: the database driver's time-zone-aware loader
# (Django's, in Python) costs more than the rest of a 50-row page's values together.
TIMESTAMP_COLUMNS = frozenset(
    {
        "next_visit_at",
        "projected_alarm_at",
        "projected_empty_at",
        "refill_due_at",
        "stability_limit_at",
        "projection_updated_at",
        "program_effective_from",
        "program_entered_at",
    }
)


def _as_text(model_field: Any, field: Any) -> bool:
    """Whether PostgreSQL's text for this column is exactly what the serializer's ``field``
    writes: a numeric to the same places, or a date in ISO 8601."""
    from rest_framework import serializers

    if isinstance(model_field, models.DecimalField):
        return (
            isinstance(field, serializers.DecimalField)
            and _plain_decimal(field)
            and field.decimal_places == model_field.decimal_places
        )
    if type(model_field) is models.DateField:
        return (
            isinstance(field, serializers.DateField)
            and getattr(field, "format", api_settings.DATE_FORMAT) == ISO_8601
        )
    return False


def _select(alias: str, model: type[models.Model], column: str, name: str, part: str) -> str:
    """One column of the statement, as ``name``. Times come as UTC text (the formatters finish
    them); decimals and dates come as the text the serializer would write for them, when
    PostgreSQL's is the same, so that nothing is parsed into Python and written back."""
    if name in TIMESTAMP_COLUMNS:
        return (
            f"to_char({alias}.{column} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US') "
            f"AS {name}"
        )
    try:
        model_field = model._meta.get_field(column)
    except FieldDoesNotExist:
        return f"{alias}.{column} AS {name}"
    if _as_text(model_field, _fields()[part].get(column)):
        if isinstance(model_field, models.DecimalField):
            return f"{alias}.{column}::text AS {name}"
        return f"to_char({alias}.{column}, 'YYYY-MM-DD') AS {name}"
    return f"{alias}.{column} AS {name}"


def _ids_condition(column: str, *, single: bool) -> str:
    return f"{column} = %s::bigint" if single else f"{column} = ANY(%s::bigint[])"


@functools.cache
def _from_sql(*, with_patient: bool, single: bool) -> str:
    """The FROM and WHERE of both statements: the pumps asked for (one id, or an array of ids:
    two statement texts, each with a plan that suits it), each with its model, its program in
    force and its catheter in place. The program and the catheter are picked from the asked
    pumps' own rows, as the models' orderings do (DISTINCT ON the pump, newest first), so the
    plan stays one pass over those rows whatever the table statistics say; a correlated
    subquery a pump (ORDER BY ... LIMIT 1) became a sort of the whole table a pump once
    PostgreSQL had analysed a small clinic's tables. The same ids parameter comes three times
    (``_statement``). ``with_patient`` joins the patient, for the access rule."""
    program = PumpProgram._meta.db_table
    catheter = Catheter._meta.db_table
    patient = f"JOIN {Patient._meta.db_table} pt ON pt.id = p.patient_id " if with_patient else ""
    return (
        f"FROM {Pump._meta.db_table} p "
        f"{patient}"
        f"JOIN {PumpModel._meta.db_table} m ON m.id = p.pump_model_id "
        f"LEFT JOIN (SELECT DISTINCT ON (x.pump_id) x.* FROM {program} x "
        f"WHERE {_ids_condition('x.pump_id', single=single)} "
        "ORDER BY x.pump_id, x.effective_from DESC) pr ON pr.pump_id = p.id "
        f"LEFT JOIN (SELECT DISTINCT ON (y.pump_id) y.* FROM {catheter} y "
        f"WHERE y.removed_on IS NULL AND {_ids_condition('y.pump_id', single=single)} "
        "ORDER BY y.pump_id, y.implanted_on DESC) c ON c.pump_id = p.id "
        f"WHERE {_ids_condition('p.id', single=single)}"
    )


def _statement(select: str, pump_ids: Sequence[int], user: Any | None) -> tuple[str, list[Any]]:
    """``select`` (the columns) with ``_from_sql`` for ``pump_ids``, limited to the patients
    ``user`` may see when given, and its parameters."""
    single = len(pump_ids) == 1
    sql = f"{select} {_from_sql(with_patient=user is not None, single=single)}"
    ids: Any = pump_ids[0] if single else list(pump_ids)
    params: list[Any] = [ids, ids, ids]
    if user is not None:
        condition, access_params = visible_patients_sql(user, "pt.id", "pt.clinic_id")
        sql += f" AND {condition}"
        params += access_params
    return sql, params


def _username_sql(column: str) -> str:
    from django.contrib.auth import get_user_model

    return f"(SELECT u.username FROM {get_user_model()._meta.db_table} u WHERE u.id = {column})"


def _catheter_model_sql() -> str:
    return (
        f"(SELECT cm.name FROM {CatheterModel._meta.db_table} cm WHERE cm.id = c.catheter_model_id)"
    )


@functools.cache
def _rows_select() -> str:
    """The columns of the statement that reads pumps with their model, program in force and
    catheter in place (``_from_sql``), one flat row a pump. Names are read by scalar
    subqueries rather than joins: PostgreSQL then plans the statement in a third of the time,
    which is most of what it costs."""
    columns = [_select("p", Pump, c, c, "pump") for c in PUMP_COLUMNS]
    columns += [
        "m.model_number AS model_number",
        "m.name AS model_name",
        _select("m", PumpModel, "reservoir_capacity_ml", "reservoir_capacity_ml", "pump"),
    ]
    columns += [_select("pr", PumpProgram, c, f"program_{c}", "program") for c in PROGRAM_COLUMNS]
    columns += [
        f"{_username_sql('pr.entered_by_id')} AS program_entered_by",
        f"{_username_sql('pr.verified_by_id')} AS program_verified_by",
    ]
    # The flex steps in the same statement, as JSON text pairs (exact: no float on the way).
    columns += [
        "(SELECT json_agg(json_build_array(s.start_time::text, s.rate_mcg_per_hour::text) "
        f"ORDER BY s.start_time) FROM {FlexStep._meta.db_table} s WHERE s.program_id = pr.id) "
        "AS program_steps"
    ]
    columns += [_select("c", Catheter, c, f"catheter_{c}", "catheter") for c in CATHETER_COLUMNS]
    columns += [f"{_catheter_model_sql()} AS catheter_model"]
    return f"SELECT {', '.join(columns)}"


def _fetch(sql: str, params: Sequence[Any]) -> list[dict[str, Any]]:
    """The rows of a prepared statement (``itb.db``): planned once per connection, which is
    most of what a pump's row costs."""
    with prepared_cursor() as cursor:
        cursor.execute(sql, params)
        names = [column.name for column in cursor.description]
        return [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]


def _rows_sql_path(pump_ids: Sequence[int], user: Any | None) -> list[dict[str, Any]]:
    sql, params = _statement(_rows_select(), pump_ids, user)
    rows = _fetch(sql, params)
    rate_as_text = _as_text(
        FlexStep._meta.get_field("rate_mcg_per_hour"), _fields()["step"]["rate_mcg_per_hour"]
    )
    for row in rows:
        # Times, decimals and dates stay text (_select); the formatters take them as they are.
        # A step's start is text too unless it has a fraction of a second, which PostgreSQL
        # writes shorter than isoformat() does.
        row["program_steps"] = [
            (
                start if "." not in start else time.fromisoformat(start),
                rate if rate_as_text else decimal.Decimal(rate),
            )
            for start, rate in row["program_steps"] or ()
        ]
    return rows


def _rows_orm_path(pump_ids: Sequence[int], user: Any | None) -> list[dict[str, Any]]:
    """The same rows through the ORM, for databases other than PostgreSQL."""
    from pumps.selectors import pumps_visible_to

    pumps = pumps_visible_to(user) if user is not None else Pump.objects.all()
    rows = {
        row["id"]: row
        for row in pumps.filter(pk__in=pump_ids).values(
            *PUMP_COLUMNS,
            model_number=Subquery(
                PumpModel.objects.filter(pk=OuterRef("pump_model_id")).values("model_number")
            ),
            model_name=Subquery(
                PumpModel.objects.filter(pk=OuterRef("pump_model_id")).values("name")
            ),
            reservoir_capacity_ml=Subquery(
                PumpModel.objects.filter(pk=OuterRef("pump_model_id")).values(
                    "reservoir_capacity_ml"
                )
            ),
        )
    }
    latest = (
        PumpProgram.objects.filter(pump=OuterRef("pump"))
        .order_by("-effective_from")
        .values("pk")[:1]
    )
    empty_program: dict[str, Any] = dict.fromkeys(
        [f"program_{c}" for c in PROGRAM_COLUMNS] + ["program_entered_by", "program_verified_by"]
    )
    empty_catheter = dict.fromkeys([f"catheter_{c}" for c in CATHETER_COLUMNS] + ["catheter_model"])
    for row in rows.values():
        row.update(empty_program)
        row.update(empty_catheter)
        row["program_steps"] = []  # a list of its own: steps are appended below
    for program in PumpProgram.objects.filter(pump_id__in=rows, pk=Subquery(latest)).values(
        "pump_id", *PROGRAM_COLUMNS, "entered_by__username", "verified_by__username"
    ):
        row = rows[program["pump_id"]]
        row.update({f"program_{c}": program[c] for c in PROGRAM_COLUMNS})
        row["program_entered_by"] = program["entered_by__username"]
        row["program_verified_by"] = program["verified_by__username"]
    for catheter in (
        Catheter.objects.filter(pump_id__in=rows, removed_on__isnull=True)
        .order_by("pump", "-implanted_on")
        .values("pump_id", *CATHETER_COLUMNS, "catheter_model__name")
    ):
        row = rows[catheter["pump_id"]]
        if row["catheter_id"] is None:
            row.update({f"catheter_{c}": catheter[c] for c in CATHETER_COLUMNS})
            row["catheter_model"] = catheter["catheter_model__name"]
    by_program = {row["program_id"]: row for row in rows.values() if row["program_id"]}
    for program_id, start_time, rate in (
        FlexStep.objects.filter(program_id__in=by_program)
        .order_by("program", "start_time")
        .values_list("program_id", "start_time", "rate_mcg_per_hour")
    ):
        by_program[program_id]["program_steps"].append((start_time, rate))
    return list(rows.values())


def pump_representations(
    pump_ids: Iterable[int], *, user: Any | None = None
) -> list[dict[str, Any]]:
    """The representations of the pumps ``pump_ids``, in that order, exactly as
    ``PumpSerializer(pumps, many=True).data`` gives them. With ``user``, only the pumps of
    patients that user may see (``pumps.selectors``); the others are left out. One query on
    PostgreSQL (four elsewhere), whatever the number of pumps."""
    pump_ids = list(pump_ids)
    if not pump_ids:
        return []
    reader = _rows_sql_path if connection.vendor == "postgresql" else _rows_orm_path
    return _represent(reader(pump_ids, user), pump_ids)


def _represent(found: list[dict[str, Any]], pump_ids: list[int]) -> list[dict[str, Any]]:
    """The representations of the rows a reader ``found``, in the order of ``pump_ids``, in
    the active time zone."""
    rows = {row["id"]: row for row in found}
    zone = timezone.get_current_timezone()
    reset = _ZONE.set(zone)
    reset_utc = _IN_UTC.set(zone is UTC or getattr(zone, "key", None) in UTC_NAMES)
    try:
        return [_pump(rows[pk]) for pk in pump_ids if pk in rows]
    finally:
        _IN_UTC.reset(reset_utc)
        _ZONE.reset(reset)


def pump_representation(pump_id: int, *, user: Any | None = None) -> dict[str, Any] | None:
    """One pump's representation; None when there is no such pump (or ``user`` may not see
    it)."""
    found = pump_representations([pump_id], user=user)
    return found[0] if found else None


# --- the list page's documents: the same representations, written as JSON by PostgreSQL ------
#
# A list page is the API's largest read. Building 50 representations as Python dicts and then
# encoding them costs more than reading them: here PostgreSQL writes each pump's JSON document
# in the same statement (json_build_object, keys in the serializer's order, values in exactly
# the text the serializer's fields write), and the page is joined from those documents. It
# applies only where PostgreSQL can write every field as the serializer does (UTC, ISO 8601,
# decimals to their stored places); otherwise, as on other databases, pump_documents answers
# None and the caller encodes pump_representations. ``tests/api/test_representations.py``
# checks that both give the same JSON, key for key and in the same order.


class _NotExpressible(Exception):
    """A field PostgreSQL cannot write exactly as its serializer field does."""


def _passthrough_fields() -> tuple[type, ...]:
    """Serializer fields that write a column's value as it is: text, a choice, an integer."""
    from rest_framework import serializers

    return (
        serializers.CharField,
        serializers.ChoiceField,
        serializers.IntegerField,
        serializers.PrimaryKeyRelatedField,
    )


def _json_sql(part: str, name: str, model: type[models.Model], expression: str) -> str:
    """The SQL value of field ``name`` of ``part`` (a column ``expression`` of ``model``), as
    JSON that equals the serializer field's output. Raises _NotExpressible otherwise."""
    from rest_framework import serializers

    field = _fields()[part][name]
    column = expression.split(".", 1)[1]
    try:
        model_field = model._meta.get_field(column.removesuffix("_id"))
    except FieldDoesNotExist:
        raise _NotExpressible(f"{part}.{name}") from None
    if isinstance(model_field, models.DateTimeField):
        if not isinstance(field, serializers.DateTimeField) or (
            getattr(field, "format", api_settings.DATETIME_FORMAT) != ISO_8601
        ):
            raise _NotExpressible(f"{part}.{name}")
        # isoformat() in UTC with its +00:00 written Z, and no fraction when it is zero.
        return (
            f"replace(to_char({expression} AT TIME ZONE 'UTC', "
            "'YYYY-MM-DD\"T\"HH24:MI:SS.US') || 'Z', '.000000Z', 'Z')"
        )
    if isinstance(model_field, models.DecimalField) or type(model_field) is models.DateField:
        if not _as_text(model_field, field):
            raise _NotExpressible(f"{part}.{name}")
        if isinstance(model_field, models.DecimalField):
            return f"{expression}::text"
        return f"to_char({expression}, 'YYYY-MM-DD')"
    if isinstance(model_field, models.TimeField):
        if not isinstance(field, serializers.TimeField) or (
            getattr(field, "format", api_settings.TIME_FORMAT) != ISO_8601
        ):
            raise _NotExpressible(f"{part}.{name}")
        # PostgreSQL writes a fraction of a second shorter than isoformat() does.
        return (
            f"CASE WHEN strpos({expression}::text, '.') = 0 THEN {expression}::text "
            f"ELSE to_char(DATE '2000-01-01' + {expression}, 'HH24:MI:SS.US') END"
        )
    if isinstance(field, _passthrough_fields()) and not isinstance(
        field, serializers.DecimalField | serializers.DateField | serializers.TimeField
    ):
        return expression
    raise _NotExpressible(f"{part}.{name}")


def _columns_json(
    part: str, model: type[models.Model], alias: str, columns: dict[str, str]
) -> list[tuple[str, str]]:
    """``(key, JSON value)`` pairs of the serializer fields ``columns`` maps to columns of
    ``model`` (read as ``alias``)."""
    return [
        (key, _json_sql(part, key, model, f"{alias}.{column}")) for key, column in columns.items()
    ]


def _object_sql(pairs: list[tuple[str, str]]) -> str:
    return "json_build_object(" + ", ".join(f"'{key}', {value}" for key, value in pairs) + ")"


@functools.cache
def _documents_select() -> str | None:
    """The columns of the statement that reads each pump's id and its representation as JSON
    text (``_from_sql``); None when some field cannot be written by PostgreSQL as its
    serializer does."""
    from rest_framework import serializers

    def field(part: str, name: str, model: type[models.Model], expression: str) -> str:
        return _json_sql(part, name, model, expression)

    try:
        if not isinstance(_fields()["catheter"]["catheter_volume_ml"], serializers.FloatField):
            raise _NotExpressible("catheter.catheter_volume_ml")
        steps = (
            "(SELECT coalesce(json_agg(json_build_object("
            f"'start_time', {field('step', 'start_time', FlexStep, 's.start_time')}, "
            "'rate_mcg_per_hour', "
            f"{field('step', 'rate_mcg_per_hour', FlexStep, 's.rate_mcg_per_hour')}) "
            f"ORDER BY s.start_time), '[]'::json) FROM {FlexStep._meta.db_table} s "
            "WHERE s.program_id = pr.id)"
        )
        program = _object_sql(
            [
                ("id", "pr.id"),
                ("pump", "p.id"),
                (
                    "effective_from",
                    field("program", "effective_from", PumpProgram, "pr.effective_from"),
                ),
                ("mode", field("program", "mode", PumpProgram, "pr.mode")),
                (
                    "concentration_mcg_per_ml",
                    field(
                        "program",
                        "concentration_mcg_per_ml",
                        PumpProgram,
                        "pr.concentration_mcg_per_ml",
                    ),
                ),
                (
                    "daily_dose_mcg",
                    field("program", "daily_dose_mcg", PumpProgram, "pr.daily_dose_mcg"),
                ),
                ("steps", steps),
                ("reason", field("program", "reason", PumpProgram, "pr.reason")),
                (
                    "dose_change_verdict",
                    field("program", "dose_change_verdict", PumpProgram, "pr.dose_change_verdict"),
                ),
                (
                    "override_reason",
                    field("program", "override_reason", PumpProgram, "pr.override_reason"),
                ),
                ("entered_by", _username_sql("pr.entered_by_id")),
                ("entered_at", field("program", "entered_at", PumpProgram, "pr.entered_at")),
                ("verified_by", _username_sql("pr.verified_by_id")),
            ]
        )
        # catheter_volume_ml: the engine's product of the two, in double precision as in
        # Python (each decimal rounded to the nearest double first, as float() does).
        catheter = _object_sql(
            [
                ("id", "c.id"),
                ("model", _catheter_model_sql()),
                ("implanted_on", field("catheter", "implanted_on", Catheter, "c.implanted_on")),
                (
                    "implanted_length_cm",
                    field("catheter", "implanted_length_cm", Catheter, "c.implanted_length_cm"),
                ),
                (
                    "volume_per_cm_ml",
                    field("catheter", "volume_per_cm_ml", Catheter, "c.volume_per_cm_ml"),
                ),
                (
                    "catheter_volume_ml",
                    "c.implanted_length_cm::float8 * c.volume_per_cm_ml::float8",
                ),
            ]
        )
        projection = _object_sql(
            _columns_json(
                "projection",
                Pump,
                "p",
                {
                    "low_reservoir_alarm_at": "projected_alarm_at",
                    "empty_at": "projected_empty_at",
                    "refill_due_at": "refill_due_at",
                    "refill_due_reason": "refill_due_reason",
                    "stability_limit_at": "stability_limit_at",
                    "updated_at": "projection_updated_at",
                    "error": "projection_error",
                },
            )
        )
        pump = _object_sql(
            [
                ("id", "p.id"),
                ("patient", "p.patient_id"),
                ("serial_number", field("pump", "serial_number", Pump, "p.serial_number")),
                ("model_number", field("pump", "model_number", PumpModel, "m.model_number")),
                ("model_name", field("pump", "model_name", PumpModel, "m.name")),
                (
                    "reservoir_capacity_ml",
                    field("pump", "reservoir_capacity_ml", PumpModel, "m.reservoir_capacity_ml"),
                ),
                ("implanted_on", field("pump", "implanted_on", Pump, "p.implanted_on")),
                ("status", field("pump", "status", Pump, "p.status")),
                (
                    "low_reservoir_alarm_ml",
                    field("pump", "low_reservoir_alarm_ml", Pump, "p.low_reservoir_alarm_ml"),
                ),
                (
                    "fixed_flow_rate_ml_per_day",
                    field(
                        "pump", "fixed_flow_rate_ml_per_day", Pump, "p.fixed_flow_rate_ml_per_day"
                    ),
                ),
                (
                    "elective_replacement_on",
                    field("pump", "elective_replacement_on", Pump, "p.elective_replacement_on"),
                ),
                ("replace_by_on", field("pump", "replace_by_on", Pump, "p.replace_by_on")),
                ("next_visit_at", field("pump", "next_visit_at", Pump, "p.next_visit_at")),
                ("current_program", f"CASE WHEN pr.id IS NULL THEN NULL ELSE {program} END"),
                ("catheter", f"CASE WHEN c.id IS NULL THEN NULL ELSE {catheter} END"),
                ("projection", projection),
                ("notes", field("pump", "notes", Pump, "p.notes")),
            ]
        )
    except _NotExpressible:
        return None
    return f"SELECT p.id AS id, {pump}::text AS document"


def pump_documents(pump_ids: Iterable[int], *, user: Any | None = None) -> list[str] | None:
    """The JSON texts of ``pump_representations(pump_ids, user=user)``, in that order, written
    by PostgreSQL in one statement; None where that cannot be done exactly (another database,
    a time zone other than UTC, a field PostgreSQL cannot write as the serializer does): the
    caller then encodes ``pump_representations``."""
    pump_ids = list(pump_ids)
    if connection.vendor != "postgresql":
        return None
    zone = timezone.get_current_timezone()
    if not (zone is UTC or getattr(zone, "key", None) in UTC_NAMES):
        return None
    select = _documents_select()
    if select is None:
        return None
    if not pump_ids:
        return []
    sql, params = _statement(select, pump_ids, user)
    with prepared_cursor() as cursor:
        cursor.execute(sql, params)
        found = dict(cursor.fetchall())
    return [found[pk] for pk in pump_ids if pk in found]
