"""The permission matrix of the web pages: every URL pattern of the project outside the REST API
(``/api/v1/`` has its own matrix, tests/api/test_matrix.py) against every kind of user, for GET
and POST.

``MATRIX`` is the table: for each route and method, the expected outcome for each role. The
routes come from the URL resolver, with ``/admin/`` expanded into the admin index and each
registered model's list and add pages; the test fails when the resolver has a route the table
lacks, or the table names one the resolver lacks.

The data is the API matrix's (the ``seeded`` fixture of tests/api/conftest.py): patients A1 and
A2 of clinic A and B1 of clinic B, each with a filled pump, its program, a booked refill visit
and an open alert, plus a calendar feed of the clinician. Routes with an id use patient A1's
records. Each request runs in a savepoint that is rolled back, with a client signed in afresh,
so every role meets the same state. Every POST carries a valid body, so a refusal is the
permission's, not bad input; and every answer that is not a write is checked to have changed
nothing in the clinical records, the audit trail or the account credentials.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.db import connection, models, transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from accounts.models import ApiToken, RecoveryCode, TwoFactorDevice
from alerts.emails import ack_token
from alerts.models import Alert, Delivery
from audit.models import AuditEntry
from pumps.models import (
    CareRole,
    CareTeamMember,
    Clinic,
    Patient,
    Pump,
    PumpBolus,
    PumpProgram,
    ReservoirFill,
)
from pumps.services import care_team_add
from refills.models import CalendarFeed, FeedKind, RefillVisit
from tests.api.conftest import SEED_DUE_AT, SEED_NOW, Seeded, seeded  # noqa: F401
from tests.conftest import pump_fill_product
from tests.factories import UserFactory

PASSWORD = "correct horse battery staple"  # tests.factories.UserFactory's

# --- The outcomes -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    status: int
    changed: bool = False  # the request wrote to the watched tables (``db_state``)
    to_login: bool = False  # a redirect to a sign-in page, with ?next=

    def __str__(self) -> str:
        what = {
            (200, False): "200, nothing changed",
            (200, True): "200, saved",
            (302, False): "302 elsewhere, nothing changed",
            (302, True): "302 elsewhere, saved",
        }.get((self.status, self.changed), f"{self.status}, nothing changed")
        return "302 to sign in (?next=), nothing changed" if self.to_login else what


OK = Outcome(200)
DONE = Outcome(200, changed=True)
SAVED = Outcome(302, changed=True)
MOVED = Outcome(302)
LOGIN = Outcome(302, to_login=True)
BAD = Outcome(400)
FORBIDDEN = Outcome(403)
NOT_FOUND = Outcome(404)
NOT_ALLOWED = Outcome(405)
PERMANENT = Outcome(301)

# Two-letter names for the table (and OK).
DN, SV, MV, LG, BD, FB, NF, NA = DONE, SAVED, MOVED, LOGIN, BAD, FORBIDDEN, NOT_FOUND, NOT_ALLOWED
PM = PERMANENT

# The columns of MATRIX, in order (an, cln, nrs, led, cga, cgb, clb, int, str, adm): anonymous;
# clinician, nurse and clinic lead of clinic A; the caregivers of A1 and of A2; the clinician of
# clinic B; the integrator of clinic A; a user with no care role; the superuser.
ROLES = (
    "anonymous",
    "clinician",
    "nurse",
    "lead",
    "caregiver_a",
    "caregiver_b",
    "clinician_b",
    "integrator",
    "stranger",
    "admin",
)

# fmt: off
_ROWS: dict[str, tuple[Outcome, ...]] = {
    # route                                          an  cln nrs led cga cgb clb int str adm
    "GET /":                                        (LG, OK, OK, OK, MV, MV, OK, OK, OK, OK),
    "POST /":                                       (LG, OK, OK, OK, MV, MV, OK, OK, OK, OK),
    "GET /my-patients/":                            (LG, NF, NF, NF, OK, OK, NF, NF, NF, NF),
    "POST /my-patients/":                           (LG, NF, NF, NF, OK, OK, NF, NF, NF, NF),
    "GET /patients/<int:pk>/":                      (LG, OK, OK, OK, NF, NF, NF, NF, NF, NF),
    "POST /patients/<int:pk>/":                     (LG, OK, OK, OK, NF, NF, NF, NF, NF, NF),
    "GET /patients/<int:pk>/access-log/":           (LG, NF, NF, OK, NF, NF, NF, NF, NF, OK),
    "POST /patients/<int:pk>/access-log/":          (NA, NA, NA, NA, NA, NA, NA, NA, NA, NA),
    "GET /screening/":                              (LG, OK, OK, OK, NF, NF, OK, NF, NF, NF),
    "POST /screening/":                             (LG, OK, OK, OK, NF, NF, OK, NF, NF, NF),
    "GET /pumps/<int:pk>/program/":                 (LG, OK, OK, OK, NF, NF, NF, NF, NF, NF),
    "POST /pumps/<int:pk>/program/":                (LG, OK, OK, OK, NF, NF, NF, NF, NF, NF),
    "GET /pumps/<int:pump_pk>/refills/new/":        (LG, OK, OK, OK, NF, NF, NF, NF, NF, NF),
    "POST /pumps/<int:pump_pk>/refills/new/":       (LG, SV, SV, SV, NF, NF, NF, NF, NF, NF),
    "GET /refills/<int:visit_pk>/reschedule/":      (LG, OK, OK, OK, NF, NF, NF, NF, NF, NF),
    "POST /refills/<int:visit_pk>/reschedule/":     (LG, SV, SV, SV, NF, NF, NF, NF, NF, NF),
    "GET /refills/<int:visit_pk>/cancel/":          (LG, OK, OK, OK, NF, NF, NF, NF, NF, NF),
    "POST /refills/<int:visit_pk>/cancel/":         (LG, SV, SV, SV, NF, NF, NF, NF, NF, NF),
    "GET /pumps/<int:pk>/refill/":                  (LG, OK, OK, OK, NF, NF, NF, NF, NF, NF),
    "POST /pumps/<int:pk>/refill/":                 (LG, SV, SV, SV, NF, NF, NF, NF, NF, NF),
    "GET /fills/<int:pk>/":                         (LG, OK, OK, OK, NF, NF, NF, NF, NF, NF),
    "POST /fills/<int:pk>/":                        (LG, OK, OK, OK, NF, NF, NF, NF, NF, NF),
    "GET /calendar/":                               (LG, OK, OK, OK, NF, NF, OK, NF, NF, NF),
    "POST /calendar/":                              (LG, NA, NA, NA, NA, NA, NA, NA, NA, NA),
    "GET /calendar/feeds/":                         (LG, OK, OK, OK, OK, OK, OK, NF, NF, NF),
    "POST /calendar/feeds/":                        (LG, SV, SV, SV, OK, OK, OK, NF, NF, NF),
    "GET /calendar/feeds/<int:feed_pk>/revoke/":    (LG, OK, NF, NF, NF, NF, NF, NF, NF, NF),
    "POST /calendar/feeds/<int:feed_pk>/revoke/":   (LG, SV, NF, NF, NF, NF, NF, NF, NF, NF),
    # The feed's secret address is its credential: no sign-in.
    "GET /ical/<str:token>.ics":                    (OK, OK, OK, OK, OK, OK, OK, OK, OK, OK),
    "POST /ical/<str:token>.ics":                   (NA, NA, NA, NA, NA, NA, NA, NA, NA, NA),
    "GET /alerts/":                                 (LG, OK, OK, OK, FB, FB, OK, FB, FB, FB),
    "POST /alerts/":                                (NA, NA, NA, NA, NA, NA, NA, NA, NA, NA),
    "GET /alerts/<int:pk>/":                        (LG, OK, OK, OK, NF, NF, NF, NF, NF, NF),
    "POST /alerts/<int:pk>/":                       (NA, NA, NA, NA, NA, NA, NA, NA, NA, NA),
    "GET /alerts/<int:pk>/acknowledge/":            (NA, NA, NA, NA, NA, NA, NA, NA, NA, NA),
    "POST /alerts/<int:pk>/acknowledge/":           (LG, SV, SV, SV, NF, NF, NF, NF, NF, NF),
    "GET /alerts/<int:pk>/resolve/":                (NA, NA, NA, NA, NA, NA, NA, NA, NA, NA),
    # "Refill not booked" ends when a refill is booked, not by hand: the page says so.
    "POST /alerts/<int:pk>/resolve/":               (LG, MV, MV, MV, NF, NF, NF, NF, NF, NF),
    # The emailed link is the credential (the nurse's): no sign-in.
    "GET /alerts/ack/<str:token>/":                 (OK, OK, OK, OK, OK, OK, OK, OK, OK, OK),
    "POST /alerts/ack/<str:token>/":                (DN, DN, DN, DN, DN, DN, DN, DN, DN, DN),
    "GET /accounts/login/":                         (OK, OK, OK, OK, OK, OK, OK, OK, OK, OK),
    "POST /accounts/login/":                        (MV, MV, MV, MV, MV, MV, MV, MV, MV, MV),
    "GET /accounts/logout/":                        (NA, NA, NA, NA, NA, NA, NA, NA, NA, NA),
    "POST /accounts/logout/":                       (MV, MV, MV, MV, MV, MV, MV, MV, MV, MV),
    "GET /accounts/password_change/":               (LG, OK, OK, OK, OK, OK, OK, OK, OK, OK),
    "POST /accounts/password_change/":              (LG, OK, OK, OK, OK, OK, OK, OK, OK, OK),
    "GET /accounts/password_change/done/":          (LG, OK, OK, OK, OK, OK, OK, OK, OK, OK),
    "POST /accounts/password_change/done/":         (LG, NA, NA, NA, NA, NA, NA, NA, NA, NA),
    "GET /accounts/password_reset/":                (OK, OK, OK, OK, OK, OK, OK, OK, OK, OK),
    "POST /accounts/password_reset/":               (MV, MV, MV, MV, MV, MV, MV, MV, MV, MV),
    "GET /accounts/password_reset/done/":           (OK, OK, OK, OK, OK, OK, OK, OK, OK, OK),
    "POST /accounts/password_reset/done/":          (NA, NA, NA, NA, NA, NA, NA, NA, NA, NA),
    "GET /accounts/reset/<uidb64>/<token>/":        (OK, OK, OK, OK, OK, OK, OK, OK, OK, OK),
    "POST /accounts/reset/<uidb64>/<token>/":       (OK, OK, OK, OK, OK, OK, OK, OK, OK, OK),
    "GET /accounts/reset/done/":                    (OK, OK, OK, OK, OK, OK, OK, OK, OK, OK),
    "POST /accounts/reset/done/":                   (NA, NA, NA, NA, NA, NA, NA, NA, NA, NA),
    # Nobody here has an authenticator: the code page sends them on.
    "GET /accounts/two-factor/":                    (LG, MV, MV, MV, MV, MV, MV, MV, MV, MV),
    "POST /accounts/two-factor/":                   (LG, MV, MV, MV, MV, MV, MV, MV, MV, MV),
    # Set-up is for clinicians, nurses and administrators; a wrong first code saves nothing.
    "GET /accounts/two-factor/setup/":              (LG, OK, OK, OK, NF, NF, OK, NF, NF, OK),
    "POST /accounts/two-factor/setup/":             (LG, OK, OK, OK, NF, NF, OK, NF, NF, OK),
    "GET /accounts/security/":                      (LG, OK, OK, OK, OK, OK, OK, OK, OK, OK),
    "POST /accounts/security/":                     (LG, OK, OK, OK, OK, OK, OK, OK, OK, OK),
    # Both need the password: a wrong one is refused (400) and changes nothing.
    "GET /accounts/security/two-factor/off/":       (NA, NA, NA, NA, NA, NA, NA, NA, NA, NA),
    "POST /accounts/security/two-factor/off/":      (LG, BD, BD, BD, BD, BD, BD, BD, BD, BD),
    "GET /accounts/security/recovery-codes/":       (NA, NA, NA, NA, NA, NA, NA, NA, NA, NA),
    "POST /accounts/security/recovery-codes/":      (LG, BD, BD, BD, BD, BD, BD, BD, BD, BD),
    "GET /favicon.ico":                             (PM, PM, PM, PM, PM, PM, PM, PM, PM, PM),
    "POST /favicon.ico":                            (NA, NA, NA, NA, NA, NA, NA, NA, NA, NA),
    "GET /healthz":                                 (OK, OK, OK, OK, OK, OK, OK, OK, OK, OK),
    "POST /healthz":                                (OK, OK, OK, OK, OK, OK, OK, OK, OK, OK),
    "GET /healthz/alerts":                          (OK, OK, OK, OK, OK, OK, OK, OK, OK, OK),
    "POST /healthz/alerts":                         (OK, OK, OK, OK, OK, OK, OK, OK, OK, OK),
    # The schema and its docs name no patient: public, like the API's own description.
    "GET /api/schema/":                             (OK, OK, OK, OK, OK, OK, OK, OK, OK, OK),
    "POST /api/schema/":                            (NA, NA, NA, NA, NA, NA, NA, NA, NA, NA),
    "GET /api/docs/":                               (OK, OK, OK, OK, OK, OK, OK, OK, OK, OK),
    "POST /api/docs/":                              (NA, NA, NA, NA, NA, NA, NA, NA, NA, NA),
    "GET /api/docs/redoc/":                         (OK, OK, OK, OK, OK, OK, OK, OK, OK, OK),
    "POST /api/docs/redoc/":                        (NA, NA, NA, NA, NA, NA, NA, NA, NA, NA),
    # The admin is the superuser's; everyone else is sent to its sign-in page.
    "GET /admin/":                                  (LG, LG, LG, LG, LG, LG, LG, LG, LG, OK),
    "POST /admin/":                                 (LG, LG, LG, LG, LG, LG, LG, LG, LG, OK),
}
# fmt: on

# The admin's list and add pages of every registered model: the superuser sees each list; an
# add page is refused (403) where the model is written only by the app's services or is a record
# of its own (history, the audit trail, alerts and their deliveries, calendar feeds, the limits
# that belong to a dosing-rules row).
ADMIN_READ_ONLY = {
    "accounts.loginevent",
    "accounts.usersession",
    "accounts.twofactordevice",
    "accounts.recoverycode",
    "audit.auditentry",
    "audit.accesslogentry",
    "pumps.pumpprogram",
    "pumps.reservoirfill",
    "pumps.flexstep",
    "pumps.pumpbolus",
    "dosing.dilution",
    "dosing.populationdoselimits",
    "refills.refillvisit",
    "refills.calendarfeed",
    "alerts.alert",
    "alerts.delivery",
    "alerts.sweepstate",
}
ADMIN_MODELS = {
    "auth.group",
    "accounts.user",
    "accounts.apitoken",
    "pumps.clinic",
    "pumps.patient",
    "pumps.careteammember",
    "pumps.pumpmodel",
    "pumps.cathetermodel",
    "pumps.pump",
    "pumps.catheter",
    "dosing.drugproduct",
    "dosing.dosingrules",
    "alerts.alertpolicy",
} | ADMIN_READ_ONLY
for _label in sorted(ADMIN_MODELS):
    _app, _model = _label.split(".")
    _add = FB if _label in ADMIN_READ_ONLY else OK
    _ROWS[f"GET /admin/{_app}/{_model}/"] = (LG,) * 9 + (OK,)
    _ROWS[f"POST /admin/{_app}/{_model}/"] = (LG,) * 9 + (OK,)
    _ROWS[f"GET /admin/{_app}/{_model}/add/"] = (LG,) * 9 + (_add,)
    _ROWS[f"POST /admin/{_app}/{_model}/add/"] = (LG,) * 9 + (_add,)

MATRIX: dict[str, dict[str, Outcome]] = {
    operation: dict(zip(ROLES, row, strict=True)) for operation, row in _ROWS.items()
}


# --- The routes -------------------------------------------------------------------------------


def _walk(patterns: list[Any], prefix: str = "") -> Iterator[str]:
    for pattern in patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            if route == "admin/":
                continue  # expanded below
            yield from _walk(pattern.url_patterns, route)
        elif isinstance(pattern, URLPattern):
            yield route


def resolver_routes() -> set[str]:
    """Every route of the URL resolver outside /api/v1/, with /admin/ as the admin index and
    each registered model's list and add pages."""
    routes = {f"/{route}" for route in _walk(get_resolver().url_patterns)}
    routes = {route for route in routes if not route.startswith("/api/v1/")}
    routes.add("/admin/")
    for model in admin.site._registry:
        opts = model._meta
        routes.add(f"/admin/{opts.app_label}/{opts.model_name}/")
        routes.add(f"/admin/{opts.app_label}/{opts.model_name}/add/")
    return routes


