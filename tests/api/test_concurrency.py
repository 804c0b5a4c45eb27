"""What happens when requests repeat, race or pile up, on PostgreSQL and Redis: Idempotency-Key
replay (also of two requests sent at the same instant), two writers with the same ETag, cursor
pagination while rows are added, a constant number of queries per list page, and throttling
per API token.

The clock is pinned (``api_clock``); the pump is TC-01 in patient A1 filled on 1 November 2026
12:00 UTC: refill due 24 November 12:00, empty 4 December 20:00 (see tests/api/conftest.py).
"""

import base64
import functools
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from django.conf import settings as django_settings
from django.db import connection, connections, transaction
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from accounts.services import api_token_issue
from alerts.models import Alert
from alerts.services import alert_acknowledge
from alerts.sweep import run_sweep
from api.models import IdempotencyRecord
from audit.models import AuditEntry
from pumps.models import Patient, Pump, PumpProgram
from refills.models import RefillVisit
from refills.services import refill_cancel, refill_schedule
from tests.alerts.realstack import reseed_reference_rows
from tests.api.conftest import API_DUE_AT, API_EMPTY_AT, API_FILLED_AT, bearer

pytestmark = pytest.mark.usefixtures("postgres")

PUMPS = "/api/v1/pumps/"
PROGRAMS = "/api/v1/programs/"
VISITS = "/api/v1/refill-visits/"
ALERTS = "/api/v1/alerts/"
KEY = "3c1f1f1e-6a8e-4c36-9d2b-7a0b7f9b1c01"


@pytest.fixture(autouse=True)
def _catalogs_after_a_flush(request: pytest.FixtureRequest) -> None:
    """A transactional test starts after an earlier one may have flushed the tables, including
    the catalogs the migrations seeded (pump models, drug library, dosing rules)."""
    marker = request.node.get_closest_marker("django_db")
    if marker is not None and marker.kwargs.get("transaction"):
        request.getfixturevalue("transactional_db")
        reseed_reference_rows()


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def book_body(pump: Pump, when: datetime, **extra: Any) -> dict[str, Any]:
    return {"pump": pump.pk, "scheduled_at": iso(when), **extra}


def visit_entries() -> int:
    return AuditEntry.objects.filter(record_type="refills.RefillVisit").count()


# --- 3. Idempotency-Key ---------------------------------------------------------------------------


def test_the_same_key_and_body_replay_the_first_booking(api_as, api_pump):
    client = api_as("write_token")
    body = book_body(api_pump, API_FILLED_AT + timedelta(days=20))

    first = client.post(VISITS, body, format="json", HTTP_IDEMPOTENCY_KEY=KEY)
    assert first.status_code == 201, first.content
    assert "Idempotent-Replayed" not in first
    again = client.post(VISITS, body, format="json", HTTP_IDEMPOTENCY_KEY=KEY)
    assert again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert RefillVisit.objects.count() == 1 and visit_entries() == 1
    record = IdempotencyRecord.objects.get()
    assert (record.key, record.status_code, record.method) == (KEY, 201, "POST")
    assert record.path == VISITS

    # Without the key the same request is a new booking, refused: one per pump.
    plain = client.post(VISITS, body, format="json")
    assert plain.status_code == 400 and "already booked" in " ".join(plain.json()["pump"])


def test_the_same_key_with_another_body_is_422_and_creates_nothing(api_as, api_pump):
    client = api_as("write_token")
    body = book_body(api_pump, API_FILLED_AT + timedelta(days=20))
    first = client.post(VISITS, body, format="json", HTTP_IDEMPOTENCY_KEY=KEY)
    assert first.status_code == 201
    other = {**body, "scheduled_at": iso(API_FILLED_AT + timedelta(days=21))}

    response = client.post(VISITS, other, format="json", HTTP_IDEMPOTENCY_KEY=KEY)
    assert response.status_code == 422
    assert "different request" in response.json()["detail"]
    assert "Idempotent-Replayed" not in response
    (visit,) = RefillVisit.objects.all()
    assert visit.scheduled_at == API_FILLED_AT + timedelta(days=20)
    assert visit_entries() == 1
    # The same key on another endpoint is another request too.
    cancel = client.post(
        f"{VISITS}{visit.pk}/cancel/",
        {"reason": "Ill"},
        format="json",
        HTTP_IDEMPOTENCY_KEY=KEY,
        HTTP_IF_MATCH=first["ETag"],
    )
    assert cancel.status_code == 422
    assert RefillVisit.objects.get().status == "booked"


