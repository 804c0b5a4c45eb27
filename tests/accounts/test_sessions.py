"""Session limits: idle timeout and absolute lifetime from the user's clinics, the once-a-minute
activity stamp, the table of live sessions, and the settings' bounds."""

from datetime import UTC, datetime, timedelta
from importlib import import_module

import pytest
import time_machine
from django.conf import settings as django_settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.test import Client
from django.urls import reverse

from accounts.checks import sign_in_settings
from accounts.models import UserSession
from accounts.sessions import SEEN_AT, session_limits_for
from pumps.models import CareRole, Clinic
from pumps.services import care_team_add
from tests.conftest import World

PASSWORD = "correct horse battery staple"
NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
IDLE_MESSAGE = "You were signed out after 30 minutes without activity."


@pytest.fixture
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def sign_in(client: Client, username: str) -> None:
    response = client.post(reverse("login"), {"username": username, "password": PASSWORD})
    assert response.status_code == 302, response.content.decode()[:500]


def set_limits(clinic: Clinic, idle: int, hours: int) -> None:
    clinic.session_idle_minutes, clinic.session_max_hours = idle, hours
    clinic.full_clean()
    clinic.save()


def stored_session(client: Client) -> dict:
    store = import_module(django_settings.SESSION_ENGINE).SessionStore
    return store(session_key=client.session.session_key).load()


def test_an_idle_session_is_signed_out_with_a_clear_message(
    client: Client, world: World, clock
) -> None:
    sign_in(client, "nurse")
    assert client.get("/").status_code == 200
    clock.shift(timedelta(minutes=30, seconds=30))
    assert client.get("/").status_code == 200  # measured to the minute, never early
    clock.shift(timedelta(minutes=31))
    response = client.get(reverse("refills:calendar"))
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next={reverse('refills:calendar')}"
    assert "_auth_user_id" not in client.session
    page = client.get(response["Location"]).content.decode()
    assert IDLE_MESSAGE in page and "Sign in again to continue." in page
    # Said once.
    assert IDLE_MESSAGE not in client.get(reverse("login")).content.decode()
    assert not UserSession.objects.filter(user=world.nurse).exists()


def test_activity_keeps_a_session_until_its_lifetime_ends(
    client: Client, world: World, clock
) -> None:
    sign_in(client, "nurse")
    for _ in range(35):  # every 20 minutes for 11 h 40 min
        clock.shift(timedelta(minutes=20))
        assert client.get("/").status_code == 200
    clock.shift(timedelta(minutes=20))  # 12 hours after signing in
    response = client.get("/", follow=True)
    html = response.content.decode()
    assert response.redirect_chain[-1][0].startswith(reverse("login"))
    assert "You were signed out because you signed in 12 hours ago" in html


def test_the_strictest_of_the_users_clinics_applies(client: Client, world: World, clock) -> None:
    set_limits(world.clinic_a, idle=30, hours=12)
    set_limits(world.clinic_b, idle=15, hours=8)
    care_team_add(
        actor=world.admin, user=world.clinician_b, role=CareRole.NURSE, clinic=world.clinic_a
    )
    assert session_limits_for(world.clinician_b).idle_minutes == 15
    assert session_limits_for(world.clinician_b).max_hours == 8
    assert session_limits_for(world.clinician).idle_minutes == 30
    sign_in(client, "clinician_b")
    clock.shift(timedelta(minutes=16, seconds=30))
    response = client.get("/", follow=True)
    assert "You were signed out after 15 minutes without activity." in response.content.decode()


def test_caregivers_get_their_patients_clinic_limits(world: World) -> None:
    set_limits(world.clinic_a, idle=10, hours=4)
    limits = session_limits_for(world.caregiver_a)
    assert (limits.idle_minutes, limits.max_hours) == (10, 4)


def test_users_with_no_clinic_get_the_settings_defaults(
    client: Client, world: World, clock, settings
) -> None:
    settings.ITB_SESSION_IDLE_MINUTES = 10
    settings.ITB_SESSION_MAX_HOURS = 2
    limits = session_limits_for(world.admin)
    assert (limits.idle_minutes, limits.max_hours) == (10, 2)
    sign_in(client, "root")
    clock.shift(timedelta(minutes=9))
    assert client.get("/admin/").status_code == 200
    clock.shift(timedelta(minutes=11, seconds=1))
    response = client.get("/admin/", follow=True)
    assert "You were signed out after 10 minutes without activity." in response.content.decode()


def test_a_clinics_new_limit_reaches_open_sessions_within_a_minute(
    client: Client, world: World, clock
) -> None:
    sign_in(client, "nurse")
    set_limits(world.clinic_a, idle=5, hours=12)
    clock.shift(timedelta(minutes=2))
    assert client.get("/").status_code == 200  # refreshes the limits
    clock.shift(timedelta(minutes=6, seconds=1))
    response = client.get("/", follow=True)
    assert "You were signed out after 5 minutes without activity." in response.content.decode()


