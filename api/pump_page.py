"""The pump list's page query, written by hand for PostgreSQL.

A list page's ids come from the page query: the pumps the caller may see, in the order asked,
after the cursor's position, one more than the page size. Through the ORM, building and
compiling that query cost more than PostgreSQL takes to run it. ``PumpPageQuery`` takes the
few queryset operations ``CursorPagination`` makes (``order_by``, ``filter`` on the cursor's
position, a slice) and runs them as one prepared statement (``itb.db``) with the access rule
of ``pumps.selectors.visible_patient_ids_sql``. ``PumpViewSet`` uses it for a list that asks no
filter, on PostgreSQL; a filtered list, and other databases, take the ORM's queryset, and
``tests/api/test_pump_page.py`` checks that both give the same pages for every ordering.
"""

# The SQL is put together from the model's table and column names and the fixed sort keys
# below only; every value is a query parameter.
# ruff: noqa: S608

import functools
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models

from api.base import ACCESS_PATIENT_ID
from itb.db import prepared_cursor
from pumps.models import Pump
from pumps.selectors import visible_patient_ids_sql


@dataclass(frozen=True)
class SortKey:
    """A key the pump list can be ordered by: its SQL, the model field its values are (to
    read a cursor's position), and the SQL type of that position."""

    sql: str
    field: models.Field  # type: ignore[type-arg]
    sql_type: str


@functools.cache
def _sort_keys(never: datetime) -> dict[str, SortKey]:
    """The pump list's orderings (``PumpViewSet.ordering_fields``) under the names its
    queryset gives them: the empty times through their stand-in ``never``, as
    ``NullsLastOrdering`` orders them."""

    def field(name: str) -> models.Field:  # type: ignore[type-arg]
        found = Pump._meta.get_field(name)
        assert isinstance(found, models.Field)
        return found

    stand_in = f"TIMESTAMPTZ '{never.isoformat()}'"
    return {
        "id": SortKey("p.id", field("id"), "bigint"),
        "implanted_on": SortKey("p.implanted_on", field("implanted_on"), "date"),
        "refill_due_at_sort": SortKey(
            f"coalesce(p.refill_due_at, {stand_in})", field("refill_due_at"), "timestamptz"
        ),
        "projected_alarm_at_sort": SortKey(
            f"coalesce(p.projected_alarm_at, {stand_in})",
            field("projected_alarm_at"),
            "timestamptz",
        ),
    }


@dataclass(frozen=True)
class PumpPageQuery:
    """The pumps ``user`` may see, as ``CursorPagination`` queries them: ``order_by(*terms)``
    with the sort keys' names, ``filter(<key>__gt=position)`` or ``__lt``, and a slice. Rows
    are dicts of the id, the patient id (also as ``access_patient_id``, for the access log)
    and every sort key ordered by (the cursor reads the first one's value)."""

    user: Any
    never: datetime
    terms: tuple[str, ...] = ()
    position: tuple[str, str, Any] | None = None  # (key, "gt" or "lt", value)
    offset: int = 0
    limit: int | None = None

    @property
    def keys(self) -> dict[str, SortKey]:
        return _sort_keys(self.never)

    def position_field(self, name: str) -> models.Field:  # type: ignore[type-arg]
        """The model field whose values the sort key ``name`` holds (for the cursor's
        position)."""
        return self.keys[name].field

    def order_by(self, *terms: str) -> "PumpPageQuery":
        for term in terms:
            if term.lstrip("-") not in self.keys:
                raise ValueError(f"The pump list cannot be ordered by {term!r}")
        return replace(self, terms=tuple(terms))

    def filter(self, **conditions: Any) -> "PumpPageQuery":
        if len(conditions) != 1 or self.position is not None:
            raise ValueError("The pump page query takes one position condition")
        ((lookup, value),) = conditions.items()
        name, _, comparison = lookup.rpartition("__")
        if name not in self.keys or comparison not in ("gt", "lt"):
            raise ValueError(f"The pump page query cannot filter on {lookup!r}")
        try:
            parsed = self.keys[name].field.to_python(value)
        except ValidationError as exc:
            raise ValueError(f"{lookup}: {exc.messages[0]}") from None
        if parsed is None:
            raise ValueError(f"{lookup}: a position is needed")
        return replace(self, position=(name, comparison, parsed))

    def __getitem__(self, window: slice) -> "PumpPageQuery":
        if not isinstance(window, slice) or window.step is not None:
            raise TypeError("The pump page query takes a slice")
        start = window.start or 0
        limit = None if window.stop is None else window.stop - start
        return replace(self, offset=self.offset + start, limit=limit)

    def statement(self) -> tuple[str, list[Any]]:
        """The statement and its parameters. One statement text per ordering and whether a
        position is given: a few dozen at most, each prepared once per connection."""
        keys = self.keys
        access, params = visible_patient_ids_sql(self.user)
        asked = dict.fromkeys(term.lstrip("-") for term in self.terms)
        columns = ["p.id AS id", "p.patient_id AS patient_id"]
        columns += [f"{keys[name].sql} AS {name}" for name in asked if name != "id"]
        sql = (
            f"SELECT {', '.join(columns)} FROM {Pump._meta.db_table} p "
            f"WHERE p.patient_id IN ({access})"
        )
        if self.position is not None:
            name, comparison, value = self.position
            key = keys[name]
            operator = ">" if comparison == "gt" else "<"
            sql += f" AND {key.sql} {operator} %s::{key.sql_type}"
            params.append(value)
        if self.terms:
            order = [
                f"{keys[term.lstrip('-')].sql} {'DESC' if term.startswith('-') else 'ASC'}"
                for term in self.terms
            ]
            sql += f" ORDER BY {', '.join(order)}"
        sql += " LIMIT %s::bigint OFFSET %s::bigint"
        params += [self.limit, self.offset]
        return sql, params

    def __iter__(self) -> Iterator[dict[str, Any]]:
        sql, params = self.statement()
        with prepared_cursor() as cursor:
            cursor.execute(sql, params)
            names = [column.name for column in cursor.description]
            rows = [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]
        for row in rows:
            row[ACCESS_PATIENT_ID] = row["patient_id"]
        return iter(rows)
