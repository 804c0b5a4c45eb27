"""The high-withdrawal-risk flag (domain.md §2.1): SCI at T6 or above, communication
difficulty, or a history of withdrawal."""

import pytest

from pumps.models import SCI_LEVELS, Patient
from pumps.models.patients import is_high_withdrawal_risk
from tests.factories import PatientFactory


@pytest.mark.parametrize(
    ("sci_level", "expected"),
    [
        ("C1", True),
        ("C8", True),
        ("T1", True),
        ("T6", True),
        ("T7", False),
        ("L1", False),
        ("S5", False),
        ("", False),
    ],
)
def test_sci_at_t6_or_above_is_high_risk(db, sci_level, expected):
    patient = PatientFactory(sci_level=sci_level)
    patient.refresh_from_db()
    assert patient.high_withdrawal_risk is expected


@pytest.mark.parametrize(
    ("communication", "withdrawal", "expected"),
    [(False, False, False), (True, False, True), (False, True, True), (True, True, True)],
)
def test_communication_difficulty_or_withdrawal_history_is_high_risk(
    db, communication, withdrawal, expected
):
    patient = PatientFactory(
        sci_level="L3", communication_difficulty=communication, history_of_withdrawal=withdrawal
    )
    patient.refresh_from_db()
    assert patient.high_withdrawal_risk is expected


def test_database_flag_matches_the_rule_for_every_combination(db):
    """The generated column and the Python rule agree on every SCI level × factor."""
    for i, level in enumerate(["", *SCI_LEVELS]):
        for communication in (False, True):
            for withdrawal in (False, True):
                PatientFactory(
                    mrn=f"R{i}-{int(communication)}{int(withdrawal)}",
                    sci_level=level,
                    communication_difficulty=communication,
                    history_of_withdrawal=withdrawal,
                )
    rows = Patient.objects.values_list(
        "sci_level", "communication_difficulty", "history_of_withdrawal", "high_withdrawal_risk"
    )
    assert len(rows) == (len(SCI_LEVELS) + 1) * 4
    for level, communication, withdrawal, flag in rows:
        assert flag == is_high_withdrawal_risk(
            sci_level=level,
            communication_difficulty=communication,
            history_of_withdrawal=withdrawal,
        ), (level, communication, withdrawal)


def test_flag_follows_an_update(db):
    patient = PatientFactory(sci_level="L2")
    patient.refresh_from_db()
    assert patient.high_withdrawal_risk is False
    Patient.objects.filter(pk=patient.pk).update(sci_level="T3")
    patient.refresh_from_db()
    assert patient.high_withdrawal_risk is True