def test_a_failed_request_keeps_no_record_so_the_corrected_one_succeeds(api_as, api_pump):
    client = api_as("write_token")
    # After the projected empty time (4 December 20:00): refused.
    late = book_body(api_pump, API_EMPTY_AT + timedelta(hours=1), late_reason="Holiday")
    refused = client.post(VISITS, late, format="json", HTTP_IDEMPOTENCY_KEY=KEY)
    assert refused.status_code == 400
    assert "run empty" in " ".join(refused.json()["scheduled_at"])
    assert not IdempotencyRecord.objects.exists()
    assert not RefillVisit.objects.exists()

    corrected = book_body(api_pump, API_DUE_AT - timedelta(days=1))
    accepted = client.post(VISITS, corrected, format="json", HTTP_IDEMPOTENCY_KEY=KEY)
    assert accepted.status_code == 201, accepted.content
    assert "Idempotent-Replayed" not in accepted
    replayed = client.post(VISITS, corrected, format="json", HTTP_IDEMPOTENCY_KEY=KEY)
    assert replayed["Idempotent-Replayed"] == "true" and replayed.json() == accepted.json()
    assert RefillVisit.objects.count() == 1 and visit_entries() == 1


@pytest.mark.parametrize("blank", ["", "   ", "\t"])
def test_an_empty_key_is_refused_and_books_nothing(api_as, api_pump, blank):
    """A key generator that printed nothing (``$(uuidgen)`` where uuidgen is missing) sends the
    header empty: a 400 naming the header, not a booking that would not be safe to repeat."""
    client = api_as("write_token")
    body = book_body(api_pump, API_FILLED_AT + timedelta(days=20))

    refused = client.post(VISITS, body, format="json", headers={"Idempotency-Key": blank})
    assert refused.status_code == 400, refused.content
    (message,) = refused.json()["Idempotency-Key"]
    assert "Idempotency-Key header is empty" in message
    assert not RefillVisit.objects.exists() and visit_entries() == 0
    assert not IdempotencyRecord.objects.exists()

    # Left out, the header asks for nothing: the booking is made.
    booked = client.post(VISITS, body, format="json")
    assert booked.status_code == 201, booked.content
    assert RefillVisit.objects.count() == 1


def test_keys_are_per_user(api_as, api_pump, make_pumps, world):
    (other_pump,) = make_pumps(1)
    token, nurse = api_as("write_token"), api_as("nurse")
    mine = book_body(api_pump, API_FILLED_AT + timedelta(days=20))
    first = token.post(VISITS, mine, format="json", HTTP_IDEMPOTENCY_KEY=KEY)
    assert first.status_code == 201

    # The nurse's identical key is hers: a new booking (another body, yet no 422).
    theirs = book_body(other_pump, API_FILLED_AT + timedelta(days=15))
    response = nurse.post(VISITS, theirs, format="json", HTTP_IDEMPOTENCY_KEY=KEY)
    assert response.status_code == 201 and "Idempotent-Replayed" not in response
    assert response.json()["booked_by"] == "nurse"
    assert RefillVisit.objects.count() == 2
    assert IdempotencyRecord.objects.filter(key=KEY).count() == 2

    # The integrator's key still answers with the integrator's visit, whichever of its tokens
    # sends it again (keys belong to the user).
    _token, raw = api_token_issue(
        actor=world.admin, user=world.integrator, scope="write", name="second"
    )
    replay = bearer(raw).post(VISITS, mine, format="json", HTTP_IDEMPOTENCY_KEY=KEY)
    assert replay["Idempotent-Replayed"] == "true" and replay.json() == first.json()
    assert RefillVisit.objects.count() == 2


