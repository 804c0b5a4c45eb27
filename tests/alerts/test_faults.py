"""The alert pipeline against real services and real faults: PostgreSQL, Redis, a real Celery
worker process and a real SMTP server (tests/alerts/realstack.py). No mocks.

The worker is a subprocess, so the clock is not pinned: each test builds its pump relative to
the real now (a fill 31 days ago is past its refill-due time and its low-reservoir alarm and
will be empty within the 72-hour window; a fill 1 day ago is due in 22 days, outside the 14-day
lead). Data is committed (transactional tests) so the worker sees it, in the very database
pytest-django created.
"""

import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from django.db import connection, transaction
from django.utils import timezone

from alerts.models import Alert, AlertKind, AlertStatus, Audience, Delivery, DeliveryStatus
from alerts.sweep import run_sweep
from alerts.tasks import dispatch
from itb.celery import app as celery_app
from pumps.models import CatheterModel, Patient, Pump, PumpModel
from pumps.services import pump_implant, pump_program_create
from tests.alerts import realstack as rs
from tests.conftest import World, program_and_fill

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

PATIENT_NAMES = ("Alma", "Atwood")
# A fill 31 days ago (TC-01, 0.6 mL/day from 20 mL): refill due 8 days ago, alarm 1 day ago,
# empty in 56 hours. Raises: refill not booked (nurse), refill overdue (nurse, clinician on
# call), reservoir low (caregiver, nurse) and reservoir empty soon (caregiver, nurse, clinician
# on call).
EXPECTED_31_DAYS = {
    (AlertKind.REFILL_NOT_BOOKED, "nurse"),
    (AlertKind.REFILL_OVERDUE, "nurse"),
    (AlertKind.REFILL_OVERDUE, "clinician"),
    (AlertKind.RESERVOIR_LOW, "caregiver_a"),
    (AlertKind.RESERVOIR_LOW, "nurse"),
    (AlertKind.RESERVOIR_EMPTY_SOON, "caregiver_a"),
    (AlertKind.RESERVOIR_EMPTY_SOON, "nurse"),
    (AlertKind.RESERVOIR_EMPTY_SOON, "clinician"),
}


# --- fixtures -----------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def reference_rows(transactional_db: None) -> None:
    """The flush of an earlier transactional test emptied the migration-seeded catalogs."""
    rs.reseed_reference_rows()


@pytest.fixture
def smtp() -> Iterator[rs.SmtpServer]:
    yield from rs.smtp_server()


@pytest.fixture
def broker() -> Iterator[Any]:
    yield from rs.redis_broker()


def worker_database_url() -> str:
    """The URL of the database pytest-django created (``test_`` + the configured name)."""
    s = connection.settings_dict
    auth = quote(s["USER"] or "", safe="")
    if s["PASSWORD"]:
        auth += ":" + quote(s["PASSWORD"], safe="")
    host = f"{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}"
    return f"postgres://{auth}@{host}/{quote(s['NAME'], safe='')}"


