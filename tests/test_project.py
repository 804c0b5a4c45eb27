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
def test_admin_pages_open_for_the_demo_admin(client: Client):
    call_command("seed_demo", stdout=StringIO())
    assert client.login(username="admin", password=DEMO_PASSWORD)
    for url in (
        "/admin/",
        "/admin/pumps/patient/",
        "/admin/pumps/pump/",
        "/admin/pumps/pumpmodel/",
        "/admin/pumps/catheter/",
        "/admin/pumps/pumpprogram/",
        "/admin/pumps/reservoirfill/",
        "/admin/pumps/careteammember/",
        "/admin/pumps/clinic/",
        "/admin/dosing/drugproduct/",
        "/admin/dosing/dilution/",
        "/admin/audit/auditentry/",
        "/admin/accounts/user/",
    ):
        response = client.get(url)
        assert response.status_code == 200, url
    listing = client.get("/admin/pumps/patient/").content.decode()
    assert "Riverside ITB Clinic" in listing
    pump_models = client.get("/admin/pumps/pumpmodel/").content.decode()
    assert "SynchroMed II 20 mL" in pump_models and "⚠" in pump_models


@pytest.mark.django_db
def test_openapi_schema_generates_without_warnings(tmp_path):
    """Every operation resolves its serializers and authentication (fails on any warning)."""
    target = tmp_path / "schema.yml"
    call_command("spectacular", validate=True, fail_on_warn=True, file=str(target))
    text = target.read_text()
    assert "apiToken" in text and "bearer" in text
    assert "/api/v1/dosing/projection/" in text
