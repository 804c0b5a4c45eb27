"""The sign-in lockout per (username, address), the sign-in log, and the client address."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.contrib.admin.sites import site as admin_site
from django.test import Client, RequestFactory
from django.urls import reverse

from accounts.lockout import client_address, normalise_username
from accounts.models import LoginEvent, LoginMethod, LoginOutcome
from tests.conftest import World

PASSWORD = "correct horse battery staple"  # tests.factories.UserFactory's password
NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
STRANGER_ADDRESS = "198.51.100.23"
CLINIC_ADDRESS = "203.0.113.10"
LOCKED = "Too many failed sign-in attempts"
WRONG = "Please enter a correct username and password"


@pytest.fixture
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def sign_in(client: Client, username: str, password: str, address: str = CLINIC_ADDRESS):
    return client.post(
        reverse("login"),
        {"username": username, "password": password},
        REMOTE_ADDR=address,
        HTTP_USER_AGENT="Mozilla/5.0 (test)",
    )


def fail_times(client: Client, username: str, times: int, address: str = CLINIC_ADDRESS) -> None:
    for _ in range(times):
        response = sign_in(client, username, "not-the-password", address)
        assert response.status_code == 200


def test_locked_after_max_failures_even_with_the_right_password(
    client: Client, world: World, clock, settings
) -> None:
    assert settings.ITB_LOGIN_MAX_FAILURES == 5
    fail_times(client, "nurse", 3)
    assert WRONG in sign_in(client, "nurse", "still-wrong").content.decode()
    assert LOCKED in sign_in(client, "nurse", "wrong again").content.decode()  # the 5th
    response = sign_in(client, "nurse", PASSWORD)
    html = response.content.decode()
    assert response.status_code == 200
    assert LOCKED in html and "try again in 15 minutes" in html
    assert "_auth_user_id" not in client.session
    # The refused attempt is kept, and does not reveal or check the password.
    last = LoginEvent.objects.first()
    assert last is not None and last.outcome == LoginOutcome.LOCKED_OUT
    assert last.user == world.nurse


def test_locked_message_is_the_same_for_an_account_that_does_not_exist(
    client: Client, world: World, clock
) -> None:
    fail_times(client, "nurse", 5)
    fail_times(client, "no-such-user", 5)
    known = sign_in(client, "nurse", "x").content.decode()
    unknown = sign_in(client, "no-such-user", "x").content.decode()

    def alert(html: str) -> str:
        return html.split('role="alert"', 1)[1].split("</div>", 1)[0]

    assert LOCKED in alert(known)
    assert alert(known).replace("nurse", "") == alert(unknown).replace("no-such-user", "")
    assert "nurse" not in alert(known) and "exist" not in alert(known)


def test_sign_in_works_again_after_the_cool_off(client: Client, world: World, clock) -> None:
    fail_times(client, "nurse", 5)
    clock.shift(timedelta(minutes=14, seconds=59))
    assert LOCKED in sign_in(client, "nurse", PASSWORD).content.decode()
    assert "try again in 1 minute." in sign_in(client, "nurse", PASSWORD).content.decode()
    clock.shift(timedelta(seconds=2))
    response = sign_in(client, "nurse", PASSWORD)
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(world.nurse.pk)


def test_after_the_cool_off_the_count_starts_again(client: Client, world: World, clock) -> None:
    fail_times(client, "nurse", 5)
    clock.shift(timedelta(minutes=16))
    fail_times(client, "nurse", 4)
    assert sign_in(client, "nurse", PASSWORD).status_code == 302


def test_another_address_can_still_sign_in(client: Client, world: World, clock) -> None:
    fail_times(client, "nurse", 5, address=STRANGER_ADDRESS)
    assert LOCKED in sign_in(client, "nurse", PASSWORD, STRANGER_ADDRESS).content.decode()
    response = sign_in(client, "nurse", PASSWORD, CLINIC_ADDRESS)
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(world.nurse.pk)


def test_a_stranger_cannot_lock_a_nurse_out_from_everywhere(world: World, clock, settings) -> None:
    """A stranger hammering the nurse's username from many addresses locks only those
    addresses; the nurse still signs in at her clinic mid-shift."""
    stranger = Client()
    for n in range(1, 6):
        fail_times(stranger, "nurse", settings.ITB_LOGIN_MAX_FAILURES + 3, f"198.51.100.{n}")
    assert LoginEvent.objects.filter(outcome=LoginOutcome.LOCKED_OUT).count() == 5 * 3
    nurse = Client()
    assert sign_in(nurse, "nurse", PASSWORD, CLINIC_ADDRESS).status_code == 302


def test_other_users_at_the_same_address_are_not_locked(
    client: Client, world: World, clock
) -> None:
    """A ward behind one shared address: one person's typos lock only their own username."""
    fail_times(client, "nurse", 5)
    assert sign_in(Client(), "clinician", PASSWORD).status_code == 302