ROUTES = resolver_routes()
OPERATIONS = {f"{method} {route}" for route in ROUTES for method in ("GET", "POST")}


# --- The data ---------------------------------------------------------------------------------


@dataclass
class Data:
    seeded: Seeded
    users: dict[str, Any]
    feed: CalendarFeed
    fill: ReservoirFill


def make_data(seeded: Seeded) -> Data:  # noqa: F811
    """The API matrix's records, a clinic lead of clinic A and a calendar feed of the
    clinician."""
    world = seeded.world
    lead = UserFactory.create(username="lead")
    care_team_add(
        actor=world.admin,
        user=lead,
        role=CareRole.CLINICIAN,
        clinic=world.clinic_a,
        is_clinic_lead=True,
    )
    users = {role: getattr(world, role) for role in ROLES if role not in {"anonymous", "lead"}}
    users["lead"] = lead
    feed = CalendarFeed.objects.create(
        user=world.clinician, kind=FeedKind.CLINIC, clinic=world.clinic_a
    )
    fill = ReservoirFill.objects.filter(pump=seeded.pumps["a1"]).latest("filled_at")
    return Data(seeded=seeded, users=users, feed=feed, fill=fill)


@pytest.fixture
def data(seeded: Seeded) -> Data:  # noqa: F811
    return make_data(seeded)


