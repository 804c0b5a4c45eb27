"""The dosing calculator API (/api/v1/dosing/): every endpoint of the contract, exact values
from the worked examples, units, bad input (400 naming the field and unit, never 500),
authentication and the configurable dosing rules."""

import json
import math
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dosing.models import DosingRules, PopulationDoseLimits

BASE = "/api/v1/dosing"
TC01 = {
    "concentration": "500 mcg/mL",
    "daily_dose": 300,
    "reservoir_volume": "20 mL",
    "low_reservoir_alarm": 2,
    "filled_at": "2025-03-03T00:00:00Z",
    "refill_buffer_days": 7,
}


# A valid body of each calculator (the fuzz test varies one field; the API matrix sends them).
VALID_BODIES: dict[str, dict[str, Any]] = {
    "projection": TC01,
    "concentration-change": {
        "old_concentration": 500,
        "new_concentration": 2000,
        "daily_dose": 600,
        "dead_volume": 0.26,
    },
    "dose-change": {
        "current_daily_dose": 400,
        "proposed_daily_dose": 440,
        "origin": "spinal",
        "context": "refill",
    },
    "fixed-rate-fill": {
        "flow_rate": 1,
        "reservoir_volume": 30,
        "daily_dose": 400,
        "stock_concentration": 500,
    },
    "starting-dose": {"screening_dose": 50, "effect_duration": 6},
    "refill-reconciliation": {
        "reservoir_volume": 20,
        "filled_at": "2025-03-03T00:00:00Z",
        "concentration": 500,
        "daily_dose": 300,
        "refilled_at": "2025-03-28T00:00:00Z",
        "volume_removed": 5,
        "reservoir_capacity": 20,
    },
}


@pytest.fixture
def api(world) -> Client:
    client = Client()
    client.force_login(world.clinician)
    return client


def post(client: Client, endpoint: str, body: Any) -> tuple[int, Any]:
    response = client.post(f"{BASE}/{endpoint}/", json.dumps(body), content_type="application/json")
    return response.status_code, response.json()


# --- projection ----------------------------------------------------------------------------------


def test_projection_tc01(api):
    status, body = post(api, "projection", TC01)
    assert status == 200
    assert body == {
        "daily_dose_mcg": 300.0,
        "daily_volume_ml": 0.6,
        "rate_mcg_per_hour": 12.5,
        "rate_ml_per_hour": pytest.approx(0.025, abs=1e-12),
        "days_to_low_reservoir_alarm": 30.0,
        "low_reservoir_alarm_at": "2025-04-02T00:00:00Z",
        "days_to_empty": pytest.approx(100 / 3, abs=1e-9),
        "empty_at": "2025-04-05T08:00:00Z",
        "refill_due_at": "2025-03-26T00:00:00Z",
        "refill_due_reason": "low_reservoir_alarm",
    }


def test_projection_defaults_come_from_the_dosing_rules(api):
    body = {k: v for k, v in TC01.items() if k not in ("low_reservoir_alarm", "refill_buffer_days")}
    status, out = post(api, "projection", body)
    assert status == 200
    assert out["low_reservoir_alarm_at"] == "2025-04-02T00:00:00Z"  # 2 mL default
    assert out["refill_due_at"] == "2025-03-26T00:00:00Z"  # 7-day default


def test_projection_stability_limit_binds(api):
    # 40 mL at 100 mcg/day of 2000 mcg/mL: 0.05 mL/day, alarm after (40 − 2)/0.05 = 760 days;
    # the 180-day stability limit binds: due 2025-03-03 + 180 d = 2025-08-30.
    body = {**TC01, "concentration": "2 mg/mL", "daily_dose": 100, "reservoir_volume": 40}
    status, out = post(api, "projection", body)
    assert status == 200
    assert out["refill_due_at"] == "2025-08-30T00:00:00Z"
    assert out["refill_due_reason"] == "drug_stability"
    assert out["days_to_low_reservoir_alarm"] == pytest.approx(760.0)


