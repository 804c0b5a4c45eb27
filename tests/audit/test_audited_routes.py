"""The audit rows of every mutating route: every web route that changes a record (from the URL
resolver), every API write (from the OpenAPI schema) and every admin that can change records
writes the expected audit entry, naming the person (and the API token) who did it.

A new route fails the tests until the tables below say what it writes or why it writes nothing.
"""

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.contrib import admin
from django.test import Client, RequestFactory
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import ApiToken
from accounts.services import api_token_issue
from alerts.emails import ack_token
from alerts.models import Alert, AlertKind, AlertStatus
from alerts.sweep import run_sweep
from audit.admin import AuditedAdmin
from audit.models import AuditAction, AuditEntry
from pumps.models import CareTeamMember, PumpProgram
from pumps.services import reservoir_fill_record
from refills.models import CalendarFeed, FeedKind
from refills.services import refill_cancel
from tests.api.conftest import SEED_DUE_AT, Seeded
from tests.api.test_matrix import PARAMETERS, SCHEMA_OPERATIONS, body_for, prepare, record_id
from tests.audit.conftest import Scene
from tests.audit.test_access_log import WEB_READS, web_routes
from tests.conftest import pump_fill_product

Change = tuple[str, str]  # (record type, action)


def signed_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


# --- Web routes ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Write:
    """A web route that changes records: who posts, how (returns the response), the status
    of a success and the audit entries it must write."""

    user: str
    post: Callable[[Scene, Client], Any]
    changes: frozenset[Change]
    status: int = 302


def _zone(scene: Scene) -> ZoneInfo:
    return ZoneInfo(scene.world.clinic_a.time_zone)


def post_program_change(scene: Scene, client: Client) -> Any:
    pump = scene.seeded.pumps["a1"]
    effective = (timezone.now() - timedelta(minutes=1)).astimezone(_zone(scene))
    data = {
        "context": "refill",
        "effective_from": effective.strftime("%Y-%m-%dT%H:%M"),
        "concentration_mcg_per_ml": "500",
        "concentration_confirm_mcg_per_ml": "500",
        "mode": "simple",
        "daily_dose_mcg": "330",
        "reason": "Spasms at night",
        "step": "save",
        "expected_current_program_id": PumpProgram.objects.filter(pump=pump)
        .latest("effective_from")
        .pk,
        "pump_running_confirmed": "on",
    }
    return client.post(reverse("pumps:program-change", args=[pump.pk]), data)


def post_schedule(scene: Scene, client: Client) -> Any:
    visit = scene.seeded.visits["a1"]
    refill_cancel(actor=scene.world.nurse, visit=visit, reason="To book again")
    when = (SEED_DUE_AT - timedelta(days=3)).astimezone(_zone(scene))
    return client.post(
        reverse("refills:schedule", args=[visit.pump_id]),
        {"date": f"{when:%Y-%m-%d}", "time": f"{when:%H:%M}", "late_reason": ""},
    )


def post_reschedule(scene: Scene, client: Client) -> Any:
    when = (SEED_DUE_AT - timedelta(days=1)).astimezone(_zone(scene))
    return client.post(
        reverse("refills:reschedule", args=[scene.seeded.visits["a1"].pk]),
        {"date": f"{when:%Y-%m-%d}", "time": f"{when:%H:%M}", "reason": "Family asked"},
    )


def post_cancel(scene: Scene, client: Client) -> Any:
    return client.post(
        reverse("refills:cancel", args=[scene.seeded.visits["a1"].pk]),
        {"reason": "Admitted to hospital"},
    )


def post_record(scene: Scene, client: Client) -> Any:
    pump = scene.seeded.pumps["a1"]
    when = (timezone.now() - timedelta(minutes=5)).astimezone(_zone(scene))
    return client.post(
        reverse("refills:record", args=[pump.pk]),
        {
            "refilled_at": f"{when:%Y-%m-%dT%H:%M:%S}",
            # Nine days at 0.6 mL/day from 20 mL: 14.6 mL left.
            "volume_removed_ml": "14.60",
            "product": pump_fill_product("500").pk,
            "lot_number": "L2026-11",
            "expiry_date": (timezone.localdate() + timedelta(days=300)).isoformat(),
            "volume_added_ml": "20",
            "observation_note": "Comfortable",
            "septum_confirmed": "on",
        },
    )


def post_feed(scene: Scene, client: Client) -> Any:
    return client.post(reverse("refills:feeds"), {"kind": f"clinic:{scene.world.clinic_a.pk}"})


def post_feed_revoke(scene: Scene, client: Client) -> Any:
    return client.post(reverse("refills:feed_revoke", args=[scene.nurse_feed.pk]))