def url_for(route: str, data: Data) -> str:
    """The route with patient A1's records (and the clinician's feed) in it."""
    records = data.seeded
    values = {
        "/patients/<int:pk>/": records.world.patient_a1.pk,
        "/patients/<int:pk>/access-log/": records.world.patient_a1.pk,
        "/pumps/<int:pk>/program/": records.pumps["a1"].pk,
        "/pumps/<int:pump_pk>/refills/new/": records.pumps["a1"].pk,
        "/pumps/<int:pk>/refill/": records.pumps["a1"].pk,
        "/refills/<int:visit_pk>/reschedule/": records.visits["a1"].pk,
        "/refills/<int:visit_pk>/cancel/": records.visits["a1"].pk,
        "/fills/<int:pk>/": data.fill.pk,
        "/calendar/feeds/<int:feed_pk>/revoke/": data.feed.pk,
        "/ical/<str:token>.ics": data.feed.token,
        "/alerts/<int:pk>/": records.alerts["a1"].pk,
        "/alerts/<int:pk>/acknowledge/": records.alerts["a1"].pk,
        "/alerts/<int:pk>/resolve/": records.alerts["a1"].pk,
        "/alerts/ack/<str:token>/": ack_token(
            alert_id=records.alerts["a1"].pk, user_id=records.world.nurse.pk
        ),
    }
    if "<" not in route:
        return route
    if route == "/accounts/reset/<uidb64>/<token>/":
        uid = urlsafe_base64_encode(force_bytes(records.world.clinician.pk))
        return f"/accounts/reset/{uid}/not-a-valid-token/"
    assert route in values, f"url_for: no record is known for {route}: add it"
    head, _converter, tail = route.partition("<")
    return head + str(values[route]) + tail.split(">", 1)[1]