def test_projection_flex_follows_the_steps_across_spring_forward(api):
    # TC-06 schedule, filled 2025-03-03 08:00 EST with 20 mL; 18 mL to the alarm. 22 whole
    # local days deliver 22 × 0.8 mL less the 0.05 mL the 23 h day of 2025-03-09 skips =
    # 17.55 mL by 2025-03-25 08:00 EDT. Then 08:00-22:00 at 0.025 mL/h = 0.35 mL and 0.10 mL
    # at 0.05 mL/h = 2 h: alarm 2025-03-26 00:00 EDT = 04:00 UTC.
    body = {
        "concentration": 500,
        "steps": [{"start": "06:00", "rate": "12.5 mcg/h"}, {"start": "22:00", "rate": 25}],
        "reservoir_volume": 20,
        "filled_at": "2025-03-03T08:00:00-05:00",
        "timezone": "America/New_York",
    }
    status, out = post(api, "projection", body)
    assert status == 200
    assert out["daily_dose_mcg"] == 400.0
    assert out["daily_volume_ml"] == 0.8
    assert out["low_reservoir_alarm_at"] == "2025-03-26T04:00:00Z"
    assert out["refill_due_at"] == "2025-03-19T04:00:00Z"


def test_projection_flex_defaults_to_the_clinic_time_zone(api, world):
    world.clinic_a.time_zone = "Asia/Kolkata"  # no DST: 22.5 days from 08:00 IST
    world.clinic_a.save()
    body = {
        "concentration": 500,
        "steps": [{"start": "06:00", "rate": "12.5 mcg/h"}, {"start": "22:00", "rate": 25}],
        "reservoir_volume": 20,
        "filled_at": "2025-03-03T08:00:00+05:30",
    }
    status, out = post(api, "projection", body)
    assert status == 200
    # 22 days → 2025-03-25 08:00 IST with 0.4 mL left: 0.35 mL by 22:00, 0.05 mL by 23:00 IST.
    assert out["low_reservoir_alarm_at"] == "2025-03-25T17:30:00Z"


# --- concentration change -------------------------------------------------------------------------


def test_concentration_change_tc04(api):
    status, out = post(
        api,
        "concentration-change",
        {
            "old_concentration": "500 mcg/mL",
            "new_concentration": "2 mg/mL",
            "daily_dose": 600,
            "pump_tubing_volume": "0.140 mL",
            "catheter_volume": 0.12,
        },
    )
    assert status == 200
    assert out["dead_volume_ml"] == pytest.approx(0.26)
    assert out["old_rate_ml_per_day"] == pytest.approx(1.2)
    assert out["new_rate_ml_per_day"] == pytest.approx(0.3)
    assert out["bridge_required"] is True
    assert out["without_bridge"] == {
        "effective_daily_dose_mcg": pytest.approx(150.0),
        "percent_of_prescribed": pytest.approx(25.0),
        "duration_hours": pytest.approx(20.8),
    }
    assert out["bridge_bolus"] == {
        "volume_ml": pytest.approx(0.26),
        "duration_hours": pytest.approx(5.2),
        "drug_mcg": pytest.approx(130.0),
    }


def test_same_concentration_needs_no_bridge(api):
    status, out = post(
        api,
        "concentration-change",
        {
            "old_concentration": 500,
            "new_concentration": 500,
            "daily_dose": 600,
            "dead_volume": 0.26,
        },
    )
    assert status == 200
    assert out["bridge_required"] is False
    assert out["bridge_bolus"] is None
    assert out["without_bridge"]["percent_of_prescribed"] == pytest.approx(100.0)


@pytest.mark.parametrize(
    "volumes",
    [{}, {"pump_tubing_volume": 0.14}, {"dead_volume": 0.26, "catheter_volume": 0.12}],
)
def test_concentration_change_needs_dead_volume_or_both_parts(api, volumes):
    body = {"old_concentration": 500, "new_concentration": 2000, "daily_dose": 600, **volumes}
    status, out = post(api, "concentration-change", body)
    assert status == 400
    assert "mL" in out["dead_volume"][0]


# --- dose change ---------------------------------------------------------------------------------