def post_acknowledge(scene: Scene, client: Client) -> Any:
    alert = scene.seeded.alerts["a1"]
    return client.post(reverse("alerts:acknowledge", args=[alert.pk]), {"note": "Calling"})


def discrepancy(scene: Scene) -> Alert:
    """A refill recorded with a flagged reconciliation: a refill-discrepancy (event) alert."""
    reservoir_fill_record(
        actor=scene.world.nurse,
        pump=scene.seeded.pumps["a1"],
        filled_at=timezone.now() - timedelta(hours=1),
        volume_ml=Decimal("20"),
        concentration_mcg_per_ml=Decimal("500"),
        product=pump_fill_product("500"),
        volume_removed_ml=Decimal("2"),
        reconciliation={"reconciliation_flags": "under_delivery"},
    )
    run_sweep()
    return Alert.objects.get(kind=AlertKind.REFILL_DISCREPANCY, status=AlertStatus.OPEN)


def post_resolve(scene: Scene, client: Client) -> Any:
    alert = discrepancy(scene)
    return client.post(
        reverse("alerts:resolve", args=[alert.pk]), {"reason": "Catheter checked, patent"}
    )


def post_ack_link(scene: Scene, client: Client) -> Any:
    alert = scene.seeded.alerts["a1"]
    token = ack_token(alert_id=alert.pk, user_id=scene.world.nurse.pk)
    return Client().post(reverse("alerts:ack_link", args=[token]))


WEB_WRITES: dict[str, Write] = {
    "pumps:program-change": Write(
        "nurse", post_program_change, frozenset({("pumps.PumpProgram", AuditAction.CREATE)})
    ),
    "refills:schedule": Write(
        "nurse", post_schedule, frozenset({("refills.RefillVisit", AuditAction.CREATE)})
    ),
    "refills:reschedule": Write(
        "nurse", post_reschedule, frozenset({("refills.RefillVisit", AuditAction.UPDATE)})
    ),
    "refills:cancel": Write(
        "nurse", post_cancel, frozenset({("refills.RefillVisit", AuditAction.UPDATE)})
    ),
    "refills:record": Write(
        "nurse",
        post_record,
        frozenset(
            {
                ("pumps.ReservoirFill", AuditAction.CREATE),
                ("refills.RefillVisit", AuditAction.UPDATE),
            }
        ),
    ),
    "refills:feeds": Write(
        "nurse", post_feed, frozenset({("refills.CalendarFeed", AuditAction.CREATE)})
    ),
    "refills:feed_revoke": Write(
        "nurse", post_feed_revoke, frozenset({("refills.CalendarFeed", AuditAction.UPDATE)})
    ),
    "alerts:acknowledge": Write(
        "nurse", post_acknowledge, frozenset({("alerts.Alert", AuditAction.UPDATE)})
    ),
    "alerts:resolve": Write(
        "nurse", post_resolve, frozenset({("alerts.Alert", AuditAction.UPDATE)})
    ),
    # The emailed link: no sign-in; the entry names the person the link was sent to.
    "alerts:ack_link": Write(
        "nurse", post_ack_link, frozenset({("alerts.Alert", AuditAction.UPDATE)}), status=200
    ),
}

# Web routes that change no record, and why.
NO_WRITE: dict[str, str] = {
    **{name: "a read (GET); a POST changes nothing" for name in WEB_READS},
    "pumps:screening": "the screening calculator: computes, saves nothing",
    # Sign-in, passwords and second factors are the accounts app's (its own sign-in log and
    # audit entries, tested in tests/accounts).
    "login": "accounts",
    "logout": "accounts",
    "password_change": "accounts",
    "password_change_done": "accounts",
    "password_reset": "accounts",
    "password_reset_done": "accounts",
    "password_reset_confirm": "accounts",
    "password_reset_complete": "accounts",
    "accounts:two_factor_verify": "accounts",
    "accounts:two_factor_setup": "accounts",
    "accounts:security": "accounts",
    "accounts:two_factor_off": "accounts",
    "accounts:recovery_codes_new": "accounts",
    "healthz": "health check (GET)",
    "healthz-alerts": "health check (GET)",
    "favicon": "a redirect to the icon (GET)",
    "api-schema": "the OpenAPI document (GET)",
    "api-docs": "the API documentation (GET)",
    "api-redoc": "the API documentation (GET)",
}
for _name in WEB_WRITES:
    NO_WRITE.pop(_name, None)


def new_entries(since: int) -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(pk__gt=since).select_related("actor").order_by("pk"))


def last_entry_id() -> int:
    return AuditEntry.objects.order_by("-pk").values_list("pk", flat=True).first() or 0