def test_failures_older_than_the_window_do_not_count(client: Client, world: World, clock) -> None:
    fail_times(client, "nurse", 4)
    clock.shift(timedelta(minutes=16))
    fail_times(client, "nurse", 4)
    assert sign_in(client, "nurse", PASSWORD).status_code == 302


def test_a_complete_sign_in_resets_the_count(client: Client, world: World, clock) -> None:
    fail_times(client, "nurse", 4)
    assert sign_in(client, "nurse", PASSWORD).status_code == 302
    client.post(reverse("logout"))
    fail_times(client, "nurse", 4)
    assert sign_in(client, "nurse", PASSWORD).status_code == 302


def test_username_variants_share_one_count(client: Client, world: World, clock) -> None:
    for variant in ("nurse", "Nurse", " NURSE ", "nurse", "ｎｕｒｓｅ"):
        sign_in(client, variant, "wrong")
    assert LOCKED in sign_in(client, "nurse", PASSWORD).content.decode()
    assert normalise_username(" ＮＵＲＳＥ ") == "nurse"


def test_every_attempt_is_recorded(client: Client, world: World, clock) -> None:
    sign_in(client, "Nurse ", "wrong")
    sign_in(client, "ghost", "wrong")
    sign_in(client, "nurse", PASSWORD)
    client.post(reverse("logout"))
    fail_times(client, "clinician", 5)
    sign_in(client, "clinician", PASSWORD)
    events = list(LoginEvent.objects.order_by("occurred_at", "id"))
    assert [(e.username, e.outcome) for e in events] == [
        ("nurse", LoginOutcome.FAILED),
        ("ghost", LoginOutcome.FAILED),
        ("nurse", LoginOutcome.SUCCEEDED),
        *[("clinician", LoginOutcome.FAILED)] * 5,
        ("clinician", LoginOutcome.LOCKED_OUT),
    ]
    first, ghost, success = events[:3]
    assert first.user == world.nurse and ghost.user is None and success.user == world.nurse
    assert {e.address for e in events} == {CLINIC_ADDRESS}
    assert {e.method for e in events} == {LoginMethod.PASSWORD}
    assert {e.user_agent for e in events} == {"Mozilla/5.0 (test)"}
    assert all(e.occurred_at == NOW for e in events)
    assert events[-2].locked_until == NOW + timedelta(minutes=15)


def test_user_agent_is_truncated(client: Client, world: World) -> None:
    client.post(
        reverse("login"),
        {"username": "nurse", "password": "wrong"},
        HTTP_USER_AGENT="A" * 1000,
    )
    event = LoginEvent.objects.get()
    assert event.user_agent == "A" * 300