def test_a_program_change_sent_twice_with_its_key_is_saved_once(api_as, api_pump):
    client = api_as("write_token")
    body = {
        "pump": api_pump.pk,
        "expected_current_program": api_pump.programs.get().pk,
        "mode": "simple",
        "concentration_mcg_per_ml": "500",
        "daily_dose_mcg": "330",
        "context": "titration",
        "reason": "Spasticity not controlled",
        "pump_running_confirmed": True,
    }
    first = client.post(PROGRAMS, body, format="json", HTTP_IDEMPOTENCY_KEY=KEY)
    assert first.status_code == 201, first.content
    # Sent again (the network dropped the answer): the first answer, not a stale-form error.
    again = client.post(PROGRAMS, body, format="json", HTTP_IDEMPOTENCY_KEY=KEY)
    assert again.status_code == 201 and again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert PumpProgram.objects.filter(pump=api_pump).count() == 2
    assert AuditEntry.objects.filter(record_type="pumps.PumpProgram").count() == 2


# --- races between connections (real transactions) ------------------------------------------------


def wait_for_lock_waiters(count: int, timeout: float = 10.0) -> None:
    """Until ``count`` other connections of this database wait on a lock."""
    deadline = time.monotonic() + timeout
    with connections["default"].cursor() as cursor:
        while True:
            # This connection is inside a transaction: drop its frozen activity snapshot.
            cursor.execute("SELECT pg_stat_clear_snapshot()")
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            (waiting,) = cursor.fetchone()
            if waiting >= count:
                return
            if time.monotonic() > deadline:
                pytest.fail(f"only {waiting} of {count} requests reached the lock")
            time.sleep(0.02)


def in_threads(pump: Pump, *requests: Callable[[], Any]) -> list[Any]:
    """Run ``requests`` in their own threads (own database connections) while this connection
    holds the pump's row lock; release it once every request waits on a lock, so they all
    overlap, then collect the responses in order."""
    responses: list[Any] = [None] * len(requests)
    errors: list[BaseException] = []

    def run(index: int, send: Callable[[], Any]) -> None:
        try:
            responses[index] = send()
        except BaseException as exc:  # noqa: BLE001 - reported by the test thread
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [
        threading.Thread(target=run, args=(i, send), daemon=True) for i, send in enumerate(requests)
    ]
    try:
        with transaction.atomic():
            Pump.objects.select_for_update().get(pk=pump.pk)
            for thread in threads:
                thread.start()
            wait_for_lock_waiters(len(requests))
    finally:
        # Whatever happened, no request may outlive the test (the flush would deadlock).
        for thread in threads:
            thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads)
    assert not errors, errors
    return responses


@pytest.fixture
def one_token(world) -> Iterator[Callable[[], APIClient]]:
    """Clients (one per thread) of one write token of the integrator, already used once."""
    _token, raw = api_token_issue(
        actor=world.admin, user=world.integrator, scope="write", name="race"
    )
    assert bearer(raw).get("/api/v1/ping/").status_code == 200  # records its first use
    yield lambda: bearer(raw)


@pytest.mark.django_db(transaction=True)
def test_two_simultaneous_requests_with_one_key_book_once(api_pump, one_token):
    body = book_body(api_pump, API_FILLED_AT + timedelta(days=20))
    first, second = in_threads(
        api_pump,
        *[
            functools.partial(
                one_token().post, VISITS, body, format="json", HTTP_IDEMPOTENCY_KEY=KEY
            )
            for _ in range(2)
        ],
    )
    assert (first.status_code, second.status_code) == (201, 201), (first.content, second.content)
    assert first.json() == second.json()
    replayed = [r.get("Idempotent-Replayed") for r in (first, second)]
    assert sorted(replayed, key=str) == [None, "true"]  # exactly one is the replay
    assert RefillVisit.objects.count() == 1
    assert visit_entries() == 1
    assert IdempotencyRecord.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_simultaneous_patches_with_one_etag_one_wins(api_pump, api_as, one_token):
    nurse = api_as("nurse")
    url = f"{PUMPS}{api_pump.pk}/"
    tag = nurse.get(url)["ETag"]
    assert one_token().get(url)["ETag"] == tag
    responses = in_threads(
        api_pump,
        lambda: nurse.patch(
            url,
            {"low_reservoir_alarm_ml": "3.00", "reason": "Nurse"},
            format="json",
            HTTP_IF_MATCH=tag,
        ),
        functools.partial(
            one_token().patch,
            url,
            {"low_reservoir_alarm_ml": "4.00", "reason": "Integration"},
            format="json",
            HTTP_IF_MATCH=tag,
        ),
    )
    codes = sorted(r.status_code for r in responses)
    assert codes == [200, 412], [r.content for r in responses]
    winner = next(r for r in responses if r.status_code == 200)
    stored = Pump.objects.get(pk=api_pump.pk)
    assert str(stored.low_reservoir_alarm_ml) == winner.json()["low_reservoir_alarm_ml"]
    entries = AuditEntry.objects.filter(record_type="pumps.Pump", action="update")
    assert entries.count() == 1


