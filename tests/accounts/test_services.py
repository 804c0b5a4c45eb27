"""Issuing and revoking tokens: validation, what is stored, and the audit trail."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError

from accounts.models import ApiToken, ApiTokenScope
from accounts.services import api_token_revoke
from accounts.tokens import hash_token
from audit.models import AuditAction, AuditEntry

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


def token_entries():
    return AuditEntry.objects.filter(record_type="accounts.ApiToken").order_by("id")


def test_issue_stores_only_the_hash_and_defaults_to_90_days(world, issue, time_machine):
    time_machine.move_to(NOW, tick=False)
    token, clear = issue(name=" Epic interface ", scope="write")
    token.refresh_from_db()
    assert clear.startswith(f"itb_{token.prefix}_")
    assert token.token_hash == hash_token(clear)
    assert token.token_hash != clear
    assert clear not in {getattr(token, f.attname) for f in ApiToken._meta.concrete_fields}
    assert token.user == world.integrator
    assert token.created_by == world.admin
    assert token.name == "Epic interface"
    assert token.scope == ApiTokenScope.WRITE
    assert token.created_at == NOW
    assert token.expires_at == NOW + timedelta(days=90)
    assert token.last_used_at is None
    assert token.revoked_at is None
    assert token.is_active(NOW) is True


def test_issue_is_audited_without_the_token_or_its_hash(world, issue, time_machine):
    time_machine.move_to(NOW, tick=False)
    token, clear = issue(name="Pharmacy", expires_in_days=30)
    (entry,) = token_entries()
    assert entry.action == AuditAction.CREATE
    assert entry.actor == world.admin
    assert entry.record_id == str(token.pk)
    assert entry.record_repr == f"API token {token.prefix} (Pharmacy)"
    assert entry.reason == "API token issued to integrator"
    assert entry.changes == {
        "created_at": [None, NOW.isoformat()],
        "created_by": [None, world.admin.pk],
        "expires_at": [None, (NOW + timedelta(days=30)).isoformat()],
        "name": [None, "Pharmacy"],
        "prefix": [None, token.prefix],
        "scope": [None, "read"],
        "user": [None, world.integrator.pk],
    }
    secret_part = clear.split("_", 2)[2]
    for every in AuditEntry.objects.all():
        text = json.dumps(every.changes) + every.reason + every.record_repr
        assert clear not in text
        assert secret_part not in text
        assert token.token_hash not in text


def test_issue_without_expiry_never_expires(issue):
    token, _ = issue(expires_in_days=None)
    assert token.expires_at is None
    assert token.is_active(datetime(2100, 1, 1, tzinfo=UTC)) is True


def test_issue_refuses_an_inactive_user(world, issue):
    world.integrator.is_active = False
    world.integrator.save()
    with pytest.raises(ValidationError) as exc:
        issue()
    assert exc.value.message_dict == {
        "user": ["This user is inactive; API tokens can only be issued to active users."]
    }
    assert not ApiToken.objects.exists()
    assert not token_entries().exists()


@pytest.mark.parametrize("scope", ["admin", "READ", "", None])
def test_issue_refuses_a_scope_other_than_read_or_write(issue, scope):
    with pytest.raises(ValidationError) as exc:
        issue(scope=scope)
    assert exc.value.message_dict == {"scope": ["Choose a scope: read or write."]}
    assert not ApiToken.objects.exists()


@pytest.mark.parametrize("days", [0, -1, True, 1.5, "30", 3661])
def test_issue_refuses_a_non_positive_or_odd_lifetime(issue, days):
    with pytest.raises(ValidationError) as exc:
        issue(expires_in_days=days)
    assert list(exc.value.message_dict) == ["expires_in_days"]
    assert "whole number of days from 1 to 3660" in exc.value.message_dict["expires_in_days"][0]
    assert not ApiToken.objects.exists()
    assert not token_entries().exists()


def test_issue_reports_every_bad_field_at_once(world, issue):
    world.integrator.is_active = False
    world.integrator.save()
    with pytest.raises(ValidationError) as exc:
        issue(scope="all", expires_in_days=0)
    assert sorted(exc.value.message_dict) == ["expires_in_days", "scope", "user"]


def test_issue_refuses_a_name_longer_than_the_field(issue):
    with pytest.raises(ValidationError) as exc:
        issue(name="x" * 101)
    assert list(exc.value.message_dict) == ["name"]
    assert not ApiToken.objects.exists()


def test_revoke_sets_who_and_when_and_is_audited(world, issue, time_machine):
    time_machine.move_to(NOW, tick=False)
    token, clear = issue()
    time_machine.move_to(NOW + timedelta(days=1), tick=False)
    revoked = api_token_revoke(actor=world.clinician, token=token, reason=" leaked in a log ")
    token.refresh_from_db()
    assert token.revoked_at == NOW + timedelta(days=1)
    assert token.revoked_by == world.clinician
    assert revoked.revoked_at == token.revoked_at
    assert token.is_active(NOW + timedelta(days=1)) is False
    entry = token_entries().last()
    assert entry.action == AuditAction.UPDATE
    assert entry.actor == world.clinician
    assert entry.reason == "leaked in a log"
    assert entry.changes == {
        "revoked_at": [None, (NOW + timedelta(days=1)).isoformat()],
        "revoked_by": [None, world.clinician.pk],
    }


def test_revoke_twice_is_refused_and_not_audited_again(world, issue):
    token, _ = issue()
    api_token_revoke(actor=world.admin, token=token)
    assert token_entries().last().reason == "API token revoked"
    with pytest.raises(ValidationError) as exc:
        api_token_revoke(actor=world.admin, token=token)
    assert exc.value.message_dict == {"token": ["This API token is already revoked."]}
    assert token_entries().count() == 2


def test_is_active_until_the_expiry_instant(issue, time_machine):
    time_machine.move_to(NOW, tick=False)
    token, _ = issue(expires_in_days=1)
    assert token.is_active(NOW + timedelta(days=1) - timedelta(microseconds=1)) is True
    assert token.is_active(NOW + timedelta(days=1)) is False


def test_mark_used_is_a_compare_and_set(issue, time_machine):
    time_machine.move_to(NOW, tick=False)
    token, _ = issue()
    stale = ApiToken.objects.get(pk=token.pk)  # read by a request before another one wrote
    assert token.mark_used(NOW) is True
    assert ApiToken.objects.get(pk=token.pk).last_used_at == NOW
    # The stale copy thinks it was never used, but the row says "just now": nothing written.
    assert stale.mark_used(NOW + timedelta(seconds=30)) is False
    assert ApiToken.objects.get(pk=token.pk).last_used_at == NOW
    # An older time never replaces a newer one.
    assert stale.mark_used(NOW - timedelta(minutes=5)) is False
    assert ApiToken.objects.get(pk=token.pk).last_used_at == NOW
    assert stale.mark_used(NOW + timedelta(seconds=61)) is True
    assert ApiToken.objects.get(pk=token.pk).last_used_at == NOW + timedelta(seconds=61)
