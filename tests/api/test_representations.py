"""The pump representation read by hand-written SQL (api.representations) is exactly what the
reference serializer (PumpSerializer, from which the schema is generated) gives, for every kind
of pump, through both of its readers; it leaves out exactly the pumps the access selector
hides; and it costs a fixed number of queries whatever the number of pumps."""

import json
from datetime import UTC, date, time, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from api import representations
from api.serializers import PumpSerializer
from pumps.models import Catheter, CatheterModel, Pump, PumpModel, PumpStatus
from pumps.selectors import pumps_visible_to
from pumps.services import StepInput, pump_implant, pump_program_create, reservoir_fill_record
from tests.api.conftest import API_FILLED_AT
from tests.conftest import World, pump_fill_product

pytestmark = pytest.mark.usefixtures("postgres")


def plain(data: Any) -> Any:
    """As the client receives it (JSON), so ReturnDicts and strings compare alike."""
    return json.loads(json.dumps(data, cls=DjangoJSONEncoder))


def reference(pump_ids: list[int]) -> list[Any]:
    pumps = Pump.objects.select_related("pump_model")
    return [plain(PumpSerializer(pumps.get(pk=pk)).data) for pk in pump_ids]


def implant(actor: Any, patient: Any, model_number: str, **fields: Any) -> Pump:
    """A pump of ``model_number`` implanted in ``patient`` with an 8709SC catheter."""
    fields.setdefault("catheter_length_cm", Decimal("60"))
    fields.setdefault("catheter_volume_per_cm_ml", Decimal("0.0020"))
    return pump_implant(
        actor=actor,
        patient=patient,
        pump_model=PumpModel.objects.get(model_number=model_number),
        serial_number=f"REP-{model_number}-{patient.pk}",
        implanted_on=date(2024, 1, 10),
        catheter_model=CatheterModel.objects.get(model_number="8709SC"),
        **fields,
    )


@pytest.fixture
def every_kind(world: World, make_pumps: Any) -> dict[str, int]:
    """One pump of each shape the representation has to get right."""
    simple, unprojected, flex, verified, no_catheter, failed, explanted = make_pumps(7)
    kinds = {"simple": simple.pk}

    Pump.objects.filter(pk=unprojected.pk).update(
        refill_due_at=None, projected_alarm_at=None, projected_empty_at=None
    )
    kinds["no program"] = make_pumps(1, filled=False)[0].pk
    kinds["no projection"] = unprojected.pk

    pump_program_create(
        actor=world.clinician,
        pump=flex,
        effective_from=API_FILLED_AT,
        concentration_mcg_per_ml=Decimal("500"),
        mode="flex",
        steps=[
            StepInput(time(7, 0), Decimal("15.5")),
            StepInput(time(0, 0), Decimal("10")),
            StepInput(time(19, 30), Decimal("12.125")),
        ],
        reason="Flex for night spasms",
        dose_change_verdict="soft_stop",
        override_reason="Agreed with the family",
    )
    kinds["flex"] = flex.pk

    pump_program_create(
        actor=world.clinician,
        pump=verified,
        effective_from=API_FILLED_AT + timedelta(minutes=5),
        concentration_mcg_per_ml=Decimal("1000"),
        mode="simple",
        daily_dose_mcg=Decimal("412.345"),
        reason="Concentration change",
        verified_by=world.nurse,
    )
    kinds["verified, two programs"] = verified.pk

    Catheter.objects.filter(pump=no_catheter).update(removed_on=date(2026, 10, 1))
    kinds["no catheter"] = no_catheter.pk

    Pump.objects.filter(pk=failed.pk).update(
        projection_error="The fill's concentration does not match the program."
    )
    kinds["projection error"] = failed.pk

    Pump.objects.filter(pk=explanted.pk).update(
        status=PumpStatus.EXPLANTED,
        explanted_on=date(2026, 10, 20),
        notes="Explanted: infection.\nSee the surgical note.",
    )
    kinds["explanted, notes"] = explanted.pk

    fixed = implant(
        world.clinician,
        world.patient_a2,
        "CODMAN-3000",
        catheter_length_cm=Decimal("45.5"),
        catheter_volume_per_cm_ml=Decimal("0.0021"),
        low_reservoir_alarm_ml=Decimal("3"),
        fixed_flow_rate_ml_per_day=Decimal("0.5"),
        elective_replacement_on=date(2031, 5, 1),
    )
    reservoir_fill_record(
        actor=world.nurse,
        pump=fixed,
        filled_at=API_FILLED_AT,
        volume_ml=Decimal("20"),
        concentration_mcg_per_ml=Decimal("500"),
        product=pump_fill_product("500"),
    )
    kinds["fixed rate"] = fixed.pk
    return kinds