# --- 6. cursor pagination -------------------------------------------------------------------------


def walk(client: APIClient, url: str, query: dict[str, Any]) -> Iterator[list[int]]:
    """Every page's ids, following ``next`` links."""
    response = client.get(url, query)
    while True:
        assert response.status_code == 200, response.content
        page = response.json()
        yield [row["id"] for row in page["results"]]
        if page["next"] is None:
            return
        response = client.get(page["next"])


def test_walking_next_links_gives_every_pump_once_in_order(api_as, api_pump, make_pumps):
    make_pumps(24)
    client = api_as("write_token")
    visible = list(Pump.objects.order_by("id").values_list("id", flat=True))
    assert len(visible) == 25
    pages = list(walk(client, PUMPS, {"page_size": 10}))
    assert [len(page) for page in pages] == [10, 10, 5]
    assert [pk for page in pages for pk in page] == visible
    first = client.get(PUMPS, {"page_size": 10}).json()
    assert first["previous"] is None and "cursor=" in first["next"]
    back = client.get(client.get(first["next"]).json()["previous"]).json()
    assert [row["id"] for row in back["results"]] == visible[:10]


@pytest.mark.parametrize("ordering", ["id", "refill_due_at"])
def test_a_pump_added_between_pages_neither_duplicates_nor_skips(
    api_as, api_pump, make_pumps, ordering
):
    make_pumps(24)
    client = api_as("write_token")
    before = list(Pump.objects.order_by(ordering, "id").values_list("id", flat=True))
    pages = walk(client, PUMPS, {"page_size": 10, "ordering": ordering})
    seen = list(next(pages))
    assert seen == before[:10]
    # A new pump: the highest id, and the earliest refill-due time (its fill is the oldest),
    # so by refill_due_at it sorts before the pages already read.
    (added,) = make_pumps(1)
    assert Pump.objects.order_by("refill_due_at").first() == added
    for page in pages:
        seen += page
    originals = [pk for pk in seen if pk != added.pk]
    assert originals == before  # each pump read exactly once, in order
    if ordering == "id":
        assert seen == [*before, added.pk]  # after the cursor: it is on the last page
    else:
        assert added.pk not in seen  # before the cursor: the pages read do not shift


def test_ordering_by_refill_due_at_pages_through_pumps_without_a_projection(
    api_as, api_pump, make_pumps
):
    make_pumps(1)
    make_pumps(5, filled=False)  # implanted, not yet filled: no refill-due time
    client = api_as("write_token")
    pages = list(walk(client, PUMPS, {"page_size": 4, "ordering": "refill_due_at"}))
    seen = [pk for page in pages for pk in page]
    assert sorted(seen) == sorted(Pump.objects.values_list("id", flat=True))  # 7 pumps