def test_ismp_unit_error_is_a_hard_stop(api):
    status, out = post(
        api,
        "dose-change",
        {
            "current_daily_dose": 400,
            "proposed_daily_dose": "60 mcg/h",
            "origin": "spinal",
            "context": "titration",
            "at": "2025-03-10T09:00:00Z",
        },
    )
    assert status == 200
    assert out["verdict"] == "hard_stop"
    assert out["change_percent"] == pytest.approx(260.0)
    assert out["allowed_min_daily_dose_mcg"] == pytest.approx(320.0)  # −20 % decrease floor
    assert out["allowed_max_daily_dose_mcg"] == pytest.approx(520.0)  # +30 % spinal titration
    assert "unit_error_suspected" in {r["code"] for r in out["reasons"]}
    assert all(set(r) == {"code", "message"} for r in out["reasons"])


@pytest.mark.parametrize(
    ("body", "verdict"),
    [
        # spinal adult +25 % in titration: within 10-30 %
        (
            {
                "current_daily_dose": 400,
                "proposed_daily_dose": 500,
                "origin": "spinal",
                "context": "titration",
            },
            "ok",
        ),
        # cerebral adult +25 % in titration: above 15 %
        (
            {
                "current_daily_dose": 200,
                "proposed_daily_dose": 250,
                "origin": "cerebral",
                "context": "titration",
            },
            "soft_stop",
        ),
        # spinal +35 % at refill: within 40 %
        (
            {
                "current_daily_dose": 400,
                "proposed_daily_dose": 540,
                "origin": "spinal",
                "context": "refill",
            },
            "ok",
        ),
        # child (8 y) spinal +25 %: pediatric titration max 15 %
        (
            {
                "current_daily_dose": 200,
                "proposed_daily_dose": 250,
                "origin": "spinal",
                "context": "titration",
                "age_years": 8,
            },
            "soft_stop",
        ),
        # −15 % for side effects: within 10-20 %
        (
            {
                "current_daily_dose": 400,
                "proposed_daily_dose": 340,
                "origin": "spinal",
                "context": "side_effect",
            },
            "ok",
        ),
    ],
)
def test_dose_change_contexts(api, body, verdict):
    status, out = post(api, "dose-change", {**body, "at": "2025-06-01T12:00:00Z"})
    assert status == 200
    assert out["verdict"] == verdict, out["reasons"]


def test_no_increase_in_the_first_24_hours_after_implant(api):
    status, out = post(
        api,
        "dose-change",
        {
            "current_daily_dose": 400,
            "proposed_daily_dose": 440,
            "origin": "spinal",
            "context": "titration",
            "implanted_at": "2025-06-01T08:00:00Z",
            "at": "2025-06-01T20:00:00Z",
        },
    )
    assert status == 200
    assert out["verdict"] == "soft_stop"


def test_dose_limits_come_from_the_database(api):
    body = {
        "current_daily_dose": 400,
        "proposed_daily_dose": 540,
        "origin": "spinal",
        "context": "titration",
        "at": "2025-06-01T12:00:00Z",
    }
    assert post(api, "dose-change", body)[1]["verdict"] == "soft_stop"  # +35 % > 30 %
    PopulationDoseLimits.objects.filter(population="spinal_adult").update(
        titration_increase_max_percent=Decimal("40")
    )
    status, out = post(api, "dose-change", body)
    assert status == 200 and out["verdict"] == "ok"
    assert out["allowed_max_daily_dose_mcg"] == pytest.approx(560.0)


def test_no_active_rules_is_a_503_not_a_guess(api):
    DosingRules.objects.update(is_active=False)
    status, out = post(
        api,
        "dose-change",
        {
            "current_daily_dose": 400,
            "proposed_daily_dose": 440,
            "origin": "spinal",
            "context": "refill",
        },
    )
    assert status == 503
    assert "No active dosing rules" in out["detail"]


# --- fixed-rate fill, reconciliation, starting dose -----------------------------------------------