@dataclass
class Stack:
    """This test's real services: the SMTP server, the broker and the workers."""

    smtp: rs.SmtpServer
    workers: rs.Workers
    broker_url: str

    @property
    def mail(self) -> rs.SmtpHandler:
        return self.smtp.handler

    def send(self, name: str, *args: Any) -> str:
        """Put a task on the broker (this process's producer) and return its id."""
        with celery_app.connection_for_write(self.broker_url) as conn:
            result = celery_app.send_task(name, args=list(args), connection=conn)
        return str(result.id)

    def task_done(self, task_id: str) -> bool:
        logs = self.workers.logs()
        if f"[{task_id}] raised" in logs:
            raise AssertionError(f"task {task_id} failed:\n{logs}")
        return f"[{task_id}] succeeded" in logs

    def call(self, name: str, *args: Any, timeout: float = 20) -> None:
        """Send a task and wait until a worker has run it."""
        task_id = self.send(name, *args)
        rs.wait_for(
            lambda: self.task_done(task_id),
            timeout=timeout,
            what=f"{name}[{task_id}] to run on a worker",
            diagnose=self.diagnose,
        )

    def dispatch_until(
        self, done: Any, *, timeout: float = 20, every: float = 0.5, observe: Any = None
    ) -> None:
        """Beat is not running: send ``alerts.dispatch`` every ``every`` seconds until
        ``done()``; ``observe()`` (if given) is called at each poll."""
        deadline = time.monotonic() + timeout
        next_dispatch = 0.0
        while True:
            if observe is not None:
                observe()
            if done():
                return
            now = time.monotonic()
            if now >= deadline:
                raise AssertionError(f"timed out after {timeout:.0f} s\n{self.diagnose()}")
            if now >= next_dispatch:
                self.send("alerts.dispatch")
                next_dispatch = now + every
            time.sleep(0.1)

    def diagnose(self) -> str:
        rows = "\n".join(
            f"  delivery {d.pk} {d.alert.kind} -> {d.user.username}: {d.status}, "
            f"attempts {d.attempts}, error {d.last_error!r}"
            for d in Delivery.objects.select_related("alert", "user").order_by("pk")
        )
        return f"deliveries:\n{rows}\n{self.mail.summary()}\n{self.workers.logs()}"


def make_stack(smtp: rs.SmtpServer, broker_url: str, directory: Path) -> Iterator[Stack]:
    workers = rs.Workers(
        database_url=worker_database_url(),
        broker_url=broker_url,
        email_url=smtp.url,
        directory=directory,
    )
    stack = Stack(smtp=smtp, workers=workers, broker_url=broker_url)
    try:
        yield stack
    finally:
        # Before pytest-django flushes the database: no worker may hold a connection or a lock.
        workers.close()
        print(stack.mail.summary())
        print(workers.logs())


@pytest.fixture
def stack(
    postgres: None,
    broker: Any,
    smtp: rs.SmtpServer,
    tmp_path: Path,
) -> Iterator[Stack]:
    assert str(celery_app.conf.broker_url).startswith("redis://"), celery_app.conf.broker_url
    yield from make_stack(smtp, rs.redis_url_from_env(), tmp_path)


# --- data -----------------------------------------------------------------------------------


def fill_days_ago(world: World, pump: Pump, days: float, *, dose: str = "300") -> Pump:
    filled_at = timezone.now() - timedelta(days=days)
    return program_and_fill(
        world,
        pump,
        filled_at=filled_at,
        program_from=filled_at - timedelta(hours=1),
        daily_dose_mcg=dose,
    )


def implant(world: World, patient: Patient | None = None, serial: str = "NGP100001") -> Pump:
    """A SynchroMed II 20 mL implanted 400 days ago (far from its replacement date whatever
    today is), in patient A1 unless told."""
    return pump_implant(
        actor=world.clinician,
        patient=patient or world.patient_a1,
        pump_model=PumpModel.objects.get(model_number="8637-20"),
        serial_number=serial,
        implanted_on=timezone.now().date() - timedelta(days=400),
        catheter_model=CatheterModel.objects.get(model_number="8709SC"),
        catheter_length_cm=Decimal("60"),
        catheter_volume_per_cm_ml=Decimal("0.0020"),
    )


def deliveries() -> list[Delivery]:
    return list(Delivery.objects.select_related("alert", "user").order_by("pk"))


def delivery_pairs() -> set[tuple[str, str]]:
    return {(d.alert.kind, d.user.username) for d in deliveries()}


def all_sent() -> bool:
    rows = deliveries()
    return bool(rows) and all(d.status == DeliveryStatus.SENT for d in rows)


def one_open_alert_per_condition() -> None:
    keys = Counter(Alert.objects.values_list("pump_id", "kind", "cycle_key"))
    assert keys and max(keys.values()) == 1, keys


