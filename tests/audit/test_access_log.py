"""The patient access log: every read of a patient's record, page or API, leaves one row naming
who, which patient, what, when, the request id, the address, method and path; refused reads
leave none; a page costs one INSERT whatever its length; the clinic lead's "who has looked at
this record" page.

The route tables below must name every web route (from the URL resolver) and every API read
(from the OpenAPI schema): a new route fails the tests until it says whether it shows patient
data and what its reads are called.
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.conf import settings
from django.db import connection
from django.db.models import Model
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from rest_framework.test import APIClient

from accounts.models import ApiToken
from accounts.services import api_token_issue
from alerts.models import Alert
from audit.models import AccessChannel, AccessLogEntry
from audit.request_id import REQUEST_ID_HEADER
from pumps.models import CareTeamMember, Patient, Pump, PumpProgram
from refills.models import RefillVisit
from tests.api.conftest import SEED_NOW
from tests.api.test_matrix import SCHEMA_OPERATIONS, record_id
from tests.audit.conftest import Scene

ACCESS_LOG_MIDDLEWARE = "audit.middleware.AccessLogMiddleware"


# --- The routes -----------------------------------------------------------------------------------


def web_routes() -> dict[str, str]:
    """Every route of the URL resolver outside the admin and the API resources: name (or the
    route itself when unnamed) → route."""
    found: dict[str, str] = {}

    def walk(patterns: list[Any], prefix: str, namespace: str | None) -> None:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                inner = namespace
                if pattern.namespace:
                    inner = f"{namespace}:{pattern.namespace}" if namespace else pattern.namespace
                walk(pattern.url_patterns, prefix + str(pattern.pattern), inner)
            elif isinstance(pattern, URLPattern):
                route = prefix + str(pattern.pattern)
                if route.startswith(("admin/", "api/v1/")):
                    continue  # the admin and the API have their own tables below
                name = pattern.name and (
                    f"{namespace}:{pattern.name}" if namespace else pattern.name
                )
                found.setdefault(name or route, route)

    walk(get_resolver().url_patterns, "", None)
    return found


@dataclass(frozen=True)
class Read:
    """A web route that shows patient data: who reads it, at which url, the patients whose
    rows it must write, what it calls the read, and a caller it must refuse (who then leaves
    no row)."""

    reader: str
    url: Callable[[Scene], str]
    patients: tuple[str, ...]
    what: str
    refused: str
    channel: str = AccessChannel.PAGE
    anonymous: bool = False  # a calendar feed: the secret address is the credential


def _pump(key: str) -> Callable[[Scene], int]:
    return lambda s: s.seeded.pumps[key].pk


WEB_READS: dict[str, Read] = {
    "home": Read("nurse", lambda s: reverse("home"), ("a1", "a2"), "board", refused=""),
    "pumps:patient": Read(
        "nurse",
        lambda s: reverse("pumps:patient", args=[s.world.patient_a1.pk]),
        ("a1",),
        "patient page",
        refused="clinician_b",
    ),
    "pumps:program-change": Read(
        "nurse",
        lambda s: reverse("pumps:program-change", args=[_pump("a1")(s)]),
        ("a1",),
        "program change form",
        refused="clinician_b",
    ),
    "refills:schedule": Read(
        "nurse",
        lambda s: reverse("refills:schedule", args=[_pump("a1")(s)]),
        ("a1",),
        "refill booking form",
        refused="clinician_b",
    ),
    "refills:reschedule": Read(
        "nurse",
        lambda s: reverse("refills:reschedule", args=[s.seeded.visits["a1"].pk]),
        ("a1",),
        "refill reschedule form",
        refused="clinician_b",
    ),
    "refills:cancel": Read(
        "nurse",
        lambda s: reverse("refills:cancel", args=[s.seeded.visits["a1"].pk]),
        ("a1",),
        "refill cancel form",
        refused="clinician_b",
    ),
    "refills:calendar": Read(
        "nurse",
        # The month of the booked visits (the pinned clock's week has none).
        lambda s: reverse("refills:calendar") + "?view=month&month=2026-11",
        ("a1", "a2"),
        "calendar",
        refused="caregiver_a",
    ),
    "refills:ical": Read(
        "nurse",
        lambda s: reverse("refills:ical", args=[s.nurse_feed.token]),
        ("a1", "a2"),
        "calendar feed",
        refused="",
        channel=AccessChannel.FEED,
        anonymous=True,
    ),
    "refills:record": Read(
        "nurse",
        lambda s: reverse("refills:record", args=[_pump("a1")(s)]),
        ("a1",),
        "refill record form",
        refused="clinician_b",
    ),
    "refills:record-done": Read(
        "nurse",
        lambda s: reverse("refills:record-done", args=[s.fills["a1"].pk]),
        ("a1",),
        "refill record result",
        refused="clinician_b",
    ),
    "alerts:list": Read(
        "nurse", lambda s: reverse("alerts:list"), ("a1", "a2"), "alert list", refused="stranger"
    ),
    "alerts:detail": Read(
        "nurse",
        lambda s: reverse("alerts:detail", args=[s.seeded.alerts["a1"].pk]),
        ("a1",),
        "alert detail",
        refused="clinician_b",
    ),
    "web:caregiver": Read(
        "caregiver_a",
        lambda s: reverse("web:caregiver"),
        ("a1",),
        "caregiver page",
        refused="nurse",
    ),
    "audit:patient-access-log": Read(
        "clinician",
        lambda s: reverse("audit:patient-access-log", args=[s.world.patient_a1.pk]),
        ("a1",),
        "access log",
        refused="nurse",
    ),
}

# Web routes that show no patient's record, and why.
NO_PATIENT_DATA: dict[str, str] = {
    "pumps:screening": "the screening calculator: numbers only, nothing stored, no patient",
    "refills:feeds": "the user's own feed addresses (clinic or 'my patients'), no patient",
    "refills:feed_revoke": "one of the user's feeds, no patient",
    "alerts:acknowledge": "POST only; a refused form re-renders the alert page, recorded there",
    "alerts:resolve": "POST only; a refused form re-renders the alert page, recorded there",
    "alerts:ack_link": "the emailed link names the alert's kind and clinic, never the patient",
    "login": "sign-in",
    "logout": "sign-out",
    "password_change": "the user's own password",
    "password_change_done": "the user's own password",
    "password_reset": "password reset by email (the email names no patient)",
    "password_reset_done": "password reset by email",
    "password_reset_confirm": "password reset by email",
    "password_reset_complete": "password reset by email",
    "accounts:two_factor_verify": "sign-in: the second factor",
    "accounts:two_factor_setup": "the user's own authenticator app",
    "accounts:security": "the user's own sign-in settings",
    "accounts:two_factor_off": "the user's own sign-in settings",
    "accounts:recovery_codes_new": "the user's own recovery codes",
    "healthz": "health check",
    "healthz-alerts": "health check: counts, no patient",
    "favicon": "a redirect to the icon",
    "api-schema": "the OpenAPI document",
    "api-docs": "the API documentation",
    "api-redoc": "the API documentation",
}

# The API resources: model, the path from a record to its patient, and the name of its reads.
API_RESOURCES: dict[str, tuple[type[Model], str]] = {
    "/api/v1/patients/": (Patient, "id"),
    "/api/v1/care-team/": (CareTeamMember, "patient_id"),
    "/api/v1/pumps/": (Pump, "patient_id"),
    "/api/v1/programs/": (PumpProgram, "pump__patient_id"),
    "/api/v1/refill-visits/": (RefillVisit, "pump__patient_id"),
    "/api/v1/alerts/": (Alert, "patient_id"),
}
API_NO_PATIENT_DATA = {"GET /api/v1/ping/": "answers {ok: true}, reads no record"}

API_READS = sorted(
    op for op in SCHEMA_OPERATIONS if op.startswith("GET ") and op not in API_NO_PATIENT_DATA
)


def _resource(template: str) -> str:
    return template.split("{id}")[0]


def api_what(template: str) -> str:
    model, _path = API_RESOURCES[_resource(template)]
    kind = "detail" if "{id}" in template else "list"
    return f"API {model._meta.verbose_name} {kind}"


# --- Helpers --------------------------------------------------------------------------------------


def signed_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def rows_of(response: Any) -> list[AccessLogEntry]:
    """The access rows written by ``response`` (found by its request id)."""
    request_id = response[REQUEST_ID_HEADER]
    return list(
        AccessLogEntry.objects.filter(request_id=request_id).select_related("actor", "api_token")
    )


# --- Every web route is classified, and every reading route writes its rows -----------------------


def test_every_web_route_says_whether_it_shows_patient_data(db: None) -> None:
    routes = web_routes()
    unknown = sorted(set(routes) - set(WEB_READS) - set(NO_PATIENT_DATA))
    assert not unknown, (
        "expected every web route in WEB_READS (it shows patient data: name its reads) or "
        f"NO_PATIENT_DATA (say why not); unclassified: {[(n, routes[n]) for n in unknown]}"
    )
    stale = sorted((set(WEB_READS) | set(NO_PATIENT_DATA)) - set(routes))
    assert not stale, f"expected only existing routes in the tables; gone: {stale}"
    both = sorted(set(WEB_READS) & set(NO_PATIENT_DATA))
    assert not both, f"expected each route in one table only; in both: {both}"


@pytest.mark.parametrize("name", sorted(WEB_READS))
def test_every_web_read_writes_one_row_per_patient_shown(name: str, scene: Scene) -> None:
    read = WEB_READS[name]
    world = scene.world
    reader = getattr(world, read.reader)
    client = Client() if read.anonymous else signed_in(reader)
    url = read.url(scene)
    response = client.get(url)
    assert response.status_code == 200, f"GET {url} as {read.reader}: {response.status_code}"
    rows = rows_of(response)
    expected = {scene.patient(key).pk for key in read.patients}
    assert sorted(row.patient_id for row in rows) == sorted(expected), (
        f"{name}: expected one row for each of {read.patients}, got patients "
        f"{sorted(row.patient_id for row in rows)}"
    )
    path = url.split("?")[0]
    if name == "refills:ical":
        # The feed's secret is its address: never written to the log.
        assert scene.nurse_feed.token not in rows[0].path
        path = "/ical/[redacted].ics"
    for row in rows:
        assert row.what == read.what, f"{name}: expected what={read.what!r}, got {row.what!r}"
        assert row.actor == reader, f"{name}: expected the reader {reader}, got {row.actor}"
        assert row.channel == read.channel
        assert row.api_token is None
        assert row.method == "GET"
        assert row.path == path, f"{name}: expected path {path!r}, got {row.path!r}"
        assert row.client_address == "127.0.0.1"
        assert row.request_id == response[REQUEST_ID_HEADER]
        assert row.occurred_at == SEED_NOW  # the pinned clock, in UTC


@pytest.mark.parametrize("name", sorted(n for n in WEB_READS if WEB_READS[n].refused))
def test_a_refused_web_read_records_nothing(name: str, scene: Scene) -> None:
    read = WEB_READS[name]
    response = signed_in(getattr(scene.world, read.refused)).get(read.url(scene))
    assert response.status_code in (403, 404), f"{name} as {read.refused}: expected a refusal"
    assert not AccessLogEntry.objects.exists(), f"{name}: a refused read wrote {rows_of(response)}"


def test_a_revoked_or_unknown_feed_records_nothing(scene: Scene) -> None:
    scene.nurse_feed.revoked_at = SEED_NOW
    scene.nurse_feed.save(update_fields=["revoked_at"])
    for token in (scene.nurse_feed.token, "not-a-feed"):
        assert Client().get(reverse("refills:ical", args=[token])).status_code == 404
    assert not AccessLogEntry.objects.exists()


def test_a_caregiver_feed_is_read_by_its_owner(scene: Scene) -> None:
    response = Client().get(reverse("refills:ical", args=[scene.caregiver_feed.token]))
    assert response.status_code == 200
    rows = rows_of(response)
    assert [(r.patient_id, r.actor_id, r.channel) for r in rows] == [
        (scene.world.patient_a1.pk, scene.world.caregiver_a.pk, AccessChannel.FEED)
    ]


def test_a_post_that_shows_the_record_again_is_recorded_with_its_method(scene: Scene) -> None:
    """A refused form re-renders the page (200): a read, recorded with its method."""
    alert = scene.seeded.alerts["a1"]
    response = signed_in(scene.world.nurse).post(
        reverse("alerts:acknowledge", args=[alert.pk]), {"note": "x" * 2001}
    )
    assert response.status_code == 200
    rows = AccessLogEntry.objects.filter(what="alert detail", method="POST")
    assert [row.patient_id for row in rows] == [scene.world.patient_a1.pk]


# --- Every API read writes its rows, with the token -----------------------------------------------


def test_every_api_read_is_classified(db: None) -> None:
    gets = {op for op in SCHEMA_OPERATIONS if op.startswith("GET ")}
    unknown = sorted(
        op
        for op in gets
        if op not in API_NO_PATIENT_DATA and _resource(op.split(" ", 1)[1]) not in API_RESOURCES
    )
    assert not unknown, (
        f"expected every API read in API_RESOURCES or API_NO_PATIENT_DATA: {unknown}"
    )
    assert all(op in gets for op in API_NO_PATIENT_DATA), "API_NO_PATIENT_DATA names a gone route"
    assert len(API_READS) == 2 * len(API_RESOURCES), "expected a list and a detail per resource"


@pytest.fixture
def integrator_token(scene: Scene) -> tuple[ApiToken, APIClient]:
    token, raw = api_token_issue(
        actor=scene.world.admin, user=scene.world.integrator, scope="read", name="EHR"
    )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return token, client


@pytest.mark.parametrize("operation", API_READS)
def test_every_api_read_writes_one_row_per_patient_with_the_token(
    operation: str, scene: Scene, integrator_token: tuple[ApiToken, APIClient]
) -> None:
    token, client = integrator_token
    template = operation.split(" ", 1)[1]
    model, patient_path = API_RESOURCES[_resource(template)]
    if "{id}" in template:
        url = template.replace("{id}", str(record_id(template, scene.seeded)))
        response = client.get(url)
        assert response.status_code == 200, f"{operation}: {response.status_code}"
        ids = [response.json()["id"]]
    else:
        url = template
        response = client.get(url, {"page_size": 200})
        assert response.status_code == 200, f"{operation}: {response.status_code}"
        ids = [row["id"] for row in response.json()["results"]]
        assert ids, f"{operation}: expected records in the list"
    expected = {
        pk
        for pk in model._default_manager.filter(pk__in=ids).values_list(patient_path, flat=True)
        if pk is not None
    }
    rows = rows_of(response)
    assert sorted(row.patient_id for row in rows) == sorted(expected), (
        f"{operation}: expected one row for each patient of {sorted(expected)}, got "
        f"{sorted(row.patient_id for row in rows)}"
    )
    assert expected <= {scene.world.patient_a1.pk, scene.world.patient_a2.pk}
    for row in rows:
        assert row.what == api_what(template)
        assert row.channel == AccessChannel.API
        assert row.actor == scene.world.integrator
        assert row.api_token == token
        assert (row.method, row.path) == ("GET", url)


def test_an_api_read_with_a_session_names_no_token(scene: Scene) -> None:
    client = APIClient()
    client.force_login(scene.world.nurse)
    response = client.get(f"/api/v1/pumps/{scene.seeded.pumps['a2'].pk}/")
    assert response.status_code == 200
    rows = rows_of(response)
    assert [(r.patient_id, r.what, r.api_token, r.actor) for r in rows] == [
        (scene.world.patient_a2.pk, "API pump detail", None, scene.world.nurse)
    ]


def test_a_refused_api_read_records_nothing(scene: Scene) -> None:
    client = APIClient()
    client.force_login(scene.world.clinician_b)
    assert client.get(f"/api/v1/pumps/{scene.seeded.pumps['a1'].pk}/").status_code == 404
    assert client.get("/api/v1/alerts/", {"cursor": "not-a-cursor"}).status_code == 404
    assert not AccessLogEntry.objects.exists()


def test_api_writes_are_audited_not_logged_as_reads(scene: Scene) -> None:
    """A write answers with the record, but its trace is the audit entry, not a read."""
    client = APIClient()
    client.force_login(scene.world.nurse)
    url = f"/api/v1/pumps/{scene.seeded.pumps['a1'].pk}/"
    etag = client.get(url)["ETag"]
    before = AccessLogEntry.objects.count()
    changed = client.patch(
        url, {"notes": "Checked", "reason": "Review"}, format="json", headers={"If-Match": etag}
    )
    assert changed.status_code == 200
    assert AccessLogEntry.objects.count() == before


# --- Cost: one INSERT per request, whatever the page holds ----------------------------------------


def _without_access_log() -> Any:
    return override_settings(
        MIDDLEWARE=[m for m in settings.MIDDLEWARE if m != ACCESS_LOG_MIDDLEWARE]
    )


def _queries(make_client: Callable[[], Any], url: str, *, access_log: bool) -> list[str]:
    """The SQL of one GET of ``url`` by a client made (and warmed up by one request) with or
    without the access-log middleware."""
    context = override_settings() if access_log else _without_access_log()
    with context:
        client = make_client()
        assert client.get(url).status_code == 200  # warm-up: sessions, token use, caches
        with CaptureQueriesContext(connection) as captured:
            response = client.get(url)
        assert response.status_code == 200
    return [query["sql"] for query in captured.captured_queries]


def _inserts(queries: list[str]) -> list[str]:
    return [q for q in queries if q.startswith('INSERT INTO "audit_accesslogentry"')]


@pytest.mark.parametrize("patients", [1, 12])
def test_a_page_records_its_reads_in_one_insert_whatever_its_length(
    world: Any,
    make_pumps: Callable[..., list[Pump]],
    patients: int,
) -> None:
    make_pumps(patients)
    without = _queries(lambda: signed_in(world.nurse), "/", access_log=False)
    before = AccessLogEntry.objects.count()
    with_log = _queries(lambda: signed_in(world.nurse), "/", access_log=True)
    assert not _inserts(without)
    assert len(_inserts(with_log)) == 1, _inserts(with_log)
    assert len(with_log) == len(without) + 1, "recording must add exactly one query, the INSERT"
    # The warm-up request and the measured one: each wrote one row per patient on the board.
    assert AccessLogEntry.objects.count() - before == 2 * patients


@pytest.mark.parametrize("pumps", [1, 12])
def test_an_api_list_records_its_reads_in_one_insert_whatever_its_length(
    world: Any,
    make_pumps: Callable[..., list[Pump]],
    pumps: int,
) -> None:
    make_pumps(pumps)
    _token, raw = api_token_issue(actor=world.admin, user=world.integrator, scope="read")

    def client() -> APIClient:
        api = APIClient()
        api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
        return api

    url = "/api/v1/pumps/?page_size=200"
    without = _queries(client, url, access_log=False)
    with_log = _queries(client, url, access_log=True)
    assert len(_inserts(with_log)) == 1
    assert len(with_log) == len(without) + 1
    assert AccessLogEntry.objects.filter(what="API pump list").count() == 2 * pumps


# --- The admin ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url_of", "what", "keys"),
    [
        (lambda s: "/admin/pumps/patient/", "admin patient list", ("a1", "a2", "b1")),
        (
            lambda s: f"/admin/pumps/patient/{s.world.patient_a2.pk}/change/",
            "admin patient page",
            ("a2",),
        ),
        (lambda s: "/admin/pumps/pump/", "admin pump list", ("a1", "a2", "b1")),
        (
            lambda s: f"/admin/pumps/pump/{s.seeded.pumps['b1'].pk}/change/",
            "admin pump page",
            ("b1",),
        ),
    ],
    ids=["patient list", "patient page", "pump list", "pump page"],
)
def test_admin_pages_of_patients_and_pumps_record_the_patients_they_show(
    scene: Scene, url_of: Callable[[Scene], str], what: str, keys: tuple[str, ...]
) -> None:
    response = signed_in(scene.world.admin).get(url_of(scene))
    assert response.status_code == 200
    rows = rows_of(response)
    assert sorted(r.patient_id for r in rows) == sorted(scene.patient(k).pk for k in keys)
    assert {(r.what, r.channel, r.actor_id) for r in rows} == {
        (what, AccessChannel.ADMIN, scene.world.admin.pk)
    }


# --- "Who has looked at this record" --------------------------------------------------------------


def access_log_url(patient: Patient) -> str:
    return reverse("audit:patient-access-log", args=[patient.pk])


def test_only_the_clinic_lead_and_administrators_may_open_the_log(scene: Scene) -> None:
    world = scene.world
    # A lead of another clinic is still a stranger to this patient.
    CareTeamMember.objects.filter(user=world.clinician_b).update(is_clinic_lead=True)
    url = access_log_url(world.patient_a1)
    for user, status in (
        (world.clinician, 200),  # clinic lead of clinic A
        (world.admin, 200),  # superuser
        (world.nurse, 404),
        (world.integrator, 404),
        (world.caregiver_a, 404),
        (world.clinician_b, 404),
        (world.stranger, 404),
    ):
        assert signed_in(user).get(url).status_code == status, user.username
    # The refusal is the one for a patient outside the care team: the same as the patient page.
    assert signed_in(world.nurse).get(access_log_url(world.patient_b1)).status_code == 404
    assert signed_in(world.clinician).get(access_log_url(world.patient_b1)).status_code == 404
    assert signed_in(world.clinician).get("/patients/999999/access-log/").status_code == 404
    assert Client().get(url).status_code == 302  # to the sign-in page
    # Only the two allowed readings of the log were recorded.
    assert sorted(
        AccessLogEntry.objects.filter(what="access log").values_list("actor__username", flat=True)
    ) == sorted([world.clinician.username, world.admin.username])


def test_the_patient_page_links_to_the_log_only_for_the_lead(scene: Scene) -> None:
    page = reverse("pumps:patient", args=[scene.world.patient_a1.pk])
    link = f'href="{access_log_url(scene.world.patient_a1)}"'
    assert link in signed_in(scene.world.clinician).get(page).content.decode()
    assert link not in signed_in(scene.world.nurse).get(page).content.decode()


def test_the_lead_sees_who_read_the_record_newest_first(
    scene: Scene, integrator_token: tuple[ApiToken, APIClient]
) -> None:
    world, clock = scene.world, scene.seeded.clock
    patient = world.patient_a1
    nurse_read = signed_in(world.nurse).get(reverse("pumps:patient", args=[patient.pk]))
    clock.shift(timedelta(minutes=5))
    token, api = integrator_token
    api_read = api.get(f"/api/v1/pumps/{scene.seeded.pumps['a1'].pk}/")
    clock.shift(timedelta(minutes=5))
    response = signed_in(world.clinician).get(access_log_url(patient))
    html = response.content.decode()
    assert response.status_code == 200
    rows = response.context["rows"]
    assert [(entry.what, role) for entry, role in rows] == [
        ("API pump detail", "Integrator (API)"),
        ("patient page", "Nurse"),
    ]
    assert f"itb_{token.prefix}" in html
    assert nurse_read[REQUEST_ID_HEADER] in html and api_read[REQUEST_ID_HEADER] in html
    assert "127.0.0.1" in html
    # Clinic A works in New York: 10 Nov 2026 12:00 UTC is 07:00 EST.
    assert "Tue 10 Nov 2026" in html and "07:00:00 EST" in html
    # This look is recorded too, and shows on the next one.
    again = signed_in(world.clinician).get(access_log_url(patient)).context["rows"]
    assert again[0][0].what == "access log" and again[0][1] == "Clinician, clinic lead"


def test_the_log_is_filtered_by_person_and_clinic_days(scene: Scene) -> None:
    world, clock = scene.world, scene.seeded.clock
    patient = world.patient_a1
    page = reverse("pumps:patient", args=[patient.pk])
    # 10 Nov 12:00 UTC (New York 07:00, 10 Nov), then 11 Nov 04:30 UTC (New York 23:30, 10 Nov),
    # then 11 Nov 12:00 UTC (New York, 11 Nov).
    signed_in(world.nurse).get(page)
    clock.move_to(datetime(2026, 11, 11, 4, 30, tzinfo=UTC))
    signed_in(world.clinician).get(page)
    clock.move_to(datetime(2026, 11, 11, 12, 0, tzinfo=UTC))
    signed_in(world.nurse).get(page)
    lead = signed_in(world.clinician)
    url = access_log_url(patient)

    def shown(**query: Any) -> list[tuple[str, str]]:
        rows = lead.get(url, query).context["rows"]
        return [(e.actor.username, f"{e.occurred_at:%d %H:%M}") for e, _role in rows]

    assert shown(user=world.nurse.pk) == [("nurse", "11 12:00"), ("nurse", "10 12:00")]
    # A clinic day: the read at 04:30 UTC on the 11th was on the 10th in New York.
    assert shown(date_from="2026-11-10", date_to="2026-11-10") == [
        ("clinician", "11 04:30"),
        ("nurse", "10 12:00"),
    ]
    assert shown(date_from="2026-11-11", user=world.nurse.pk) == [("nurse", "11 12:00")]
    empty = lead.get(url, {"date_from": "2026-12-01"})
    assert "Nobody looked at this record in that way." in empty.content.decode()


def test_bad_filters_are_explained_and_list_nothing(scene: Scene) -> None:
    lead = signed_in(scene.world.clinician)
    url = access_log_url(scene.world.patient_a1)
    backwards = lead.get(url, {"date_from": "2026-11-12", "date_to": "2026-11-10"})
    html = backwards.content.decode()
    assert backwards.status_code == 200
    assert "The last day (10 Nov 2026) is before the first day (12 Nov 2026)." in html
    assert "Correct the filters marked above" in html and "<tbody>" not in html
    assert "Enter the first day as a date" in lead.get(url, {"date_from": "soon"}).content.decode()
    stranger = lead.get(url, {"user": scene.world.stranger.pk}).content.decode()
    assert "only people who have looked at this record are listed" in stranger


def test_an_unread_record_has_an_empty_log(scene: Scene) -> None:
    response = signed_in(scene.world.clinician).get(access_log_url(scene.world.patient_a2))
    assert "Nobody has looked at this record yet." in response.content.decode()


def test_the_log_is_paginated(scene: Scene) -> None:
    patient = scene.world.patient_a1
    start = datetime(2026, 11, 1, tzinfo=UTC)
    AccessLogEntry.objects.bulk_create(
        AccessLogEntry(
            occurred_at=start + timedelta(minutes=i),
            actor=scene.world.nurse,
            patient=patient,
            what="patient page",
            channel=AccessChannel.PAGE,
            method="GET",
            path=f"/patients/{patient.pk}/",
        )
        for i in range(51)
    )
    lead = signed_in(scene.world.clinician)
    nurse = {"user": scene.world.nurse.pk}
    first = lead.get(access_log_url(patient), nurse)
    second = lead.get(access_log_url(patient), {**nurse, "page": 2})
    assert len(first.context["rows"]) == 50
    assert first.context["rows"][0][0].occurred_at == start + timedelta(minutes=50)
    assert [e.occurred_at for e, _ in second.context["rows"]] == [start]
    assert 'rel="next"' in first.content.decode()


@pytest.fixture
def pinned() -> Iterator[time_machine.Traveller]:
    with time_machine.travel(datetime(2026, 11, 10, 12, 0, tzinfo=UTC), tick=False) as clock:
        yield clock


def test_the_request_id_and_address_of_a_read_come_from_the_request(
    world: Any, pinned: time_machine.Traveller
) -> None:
    client = signed_in(world.caregiver_a)
    response = client.get(
        reverse("web:caregiver"),
        headers={"X-Request-ID": "lb-7f3a9c01"},
        REMOTE_ADDR="2001:db8::1",
    )
    assert response[REQUEST_ID_HEADER] == "lb-7f3a9c01"
    row = AccessLogEntry.objects.get()
    assert (row.request_id, row.client_address) == ("lb-7f3a9c01", "2001:db8::1")
    assert row.occurred_at == datetime(2026, 11, 10, 12, 0, tzinfo=UTC)


@override_settings(ITB_TRUSTED_PROXIES=1)
def test_behind_a_trusted_proxy_the_forwarded_address_is_recorded(world: Any) -> None:
    client = signed_in(world.caregiver_a)
    # The client forged the first entry; the proxy appended the address it saw.
    client.get(
        reverse("web:caregiver"),
        headers={"X-Forwarded-For": "10.9.9.9, 203.0.113.7"},
        REMOTE_ADDR="10.0.0.2",
    )
    assert AccessLogEntry.objects.get().client_address == "203.0.113.7"


def test_without_a_trusted_proxy_the_forwarded_header_is_ignored(world: Any) -> None:
    signed_in(world.caregiver_a).get(
        reverse("web:caregiver"), headers={"X-Forwarded-For": "203.0.113.7"}
    )
    assert AccessLogEntry.objects.get().client_address == "127.0.0.1"