def test_fixed_rate_fill_recipe(api):
    # C = 400 / 1 = 400 mcg/mL; 30 mL lasts 30 days and holds 12 000 mcg; prepared 33 mL:
    # drug 33 × 400 / 500 = 26.4 mL, saline 6.6 mL.
    status, out = post(
        api,
        "fixed-rate-fill",
        {
            "flow_rate": "1 mL/day",
            "reservoir_volume": 30,
            "daily_dose": 400,
            "stock_concentration": "500 mcg/mL",
            "priming_excess": 3,
        },
    )
    assert status == 200
    assert out == {
        "required_concentration_mcg_per_ml": pytest.approx(400.0),
        "running_days": pytest.approx(30.0),
        "total_drug_mcg": pytest.approx(12000.0),
        "prepared_volume_ml": pytest.approx(33.0),
        "drug_volume_ml": pytest.approx(26.4),
        "diluent_volume_ml": pytest.approx(6.6),
    }


def test_fixed_rate_needing_more_than_the_stock_is_refused(api):
    status, out = post(
        api,
        "fixed-rate-fill",
        {"flow_rate": 0.5, "reservoir_volume": 30, "daily_dose": 400, "stock_concentration": 500},
    )
    assert status == 400
    assert "stock" in out["stock_concentration"][0]


@pytest.mark.parametrize(
    ("removed", "flags"),
    [
        ("5.1 mL", []),
        # removed 8 mL against 5 expected: delivered 12 vs 15 mL (−20 %), residual +3 mL
        ("8 mL", ["under_delivery", "residual_discrepancy"]),
        # removed 2 mL: delivered 18 vs 15 mL (+20 %), residual −3 mL
        (2, ["over_delivery", "residual_discrepancy"]),
    ],
)
def test_refill_reconciliation(api, removed, flags):
    status, out = post(
        api,
        "refill-reconciliation",
        {
            "reservoir_volume": 20,
            "filled_at": "2025-03-03T00:00:00Z",
            "concentration": 500,
            "daily_dose": 300,
            "refilled_at": "2025-03-28T00:00:00Z",
            "volume_removed": removed,
            "reservoir_capacity": 20,
        },
    )
    assert status == 200
    assert out["expected_volume_ml"] == pytest.approx(5.0)  # 20 − 25 d × 0.6 mL/day
    assert out["expected_delivered_ml"] == pytest.approx(15.0)
    assert out["flags"] == flags


def test_reconciliation_refill_before_fill_is_refused(api):
    status, out = post(
        api,
        "refill-reconciliation",
        {
            "reservoir_volume": 20,
            "filled_at": "2025-03-03T00:00:00Z",
            "concentration": 500,
            "daily_dose": 300,
            "refilled_at": "2025-03-01T00:00:00Z",
            "volume_removed": 5,
            "reservoir_capacity": 20,
        },
    )
    assert status == 400 and "refilled_at" in out


@pytest.mark.parametrize(
    ("dose", "hours", "expected"),
    [("75 mcg", "6 h", 150.0), (50, 8, 100.0), (50, "9 h", 50.0), (50, "600 min", 50.0)],
)
def test_starting_dose(api, dose, hours, expected):
    status, out = post(api, "starting-dose", {"screening_dose": dose, "effect_duration": hours})
    assert status == 200
    assert out["daily_dose_mcg"] == pytest.approx(expected)
    assert "screening dose" in out["rule"]


def test_screening_dose_above_100_mcg_is_refused(api):
    status, out = post(api, "starting-dose", {"screening_dose": 150, "effect_duration": 6})
    assert status == 400
    assert "100 mcg" in out["screening_dose"][0]


# --- units ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "dose",
    [300, "300 mcg/day", "300 µg/day", "300 μg/day", "300 ug/day", "0.3 mg/day", "12.5 mcg/h"],
)
def test_the_same_dose_in_any_unit_gives_the_same_projection(api, dose):
    status, out = post(api, "projection", {**TC01, "daily_dose": dose})
    assert status == 200
    assert out["daily_dose_mcg"] == pytest.approx(300.0, abs=1e-9)
    assert out["low_reservoir_alarm_at"] == "2025-04-02T00:00:00Z"


