"""``manage.py issue_api_token``."""

from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from accounts.models import ApiToken
from audit.models import AuditEntry
from tests.accounts.conftest import bearer

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


def run(*args):
    out, err = StringIO(), StringIO()
    call_command("issue_api_token", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.mark.urls("tests.accounts.urls")
def test_command_prints_a_working_token_once(world, api, time_machine):
    time_machine.move_to(NOW, tick=False)
    out, err = run("integrator", "--scope", "write", "--name", "Epic interface")
    lines = out.splitlines()
    tokens = [line for line in lines if line.startswith("itb_")]
    assert len(tokens) == 1
    clear = tokens[0]
    assert lines[0] == clear
    token = ApiToken.objects.get()
    assert lines[1:] == [
        f"prefix: {token.prefix}",
        "user: integrator",
        "scope: write",
        f"expires: {(NOW + timedelta(days=90)).isoformat()}",
    ]
    assert out.count(clear) == 1
    assert "shown once" in err
    assert token.name == "Epic interface"
    assert token.created_by is None
    entry = AuditEntry.objects.get(record_type="accounts.ApiToken")
    assert entry.actor is None
    assert clear not in str(entry.changes)

    response = api.post("/api/whoami/", **bearer(clear))
    assert response.status_code == 201
    assert response.json()["username"] == "integrator"


def test_command_expires_in(world, time_machine):
    time_machine.move_to(NOW, tick=False)
    out, _ = run("integrator", "--scope", "read", "--expires-in", "7")
    assert ApiToken.objects.get().expires_at == NOW + timedelta(days=7)
    assert f"expires: {(NOW + timedelta(days=7)).isoformat()}" in out.splitlines()


def test_command_no_expiry(world):
    out, _ = run("integrator", "--scope", "read", "--no-expiry")
    assert ApiToken.objects.get().expires_at is None
    assert "expires: never" in out.splitlines()


def test_command_refuses_unknown_user(world):
    with pytest.raises(CommandError, match='^No user named "nobody".$'):
        run("nobody", "--scope", "read")
    assert not ApiToken.objects.exists()


def test_command_refuses_inactive_user(world):
    world.integrator.is_active = False
    world.integrator.save()
    with pytest.raises(CommandError, match='User "integrator" is inactive'):
        run("integrator", "--scope", "read")
    assert not ApiToken.objects.exists()


@pytest.mark.parametrize("days", ["0", "-3"])
def test_command_refuses_a_non_positive_lifetime(world, days):
    with pytest.raises(CommandError, match="^--expires-in: Give the token's lifetime"):
        run("integrator", "--scope", "read", "--expires-in", days)
    assert not ApiToken.objects.exists()


def test_command_refuses_expires_in_with_no_expiry(world):
    with pytest.raises(CommandError, match="not allowed with argument"):
        run("integrator", "--scope", "read", "--expires-in", "5", "--no-expiry")
    assert not ApiToken.objects.exists()


@pytest.mark.parametrize("args", [(), ("--scope", "admin")])
def test_command_needs_a_valid_scope(world, args):
    with pytest.raises(CommandError, match="--scope"):
        run("integrator", *args)
    assert not ApiToken.objects.exists()
