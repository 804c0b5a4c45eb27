"""The audit trail: every change to a clinical record names who, when, old and new values and
why, and the trail itself cannot be rewritten."""

from datetime import date

import pytest
from django.core.exceptions import ValidationError
from django.db import DatabaseError, connection, transaction

from audit.models import AuditAction, AuditEntry
from pumps.services import patient_update


def test_patient_update_records_old_and_new_values_and_reason(world):
    patient_update(
        actor=world.nurse,
        patient=world.patient_a1,
        reason="Clinic letter confirms injury level",
        sci_level="T4",
        communication_difficulty=True,
    )
    entry = AuditEntry.objects.filter(action=AuditAction.UPDATE).get()
    assert entry.actor == world.nurse
    assert entry.patient == world.patient_a1
    assert entry.record_type == "pumps.Patient"
    assert entry.changes == {
        "communication_difficulty": [False, True],
        "sci_level": ["", "T4"],
    }
    assert entry.reason == "Clinic letter confirms injury level"
    assert entry.occurred_at is not None


def test_update_without_reason_is_refused_and_changes_nothing(world):
    with pytest.raises(ValidationError, match="Say why"):
        patient_update(actor=world.nurse, patient=world.patient_a1, reason=" ", sci_level="T4")
    world.patient_a1.refresh_from_db()
    assert world.patient_a1.sci_level == ""


def test_invalid_update_writes_neither_change_nor_audit(world):
    before = AuditEntry.objects.count()
    with pytest.raises(ValidationError):
        patient_update(
            actor=world.nurse,
            patient=world.patient_a1,
            reason="typo",
            date_of_birth=date(2999, 1, 1),
        )
    world.patient_a1.refresh_from_db()
    assert world.patient_a1.date_of_birth != date(2999, 1, 1)
    assert AuditEntry.objects.count() == before


def test_care_team_changes_are_audited(world):
    entries = AuditEntry.objects.filter(record_type="pumps.CareTeamMember")
    assert entries.count() == 6
    caregiver = entries.get(patient=world.patient_a1)
    assert caregiver.actor == world.admin
    assert caregiver.changes["role"] == [None, "caregiver"]


def test_audit_entry_cannot_be_edited_through_the_model(world):
    entry = AuditEntry.objects.first()
    entry.reason = "rewritten"
    with pytest.raises(ValueError, match="append-only"):
        entry.save()


def test_database_refuses_update_and_delete_of_audit_rows(world, postgres):
    entry = AuditEntry.objects.first()
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEntry.objects.filter(pk=entry.pk).update(reason="rewritten")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEntry.objects.filter(pk=entry.pk).delete()
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("DELETE FROM audit_auditentry")
    entry.refresh_from_db()
    assert entry.reason != "rewritten"


def test_history_rows_refuse_deletion_through_the_model(world):
    from audit.history import ImmutableRecordError

    entry = AuditEntry.objects.first()
    with pytest.raises(ImmutableRecordError, match="cannot be deleted"):
        entry.delete()
    assert AuditEntry.objects.filter(pk=entry.pk).exists()