def test_a_rate_in_mcg_per_hour_is_never_read_as_mcg_per_day(api):
    status, out = post(api, "projection", {**TC01, "daily_dose": "60 mcg/h"})
    assert status == 200
    assert out["daily_dose_mcg"] == pytest.approx(1440.0)


@pytest.mark.parametrize(
    ("field", "value", "unit"),
    [
        ("concentration", "500 mL/mcg", "mcg/mL"),
        ("concentration", "500 furlongs", "mcg/mL"),
        ("concentration", "lots", "mcg/mL"),
        ("concentration", "500", "mcg/mL"),
        ("concentration", "nan mcg/mL", "mcg/mL"),
        ("concentration", "inf mcg/mL", "mcg/mL"),
        ("concentration", 0, "mcg/mL"),
        ("concentration", -500, "mcg/mL"),
        ("concentration", True, "mcg/mL"),
        ("concentration", [500], "mcg/mL"),
        ("concentration", {"value": 500}, "mcg/mL"),
        ("daily_dose", "300 mcg", "mcg/day"),
        ("daily_dose", "300 mL", "mcg/day"),
        ("reservoir_volume", "20 mcg", "mL"),
        ("reservoir_volume", "-20 mL", "mL"),
        ("low_reservoir_alarm", "2 mcg/mL", "mL"),
    ],
)
def test_bad_quantities_are_400_naming_the_field_and_unit(api, field, value, unit):
    status, out = post(api, "projection", {**TC01, field: value})
    assert status == 400
    assert list(out) == [field]
    assert unit in out[field][0]


@pytest.mark.parametrize(
    ("change", "field", "text"),
    [
        ({"filled_at": "2025-03-03T00:00:00"}, "filled_at", "UTC offset"),
        ({"filled_at": "yesterday"}, "filled_at", "format"),
        ({"filled_at": None}, "filled_at", "null"),
        ({"refill_buffer_days": -1}, "refill_buffer_days", "greater than or equal to 0"),
        ({"low_reservoir_alarm": 25}, "low_reservoir_alarm", "below the reservoir volume"),
        ({"timezone": "Mars/Olympus"}, "timezone", "IANA"),
        ({"steps": [{"start": "06:00", "rate": 12.5}]}, "daily_dose", "not both"),
    ],
)
def test_bad_projection_inputs(api, change, field, text):
    status, out = post(api, "projection", {**TC01, **change})
    assert status == 400
    assert text in out[field][0]


def test_neither_dose_nor_steps_is_refused(api):
    body = {k: v for k, v in TC01.items() if k != "daily_dose"}
    status, out = post(api, "projection", body)
    assert status == 400 and "steps" in out["daily_dose"][0]


@pytest.mark.parametrize(
    ("steps", "text"),
    [
        ([], "at least one step"),
        ([{"start": "06:00", "rate": 10}, {"start": "06:00", "rate": 20}], "same time"),
        ([{"start": "6am", "rate": 10}], "HH:MM"),
        ([{"start": "24:00", "rate": 10}], "HH:MM"),
        ([{"start": "06:00", "rate": "10 mcg/day/mL"}], "mcg/h"),
        ([{"start": "06:00"}], "required"),
    ],
)
def test_bad_steps(api, steps, text):
    body = {k: v for k, v in TC01.items() if k != "daily_dose"}
    status, out = post(api, "projection", {**body, "steps": steps, "timezone": "UTC"})
    assert status == 400
    assert text in json.dumps(out["steps"])


def test_a_body_that_is_not_an_object_is_refused(api):
    assert post(api, "projection", [1, 2, 3])[0] == 400
    response = api.post(f"{BASE}/projection/", "{not json", content_type="application/json")
    assert response.status_code == 400


def test_an_absurd_rate_is_a_400_not_a_500(api):
    status, out = post(api, "projection", {**TC01, "daily_dose": 1e-300})
    assert status == 400
    assert "non_field_errors" in out