@pytest.mark.parametrize(
    "ordering",
    [
        "-id",
        "implanted_on",
        "-implanted_on",
        "-refill_due_at",
        "projected_alarm_at",
        "-projected_alarm_at",
        "implanted_on,-refill_due_at",
    ],
)
def test_every_ordering_pages_through_every_pump_once_in_order(
    api_as, api_pump, make_pumps, ordering
):
    """A list page reads only the ordering keys asked for (PumpViewSet.get_queryset): each
    ordering still walks every pump once, in its order (the empty ones last, id breaking
    ties), and a filter still applies."""
    make_pumps(8)
    make_pumps(3, filled=False)  # no projection: no refill-due or alarm time
    Pump.objects.filter(pk__in=list(Pump.objects.values_list("pk", flat=True)[:4])).update(
        implanted_on=date(2023, 5, 1)  # ties on implanted_on
    )
    client = api_as("write_token")
    pages = list(walk(client, PUMPS, {"page_size": 3, "ordering": ordering}))
    seen = [pk for page in pages for pk in page]
    rows = list(Pump.objects.values("id", "implanted_on", "refill_due_at", "projected_alarm_at"))
    assert len(seen) == len(rows) == 12 and len(set(seen)) == 12

    def key(row: dict[str, Any]) -> list[Any]:
        parts: list[Any] = []
        for term in ordering.split(","):
            name = term.lstrip("-")
            value = row[name]
            empty = value is None
            if name == "id" or name == "implanted_on":
                number = value.toordinal() if name == "implanted_on" else value
            else:
                number = 0 if empty else value.timestamp()
            sign = -1 if term.startswith("-") else 1
            # Empty times sort as the far future: last ascending, first descending.
            parts += [sign * int(empty), sign * number]
        return [*parts, row["id"]] if "id" not in ordering else parts

    assert seen == [row["id"] for row in sorted(rows, key=key)]
    filtered = [
        pk
        for page in walk(client, PUMPS, {"page_size": 3, "ordering": ordering, "status": "active"})
        for pk in page
    ]
    assert filtered == seen  # all active: the filter applied, the order kept
    Pump.objects.filter(pk=seen[0]).update(status="explanted", explanted_on=date(2026, 10, 1))
    explanted = [
        pk
        for page in walk(client, PUMPS, {"page_size": 3, "ordering": ordering, "status": "active"})
        for pk in page
    ]
    assert explanted == seen[1:]


ORDERINGS = ["id", "-id", "implanted_on", "-implanted_on", "refill_due_at", "-refill_due_at"]


def cursor_of(link: str) -> dict[str, list[str]]:
    """The tokens of the cursor in a next or previous link."""
    encoded = parse_qs(urlsplit(link).query)["cursor"][0]
    return parse_qs(base64.b64decode(encoded).decode(), keep_blank_values=True)


def with_cursor(tokens: dict[str, list[str]], ordering: str, filtered: bool) -> str:
    encoded = base64.b64encode(urlencode(tokens, doseq=True).encode()).decode()
    query = {"cursor": encoded, "ordering": ordering, "page_size": 3}
    return f"{PUMPS}?{urlencode({**query, **({'status': 'active'} if filtered else {})})}"


@pytest.mark.parametrize("filtered", [False, True], ids=["page query", "orm"])
def test_a_cursor_belongs_to_the_ordering_it_was_made_with(api_as, api_pump, make_pumps, filtered):
    """A cursor used with another ?ordering= than its own answers 404 (Invalid cursor), as
    one that cannot be decoded: it would give a wrong or empty page (or a 500 when its
    position is not a value of the other ordering's field)."""
    make_pumps(6)
    client = api_as("read_token")
    status = {"status": "active"} if filtered else {}
    cursors = {
        ordering: cursor_of(
            client.get(PUMPS, {"ordering": ordering, "page_size": 3, **status}).json()["next"]
        )
        for ordering in ORDERINGS
    }
    for made_with, tokens in cursors.items():
        for used_with in ORDERINGS:
            response = client.get(with_cursor(tokens, used_with, filtered))
            if used_with == made_with:
                assert response.status_code == 200, (made_with, response.content)
            else:
                assert response.status_code == 404, (made_with, used_with)
                assert response.json() == {"detail": "Invalid cursor"}