def assert_each_delivery_emailed_once(stack: Stack) -> list[rs.Received]:
    """Every delivery is ``sent`` and the SMTP server accepted exactly one message for it, to
    its address; nothing else was accepted. Two more dispatches run first: the solo worker
    takes tasks in order, so any duplicate send task queued earlier has run by then."""
    stack.call("alerts.dispatch")
    stack.call("alerts.dispatch")
    rows = {d.pk: d for d in deliveries()}
    accepted = stack.mail.accepted_snapshot()
    per_delivery = Counter(message.delivery_id for message in accepted)
    assert per_delivery == Counter(rows.keys()), (per_delivery, sorted(rows))
    for message in accepted:
        row = rows[message.delivery_id]
        assert row.status == DeliveryStatus.SENT, row
        assert row.sent_at is not None
        assert message.rcpt_tos == (row.to_email,)
    return accepted


# --- 1. end to end ------------------------------------------------------------------------------


def test_due_pump_emails_each_recipient_once_through_a_real_worker(
    world: World, stack: Stack
) -> None:
    pump = fill_days_ago(world, implant(world), 31)
    assert pump.refill_due_at is not None and pump.refill_due_at < timezone.now()
    assert pump.projected_empty_at is not None
    assert pump.projected_empty_at < timezone.now() + timedelta(hours=72)

    worker = stack.workers.start()
    stack.call("alerts.sweep")
    stack.dispatch_until(all_sent)

    assert delivery_pairs() == EXPECTED_31_DAYS
    one_open_alert_per_condition()
    accepted = assert_each_delivery_emailed_once(stack)
    rows = {d.pk: d for d in deliveries()}
    for message in accepted:
        row = rows[message.delivery_id]
        for name in PATIENT_NAMES:
            assert name not in message.subject, message.subject
        assert "Clinic A" in message.subject
        if row.audience == Audience.STAFF:
            assert "Patient: Atwood, Alma (MRN A1)" in message.text, message.text
            assert "/alerts/" in message.text  # the link to the alert
        else:
            assert row.user.username == "caregiver_a"
            assert "Alma Atwood's baclofen pump" in message.text, message.text
            assert "(WITHDRAWAL)" in message.text
            assert "More spasticity or stiffness than usual, itching" in message.text
            assert "MRN" not in message.text
    assert all(d.attempts == 1 and d.last_error == "" for d in rows.values())
    assert worker.alive()


# --- 2. dedupe ----------------------------------------------------------------------------------