def test_every_web_route_says_what_it_writes(db: None) -> None:
    routes = web_routes()
    unknown = sorted(set(routes) - set(WEB_WRITES) - set(NO_WRITE))
    assert not unknown, (
        "expected every web route in WEB_WRITES (name the audit entries a successful POST "
        f"writes) or NO_WRITE (say why it writes none); unclassified: {unknown}"
    )
    stale = sorted((set(WEB_WRITES) | set(NO_WRITE)) - set(routes))
    assert not stale, f"expected only existing routes in the tables; gone: {stale}"


@pytest.mark.parametrize("name", sorted(WEB_WRITES))
def test_every_web_write_is_audited(name: str, scene: Scene) -> None:
    write = WEB_WRITES[name]
    user = getattr(scene.world, write.user)
    client = signed_in(user)
    since = last_entry_id()
    response = write.post(scene, client)
    assert response.status_code == write.status, (
        f"{name}: expected {write.status}, got {response.status_code} "
        f"{response.content.decode(errors='replace')[:600]}"
    )
    entries = [e for e in new_entries(since) if e.actor_id == user.pk and not e.via]
    got = {(e.record_type, e.action) for e in entries}
    assert write.changes <= got, f"{name}: expected audit entries {write.changes}, got {got}"
    for entry in entries:
        if entry.record_type != "refills.CalendarFeed":
            assert entry.patient_id == scene.world.patient_a1.pk, f"{name}: {entry}"


def test_a_calendar_feed_is_audited_without_its_secret(scene: Scene) -> None:
    since = last_entry_id()
    post_feed(scene, signed_in(scene.world.nurse))
    feed = CalendarFeed.objects.filter(user=scene.world.nurse).latest("pk")
    (entry,) = new_entries(since)
    assert entry.record_id == str(feed.pk)
    assert entry.changes == {
        "user": [None, scene.world.nurse.pk],
        "kind": [None, FeedKind.CLINIC],
        "clinic": [None, scene.world.clinic_a.pk],
    }
    assert feed.token not in str(entry.changes) and feed.token not in entry.record_repr


@pytest.mark.parametrize(
    "name", sorted(n for n in WEB_READS if n not in WEB_WRITES and not WEB_READS[n].anonymous)
)
def test_a_post_to_a_reading_route_writes_nothing(name: str, scene: Scene) -> None:
    read = WEB_READS[name]
    since = last_entry_id()
    response = signed_in(getattr(scene.world, read.reader)).post(read.url(scene), {})
    assert response.status_code in (200, 405), f"{name}: {response.status_code}"
    assert new_entries(since) == []


def test_the_screening_calculator_writes_nothing(scene: Scene) -> None:
    since = last_entry_id()
    response = signed_in(scene.world.nurse).post(
        reverse("pumps:screening"), {"screening_dose_mcg": "75", "effect_duration_hours": "6"}
    )
    assert response.status_code == 200 and "150 mcg/day" in response.content.decode()
    assert new_entries(since) == []


# --- API writes -----------------------------------------------------------------------------------

API_WRITES: dict[str, frozenset[Change]] = {
    "PATCH /api/v1/pumps/{id}/": frozenset({("pumps.Pump", AuditAction.UPDATE)}),
    "POST /api/v1/programs/": frozenset({("pumps.PumpProgram", AuditAction.CREATE)}),
    "POST /api/v1/refill-visits/": frozenset({("refills.RefillVisit", AuditAction.CREATE)}),
    "PATCH /api/v1/refill-visits/{id}/": frozenset({("refills.RefillVisit", AuditAction.UPDATE)}),
    "POST /api/v1/refill-visits/{id}/cancel/": frozenset(
        {("refills.RefillVisit", AuditAction.UPDATE)}
    ),
    "POST /api/v1/refill-visits/{id}/complete/": frozenset(
        {("pumps.ReservoirFill", AuditAction.CREATE), ("refills.RefillVisit", AuditAction.UPDATE)}
    ),
    "POST /api/v1/alerts/{id}/acknowledge/": frozenset({("alerts.Alert", AuditAction.UPDATE)}),
}
# The dosing calculators answer from their input and store nothing.
API_NO_WRITE = sorted(op for op in SCHEMA_OPERATIONS if op.startswith("POST /api/v1/dosing/"))


def test_every_api_write_says_what_it_writes() -> None:
    writes = {op for op in SCHEMA_OPERATIONS if not op.startswith("GET ")}
    assert writes == set(API_WRITES) | set(API_NO_WRITE), (
        "expected every API write in API_WRITES or API_NO_WRITE; differ: "
        f"{sorted(writes ^ (set(API_WRITES) | set(API_NO_WRITE)))}"
    )


@pytest.fixture
def write_token(seeded: Seeded) -> tuple[ApiToken, APIClient]:
    token, raw = api_token_issue(
        actor=seeded.world.admin, user=seeded.world.integrator, scope="write", name="EHR"
    )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return token, client