@pytest.mark.parametrize("ordering", ["id", "refill_due_at", "-implanted_on"])
@pytest.mark.parametrize("position", ["abc", "2026-13-01", "x1", ""])
@pytest.mark.parametrize("filtered", [False, True], ids=["page query", "orm"])
def test_a_cursor_whose_position_does_not_fit_answers_404(
    api_as, api_pump, make_pumps, ordering, position, filtered
):
    """A cursor of the right ordering whose position is not a value of its field (made up, or
    tampered with): 404, never 500. Without its ordering at all: 404 too."""
    make_pumps(3)
    client = api_as("read_token")
    status = {"status": "active"} if filtered else {}
    link = client.get(PUMPS, {"ordering": ordering, "page_size": 1, **status}).json()["next"]
    tokens = {**cursor_of(link), "p": [position]}
    response = client.get(with_cursor(tokens, ordering, filtered))
    assert response.status_code == 404, response.content
    assert response.json() == {"detail": "Invalid cursor"}
    without_ordering = {key: value for key, value in cursor_of(link).items() if key != "k"}
    assert client.get(with_cursor(without_ordering, ordering, filtered)).status_code == 404


@pytest.mark.parametrize("ordering", ["bogus", "id,", "-serial_number", "refill_due_at,notes"])
def test_an_ordering_the_list_does_not_offer_is_refused(api_as, api_pump, ordering):
    response = api_as("read_token").get(PUMPS, {"ordering": ordering})
    assert response.status_code == 400
    (message,) = response.json()["ordering"]
    assert "Cannot order by" in message
    assert "id, refill_due_at, projected_alarm_at, implanted_on" in message


@pytest.mark.parametrize(
    "path", ["/api/v1/refill-visits/", "/api/v1/alerts/", "/api/v1/programs/", "/api/v1/patients/"]
)
def test_every_list_refuses_a_cursor_that_does_not_fit_its_ordering(api_as, api_pump, path):
    cursor = base64.b64encode(b"p=not-a-value").decode()
    response = api_as("read_token").get(f"{path}?cursor={cursor}")
    assert response.status_code == 404, response.content
    assert response.json() == {"detail": "Invalid cursor"}
    assert api_as("read_token").get(path).status_code == 200


def test_page_size_is_capped_at_200(api_as, api_pump, world):
    # 200 more bare pumps (no catheter, program or fill: only counted here), inserted in bulk.
    patients = Patient.objects.bulk_create(
        Patient(
            clinic=world.clinic_a,
            mrn=f"CAP{n:04d}",
            given_name="Cap",
            family_name=f"Patient{n}",
            date_of_birth=date(1980, 1, 1),
            spasticity_origin="spinal",
        )
        for n in range(200)
    )
    Pump.objects.bulk_create(
        Pump(
            patient=patient,
            pump_model=api_pump.pump_model,
            serial_number=f"CAP{n:04d}",
            implanted_on=date(2024, 1, 1),
            low_reservoir_alarm_ml=Decimal("2"),
        )
        for n, patient in enumerate(patients)
    )
    client = api_as("write_token")
    page = client.get(PUMPS, {"page_size": 1000}).json()
    assert len(page["results"]) == 200 and page["next"] is not None
    assert len(client.get(page["next"]).json()["results"]) == 1
    assert len(client.get(PUMPS).json()["results"]) == 50  # the default


# --- 7. constant queries per list page ------------------------------------------------------------


@pytest.fixture
def busy_clinic(world, api_pump, make_pumps) -> None:
    """51 filled pumps; each has a "refill not booked" alert (some acknowledged) and a booked
    visit (some cancelled and booked again)."""
    pumps = [api_pump, *make_pumps(50)]
    run_sweep(now=API_DUE_AT - timedelta(days=13))
    for alert in Alert.objects.all()[:20]:
        alert_acknowledge(actor=world.nurse, alert=alert, note="Calling")
    for index, pump in enumerate(pumps):
        when = API_FILLED_AT + timedelta(days=10, hours=index)
        visit = refill_schedule(actor=world.nurse, pump=pump, scheduled_at=when)
        if index % 3 == 0:
            refill_cancel(actor=world.nurse, visit=visit, reason="Moved")
            refill_schedule(actor=world.nurse, pump=pump, scheduled_at=when + timedelta(days=1))
    assert Alert.objects.count() >= 50 and RefillVisit.objects.count() > 50


