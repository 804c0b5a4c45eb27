"""The pump list's hand-written page query (api.pump_page) gives exactly the rows the ORM's
queryset gives for the same orderings, positions and slices, for every user; through the API,
next and previous links walk the same pages both ways."""

from datetime import date
from typing import Any

import pytest
from django.db.models import Value
from django.db.models.functions import Coalesce

from api.pump_page import PumpPageQuery
from api.views import NEVER
from pumps.models import Pump
from pumps.selectors import pumps_visible_to, pumps_visible_to_for_list

pytestmark = pytest.mark.usefixtures("postgres")

PUMPS = "/api/v1/pumps/"
ORDERINGS = [
    ("id",),
    ("-id",),
    ("implanted_on", "id"),
    ("-implanted_on", "id"),
    ("refill_due_at_sort", "id"),
    ("-refill_due_at_sort", "id"),
    ("projected_alarm_at_sort", "id"),
    ("-projected_alarm_at_sort", "id"),
    ("implanted_on", "-refill_due_at_sort", "id"),
]


def orm_page(user: Any) -> Any:
    """The ORM's form of the same query, as PumpViewSet.get_queryset builds it (every key)."""
    return (
        pumps_visible_to_for_list(user)
        .values("id", "patient_id", "implanted_on")
        .annotate(
            refill_due_at_sort=Coalesce("refill_due_at", Value(NEVER)),
            projected_alarm_at_sort=Coalesce("projected_alarm_at", Value(NEVER)),
        )
    )


def comparable(rows: Any, terms: tuple[str, ...]) -> list[tuple[Any, ...]]:
    keys = ["id", "patient_id", *dict.fromkeys(term.lstrip("-") for term in terms)]
    return [tuple(row[key] for key in keys) for row in rows]


@pytest.fixture
def fleet(world, api_pump, make_pumps) -> list[int]:
    """Pumps with ties on the implant date and some with no projection (no refill-due or
    alarm time), in two clinics."""
    make_pumps(8)
    make_pumps(3, filled=False)
    ids = list(Pump.objects.order_by("pk").values_list("pk", flat=True))
    Pump.objects.filter(pk__in=ids[:4]).update(implanted_on=date(2023, 5, 1))
    return ids


@pytest.mark.parametrize("terms", ORDERINGS, ids=",".join)
def test_the_page_query_gives_the_orms_rows(world, fleet, terms):
    user = world.clinician
    ours = PumpPageQuery(user=user, never=NEVER).order_by(*terms)
    theirs = orm_page(user).order_by(*terms)
    everything = comparable(theirs, terms)
    assert len(everything) == len(fleet)
    assert comparable(ours, terms) == everything
    name = terms[0].lstrip("-")
    for middle in (everything[3], everything[-3]):
        position = str(list(theirs)[everything.index(middle)][name])
        for comparison in ("gt", "lt"):
            condition = {f"{name}__{comparison}": position}
            for window in (slice(0, 4), slice(1, 5), slice(2, None)):
                got = comparable(ours.filter(**condition)[window], terms)
                want = comparable(theirs.filter(**condition)[window], terms)
                assert got == want, (condition, window)


def test_the_page_query_shows_each_user_exactly_the_pumps_they_may_see(world, fleet):
    for user in world.users():
        visible = sorted(pumps_visible_to(user).values_list("pk", flat=True))
        rows = list(PumpPageQuery(user=user, never=NEVER).order_by("id"))
        assert [row["id"] for row in rows] == visible, str(user)
        assert all(row["access_patient_id"] == row["patient_id"] for row in rows)


def test_the_page_query_refuses_what_it_cannot_do(world):
    query = PumpPageQuery(user=world.clinician, never=NEVER)
    with pytest.raises(ValueError, match="cannot be ordered"):
        query.order_by("serial_number")
    with pytest.raises(ValueError, match="cannot filter"):
        query.filter(status__gt="active")
    with pytest.raises(ValueError, match="refill_due_at_sort__gt"):
        query.filter(refill_due_at_sort__gt="not a time")


def walk(client: Any, url: str, link: str) -> list[list[int]]:
    pages = []
    while url:
        response = client.get(url)
        assert response.status_code == 200, response.content
        body = response.json()
        pages.append([row["id"] for row in body["results"]])
        url = body[link]
    return pages


@pytest.mark.parametrize(
    "ordering", ["id", "-id", "implanted_on", "-refill_due_at", "projected_alarm_at"]
)
def test_previous_links_walk_back_through_the_same_pages(api_as, fleet, ordering):
    client = api_as("read_token")
    forward = walk(client, f"{PUMPS}?page_size=3&ordering={ordering}", "next")
    assert sorted(pk for page in forward for pk in page) == sorted(fleet)
    # From the last page back to the first, by the previous links.
    last = client.get(f"{PUMPS}?page_size=3&ordering={ordering}")
    while last.json()["next"]:
        last = client.get(last.json()["next"])
    backward = walk(client, last.json()["previous"], "previous")
    assert list(reversed(backward)) == forward[:-1]
