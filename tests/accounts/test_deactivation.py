"""Deactivating a user, by any path, ends their browser sessions and revokes their API tokens at
once, audited."""

from datetime import UTC, datetime
from importlib import import_module

import pytest
import time_machine
from django.conf import settings as django_settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.test import Client
from django.urls import reverse

from accounts.models import ApiToken, UserSession
from accounts.services import api_token_issue, api_token_revoke, user_deactivate
from audit.models import AuditEntry
from tests.conftest import World

PASSWORD = "correct horse battery staple"
NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
PING = "/api/v1/ping/"


@pytest.fixture
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def signed_in(username: str) -> Client:
    client = Client()
    response = client.post(reverse("login"), {"username": username, "password": PASSWORD})
    assert response.status_code == 302
    assert client.get("/").status_code in (200, 302)
    return client


def session_exists(key: str | None) -> bool:
    assert key is not None
    return import_module(django_settings.SESSION_ENGINE).SessionStore().exists(key)


def ping(clear: str):
    """An API call with the token (no browser session)."""
    return Client().get(PING, HTTP_AUTHORIZATION=f"Bearer {clear}")


def user_entries(user) -> list[AuditEntry]:
    return list(
        AuditEntry.objects.filter(record_type="accounts.User", record_id=str(user.pk)).order_by(
            "id"
        )
    )


def test_admin_change_form_deactivation_ends_sessions_and_revokes_tokens(
    world: World, clock, django_capture_on_commit_callbacks
) -> None:
    nurse = world.nurse
    browsers = [signed_in("nurse"), signed_in("nurse")]
    keys = [browser.session.session_key for browser in browsers]
    assert all(session_exists(key) for key in keys)
    _t1, clear = api_token_issue(actor=world.admin, user=nurse, scope="write", name="EHR")
    t2, _ = api_token_issue(actor=world.admin, user=nurse, scope="read", name="Old")
    api_token_revoke(actor=world.admin, token=t2, reason="Replaced")
    assert ping(clear).status_code == 200

    admin = Client()
    admin.force_login(world.admin)
    change_url = reverse("admin:accounts_user_change", args=[nurse.pk])
    form = admin.get(change_url)
    assert form.status_code == 200
    data = {
        "username": nurse.username,
        "first_name": "",
        "last_name": "",
        "email": nurse.email,
        "phone": "",
        # "is_active" left out: the box is unticked.
        "date_joined_0": nurse.date_joined.strftime("%Y-%m-%d"),
        "date_joined_1": nurse.date_joined.strftime("%H:%M:%S"),
        "last_login_0": "",
        "last_login_1": "",
    }
    with django_capture_on_commit_callbacks(execute=True):
        response = admin.post(change_url, data)
    assert response.status_code == 302, response.content.decode()[:3000]
    nurse.refresh_from_db()
    assert nurse.is_active is False

    # Every browser session is gone from the store; the next request goes to sign in.
    assert not any(session_exists(key) for key in keys)
    assert not UserSession.objects.filter(user=nurse).exists()
    for browser in browsers:
        response = browser.get("/")
        assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
    # Every token is revoked by the administrator; a call with one is refused.
    tokens = ApiToken.objects.filter(user=nurse).order_by("pk")
    assert all(t.revoked_at is not None for t in tokens)
    assert tokens[0].revoked_by == world.admin and tokens[0].revoked_at == NOW
    assert tokens[1].revoked_by == world.admin  # the earlier revocation is kept as it was
    refused = ping(clear)
    assert refused.status_code == 401
    assert refused.json() == {"detail": "This API token has been revoked."}
    # Audited: who, what, and what it ended.
    (entry,) = user_entries(nurse)
    assert entry.actor == world.admin
    assert entry.changes == {"is_active": [True, False]}
    assert entry.reason == (
        "User deactivated (2 browser sessions ended, 1 API token revoked): Deactivated in the admin"
    )


def test_the_service_deactivates_with_actor_and_reason(
    world: World, clock, django_capture_on_commit_callbacks
) -> None:
    browser = signed_in("clinician")
    key = browser.session.session_key
    token, clear = api_token_issue(actor=world.admin, user=world.clinician, scope="read")
    with django_capture_on_commit_callbacks(execute=True):
        user_deactivate(actor=world.admin, user=world.clinician, reason="Left the clinic")
    assert world.clinician.is_active is False
    assert not session_exists(key)
    assert browser.get(reverse("refills:calendar"))["Location"].startswith(reverse("login"))
    token.refresh_from_db()
    assert token.revoked_by == world.admin
    assert ping(clear).status_code == 401
    (entry,) = user_entries(world.clinician)
    assert entry.reason.endswith(": Left the clinic") and entry.actor == world.admin
    with pytest.raises(ValidationError) as caught:
        user_deactivate(actor=world.admin, user=world.clinician)
    assert caught.value.message_dict == {"user": ["This user is already inactive."]}


def test_a_plain_save_deactivates_too(
    world: World, clock, django_capture_on_commit_callbacks
) -> None:
    browser = signed_in("nurse")
    key = browser.session.session_key
    token, clear = api_token_issue(actor=world.admin, user=world.nurse, scope="read")
    with django_capture_on_commit_callbacks(execute=True):
        world.nurse.is_active = False
        world.nurse.save()
    assert not session_exists(key)
    token.refresh_from_db()
    assert token.revoked_at == NOW and token.revoked_by is None  # no actor known
    assert ping(clear).status_code == 401
    (entry,) = user_entries(world.nurse)
    assert entry.actor is None

    # Saving the inactive user again, or reactivating, ends or restores nothing more.
    world.nurse.save()
    world.nurse.is_active = True
    world.nurse.save()
    assert len(user_entries(world.nurse)) == 1
    token.refresh_from_db()
    assert token.revoked_at == NOW
    assert ping(clear).status_code == 401


def test_saves_that_do_not_touch_is_active_change_nothing(world: World, clock) -> None:
    browser = signed_in("nurse")
    world.nurse.first_name = "Nadia"
    world.nurse.save(update_fields=["first_name"])
    world.nurse.save()
    assert browser.get("/").status_code == 200
    assert user_entries(world.nurse) == []


def test_a_rolled_back_deactivation_ends_nothing(
    world: World, clock, django_capture_on_commit_callbacks
) -> None:
    browser = signed_in("nurse")
    key = browser.session.session_key
    token, _clear = api_token_issue(actor=world.admin, user=world.nurse, scope="read")
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with pytest.raises(RuntimeError), transaction.atomic():
            user_deactivate(actor=world.admin, user=world.nurse)
            raise RuntimeError("the surrounding change failed")
    assert callbacks == []
    assert session_exists(key)
    token.refresh_from_db()
    assert token.revoked_at is None
    world.nurse.refresh_from_db()
    assert world.nurse.is_active is True
    assert browser.get("/").status_code == 200
