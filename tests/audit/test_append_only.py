"""The audit trail and the access log are append-only: the model refuses edits and deletes,
PostgreSQL refuses UPDATE and DELETE by any route (ORM or hand-written SQL) with a trigger, and
the admin shows both tables without any way to change them. Every refused attempt leaves the
rows exactly as they were."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.db import DatabaseError, connection, transaction
from django.test import Client
from django.urls import reverse

from audit.history import HistoryRecord, ImmutableRecordError
from audit.models import AccessChannel, AccessLogEntry, AuditEntry


@dataclass(frozen=True)
class Table:
    model: type[HistoryRecord]
    field: str  # a text column to try to rewrite

    @property
    def name(self) -> str:
        return self.model._meta.db_table


TABLES = {
    "audit trail": Table(AuditEntry, "reason"),
    "access log": Table(AccessLogEntry, "what"),
}


def rows(table: Table) -> list[dict[str, Any]]:
    manager: Any = table.model._default_manager
    return list(manager.order_by("pk").values())


@pytest.fixture
def filled(world: Any) -> None:
    """Audit entries (the world's care-team additions) and access-log rows (a caregiver's page
    and a nurse's patient page)."""
    for user, url in (
        (world.caregiver_a, reverse("web:caregiver")),
        (world.nurse, reverse("pumps:patient", args=[world.patient_a2.pk])),
    ):
        client = Client()
        client.force_login(user)
        assert client.get(url).status_code == 200
    assert AuditEntry.objects.count() >= 2
    assert AccessLogEntry.objects.count() == 2


def attempts(table: Table) -> dict[str, Callable[[], Any]]:
    manager = table.model._default_manager
    first = manager.order_by("pk").first()
    assert first is not None
    setattr(first, table.field, "rewritten")
    return {
        "ORM update()": lambda: manager.filter(pk=first.pk).update(**{table.field: "rewritten"}),
        "ORM delete()": lambda: manager.filter(pk=first.pk).delete(),
        "ORM bulk_update()": lambda: manager.bulk_update([first], [table.field]),
        "ORM delete() of all": lambda: manager.all().delete(),
        # Table and column names are this module's own constants, not input.
        "SQL UPDATE": lambda: _sql(f"UPDATE {table.name} SET {table.field} = 'x'"),  # noqa: S608
        "SQL DELETE": lambda: _sql(f"DELETE FROM {table.name} WHERE id = %s", first.pk),  # noqa: S608
        "SQL DELETE all": lambda: _sql(f"DELETE FROM {table.name}"),  # noqa: S608
    }


def _sql(statement: str, *params: Any) -> None:
    with connection.cursor() as cursor:
        cursor.execute(statement, list(params))


@pytest.mark.parametrize("table_name", sorted(TABLES))
def test_postgresql_refuses_every_update_and_delete(
    table_name: str, filled: None, postgres: None
) -> None:
    table = TABLES[table_name]
    before = rows(table)
    for how, attempt in attempts(table).items():
        with pytest.raises(DatabaseError, match=f"{table.name} is append-only"):
            with transaction.atomic():
                attempt()
        assert rows(table) == before, f"{table_name}: {how} changed the rows"


@pytest.mark.parametrize("table_name", sorted(TABLES))
def test_the_model_refuses_to_edit_or_delete_a_row(table_name: str, filled: None) -> None:
    table = TABLES[table_name]
    before = rows(table)
    row = table.model._default_manager.order_by("pk").first()
    assert row is not None
    setattr(row, table.field, "rewritten")
    with pytest.raises(ImmutableRecordError, match="append-only and cannot be changed"):
        row.save()
    with pytest.raises(ImmutableRecordError, match="append-only and cannot be deleted"):
        row.delete()
    assert rows(table) == before


def test_both_tables_carry_the_trigger(postgres: None) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
            "WHERE NOT t.tgisinternal AND t.tgenabled = 'O' AND c.relname = ANY(%s)",
            [[table.name for table in TABLES.values()]],
        )
        found = set(cursor.fetchall())
    assert found == {
        ("audit_auditentry", "audit_entry_append_only"),
        ("audit_accesslogentry", "access_log_append_only"),
    }


def test_appending_still_works(filled: None, postgres: None) -> None:
    row = AccessLogEntry.objects.first()
    assert row is not None
    AccessLogEntry.objects.create(
        occurred_at=row.occurred_at,
        actor=row.actor,
        patient=row.patient,
        what="patient page",
        channel=AccessChannel.PAGE,
        method="GET",
        path=row.path,
    )
    assert AccessLogEntry.objects.count() == 3


# --- The admin offers no way to change either ---------------------------------------------------


@pytest.fixture
def admin_client_(world: Any) -> Client:
    client = Client()
    client.force_login(world.admin)
    return client


@pytest.mark.parametrize("table_name", sorted(TABLES))
def test_the_admin_shows_the_rows_but_cannot_add_edit_or_delete(
    table_name: str, filled: None, admin_client_: Client
) -> None:
    table = TABLES[table_name]
    before = rows(table)
    meta = table.model._meta
    base = f"/admin/{meta.app_label}/{meta.model_name}/"
    row = table.model._default_manager.order_by("pk").first()
    assert row is not None

    listing = admin_client_.get(base)
    assert listing.status_code == 200
    assert "delete_selected" not in listing.content.decode()
    assert f'href="{base}add/"' not in listing.content.decode()

    page = admin_client_.get(f"{base}{row.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'name="_save"' not in html and f"{base}{row.pk}/delete/" not in html

    assert admin_client_.post(f"{base}{row.pk}/change/", {table.field: "x"}).status_code == 403
    assert admin_client_.get(f"{base}{row.pk}/delete/").status_code == 403
    assert admin_client_.post(f"{base}{row.pk}/delete/", {"post": "yes"}).status_code == 403
    assert admin_client_.get(f"{base}add/").status_code == 403
    bulk = admin_client_.post(
        base, {"action": "delete_selected", "_selected_action": [row.pk], "post": "yes"}
    )
    assert bulk.status_code in (200, 302)
    assert rows(table) == before