QUANTITY_TEXT = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False, width=64),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.text(max_size=20),
    st.builds(
        lambda n, u: f"{n} {u}",
        st.floats(allow_nan=True, allow_infinity=True),
        st.sampled_from(
            ["mcg/mL", "mg/mL", "mL", "mcg/h", "mcg/day", "ug/day", "day", "mcg", "kg", "/"]
        ),
    ),
    st.none(),
    st.booleans(),
)


@pytest.mark.parametrize(
    ("endpoint", "fields"),
    [
        ("projection", ["concentration", "daily_dose", "reservoir_volume", "low_reservoir_alarm"]),
        (
            "concentration-change",
            ["old_concentration", "new_concentration", "daily_dose", "dead_volume"],
        ),
        ("dose-change", ["current_daily_dose", "proposed_daily_dose", "age_years"]),
        (
            "fixed-rate-fill",
            [
                "flow_rate",
                "reservoir_volume",
                "daily_dose",
                "stock_concentration",
                "priming_excess",
            ],
        ),
        ("starting-dose", ["screening_dose", "effect_duration"]),
        (
            "refill-reconciliation",
            ["reservoir_volume", "daily_dose", "volume_removed", "reservoir_capacity"],
        ),
    ],
)
def test_random_inputs_never_give_a_server_error(api, endpoint, fields):
    base = VALID_BODIES[endpoint]

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.fixed_dictionaries({f: QUANTITY_TEXT for f in fields}))
    def check(values: dict[str, Any]) -> None:
        body = {
            **base,
            **{
                k: v
                for k, v in values.items()
                if not (isinstance(v, float) and not math.isfinite(v))
            },
        }
        status, out = post(api, endpoint, body)
        assert status in (200, 400), (status, body, out)

    check()


# --- access and documentation ---------------------------------------------------------------------


def test_anonymous_callers_are_refused(db):
    status, _ = post(Client(), "projection", TC01)
    assert status in (401, 403)


@pytest.mark.parametrize("username", ["caregiver_a", "integrator", "nurse"])
def test_any_signed_in_user_may_calculate(world, username):
    client = Client()
    client.force_login(getattr(world, username))
    assert post(client, "projection", TC01)[0] == 200


def test_schema_documents_every_calculator(api):
    response = api.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = json.loads(response.content)
    paths = schema["paths"]
    for endpoint in (
        "projection",
        "concentration-change",
        "dose-change",
        "fixed-rate-fill",
        "refill-reconciliation",
        "starting-dose",
    ):
        operation = paths[f"{BASE}/{endpoint}/"]["post"]
        assert operation["description"]
        assert {"200", "400"} <= set(operation["responses"])
        assert operation["requestBody"]["content"]["application/json"].get("examples"), endpoint


def test_api_docs_are_served_from_local_assets(api):
    page = api.get("/api/docs/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "swagger-ui" in html
    assert "cdn." not in html and "unpkg" not in html


@pytest.mark.parametrize("scope", ["read", "write"])
def test_api_tokens_of_either_scope_may_calculate(world, scope):
    from accounts.services import api_token_issue

    _, token = api_token_issue(actor=world.admin, user=world.integrator, scope=scope)
    response = Client().post(
        f"{BASE}/projection/",
        json.dumps(TC01),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert response.status_code == 200
    assert response.json()["refill_due_at"] == "2025-03-26T00:00:00Z"


def test_revoked_token_is_refused(world):
    from accounts.services import api_token_issue, api_token_revoke

    row, token = api_token_issue(actor=world.admin, user=world.integrator, scope="read")
    api_token_revoke(actor=world.admin, token=row, reason="Integration retired")
    response = Client().post(
        f"{BASE}/projection/",
        json.dumps(TC01),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert response.status_code == 401
    assert "revoked" in response.json()["detail"]


def test_more_than_48_steps_are_refused(api):
    body = {k: v for k, v in TC01.items() if k != "daily_dose"}
    steps = [{"start": f"{h:02d}:{m:02d}", "rate": 10} for h in range(24) for m in (0, 20, 40)]
    assert len(steps) == 72
    status, out = post(api, "projection", {**body, "steps": steps, "timezone": "UTC"})
    assert status == 400
    assert "48" in json.dumps(out["steps"])