def test_last_activity_is_written_at_most_once_a_minute(
    client: Client, world: World, clock
) -> None:
    sign_in(client, "nurse")
    signed_in_at = stored_session(client)[SEEN_AT]
    assert signed_in_at == int(NOW.timestamp())
    for seconds in (10, 30, 59):
        clock.move_to(NOW + timedelta(seconds=seconds))
        client.get("/")
        assert stored_session(client)[SEEN_AT] == signed_in_at
    clock.move_to(NOW + timedelta(seconds=61))
    client.get("/")
    assert stored_session(client)[SEEN_AT] == signed_in_at + 61


def test_an_expired_api_session_is_refused_not_redirected(
    client: Client, world: World, clock
) -> None:
    sign_in(client, "nurse")
    assert client.get("/api/v1/ping/").status_code == 200
    clock.shift(timedelta(hours=1))
    response = client.get("/api/v1/ping/")
    assert response.status_code == 401
    assert "_auth_user_id" not in client.session


def test_the_live_sessions_table_follows_sign_in_and_out(
    client: Client, world: World, clock
) -> None:
    client.post(
        reverse("login"),
        {"username": "nurse", "password": PASSWORD},
        REMOTE_ADDR="203.0.113.4",
        HTTP_USER_AGENT="Firefox",
    )
    row = UserSession.objects.get(user=world.nurse)
    assert row.session_key == client.session.session_key
    assert (row.address, row.user_agent, row.created_at) == ("203.0.113.4", "Firefox", NOW)
    client.post(reverse("logout"))
    assert not UserSession.objects.filter(user=world.nurse).exists()


def test_a_changed_session_key_is_still_tracked(client: Client, world: World, clock) -> None:
    """A password change gives the session a new key; it stays one of the user's sessions."""
    sign_in(client, "nurse")
    response = client.post(
        reverse("password_change"),
        {
            "old_password": PASSWORD,
            "new_password1": "a-new-Refill-pass-77",
            "new_password2": "a-new-Refill-pass-77",
        },
    )
    assert response.status_code == 302
    clock.shift(timedelta(minutes=2))
    assert client.get("/").status_code == 200
    assert UserSession.objects.filter(session_key=client.session.session_key).exists()


# --- Bounds -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("idle", "hours", "field"),
    [
        (4, 12, "session_idle_minutes"),
        (481, 12, "session_idle_minutes"),
        (30, 0, "session_max_hours"),
        (30, 25, "session_max_hours"),
    ],
)
def test_clinic_session_limits_have_sane_bounds(world: World, idle, hours, field) -> None:
    clinic = world.clinic_a
    clinic.session_idle_minutes, clinic.session_max_hours = idle, hours
    with pytest.raises(ValidationError) as caught:
        clinic.full_clean()
    assert field in caught.value.message_dict


def test_idle_limit_cannot_exceed_the_lifetime(world: World) -> None:
    clinic = world.clinic_a
    clinic.session_idle_minutes, clinic.session_max_hours = 120, 1
    with pytest.raises(ValidationError) as caught:
        clinic.full_clean()
    assert "cannot be longer than the longest session" in str(caught.value)
    with pytest.raises(IntegrityError), transaction.atomic():
        Clinic.objects.filter(pk=clinic.pk).update(session_idle_minutes=2)


def test_new_clinics_take_the_settings_defaults(db, settings) -> None:
    settings.ITB_SESSION_IDLE_MINUTES, settings.ITB_SESSION_MAX_HOURS = 20, 10
    clinic = Clinic(name="New")
    assert (clinic.session_idle_minutes, clinic.session_max_hours) == (20, 10)


def test_settings_out_of_bounds_fail_the_system_check(settings) -> None:
    assert sign_in_settings() == []
    settings.ITB_SESSION_IDLE_MINUTES = 1000
    settings.ITB_LOGIN_MAX_FAILURES = 0
    settings.SESSION_ENGINE = "django.contrib.sessions.backends.signed_cookies"
    ids = {problem.id for problem in sign_in_settings()}
    assert ids == {"accounts.E001", "accounts.E003", "accounts.E005"}


def test_an_authorization_header_does_not_keep_an_idle_session_alive(
    client: Client, world: World, clock
) -> None:
    """Regression: a made-up "Authorization: Bearer …" header used to exempt a page from the
    session limits."""
    sign_in(client, "nurse")
    clock.shift(timedelta(minutes=62))
    response = client.get("/", HTTP_AUTHORIZATION="Bearer made-up")
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
    assert "_auth_user_id" not in client.session
