"""The clients of bench/soak.py: staff reading pages in a signed-in browser session, integrations
reading the REST API, and integrations writing through it (program changes, refill bookings,
completions and cancellations, alert acknowledgements). Every write the server acknowledged is
kept with the ids it answered, to be looked up in the database at the end.
"""

from __future__ import annotations

import random
import re
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from bench.soak_http import Client, Response, Write, is_conflict


class Driver(threading.Thread):
    """A client thread that repeats ``step()`` with a think time until told to stop."""

    think: tuple[float, float] = (0.2, 0.6)

    def __init__(self, name: str, client: Client, stop: threading.Event, seed: int) -> None:
        super().__init__(name=name, daemon=True)
        self.client = client
        self.stop_event = stop
        self.random = random.Random(seed)  # noqa: S311 - load shape, not security
        self.failure: str = ""

    def run(self) -> None:
        try:
            self.begin()
            while not self.stop_event.is_set():
                self.step()
                self.stop_event.wait(self.random.uniform(*self.think))
        except Exception as exc:  # a driver bug must show in the report, not vanish
            self.failure = f"{type(exc).__name__}: {exc}"
            self.client.recorder.note(f"{self.name} stopped: {self.failure}")
        finally:
            self.client.close()

    def begin(self) -> None:
        """Before the first step (signing in)."""

    def step(self) -> None:
        raise NotImplementedError


# --- staff in the browser ----------------------------------------------------------------------

CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken"\s+value="([^"]+)"')


class WebReader(Driver):
    """A nurse or clinician signed in with a browser session, reading the refill board, patient
    pages and the alert list."""

    think = (0.3, 1.0)

    def __init__(
        self,
        name: str,
        client: Client,
        stop: threading.Event,
        seed: int,
        *,
        username: str,
        password: str,
        patient_ids: list[int],
    ) -> None:
        super().__init__(name, client, stop, seed)
        self.username = username
        self.password = password
        self.patient_ids = patient_ids
        self.sign_ins = 0

    def begin(self) -> None:
        self.sign_in()

    def sign_in(self) -> None:
        """GET the sign-in page for the CSRF token, POST the credentials: a 302 away from the
        sign-in page is success. Retried while the server is unreachable."""
        while not self.stop_event.is_set():
            self.client.cookies.clear()
            page = self.client.request("web sign-in", "GET", "/accounts/login/")
            match = CSRF_INPUT.search(page.text) if page.status == 200 else None
            if match is not None:
                answer = self.client.request(
                    "web sign-in",
                    "POST",
                    "/accounts/login/",
                    form={
                        "csrfmiddlewaretoken": match.group(1),
                        "username": self.username,
                        "password": self.password,
                        "next": "/",
                    },
                    headers={"Referer": f"http://{self.client.host}:{self.client.port}/"},
                    redirect_ok=True,
                )
                location = answer.headers.get("location", "")
                if answer.status == 302 and "/accounts/login" not in location:
                    self.sign_ins += 1
                    return
                if answer.status and answer.status < 500:
                    raise RuntimeError(
                        f"{self.username} could not sign in (HTTP {answer.status}, "
                        f"redirect to {location or '-'}); the soak's clinics must not require "
                        "two-factor authentication"
                    )
            self.stop_event.wait(1.0)

    def step(self) -> None:
        roll = self.random.random()
        if roll < 0.45:
            kind, path = "web board", "/"
        elif roll < 0.9:
            kind, path = "web patient", f"/patients/{self.random.choice(self.patient_ids)}/"
        else:
            kind, path = "web alerts", "/alerts/"
        response = self.client.request(kind, "GET", path)
        if response.status == 302 and "/accounts/login" in response.headers.get("location", ""):
            self.client.recorder.note(f"{self.name}: signed out by the server; signing in again")
            self.sign_in()


# --- integrations reading the API --------------------------------------------------------------


class ApiReader(Driver):
    """An integration polling the API: the most urgent pumps, one pump, open alerts, booked
    visits."""

    think = (0.15, 0.5)

    def __init__(
        self, name: str, client: Client, stop: threading.Event, seed: int, *, pump_ids: list[int]
    ) -> None:
        super().__init__(name, client, stop, seed)
        self.pump_ids = pump_ids

    def step(self) -> None:
        roll = self.random.random()
        if roll < 0.3:
            self.client.request(
                "api pumps list", "GET", "/api/v1/pumps/?ordering=refill_due_at&page_size=50"
            )
        elif roll < 0.7:
            pump = self.random.choice(self.pump_ids)
            self.client.request("api pump", "GET", f"/api/v1/pumps/{pump}/")
        elif roll < 0.85:
            self.client.request("api alerts list", "GET", "/api/v1/alerts/?status=open")
        else:
            self.client.request(
                "api visits list", "GET", "/api/v1/refill-visits/?status=booked&page_size=50"
            )


# --- integrations writing through the API ------------------------------------------------------


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _parse(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


@dataclass(frozen=True)
class Dosing:
    """The two doses (mcg/day) a soak pump's program alternates between (a titration step up
    and back)."""

    low: Decimal = Decimal("300")
    high: Decimal = Decimal("360")


class ApiWriter(Driver):
    """An EHR integration with a write token, working on its own pumps (and now and then on
    someone else's, so concurrent changes meet): book a refill when none is booked, complete or
    cancel the booked one, change the program, acknowledge an alert. Every POST carries an
    Idempotency-Key and is sent again with the same key when the connection fails."""

    think = (0.3, 0.9)

    def __init__(
        self,
        name: str,
        client: Client,
        stop: threading.Event,
        seed: int,
        *,
        own_pumps: list[int],
        all_pumps: list[int],
        small_refill_share: float,
        dosing: Dosing,
    ) -> None:
        super().__init__(name, client, stop, seed)
        self.own_pumps = own_pumps
        self.all_pumps = all_pumps
        self.small_refill_share = small_refill_share
        self.dosing = dosing

    def step(self) -> None:
        pool = self.all_pumps if self.random.random() < 0.15 else self.own_pumps
        pump_id = self.random.choice(pool)
        answer = self.client.request("api pump", "GET", f"/api/v1/pumps/{pump_id}/")
        if answer.status != 200:
            return
        pump = answer.json()
        roll = self.random.random()
        if roll < 0.08:
            self.acknowledge_alert()
        elif pump["next_visit_at"] is None:
            if roll < 0.7:
                self.book(pump)
            else:
                self.change_program(pump)
        elif roll < 0.5:
            self.complete(pump)
        elif roll < 0.6:
            self.cancel(pump)
        else:
            self.change_program(pump)

    # --- the writes ---------------------------------------------------------------------------

    def post(
        self, kind: str, path: str, body: dict[str, Any], headers: dict[str, str] | None = None
    ) -> Response:
        """POST with an Idempotency-Key; on a connection failure, the same request again (the
        key makes a retry of a write that did go through a replay, not a second write)."""
        sent = {"Idempotency-Key": str(uuid.uuid4()), **(headers or {})}
        response = self.client.request(kind, "POST", path, json_body=body, headers=sent)
        for attempt in range(4):
            if response.status != 0 or self.stop_event.is_set():
                break
            time.sleep(1.0 + attempt)
            response = self.client.request(kind, "POST", path, json_body=body, headers=sent)
        return response

    def acknowledged(self, kind: str, response: Response, **ids: Any) -> None:
        replayed = response.headers.get("idempotent-replayed") == "true"
        self.client.recorder.acknowledged(
            Write(kind, self.client.recorder.now(), ids, replayed=replayed)
        )

    def book(self, pump: dict[str, Any]) -> None:
        now = datetime.now(UTC)
        projection = pump["projection"]
        empty_at = _parse(projection["empty_at"])
        due_at = _parse(projection["refill_due_at"])
        scheduled = now + timedelta(hours=self.random.uniform(2, 60))
        if empty_at is not None:
            scheduled = min(scheduled, empty_at - timedelta(hours=2))
        if scheduled < now + timedelta(minutes=30):
            return  # about to run dry: nothing can be booked, a refill must be recorded
        scheduled = scheduled.replace(second=0, microsecond=0)
        body: dict[str, Any] = {"pump": pump["id"], "scheduled_at": _iso(scheduled)}
        if due_at is not None and scheduled > due_at:
            body["late_reason"] = "First slot the patient's transport can make."
        response = self.post("api book refill", "/api/v1/refill-visits/", body)
        if response.status == 201:
            visit = response.json()
            self.acknowledged(
                "book refill", response, visit=visit["id"], pump=pump["id"], status="booked"
            )
        elif response.status == 400:
            self.note_refusal("book", response)

    def booked_visit(self, pump: dict[str, Any]) -> tuple[dict[str, Any], str] | None:
        listing = self.client.request(
            "api visits list", "GET", f"/api/v1/refill-visits/?pump={pump['id']}&status=booked"
        )
        if listing.status != 200:
            return None
        rows = listing.json().get("results", [])
        if not rows:
            return None
        detail = self.client.request("api visit", "GET", f"/api/v1/refill-visits/{rows[0]['id']}/")
        if detail.status != 200:
            return None
        return detail.json(), detail.headers.get("etag", "")

    def complete(self, pump: dict[str, Any]) -> None:
        found = self.booked_visit(pump)
        program = pump["current_program"]
        if found is None or program is None:
            return
        visit, etag = found
        now = datetime.now(UTC)
        capacity = float(pump["reservoir_capacity_ml"])
        rate_ml_per_day = float(program["daily_dose_mcg"]) / float(
            program["concentration_mcg_per_ml"]
        )
        empty_at = _parse(pump["projection"]["empty_at"])
        days_left = (empty_at - now).total_seconds() / 86400 if empty_at else 0.0
        removed = max(0.0, min(capacity, rate_ml_per_day * days_left))
        if self.random.random() < 0.05:  # a volume that does not match: a discrepancy alert
            removed = min(capacity, removed + 2.5)
        small = self.random.random() < self.small_refill_share
        # A part fill leaves a few days of drug: the refill is due (and alerts raised) at once.
        added = round(self.random.uniform(3.0, 6.0), 2) if small else capacity
        body = {
            "volume_removed_ml": f"{removed:.2f}",
            "volume_added_ml": f"{added:.2f}",
            "concentration_mcg_per_ml": program["concentration_mcg_per_ml"],
            "lot_number": f"SOAK-{self.random.randrange(10**6):06d}",
            "expiry_date": (now + timedelta(days=300)).date().isoformat(),
            "septum_confirmed": True,
        }
        response = self.post(
            "api complete refill",
            f"/api/v1/refill-visits/{visit['id']}/complete/",
            body,
            {"If-Match": etag},
        )
        if response.status == 200:
            done = response.json()
            self.acknowledged(
                "complete refill",
                response,
                visit=visit["id"],
                pump=pump["id"],
                fill=done["fill"],
                volume_added_ml=f"{added:.2f}",
            )
        elif response.status == 400:
            self.note_refusal("complete", response)

    def cancel(self, pump: dict[str, Any]) -> None:
        found = self.booked_visit(pump)
        if found is None:
            return
        visit, etag = found
        response = self.post(
            "api cancel refill",
            f"/api/v1/refill-visits/{visit['id']}/cancel/",
            {"reason": "Patient admitted to hospital; the ward refills the pump."},
            {"If-Match": etag},
        )
        if response.status == 200:
            self.acknowledged("cancel refill", response, visit=visit["id"], pump=pump["id"])
        elif response.status == 400:
            self.note_refusal("cancel", response)

    def change_program(self, pump: dict[str, Any]) -> None:
        program = pump["current_program"]
        if program is None or program["mode"] != "simple":
            return
        dose = Decimal(program["daily_dose_mcg"])
        new_dose = self.dosing.high if dose < self.dosing.high else self.dosing.low
        body = {
            "pump": pump["id"],
            "expected_current_program": program["id"],
            "mode": "simple",
            "concentration_mcg_per_ml": program["concentration_mcg_per_ml"],
            "daily_dose_mcg": str(new_dose),
            "context": "titration",
            "reason": "Titration: spasticity scores at the review.",
            "override_reason": "Reviewed with the attending; within the patient's plan.",
            "pump_running_confirmed": True,
        }
        response = self.post("api change program", "/api/v1/programs/", body)
        if response.status == 201:
            created = response.json()
            self.acknowledged(
                "change program",
                response,
                program=created["id"],
                pump=pump["id"],
                daily_dose_mcg=str(new_dose),
            )
        elif response.status == 400:
            self.note_refusal("program change", response)

    def acknowledge_alert(self) -> None:
        listing = self.client.request(
            "api alerts list", "GET", "/api/v1/alerts/?status=open&acknowledged=false"
        )
        rows = listing.json().get("results", []) if listing.status == 200 else []
        if not rows:
            return
        alert = self.random.choice(rows)
        response = self.post(
            "api acknowledge alert",
            f"/api/v1/alerts/{alert['id']}/acknowledge/",
            {"note": "Nurse calling the family."},
        )
        if response.status == 200:
            self.acknowledged("acknowledge alert", response, alert=alert["id"])
        elif response.status == 400:
            self.note_refusal("acknowledge", response)

    def note_refusal(self, what: str, response: Response) -> None:
        if not is_conflict(response):
            self.client.recorder.note(f"{self.name}: {what} refused: {response.text[:200]}")
