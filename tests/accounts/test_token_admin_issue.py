"""Issuing an API token in the admin: through the service, shown once, never stored in clear."""

import pytest
from django.test import Client

from accounts.models import ApiToken
from accounts.tokens import hash_token

pytestmark = pytest.mark.django_db

ADD = "/admin/accounts/apitoken/add/"


def admin_client(world) -> Client:
    client = Client()
    client.force_login(world.admin)
    return client


def test_the_add_page_is_a_form_for_user_scope_and_lifetime(world):
    response = admin_client(world).get(ADD)
    assert response.status_code == 200
    html = response.content.decode()
    for name in ("user", "name", "scope", "expires_in_days"):
        assert f'name="{name}"' in html


def test_issuing_shows_the_token_once_and_stores_only_its_hash(world):
    client = admin_client(world)
    response = client.post(
        ADD,
        {"user": world.integrator.pk, "name": "Epic", "scope": "write", "expires_in_days": 30},
    )
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    token = ApiToken.objects.get(name="Epic")
    clear = response.context["clear"]
    assert clear.startswith(f"itb_{token.prefix}_") and clear in response.content.decode()
    assert token.token_hash == hash_token(clear) and clear not in token.token_hash
    assert (token.user, token.scope, token.created_by) == (world.integrator, "write", world.admin)
    assert 29 <= (token.expires_at - token.created_at).days <= 30
    # The token works at once, as its user.
    ping = Client().get("/api/v1/ping/", HTTP_AUTHORIZATION=f"Bearer {clear}")
    assert ping.status_code == 200
    # It is not shown again: the token's own admin page has the prefix, not the secret.
    page = client.get(f"/admin/accounts/apitoken/{token.pk}/change/").content.decode()
    assert token.prefix in page and clear not in page


def test_bad_input_is_refused_with_the_field_named(world):
    world.stranger.is_active = False
    world.stranger.save()
    response = admin_client(world).post(
        ADD, {"user": world.integrator.pk, "scope": "admin", "expires_in_days": 0}
    )
    assert response.status_code == 200
    form = response.context["form"]
    assert set(form.errors) == {"scope", "expires_in_days"}
    assert not ApiToken.objects.exists()
    # Inactive users are not offered.
    assert world.stranger not in form.fields["user"].queryset


def test_only_admins_with_the_add_permission_may_issue(world):
    client = Client()
    client.force_login(world.clinician)
    assert client.get(ADD).status_code in (302, 403)
    assert client.post(ADD, {"user": world.clinician.pk, "scope": "write"}).status_code in (
        302,
        403,
    )
    assert not ApiToken.objects.exists()
