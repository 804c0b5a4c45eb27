"""Project-wide checks: Django's system checks, migrations in sync, health endpoint, admin."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client

from pumps.demo import DEMO_PASSWORD


def test_system_checks_pass():
    call_command("check", fail_level="WARNING", stdout=StringIO())


@pytest.mark.django_db
def test_migrations_match_the_models():
    call_command("makemigrations", check=True, dry_run=True, stdout=StringIO())


def test_suite_runs_on_postgresql_in_make_test(postgres):
    assert connection.vendor == "postgresql"


def test_health_endpoint_reports_the_database(client: Client, db):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"database": "ok"}


@pytest.mark.django_db
def test_admin_requires_login(client: Client):
    response = client.get("/admin/pumps/patient/")
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


@pytest.mark.django_db
def test_every_admin_list_opens_for_the_demo_admin(client: Client):
    from django.apps import apps
    from django.contrib import admin

    call_command("seed_demo", stdout=StringIO())
    assert client.login(username="admin", password=DEMO_PASSWORD)
    assert client.get("/admin/").status_code == 200
    ours = {"accounts", "audit", "pumps", "dosing", "refills", "alerts", "web"}
    models = [m for m in apps.get_models() if m._meta.app_label in ours]
    unregistered = [m._meta.label for m in models if not admin.site.is_registered(m)]
    assert unregistered == []
    for model in models:
        url = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
        assert client.get(url).status_code == 200, url
    listing = client.get("/admin/pumps/patient/").content.decode()
    assert "Riverside ITB Clinic" in listing
    pump_models = client.get("/admin/pumps/pumpmodel/").content.decode()
    assert "SynchroMed II 20 mL" in pump_models and "⚠" in pump_models
    # The pump page shows its projection from the stored records.
    pump = apps.get_model("pumps", "Pump").objects.first()
    page = client.get(f"/admin/pumps/pump/{pump.pk}/change/").content.decode()
    assert "Low-reservoir alarm" in page and "refill due" in page


@pytest.mark.django_db
def test_openapi_schema_generates_without_warnings(tmp_path):
    """Every operation resolves its serializers and authentication (fails on any warning)."""
    target = tmp_path / "schema.yml"
    call_command("spectacular", validate=True, fail_on_warn=True, file=str(target))
    text = target.read_text()
    assert "apiToken" in text and "bearer" in text
    assert "/api/v1/dosing/projection/" in text


def test_the_icon_is_named_by_pages_and_served_at_favicon_ico(client: Client, db):
    """Pages name the icon; browsers that ask for /favicon.ico (on the admin and the API docs)
    are sent to it rather than to a 404."""
    response = client.get("/favicon.ico")
    assert response.status_code == 301
    assert response["Location"].endswith("img/favicon.svg")
    page = client.get("/accounts/login/").content.decode()
    assert 'rel="icon"' in page and "img/favicon.svg" in page