def test_a_list_page_costs_the_same_queries_whatever_its_size(api_as, busy_clinic):
    for caller in ("write_token", "clinician"):
        client = api_as(caller)
        assert client.get("/api/v1/ping/").status_code == 200  # first use of the token
        for url in (PUMPS, VISITS, ALERTS):
            counts = {}
            for size in (5, 50):
                with CaptureQueriesContext(connection) as queries:
                    response = client.get(url, {"page_size": size})
                assert response.status_code == 200
                assert len(response.json()["results"]) == size
                counts[size] = len(queries)
            assert counts[5] == counts[50], (caller, url, counts)
            assert counts[50] <= 8, (caller, url, counts)


# --- 8. throttling per token ----------------------------------------------------------------------


@pytest.fixture
def throttled(settings: Any, api_clock: Any) -> Any:
    """At most 5 requests a minute per token, counted from an empty cache: a key prefix of this
    test's own (a fresh, empty namespace) rather than a flush of the shared Redis database,
    which other test runs may be using."""
    settings.ITB_API_THROTTLE_RATE = "5/min"
    cache = dict(django_settings.CACHES["default"])
    cache["KEY_PREFIX"] = f"throttle-test-{uuid.uuid4().hex}"
    settings.CACHES = {**django_settings.CACHES, "default": cache}
    return api_clock


def test_the_sixth_request_of_a_token_in_a_minute_is_429(api_as, api_pump, throttled):
    first, second, nurse = api_as("write_token"), api_as("read_token"), api_as("nurse")
    for _ in range(5):
        assert first.get(PUMPS).status_code == 200
    refused = first.get(PUMPS)
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) == 60
    assert "throttled" in refused.json()["detail"].lower()
    # Every endpoint counts against the same token.
    assert first.get(f"{PUMPS}{api_pump.pk}/").status_code == 429
    assert first.post(VISITS, book_body(api_pump, API_DUE_AT), format="json").status_code == 429
    assert not RefillVisit.objects.exists()
    # The dosing calculators and the ping count too.
    calculator = first.post("/api/v1/dosing/projection/", {}, format="json")
    assert calculator.status_code == 429
    assert first.get("/api/v1/ping/").status_code == 429
    # Another token (of the same user) and a browser session have their own allowance.
    assert second.get(PUMPS).status_code == 200
    assert nurse.get(PUMPS).status_code == 200
    # A minute later the token may call again.
    throttled.shift(timedelta(seconds=61))
    assert first.get(PUMPS).status_code == 200


def test_the_api_answers_unthrottled_while_redis_is_unreachable(api_as, api_pump, settings):
    """Regression (soak test): with Redis down every API request was a 500, because the
    throttle's counter is kept in the cache. The cache now points at a port where nothing
    listens: the API still answers, unthrottled."""
    with socket.socket() as probe:  # a free port: connections to it are refused
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    cache = dict(django_settings.CACHES["default"])
    assert cache["BACKEND"] == "django.core.cache.backends.redis.RedisCache"
    cache["LOCATION"] = f"redis://127.0.0.1:{closed_port}/0"
    cache["OPTIONS"] = {**cache.get("OPTIONS", {}), "socket_connect_timeout": 0.5}
    settings.CACHES = {**django_settings.CACHES, "default": cache}
    settings.ITB_API_THROTTLE_RATE = "1/min"
    client = api_as("read_token")
    for _ in range(3):  # beyond the rate: nothing can count the requests
        response = client.get(f"{PUMPS}{api_pump.pk}/")
        assert response.status_code == 200
        assert response.json()["id"] == api_pump.pk


@pytest.mark.parametrize("path", [PUMPS, "/api/v1/refill-visits/"])
def test_an_id_filter_takes_whole_numbers_only(api_as, api_pump, path):
    client = api_as("read_token")
    refused = client.get(path, {"clinic": "1.5"})
    assert refused.status_code == 400
    assert "clinic" in refused.json()
    clinic = api_pump.patient.clinic_id
    assert client.get(path, {"clinic": str(clinic)}).status_code == 200