def local(moment: Any, data: Data) -> Any:
    return moment.astimezone(ZoneInfo(data.seeded.world.clinic_a.time_zone))


def body_for(operation: str, data: Data) -> dict[str, Any]:
    """A valid body for each POST: a refusal then proves the permission, not bad input."""
    method, route = operation.split(" ", 1)
    if method != "POST":
        return {}
    world = data.seeded.world
    # A weekday before the refill-due time (24 Nov 2026 12:00 UTC): Friday 20 Nov, 10:00.
    visit_day = local(SEED_DUE_AT - timedelta(days=4), data).date()
    now_local = local(SEED_NOW - timedelta(hours=1), data).replace(tzinfo=None)
    bodies: dict[str, dict[str, Any]] = {
        "/screening/": {"screening_dose_mcg": "50", "effect_duration_hours": "8"},
        "/pumps/<int:pk>/program/": {
            "context": "titration",
            "effective_from": now_local.isoformat(timespec="seconds"),
            "concentration_mcg_per_ml": "500",
            "concentration_confirm_mcg_per_ml": "500",
            "mode": "simple",
            "daily_dose_mcg": "330",
            "reason": "Spasticity not controlled",
        },
        "/pumps/<int:pump_pk>/refills/new/": {"date": visit_day.isoformat(), "time": "10:00"},
        "/refills/<int:visit_pk>/reschedule/": {
            "date": visit_day.isoformat(),
            "time": "11:00",
            "reason": "The family asked for another day",
        },
        "/refills/<int:visit_pk>/cancel/": {"reason": "The patient is in hospital"},
        "/pumps/<int:pk>/refill/": {
            "refilled_at": now_local.isoformat(timespec="seconds"),
            # Nine days at 0.6 mL/day from 20 mL: 14.6 mL left.
            "volume_removed_ml": "14.60",
            "product": pump_fill_product("500").pk,
            "lot_number": "L2026-11",
            "expiry_date": "2027-06-30",
            "volume_added_ml": "20",
            "observation_note": "Well after the refill",
            "septum_confirmed": "on",
        },
        "/calendar/feeds/": {"kind": f"clinic:{world.clinic_a.pk}"},
        "/alerts/<int:pk>/acknowledge/": {"note": "Calling the family"},
        "/alerts/<int:pk>/resolve/": {"reason": "Booked by phone"},
        "/accounts/login/": {"username": "clinician", "password": PASSWORD},
        "/accounts/password_change/": {
            "old_password": "not the password",
            "new_password1": "a-new-long-password-2026",
            "new_password2": "a-new-long-password-2026",
        },
        "/accounts/password_reset/": {"email": world.clinician.email},
        "/accounts/reset/<uidb64>/<token>/": {
            "new_password1": "a-new-long-password-2026",
            "new_password2": "a-new-long-password-2026",
        },
        "/accounts/two-factor/": {"code": "000000"},
        "/accounts/two-factor/setup/": {"code": "000000"},
        "/accounts/security/two-factor/off/": {"off-password": "not the password"},
        "/accounts/security/recovery-codes/": {"codes-password": "not the password"},
    }
    return bodies.get(route, {})