@pytest.mark.parametrize("zone", ["UTC", "America/Chicago"])
def test_every_kind_of_pump_is_represented_exactly_as_the_serializer_does(every_kind, zone):
    ids = list(every_kind.values())
    with timezone.override(zone):
        expected = reference(ids)
        built = plain(representations.pump_representations(ids))
    assert len(built) == len(ids)
    for name, want, got in zip(every_kind, expected, built, strict=True):
        assert got == want, name
        assert list(got) == list(want), f"{name}: fields in another order"
    # The fixture really covers the shapes it claims to.
    by_name = dict(zip(every_kind, built, strict=True))
    assert by_name["no program"]["current_program"] is None
    assert by_name["no catheter"]["catheter"] is None
    assert [s["start_time"] for s in by_name["flex"]["current_program"]["steps"]] == [
        "00:00:00",
        "07:00:00",
        "19:30:00",
    ]
    assert by_name["verified, two programs"]["current_program"]["verified_by"] == "nurse"
    assert by_name["fixed rate"]["fixed_flow_rate_ml_per_day"] == "0.5000"
    assert by_name["no projection"]["projection"]["refill_due_at"] is None
    if zone == "UTC":
        assert by_name["simple"]["projection"]["refill_due_at"].endswith("Z")


@pytest.mark.parametrize("zone", ["UTC", "Europe/London", "America/Chicago"])
def test_both_readers_give_the_same_representations(world, every_kind, zone):
    """The SQL reader hands over times, decimals and dates as text, the ORM reader as Python
    values: what is built from them is the same, and the serializer's, in any zone (London:
    UTC's offset in winter, but not UTC)."""
    ids = list(every_kind.values())
    with timezone.override(zone):
        expected = reference(ids)
        for user in (None, world.clinician, world.caregiver_a, world.clinician_b):
            by_sql = representations._represent(representations._rows_sql_path(ids, user), ids)
            by_orm = representations._represent(representations._rows_orm_path(ids, user), ids)
            assert plain(by_sql) == plain(by_orm), user
            if user is None:
                assert plain(by_sql) == expected


def test_the_sql_reader_reads_decimals_dates_and_times_as_text(world, every_kind):
    """What makes it fast: nothing parsed into Python and formatted back (see _select)."""
    rows = {row["id"]: row for row in representations._rows_sql_path([every_kind["flex"]], None)}
    row = rows[every_kind["flex"]]
    assert row["low_reservoir_alarm_ml"] == "2.00" and row["reservoir_capacity_ml"] == "20.00"
    assert row["implanted_on"] == "2024-01-10"
    assert isinstance(row["refill_due_at"], str) and len(row["refill_due_at"]) == 26
    assert row["program_steps"][0] == ("00:00:00", "10.000")
    assert row["catheter_volume_per_cm_ml"] == "0.00200"  # numeric(7, 5), as the serializer


def test_the_fields_are_the_serializers_fields(world, every_kind):
    """A field added to the serializer (and so to the schema) and not here fails this test."""
    built = representations.pump_representation(every_kind["flex"])
    assert built is not None
    serializers = representations._formats()
    assert list(built) == list(serializers["pump"])
    assert list(built["current_program"]) == list(serializers["program"])
    assert list(built["current_program"]["steps"][0]) == list(serializers["step"])
    assert list(built["catheter"]) == list(serializers["catheter"])
    assert list(built["projection"]) == list(serializers["projection"])


def test_only_pumps_the_user_may_see_are_represented(world, every_kind):
    other_clinic = implant(world.clinician_b, world.patient_b1, "8637-20")
    ids = list(Pump.objects.order_by("pk").values_list("pk", flat=True))
    inactive = world.stranger
    inactive.is_active = False
    inactive.save()
    for user in world.users():  # the deactivated one included
        visible = set(pumps_visible_to(user).values_list("pk", flat=True))
        for reader in (representations._rows_sql_path, representations._rows_orm_path):
            got = {row["id"] for row in reader(ids, user)}
            assert got == visible, (str(user), reader.__name__)
    assert representations.pump_representation(other_clinic.pk, user=world.clinician) is None
    assert representations.pump_representation(other_clinic.pk, user=world.clinician_b)
    fixed = every_kind["fixed rate"]  # patient A2's
    assert representations.pump_representation(fixed, user=world.caregiver_a) is None
    assert representations.pump_representation(fixed, user=world.caregiver_b)


