"""``itb.db.prepared_cursor`` on PostgreSQL: its statements are prepared once per connection
and reused, nothing else is prepared, errors are Django's, the query log shows the statement
with its values, and a rolled-back transaction leaves the statements usable."""

from typing import Any

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.transaction import TransactionManagementError
from django.test.utils import CaptureQueriesContext

from itb.db import prepared_cursor
from pumps.models import Clinic

pytestmark = pytest.mark.django_db

# Each test runs its own statement (a tag in a comment): new to the connection, whichever tests
# ran on it before.
STATEMENT = "SELECT %s::bigint + 1 AS next, %s::text AS label /* {tag} */"


def prepared() -> list[tuple[str, int, int]]:
    """(statement, generic plans, custom plans) of what this connection has prepared."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements")
        return list(cursor.fetchall())


def run(tag: str, value: int, label: str = "x") -> list[tuple[Any, ...]]:
    with prepared_cursor() as cursor:
        cursor.execute(STATEMENT.format(tag=tag), [value, label])
        return list(cursor.fetchall())


def tagged(tag: str) -> list[tuple[str, int, int]]:
    return [row for row in prepared() if f"/* {tag} */" in row[0]]


def test_a_statement_is_prepared_once_and_reused(postgres: None) -> None:
    assert run("reused", 41, "a") == [(42, "a")]
    assert len(tagged("reused")) == 1
    for value in range(20):
        assert run("reused", value, f"v{value}") == [(value + 1, f"v{value}")]
    (statement, generic, custom), *others = tagged("reused")
    assert not others, "one statement, whatever the values"
    assert "$1" in statement and "$2" in statement, "values travel as parameters"
    assert generic + custom == 21
    assert generic >= 15, "PostgreSQL keeps the generic plan: no planning per run"


def test_the_orm_prepares_nothing(postgres: None) -> None:
    before = prepared()
    for _ in range(10):
        list(Clinic.objects.filter(name="nobody"))
        with connection.cursor() as cursor:
            cursor.execute("SELECT %s::int /* orm */", [1])
    after = prepared()
    assert {row[0] for row in after} == {row[0] for row in before}
    assert not [row for row in after if "/* orm */" in row[0] or "pumps_clinic" in row[0]]


def test_a_rolled_back_transaction_leaves_the_statement_usable(postgres: None) -> None:
    clinic = Clinic.objects.create(name="Prepared")
    with pytest.raises(IntegrityError), transaction.atomic():
        assert run("rollback", 1) == [(2, "x")]  # prepared inside the transaction
        Clinic.objects.create(name=clinic.name)  # a unique name, taken: the transaction fails
    assert run("rollback", 5) == [(6, "x")]
    assert len(tagged("rollback")) == 1
    # A first run inside a transaction that has already failed: refused by Django's guard, as
    # any cursor's, nothing kept, and the statement is prepared when next run.
    with pytest.raises(IntegrityError), transaction.atomic():
        try:
            Clinic.objects.create(name=clinic.name)
        finally:
            with pytest.raises(TransactionManagementError):
                run("aborted", 1)
    assert tagged("aborted") == []
    assert run("aborted", 7) == [(8, "x")]
    assert len(tagged("aborted")) == 1


def test_errors_are_djangos(postgres: None) -> None:
    with pytest.raises(IntegrityError), transaction.atomic(), prepared_cursor() as cursor:
        cursor.execute("INSERT INTO pumps_clinic (name) VALUES (%s)", [None])


def test_the_query_log_shows_the_statement_with_its_values(postgres: None) -> None:
    with CaptureQueriesContext(connection) as captured:
        run("logged", 99, "it's")
    (query,) = captured.captured_queries
    assert query["sql"] == "SELECT 99::bigint + 1 AS next, 'it''s'::text AS label /* logged */"