def prepare(operation: str, data: Data) -> None:
    """State a write needs before it is tried."""
    if operation == "POST /pumps/<int:pump_pk>/refills/new/":
        # One booked visit per pump: free patient A1's pump so a booking can succeed.
        from refills.services import refill_cancel

        refill_cancel(
            actor=data.seeded.world.nurse,
            visit=data.seeded.visits["a1"],
            reason="Rebooking (matrix)",
        )


# What a request could change: the clinical records, the audit trail and the credentials.
# Sessions, sign-in records and the access log of reads are left out: signing in and reading
# record themselves there by design. Set-up pages start an unconfirmed authenticator; only a
# confirmed one (and its recovery codes) is a credential.
WATCHED: tuple[tuple[type[models.Model], str, str], ...] = (
    (Patient, "t", ""),
    (Clinic, "t", ""),
    (CareTeamMember, "t", ""),
    (Pump, "t", ""),
    (PumpProgram, "t", ""),
    (PumpBolus, "t", ""),
    (ReservoirFill, "t", ""),
    (RefillVisit, "t", ""),
    (CalendarFeed, "t", ""),
    (Alert, "t", ""),
    (Delivery, "t", ""),
    (AuditEntry, "t", ""),
    (ApiToken, "t", ""),
    (RecoveryCode, "t", ""),
    (TwoFactorDevice, "t", "WHERE t.confirmed_at IS NOT NULL"),
    (
        get_user_model(),
        "(t.id, t.password, t.is_active, t.is_staff, t.is_superuser, t.email)",
        "",
    ),
)