def test_one_query_whatever_the_number_of_pumps(world, make_pumps, every_kind):
    """On PostgreSQL the pumps, their programs with flex steps and their catheters come in one
    statement, for two pumps as for thirty-three."""
    few = [pump.pk for pump in make_pumps(2)] + [every_kind["flex"]]
    many = few + [pump.pk for pump in make_pumps(30)]
    timezone.activate(UTC)
    try:
        for ids in (few, many):
            with CaptureQueriesContext(connection) as captured:
                built = representations.pump_representations(ids, user=world.clinician)
            assert [pump["id"] for pump in built] == ids  # in the order asked
            assert len(captured.captured_queries) == 1
        assert len(built[2]["current_program"]["steps"]) == 3
    finally:
        timezone.deactivate()


# --- the list page's documents, written as JSON by PostgreSQL -----------------------------------


def nested_keys(value: Any) -> Any:
    """The keys of every object in ``value``, in order, all the way down."""
    if isinstance(value, dict):
        return [(key, nested_keys(item)) for key, item in value.items()]
    if isinstance(value, list):
        return [nested_keys(item) for item in value]
    return None


def test_the_documents_are_the_serializers_json_for_every_kind_of_pump(world, every_kind):
    """Key for key, in the same order, with the same values: text to the same places, times
    in UTC with Z, a catheter volume that is the same double."""
    ids = list(every_kind.values())
    with timezone.override(UTC):
        expected = reference(ids)
        documents = representations.pump_documents(ids)
    assert documents is not None
    built = [json.loads(document) for document in documents]
    for name, want, got in zip(every_kind, expected, built, strict=True):
        assert got == want, name
        assert nested_keys(got) == nested_keys(want), f"{name}: fields in another order"
    by_name = dict(zip(every_kind, built, strict=True))
    assert by_name["flex"]["current_program"]["steps"][2] == {
        "start_time": "19:30:00",
        "rate_mcg_per_hour": "12.125",
    }
    assert by_name["no program"]["current_program"] is None
    assert by_name["no catheter"]["catheter"] is None
    assert by_name["fixed rate"]["catheter"]["catheter_volume_ml"] == 45.5 * 0.0021
    assert by_name["simple"]["projection"]["refill_due_at"].endswith("Z")


def test_the_documents_match_the_representations_for_every_user(world, every_kind):
    """The same pumps left out, the same JSON for those shown, and in the order asked."""
    implant(world.clinician_b, world.patient_b1, "8637-20")
    ids = list(Pump.objects.order_by("-pk").values_list("pk", flat=True))
    with timezone.override(UTC):
        for user in (None, *world.users()):
            documents = representations.pump_documents(ids, user=user)
            assert documents is not None
            expected = plain(representations.pump_representations(ids, user=user))
            assert [json.loads(document) for document in documents] == expected, str(user)
            if user is not None:
                visible = set(pumps_visible_to(user).values_list("pk", flat=True))
                assert {pump["id"] for pump in expected} == visible, str(user)
        assert representations.pump_documents([]) == []


@pytest.mark.parametrize("zone", ["Europe/London", "America/Chicago"])
def test_no_documents_outside_utc(every_kind, zone):
    """PostgreSQL writes times in UTC only: in another zone the caller encodes the
    representations instead (the API itself always answers in UTC)."""
    with timezone.override(zone):
        assert representations.pump_documents(list(every_kind.values())) is None


def test_the_documents_take_one_query_whatever_the_number_of_pumps(world, make_pumps, every_kind):
    few = [pump.pk for pump in make_pumps(2)] + [every_kind["flex"]]
    many = few + [pump.pk for pump in make_pumps(30)]
    with timezone.override(UTC):
        for ids in (few, many):
            with CaptureQueriesContext(connection) as captured:
                documents = representations.pump_documents(ids, user=world.clinician)
            assert documents is not None
            assert [json.loads(document)["id"] for document in documents] == ids
            assert len(captured.captured_queries) == 1


def test_the_pump_list_answers_the_documents(world, every_kind, api_as):
    """Through the API: each page's results are the serializer's representations, in the
    order of the page, and the links walk the whole list."""
    client = api_as("read_token")
    url: str | None = "/api/v1/pumps/?page_size=3"
    seen: list[Any] = []
    while url:
        response = client.get(url)
        assert response.status_code == 200
        assert response["Content-Type"] == "application/json"
        body = json.loads(response.content)
        assert list(body) == ["next", "previous", "results"]
        seen += body["results"]
        url = body["next"]
    visible = sorted(pumps_visible_to(world.integrator).values_list("pk", flat=True))
    assert len(visible) > 3  # more than one page
    assert [pump["id"] for pump in seen] == visible
    with timezone.override(UTC):
        assert seen == reference(visible)