def test_admin_sign_in_is_locked_out_too(client: Client, world: World, clock) -> None:
    url = reverse("admin:login")
    for _ in range(4):
        response = client.post(url, {"username": "root", "password": "wrong"})
        assert "Please enter the correct username and password" in response.content.decode()
    assert LOCKED in client.post(url, {"username": "root", "password": "x"}).content.decode()
    response = client.post(url, {"username": "root", "password": PASSWORD})
    assert LOCKED in response.content.decode()
    assert "_auth_user_id" not in client.session
    # The same pair is locked on the site's page: it is one lockout.
    assert (
        LOCKED
        in client.post(
            reverse("login"), {"username": "root", "password": PASSWORD}
        ).content.decode()
    )
    assert LoginEvent.objects.filter(username="root", outcome=LoginOutcome.FAILED).count() == 5
    clock.shift(timedelta(minutes=15, seconds=1))
    response = client.post(
        url, {"username": "root", "password": PASSWORD, "next": reverse("admin:index")}
    )
    assert response.status_code == 302 and response["Location"] == reverse("admin:index")
    assert client.session["_auth_user_id"] == str(world.admin.pk)


def test_the_admin_uses_the_lockout_form() -> None:
    from accounts.forms import AdminSignInForm

    assert admin_site.login_form is AdminSignInForm


def test_sign_in_events_are_read_only_in_the_admin(client: Client, world: World) -> None:
    sign_in(client, "nurse", "wrong")
    admin = Client()
    admin.force_login(world.admin)
    listing = admin.get(reverse("admin:accounts_loginevent_changelist"))
    assert listing.status_code == 200 and CLINIC_ADDRESS in listing.content.decode()
    assert admin.get(reverse("admin:accounts_loginevent_add")).status_code == 403
    event = LoginEvent.objects.filter(username="nurse").first()
    assert event is not None
    change = admin.post(
        reverse("admin:accounts_loginevent_change", args=[event.pk]), {"username": "x"}
    )
    assert change.status_code == 403
    delete = admin.post(reverse("admin:accounts_loginevent_delete", args=[event.pk]), {"post": 1})
    assert delete.status_code == 403
    assert LoginEvent.objects.filter(pk=event.pk, username="nurse").exists()


# --- The client address ---------------------------------------------------------------------


def test_client_address_is_remote_addr_by_default() -> None:
    request = RequestFactory().get(
        "/", REMOTE_ADDR="10.0.0.5", HTTP_X_FORWARDED_FOR="203.0.113.9, 10.0.0.1"
    )
    assert client_address(request) == "10.0.0.5"  # the header is ignored unless trusted


@pytest.mark.parametrize(
    ("header", "hops", "expected"),
    [
        ("203.0.113.9", 1, "203.0.113.9"),
        # The client wrote the first entry itself; our one proxy appended the real address.
        ("6.6.6.6, 203.0.113.9", 1, "203.0.113.9"),
        ("6.6.6.6, 203.0.113.9, 10.0.0.2", 2, "203.0.113.9"),
        ("not-an-address", 1, "10.0.0.5"),
        ("", 1, "10.0.0.5"),
    ],
)
def test_client_address_behind_trusted_proxies(
    header: str, hops: int, expected: str, settings
) -> None:
    settings.ITB_TRUSTED_PROXIES = hops
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.5", HTTP_X_FORWARDED_FOR=header)
    assert client_address(request) == expected


def test_lockout_behind_a_proxy_keys_on_the_forwarded_address(
    world: World, clock, settings
) -> None:
    settings.ITB_TRUSTED_PROXIES = 1
    proxy = "10.0.0.1"

    def through_proxy(client: Client, client_ip: str, password: str):
        return client.post(
            reverse("login"),
            {"username": "nurse", "password": password},
            REMOTE_ADDR=proxy,
            HTTP_X_FORWARDED_FOR=client_ip,
        )

    stranger = Client()
    for _ in range(5):
        through_proxy(stranger, STRANGER_ADDRESS, "wrong")
    assert LOCKED in through_proxy(stranger, STRANGER_ADDRESS, PASSWORD).content.decode()
    assert through_proxy(Client(), CLINIC_ADDRESS, PASSWORD).status_code == 302
    assert set(LoginEvent.objects.values_list("address", flat=True)) == {
        STRANGER_ADDRESS,
        CLINIC_ADDRESS,
    }