def _digest_sql(model: type[models.Model], row: str, where: str) -> str:
    """Row count and a digest of the rows of ``model``'s table. The table name comes from the
    model's metadata, not from input."""
    table = model._meta.db_table
    digest = f"md5(coalesce(string_agg(({row})::text, '|' ORDER BY t.id), ''))"
    return f"SELECT '{table}', count(*), {digest} FROM {table} t {where}"  # noqa: S608


STATE_SQL = " UNION ALL ".join(_digest_sql(*watched) for watched in WATCHED)


def db_state() -> list[tuple[Any, ...]]:
    """Each watched table's row count and a digest of its rows, in one query (PostgreSQL)."""
    with connection.cursor() as cursor:
        cursor.execute(STATE_SQL)
        return list(cursor.fetchall())


def signed_in(role: str, data: Data) -> Client:
    client = Client(raise_request_exception=False)
    if role != "anonymous":
        client.force_login(data.users[role])
    return client


def shown(response: Any) -> str:
    location = response.get("Location", "")
    text = response.content.decode(errors="replace")[:300] if not location else ""
    return f"{response.status_code} {location}{text}"


# Requests that sign the client in or out: each gets a client of its own.
CHANGES_THE_SESSION = {"POST /accounts/login/", "POST /accounts/logout/"}