@pytest.mark.parametrize("operation", sorted(API_WRITES))
def test_every_api_write_is_audited_with_its_token(
    operation: str,
    seeded: Seeded,
    write_token: tuple[ApiToken, APIClient],
) -> None:
    token, client = write_token
    method, template = operation.split(" ", 1)
    path = (
        template.replace("{id}", str(record_id(template, seeded)))
        if "{id}" in template
        else template
    )
    prepare(operation, seeded)
    headers = {}
    if "If-Match" in PARAMETERS.get(operation, ()):
        resource = path.split("/cancel/")[0].split("/complete/")[0].rstrip("/") + "/"
        headers["If-Match"] = client.get(resource)["ETag"]
    since = last_entry_id()
    response = client.generic(
        method,
        path,
        json.dumps(body_for(operation, seeded)),
        content_type="application/json",
        headers=headers,
    )
    assert response.status_code in (200, 201), (
        f"{operation}: {response.status_code} {response.content[:400]!r}"
    )
    entries = new_entries(since)
    got = {(e.record_type, e.action) for e in entries}
    assert API_WRITES[operation] <= got, f"{operation}: expected {API_WRITES[operation]}, got {got}"
    for entry in entries:
        assert entry.actor == seeded.world.integrator, f"{operation}: {entry}"
        assert entry.via == f"API token itb_{token.prefix}", f"{operation}: via {entry.via!r}"


@pytest.mark.parametrize("operation", API_NO_WRITE)
def test_the_dosing_calculators_write_nothing(
    operation: str,
    seeded: Seeded,
    write_token: tuple[ApiToken, APIClient],
) -> None:
    _token, client = write_token
    since = last_entry_id()
    template = operation.split(" ", 1)[1]
    response = client.post(template, body_for(operation, seeded), format="json")
    assert response.status_code == 200, f"{operation}: {response.status_code}"
    assert new_entries(since) == []


# --- The admin ------------------------------------------------------------------------------------

# Admins that may change records without being AuditedAdmin, and how they are audited instead.
ADMIN_AUDITED_ELSEWHERE = {
    "accounts.User": "the accounts app: user changes and deactivation (accounts.services)",
    "accounts.ApiToken": "issued and revoked through accounts.services, which audit both",
    "auth.Group": "Django's groups: the app grants nothing through them (care-team roles do)",
}


def test_every_admin_that_can_change_records_audits_the_change(world: Any) -> None:
    request = RequestFactory().get("/admin/")
    request.user = world.admin
    unaudited = []
    for model, model_admin in admin.site._registry.items():
        label = model._meta.label
        can_change = any(
            (
                model_admin.has_add_permission(request),
                model_admin.has_change_permission(request),
                model_admin.has_delete_permission(request),
            )
        )
        if can_change and not isinstance(model_admin, AuditedAdmin):
            if label not in ADMIN_AUDITED_ELSEWHERE:
                unaudited.append(label)
    assert not unaudited, (
        "expected every admin that can add, change or delete to be an AuditedAdmin (or named, "
        f"with how it is audited, in ADMIN_AUDITED_ELSEWHERE): {unaudited}"
    )
    registered = {model._meta.label for model in admin.site._registry}
    assert set(ADMIN_AUDITED_ELSEWHERE) <= registered


def test_removing_someone_from_a_care_team_in_the_admin_is_audited(world: Any) -> None:
    member = CareTeamMember.objects.get(user=world.caregiver_a, patient=world.patient_a1)
    since = last_entry_id()
    response = signed_in(world.admin).post(
        f"/admin/pumps/careteammember/{member.pk}/delete/", {"post": "yes"}
    )
    assert response.status_code == 302
    assert not CareTeamMember.objects.filter(pk=member.pk).exists()
    (entry,) = new_entries(since)
    assert (entry.record_type, entry.record_id, entry.action) == (
        "pumps.CareTeamMember",
        str(member.pk),
        AuditAction.DELETE,
    )
    assert entry.actor == world.admin and entry.patient == world.patient_a1
    assert entry.changes["role"] == ["caregiver", None]
    assert entry.changes["user"] == [world.caregiver_a.pk, None]


def test_removing_several_in_the_admin_audits_each(world: Any) -> None:
    members = list(CareTeamMember.objects.filter(patient__isnull=False).order_by("pk"))
    since = last_entry_id()
    response = signed_in(world.admin).post(
        "/admin/pumps/careteammember/",
        {"action": "delete_selected", "_selected_action": [m.pk for m in members], "post": "yes"},
    )
    assert response.status_code == 302
    entries = new_entries(since)
    assert sorted(e.record_id for e in entries) == sorted(str(m.pk) for m in members)
    assert {e.action for e in entries} == {AuditAction.DELETE}
