"""``Authorization: Bearer <token>`` on a DRF view, and every way it is refused."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import ApiToken
from accounts.services import api_token_revoke
from tests.accounts.conftest import bearer

pytestmark = pytest.mark.urls("tests.accounts.urls")

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
URL = "/api/whoami/"
CHALLENGE = 'Bearer realm="api"'


def assert_refused(response, detail):
    assert response.status_code == 401, response.content
    assert response.json() == {"detail": detail}
    assert response["WWW-Authenticate"] == CHALLENGE


def test_bearer_token_authenticates_as_its_user(world, issue, api, time_machine):
    time_machine.move_to(NOW, tick=False)
    token, clear = issue()
    response = api.get(URL, **bearer(clear))
    assert response.status_code == 200
    assert response.json() == {"username": "integrator", "auth": "token", "prefix": token.prefix}
    token.refresh_from_db()
    assert token.last_used_at == NOW


def test_scheme_is_case_insensitive(issue, api):
    _, clear = issue()
    response = api.get(URL, HTTP_AUTHORIZATION=f"bearer {clear}")
    assert response.status_code == 200
    assert response.json()["username"] == "integrator"


def test_last_used_is_written_at_most_once_a_minute(issue, api, time_machine):
    time_machine.move_to(NOW, tick=False)
    token, clear = issue()
    assert api.get(URL, **bearer(clear)).status_code == 200

    time_machine.move_to(NOW + timedelta(seconds=59), tick=False)
    with CaptureQueriesContext(connection) as queries:
        assert api.get(URL, **bearer(clear)).status_code == 200
    assert not [q for q in queries.captured_queries if q["sql"].startswith("UPDATE")]
    token.refresh_from_db()
    assert token.last_used_at == NOW

    time_machine.move_to(NOW + timedelta(seconds=61), tick=False)
    with CaptureQueriesContext(connection) as queries:
        assert api.get(URL, **bearer(clear)).status_code == 200
    updates = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("UPDATE")]
    assert len(updates) == 1
    # Only last_used_at is written, and only if the row still holds an old time.
    assert 'SET "last_used_at"' in updates[0]
    assert "token_hash" not in updates[0].split("WHERE")[0]
    assert '"last_used_at" <' in updates[0].split("WHERE")[1]
    token.refresh_from_db()
    assert token.last_used_at == NOW + timedelta(seconds=61)


def test_no_header_is_left_to_the_session_and_then_refused(world, api):
    response = api.get(URL)
    assert response.status_code == 401
    assert response.json() == {"detail": "Authentication credentials were not provided."}
    assert response["WWW-Authenticate"] == CHALLENGE


def test_no_header_with_a_session_uses_the_session(world, api):
    api.force_login(world.nurse)
    response = api.get(URL)
    assert response.status_code == 200
    assert response.json() == {"username": "nurse", "auth": "session", "prefix": None}


def test_another_scheme_is_not_ours(world, issue, api):
    _, clear = issue()
    response = api.get(URL, HTTP_AUTHORIZATION=f"Token {clear}")
    assert response.status_code == 401
    assert response.json() == {"detail": "Authentication credentials were not provided."}
    api.force_login(world.nurse)
    response = api.get(URL, HTTP_AUTHORIZATION="Basic bnVyc2U6eA==")
    assert response.status_code == 200
    assert response.json()["auth"] == "session"


def test_a_bearer_token_wins_over_a_session(world, issue, api):
    _, clear = issue()
    api.force_login(world.nurse)
    response = api.get(URL, **bearer(clear))
    assert response.json()["username"] == "integrator"
    assert response.json()["auth"] == "token"


def test_a_bad_bearer_token_is_refused_even_with_a_session(world, api):
    api.force_login(world.nurse)
    assert_refused(
        api.get(URL, HTTP_AUTHORIZATION="Bearer nonsense"),
        "Malformed API token: send 'Authorization: Bearer itb_<prefix>_<secret>'.",
    )


def test_bearer_without_a_token(world, api):
    assert_refused(
        api.get(URL, HTTP_AUTHORIZATION="Bearer"),
        "Invalid Authorization header: no API token after 'Bearer'.",
    )


def test_bearer_with_spaces(world, issue, api):
    _, clear = issue()
    assert_refused(
        api.get(URL, HTTP_AUTHORIZATION=f"Bearer {clear} extra"),
        "Invalid Authorization header: the API token must not contain spaces.",
    )


@pytest.mark.parametrize(
    "text",
    ["nonsense", "itb_short_secret", "itb_ABCDEFGH_" + "a" * 42, "ABCDEFGH" + "a" * 43],
)
def test_malformed_token(world, api, text):
    assert_refused(
        api.get(URL, HTTP_AUTHORIZATION=f"Bearer {text}"),
        "Malformed API token: send 'Authorization: Bearer itb_<prefix>_<secret>'.",
    )


def test_unknown_prefix(world, issue, api):
    _, clear = issue()
    other = "itb_Zz9Zz9Zz_" + clear.split("_", 2)[2]
    assert not ApiToken.objects.filter(prefix="Zz9Zz9Zz").exists()
    assert_refused(api.get(URL, **bearer(other)), "Invalid API token.")


def test_right_prefix_wrong_secret(world, issue, api):
    token, clear = issue()
    last = "A" if clear[-1] != "A" else "B"
    wrong = clear[:-1] + last
    assert_refused(api.get(URL, **bearer(wrong)), "Invalid API token.")
    token.refresh_from_db()
    assert token.last_used_at is None


def test_wrong_secret_of_a_revoked_token_does_not_say_revoked(world, issue, api):
    token, clear = issue()
    api_token_revoke(actor=world.admin, token=token)
    wrong = clear[:-1] + ("A" if clear[-1] != "A" else "B")
    assert_refused(api.get(URL, **bearer(wrong)), "Invalid API token.")


def test_revoked_token(world, issue, api):
    token, clear = issue()
    assert api.get(URL, **bearer(clear)).status_code == 200
    api_token_revoke(actor=world.admin, token=token)
    assert_refused(api.get(URL, **bearer(clear)), "This API token has been revoked.")


def test_expired_token(world, issue, api, time_machine):
    time_machine.move_to(NOW, tick=False)
    token, clear = issue(expires_in_days=1)
    time_machine.move_to(NOW + timedelta(days=1) - timedelta(seconds=1), tick=False)
    assert api.get(URL, **bearer(clear)).status_code == 200
    time_machine.move_to(NOW + timedelta(days=1), tick=False)
    assert_refused(api.get(URL, **bearer(clear)), "This API token has expired.")
    token.refresh_from_db()
    assert token.last_used_at == NOW + timedelta(days=1) - timedelta(seconds=1)


def test_token_of_an_inactive_user(world, issue, api):
    _, clear = issue()
    assert api.get(URL, **bearer(clear)).status_code == 200
    # A bulk update sends no signal, so the token stays unrevoked (deactivating through the
    # model or the admin also revokes it: tests/accounts/test_deactivation.py): the token check
    # itself must still refuse an inactive user.
    type(world.integrator).objects.filter(pk=world.integrator.pk).update(is_active=False)
    assert_refused(api.get(URL, **bearer(clear)), "The user of this API token is inactive.")


def test_non_ascii_header(world, api):
    assert_refused(
        api.get(URL, HTTP_AUTHORIZATION="Bearer itb_é"),
        "Malformed API token: send 'Authorization: Bearer itb_<prefix>_<secret>'.",
    )