def test_concurrent_and_repeated_sweeps_raise_and_email_once(world: World, stack: Stack) -> None:
    fill_days_ago(world, implant(world), 31)
    barrier = threading.Barrier(2)
    results: list[Any] = []
    errors: list[BaseException] = []
    spans: list[tuple[float, float]] = []

    def sweep_in_thread() -> None:
        try:
            barrier.wait(timeout=10)
            started = time.monotonic()
            results.append(run_sweep())
            spans.append((started, time.monotonic()))
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()  # this thread's own connection

    threads = [threading.Thread(target=sweep_in_thread) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors, errors
    assert len(results) == 2
    # The two sweeps really ran at the same time (the second waits on the first's inserts).
    assert max(start for start, _ in spans) < min(end for _, end in spans), spans
    # Three conditions, three alerts between the two (in practice one sweep raises all three
    # and the other, blocked on the first's inserts, none).
    assert sum(result.raised for result in results) == 4, results
    assert sum(result.deliveries_queued for result in results) == len(EXPECTED_31_DAYS)

    # Again, in-process and through the worker (which also sweeps once when it starts).
    assert run_sweep().raised == 0
    stack.workers.start()
    stack.call("alerts.sweep")
    stack.call("alerts.sweep")
    stack.dispatch_until(all_sent)
    stack.call("alerts.dispatch")  # nothing left: sends nothing more

    assert Alert.objects.count() == 4
    one_open_alert_per_condition()
    assert delivery_pairs() == EXPECTED_31_DAYS
    assert Delivery.objects.count() == len(EXPECTED_31_DAYS)
    assert_each_delivery_emailed_once(stack)


# --- 3. SMTP refuses, then recovers -------------------------------------------------------------


def test_smtp_refusals_are_retried_until_each_email_is_delivered_once(
    world: World, stack: Stack
) -> None:
    stack.mail.configure(refuse_each=2)  # 451 to the first two attempts of every message
    fill_days_ago(world, implant(world), 31)
    run_sweep()
    errors_seen: dict[int, set[str]] = {}

    def observe() -> None:
        for row in Delivery.objects.filter(status=DeliveryStatus.QUEUED).exclude(last_error=""):
            errors_seen.setdefault(row.pk, set()).add(row.last_error)

    stack.workers.start(ITB_ALERT_RETRY_BASE_SECONDS="1", ITB_ALERT_RETRY_MAX_SECONDS="2")
    stack.dispatch_until(all_sent, timeout=25, every=0.3, observe=observe)

    assert_each_delivery_emailed_once(stack)
    rows = deliveries()
    assert len(rows) == len(EXPECTED_31_DAYS)
    outcomes: dict[str, list[str]] = {}
    for attempt in stack.mail.attempts_snapshot():
        outcomes.setdefault(attempt.message_id, []).append(attempt.outcome)
    for row in rows:
        assert row.attempts == 3, row
        assert row.last_error == ""  # cleared by the successful send
        # In between, the row recorded the server's refusal.
        assert row.pk in errors_seen, (row.pk, errors_seen)
        assert all("451" in error for error in errors_seen[row.pk]), errors_seen[row.pk]
        message_id = f"<alert-delivery-{row.pk}@itb.invalid>"
        assert outcomes[message_id] == ["refused", "refused", "accepted"], outcomes


# --- 4. the worker is SIGKILLed mid-send --------------------------------------------------------


def test_delivery_of_a_worker_killed_mid_send_is_requeued_and_sent(
    world: World, stack: Stack
) -> None:
    stack.mail.configure(hold_first=1, hold_seconds=25)  # the first message hangs at DATA
    fill_days_ago(world, implant(world), 31)
    lease = {"ITB_ALERT_LEASE_SECONDS": "3"}
    first = stack.workers.start(**lease)  # sweeps and dispatches as it starts

    def in_flight() -> Delivery | None:
        if not stack.mail.holding.is_set():
            return None
        return Delivery.objects.filter(status=DeliveryStatus.SENDING).first()

    held = rs.wait_for(
        in_flight, timeout=20, what="a delivery held mid-send", diagnose=stack.diagnose
    )
    first.kill()
    assert not first.alive()

    rs.wait_for(
        lambda: any(a.outcome == "aborted" for a in stack.mail.attempts_snapshot()),
        timeout=5,
        what="the SMTP server to see the client go away",
    )
    assert stack.mail.accepted_snapshot() == []
    held.refresh_from_db()
    assert held.status == DeliveryStatus.SENDING  # nobody finished it: it stays claimed
    assert held.attempts == 1

    stack.workers.start(**lease)
    stack.dispatch_until(all_sent, timeout=25)

    assert delivery_pairs() == EXPECTED_31_DAYS
    assert_each_delivery_emailed_once(stack)
    held.refresh_from_db()
    assert held.attempts == 2
    outcomes = [
        a.outcome
        for a in stack.mail.attempts_snapshot()
        if a.message_id == f"<alert-delivery-{held.pk}@itb.invalid>"
    ]
    assert outcomes == ["aborted", "accepted"]
    assert all(d.attempts == 1 for d in deliveries() if d.pk != held.pk)


def lock_waiters() -> list[int]:
    """The server pids of this database's sessions waiting on a lock."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return [int(row[0]) for row in cursor.fetchall()]


def test_a_worker_killed_after_the_server_accepted_resends_with_the_same_message_id(
    world: World, stack: Stack
) -> None:
    """The at-least-once window, pinned down: the server has answered 250 but the worker dies
    before it records ``sent``. After the lease the delivery is sent again, and the copy
    carries the same Message-ID (so a mail client can drop it)."""
    stack.mail.configure(hold_first=1, hold_seconds=25)
    fill_days_ago(world, implant(world), 10)  # refill not booked: the nurse only
    lease = {"ITB_ALERT_LEASE_SECONDS": "3"}
    first = stack.workers.start(**lease)

    def in_flight() -> Delivery | None:
        if not stack.mail.holding.is_set():
            return None
        return Delivery.objects.filter(status=DeliveryStatus.SENDING).first()

    held = rs.wait_for(
        in_flight, timeout=20, what="a delivery held mid-send", diagnose=stack.diagnose
    )
    locked, unlock = threading.Event(), threading.Event()

    def hold_row_lock() -> None:
        try:
            with transaction.atomic():
                Delivery.objects.select_for_update().get(pk=held.pk)
                locked.set()
                unlock.wait(timeout=30)
        finally:
            connection.close()

    locker = threading.Thread(target=hold_row_lock)
    locker.start()
    try:
        assert locked.wait(timeout=10)
        stack.mail.release.set()  # the server accepts the message ...
        rs.wait_for(lambda: len(stack.mail.accepted_snapshot()) == 1, timeout=10, what="250")
        # ... and the worker's "sent" update waits on the row lock: kill it there. Its update
        # is already on the server, which would still run it once the lock goes; end that
        # session too, so the update is lost with the worker.
        waiting = rs.wait_for(lock_waiters, timeout=10, what="the worker to wait on the lock")
        first.kill()
        with connection.cursor() as cursor:
            for pid in waiting:
                cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
        rs.wait_for(lambda: not lock_waiters(), timeout=10, what="the session to end")
    finally:
        unlock.set()
        locker.join(timeout=10)
    held.refresh_from_db()
    assert held.status == DeliveryStatus.SENDING

    stack.workers.start(**lease)
    stack.dispatch_until(all_sent, timeout=25)

    held.refresh_from_db()
    assert held.attempts == 2
    accepted = stack.mail.accepted_snapshot()
    assert [m.delivery_id for m in accepted] == [held.pk, held.pk]  # a duplicate email ...
    assert accepted[0].message_id == accepted[1].message_id  # ... that says it is one
    assert Delivery.objects.count() == 1


# --- 5. the broker loses its tasks --------------------------------------------------------------


def test_tasks_lost_in_a_redis_flush_are_enqueued_again(
    world: World, stack: Stack, broker: Any
) -> None:
    fill_days_ago(world, implant(world), 31)
    assert run_sweep().raised == 4
    queued = dispatch()  # in this process: one send task per delivery on the broker
    assert queued["enqueued"] == len(EXPECTED_31_DAYS)
    # A second condition, to be found by a sweep task that is lost too.
    fill_days_ago(world, implant(world, world.patient_a2, "NGP100002"), 10)
    stack.send("alerts.sweep")
    assert broker.llen("celery") == len(EXPECTED_31_DAYS) + 1

    broker.flushdb()  # every task is gone before any worker ran one
    assert broker.llen("celery") == 0
    assert Delivery.objects.filter(enqueued_at__isnull=False).count() == len(EXPECTED_31_DAYS)
    time.sleep(1.1)  # the tasks are now older than ITB_ALERT_REQUEUE_AFTER_SECONDS

    stack.workers.start(ITB_ALERT_REQUEUE_AFTER_SECONDS="1")
    stack.call("alerts.sweep")  # beat's next sweep
    stack.dispatch_until(all_sent)

    expected = EXPECTED_31_DAYS | {(AlertKind.REFILL_NOT_BOOKED, "nurse")}
    assert delivery_pairs() == expected
    assert Alert.objects.count() == 5
    assert Alert.objects.filter(patient=world.patient_a2).count() == 1
    one_open_alert_per_condition()
    assert_each_delivery_emailed_once(stack)
    assert run_sweep().raised == 0


@pytest.fixture
def private_redis(postgres: None, tmp_path: Path) -> Iterator[rs.PrivateRedis]:
    server = rs.PrivateRedis(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def private_stack(
    private_redis: rs.PrivateRedis,
    smtp: rs.SmtpServer,
    tmp_path: Path,
) -> Iterator[Stack]:
    yield from make_stack(smtp, private_redis.url, tmp_path)


def test_redis_restarts_lose_tasks_and_the_worker_reconnects(
    world: World, private_redis: rs.PrivateRedis, private_stack: Stack
) -> None:
    stack = private_stack
    fill_days_ago(world, implant(world), 31)
    assert run_sweep().raised == 4
    # What dispatch does, onto the private broker: mark enqueued, one send task each.
    from alerts import outbox

    ids = outbox.due_for_enqueue()
    assert len(ids) == len(EXPECTED_31_DAYS)
    for delivery_id in ids:
        stack.send("alerts.send", delivery_id)

    private_redis.restart()  # no persistence: the tasks are gone
    time.sleep(1.1)
    worker = stack.workers.start(ITB_ALERT_REQUEUE_AFTER_SECONDS="1")
    stack.dispatch_until(all_sent)
    assert_each_delivery_emailed_once(stack)

    # Restart Redis under the running worker; it must reconnect and carry on.
    private_redis.restart()
    fill_days_ago(world, implant(world, world.patient_a2, "NGP100002"), 10)
    stack.call("alerts.sweep", timeout=30)
    stack.dispatch_until(all_sent, timeout=20)

    assert worker.alive()
    assert delivery_pairs() == EXPECTED_31_DAYS | {(AlertKind.REFILL_NOT_BOOKED, "nurse")}
    one_open_alert_per_condition()
    assert_each_delivery_emailed_once(stack)


# --- 6. a rolled-back change sends nothing ------------------------------------------------------


class RolledBack(Exception):
    pass


def test_a_rolled_back_program_change_raises_and_sends_nothing(world: World, stack: Stack) -> None:
    pump = fill_days_ago(world, implant(world), 1)
    lead = timedelta(days=14)
    assert pump.refill_due_at is not None and pump.refill_due_at > timezone.now() + lead
    stack.workers.start()  # sweeps as it starts: nothing is due
    stack.call("alerts.sweep")
    assert not Alert.objects.exists()

    def raise_the_dose() -> None:
        pump_program_create(
            actor=world.clinician,
            pump=pump,
            effective_from=timezone.now() - timedelta(minutes=1),
            concentration_mcg_per_ml=Decimal("500"),
            mode="simple",
            daily_dose_mcg=Decimal("1500"),
            reason="Titration",
        )

    with pytest.raises(RolledBack):
        with transaction.atomic():
            raise_the_dose()
            changed = Pump.objects.get(pk=pump.pk)
            # The stored projection moved in this transaction: the pump would now be due.
            assert changed.refill_due_at is not None
            assert changed.refill_due_at < timezone.now() + lead
            # A sweep on the worker while the change is uncommitted sees none of it.
            stack.call("alerts.sweep")
            raise RolledBack

    assert Pump.objects.get(pk=pump.pk).refill_due_at == pump.refill_due_at
    stack.call("alerts.sweep")
    stack.call("alerts.dispatch")
    stack.call("alerts.dispatch")  # runs after any send the first could have queued
    assert not Alert.objects.exists()
    assert not Delivery.objects.exists()
    assert stack.mail.attempts_snapshot() == []

    # The same change committed is found and sent: the test above could have failed.
    raise_the_dose()
    stack.call("alerts.sweep")
    stack.dispatch_until(all_sent)
    assert Alert.objects.filter(kind=AlertKind.REFILL_NOT_BOOKED, status=AlertStatus.OPEN).exists()
    assert_each_delivery_emailed_once(stack)