def check(operation: str, role: str, expected: Outcome, data: Data, client: Client) -> str | None:
    """None when the outcome is the expected one, else what happened. The request runs in a
    savepoint that is rolled back."""
    method, route = operation.split(" ", 1)
    path = url_for(route, data)
    if operation in CHANGES_THE_SESSION:
        client = signed_in(role, data)
    with transaction.atomic():
        prepare(operation, data)
        before = db_state()
        if method == "GET":
            response = client.get(path)
        else:
            response = client.post(path, body_for(operation, data))
        changed = db_state() != before
        transaction.set_rollback(True)
    location = response.get("Location", "")
    to_login = response.status_code == 302 and (
        location.startswith(("/accounts/login/?next=", "/admin/login/?next="))
    )
    got = Outcome(response.status_code, changed=changed, to_login=to_login)
    if got == expected:
        return None
    return f"{method} {path} as {role}: expected {expected}, got {got} ({shown(response)})"


def area(route: str) -> str:
    """Routes are checked in groups that share one set-up: by first path segment, the admin
    by app."""
    parts = route.strip("/").split("/")
    return "/".join(parts[:2]) if parts[0] == "admin" and len(parts) > 1 else parts[0]


AREAS = sorted({area(route) for route in ROUTES})


# --- Tests ------------------------------------------------------------------------------------


def test_the_table_names_every_route_of_the_resolver() -> None:
    missing = sorted(OPERATIONS - set(MATRIX))
    assert not missing, f"expected a MATRIX row for every route and method; missing: {missing}"
    unknown = sorted(set(MATRIX) - OPERATIONS)
    assert not unknown, f"expected every MATRIX row to be a route of the resolver: {unknown}"


def test_the_table_keeps_the_care_team_rule() -> None:
    """Whatever the table says elsewhere: nobody outside clinic A's staff reaches patient A1's
    clinical pages, and no refusal is a write."""
    a1_pages = [
        op
        for op in MATRIX
        if "/admin/" not in op
        and any(
            part in op
            for part in ("/patients/<int:pk>/", "/pumps/", "/refills/<int:", "/fills/", "/alerts/<")
        )
    ]
    assert a1_pages
    for operation in a1_pages:
        row = MATRIX[operation]
        for role in ("caregiver_b", "clinician_b", "stranger"):
            assert row[role] in (NOT_FOUND, NOT_ALLOWED), f"{operation} as {role}: {row[role]}"
        assert row["anonymous"] in (LOGIN, NOT_ALLOWED), operation
    for operation, row in MATRIX.items():
        for role, outcome in row.items():
            if outcome.changed:
                assert role in {"clinician", "nurse", "lead", "integrator"} or "/ack/" in operation


@pytest.mark.parametrize("group", AREAS)
def test_web_permission_matrix(group: str, data: Data, postgres: None) -> None:
    routes = sorted(route for route in ROUTES if area(route) == group)
    clients = {role: signed_in(role, data) for role in ROLES}
    failures = []
    for route in routes:
        for method in ("GET", "POST"):
            operation = f"{method} {route}"
            assert operation in MATRIX, f"{operation} is a route: expected a row for it in MATRIX"
            for role in ROLES:
                failure = check(operation, role, MATRIX[operation][role], data, clients[role])
                if failure:
                    failures.append(failure)
    assert not failures, "\n".join(failures)


def test_every_role_is_a_distinct_user(data: Data) -> None:
    assert len({user.pk for user in data.users.values()}) == len(ROLES) - 1
    assert CareTeamMember.objects.filter(user=data.users["lead"], is_clinic_lead=True).exists()
    assert not CareTeamMember.objects.filter(user=data.users["stranger"]).exists()
    assert data.users["admin"].is_superuser
