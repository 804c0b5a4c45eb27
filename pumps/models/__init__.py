"""Clinics, patients, care teams, the pump and catheter catalogs, implanted devices, pump programs
(the dosing history) and reservoir fills."""

from pumps.models.catalog import CatheterModel, Confidence, PumpKind, PumpModel
from pumps.models.clinics import CareRole, CareTeamMember, Clinic
from pumps.models.devices import Catheter, Pump, PumpStatus, RefillDueReason
from pumps.models.patients import SCI_LEVELS, Patient, SpasticityOrigin
from pumps.models.programs import (
    BolusKind,
    FlexStep,
    ProgramMode,
    PumpBolus,
    PumpProgram,
    ReservoirFill,
)

__all__ = [
    "BolusKind",
    "PumpBolus",
    "SCI_LEVELS",
    "CareRole",
    "CareTeamMember",
    "Catheter",
    "CatheterModel",
    "Clinic",
    "Confidence",
    "FlexStep",
    "Patient",
    "ProgramMode",
    "Pump",
    "PumpKind",
    "PumpModel",
    "PumpProgram",
    "PumpStatus",
    "RefillDueReason",
    "ReservoirFill",
    "SpasticityOrigin",
]
