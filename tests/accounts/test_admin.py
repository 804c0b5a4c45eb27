"""The API token admin: a list, a read-only page, and an audited revoke action."""

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from accounts.models import ApiToken
from audit.models import AuditAction, AuditEntry

CHANGELIST = "/admin/accounts/apitoken/"


@pytest.fixture
def admin_client_(world) -> Client:
    client = Client()
    client.force_login(world.admin)
    return client


def test_list_shows_tokens_without_the_secret(world, issue, admin_client_):
    token, clear = issue(name="Epic interface")
    response = admin_client_.get(CHANGELIST)
    assert response.status_code == 200
    html = response.content.decode()
    assert token.prefix in html
    assert "Epic interface" in html
    assert "Revoke selected tokens" in html
    assert "Delete selected" not in html
    assert clear not in html
    assert f"{CHANGELIST}add/" in html  # issuing (test_token_admin_issue.py)


def test_no_changing_or_deleting(world, issue, admin_client_):
    token, clear = issue()
    assert admin_client_.post(f"{CHANGELIST}{token.pk}/delete/", {"post": "yes"}).status_code == 403
    page = admin_client_.get(f"{CHANGELIST}{token.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert clear not in html
    assert 'name="name"' not in html  # every field is read-only
    assert 'name="_save"' not in html
    response = admin_client_.post(f"{CHANGELIST}{token.pk}/change/", {"name": "changed"})
    assert response.status_code == 403
    token.refresh_from_db()
    assert token.name == ""
    assert ApiToken.objects.filter(pk=token.pk).exists()


def test_revoke_action_revokes_and_audits(world, issue, admin_client_):
    first, _ = issue(name="one")
    second, _ = issue(name="two")
    untouched, _ = issue(name="three")
    response = admin_client_.post(
        CHANGELIST,
        {"action": "revoke_selected", "_selected_action": [first.pk, second.pk]},
        follow=True,
    )
    assert response.status_code == 200
    assert "Revoked 2 API token(s)." in response.content.decode()
    for token in (first, second):
        token.refresh_from_db()
        assert token.revoked_at is not None
        assert token.revoked_by == world.admin
    untouched.refresh_from_db()
    assert untouched.revoked_at is None
    entries = AuditEntry.objects.filter(
        record_type="accounts.ApiToken", action=AuditAction.UPDATE
    ).order_by("record_id")
    assert [(e.record_id, e.actor, e.reason) for e in entries] == sorted(
        [
            (str(first.pk), world.admin, "Revoked in the admin"),
            (str(second.pk), world.admin, "Revoked in the admin"),
        ]
    )
    assert set(entries[0].changes) == {"revoked_at", "revoked_by"}


def test_revoke_action_skips_revoked_tokens(world, issue, admin_client_):
    first, _ = issue()
    second, _ = issue()
    admin_client_.post(CHANGELIST, {"action": "revoke_selected", "_selected_action": [first.pk]})
    first.refresh_from_db()
    revoked_at = first.revoked_at
    response = admin_client_.post(
        CHANGELIST,
        {"action": "revoke_selected", "_selected_action": [first.pk, second.pk]},
        follow=True,
    )
    html = response.content.decode()
    assert "Revoked 1 API token(s)." in html
    assert "1 selected token(s) were already revoked." in html
    first.refresh_from_db()
    assert first.revoked_at == revoked_at
    assert (
        AuditEntry.objects.filter(
            record_type="accounts.ApiToken", action=AuditAction.UPDATE
        ).count()
        == 2
    )


def test_staff_without_permission_cannot_revoke(world, issue):
    token, _ = issue()
    world.clinician.is_staff = True
    world.clinician.save()
    client = Client()
    client.force_login(world.clinician)
    response = client.post(
        CHANGELIST, {"action": "revoke_selected", "_selected_action": [token.pk]}
    )
    assert response.status_code == 403
    token.refresh_from_db()
    assert token.revoked_at is None


def test_view_only_staff_sees_the_list_but_not_the_revoke_action(world, issue):
    token, _ = issue()
    world.clinician.is_staff = True
    world.clinician.save()
    world.clinician.user_permissions.add(Permission.objects.get(codename="view_apitoken"))
    client = Client()
    client.force_login(world.clinician)
    response = client.get(CHANGELIST)
    assert response.status_code == 200
    assert token.prefix in response.content.decode()
    assert "Revoke selected tokens" not in response.content.decode()
    client.post(CHANGELIST, {"action": "revoke_selected", "_selected_action": [token.pk]})
    token.refresh_from_db()
    assert token.revoked_at is None
