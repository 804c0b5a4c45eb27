"""What each alert kind means: its severity, its first recipients, whether it escalates, and
the words used for it. The conditions themselves live in ``alerts.sweep``."""

from dataclasses import dataclass

from alerts.models import AlertKind, Severity

# Recipient groups (bits of Alert.recipient_groups).
CAREGIVERS = 1  # the patient's caregivers
NURSES = 2  # the clinic's nurses ("staff"); its clinicians when it has no nurse
ON_CALL = 4  # the clinic's clinician(s) on call; every clinician when nobody is
LEAD = 8  # the clinic lead(s); the clinicians when the clinic has no lead
ALL_GROUPS = CAREGIVERS | NURSES | ON_CALL | LEAD

GROUP_NAMES = {
    CAREGIVERS: "caregivers",
    NURSES: "nurses",
    ON_CALL: "clinician on call",
    LEAD: "clinic lead",
}


def group_names(mask: int) -> list[str]:
    return [name for bit, name in GROUP_NAMES.items() if mask & bit]


def masks_with(bit: int) -> list[int]:
    """Every group mask that includes ``bit`` (for SQL ``IN`` tests of a bit)."""
    return [mask for mask in range(ALL_GROUPS + 1) if mask & bit]


@dataclass(frozen=True, slots=True)
class KindSpec:
    kind: AlertKind
    severity: Severity
    groups: int
    escalates: bool
    # Staff wording: one line of fact.
    staff_summary: str
    # Caregiver wording: what is happening, in plain words (None: caregivers never get it).
    caregiver_summary: str | None = None
    # What a caregiver should do now.
    caregiver_action: str | None = None

    @property
    def repeats(self) -> bool:
        """Critical alerts repeat to everyone until acknowledged."""
        return self.severity == Severity.CRITICAL


KINDS: dict[str, KindSpec] = {
    spec.kind: spec
    for spec in (
        KindSpec(
            AlertKind.REFILL_NOT_BOOKED,
            Severity.WARNING,
            NURSES,
            escalates=True,
            staff_summary="No refill is booked, and the refill is due soon (or overdue).",
        ),
        KindSpec(
            AlertKind.REFILL_OVERDUE,
            Severity.HIGH,
            NURSES | ON_CALL,
            escalates=True,
            staff_summary="The refill-due time has passed and no refill is booked.",
        ),
        KindSpec(
            AlertKind.REFILL_BOOKED_LATE,
            Severity.WARNING,
            NURSES,
            escalates=True,
            staff_summary="The booked refill is after the refill-due time.",
        ),
        KindSpec(
            AlertKind.REFILL_BOOKED_AFTER_ALARM,
            Severity.HIGH,
            NURSES | ON_CALL,
            escalates=True,
            staff_summary="The booked refill is after the pump's projected low-reservoir alarm.",
        ),
        KindSpec(
            AlertKind.REFILL_REMINDER,
            Severity.INFO,
            CAREGIVERS,
            escalates=False,
            staff_summary="Caregivers were reminded of the booked refill.",
            caregiver_summary="A pump refill is booked soon.",
            caregiver_action="Please come to the clinic at the time below. If you cannot come, "
            "call the clinic today to book another time before the refill-due date.",
        ),
        KindSpec(
            AlertKind.MISSED_REFILL,
            Severity.HIGH,
            NURSES | CAREGIVERS,
            escalates=True,
            staff_summary="A booked refill has passed and no refill was recorded.",
            caregiver_summary="The booked pump refill has passed, and the clinic has no record "
            "of the refill.",
            caregiver_action="Call the clinic today to book the refill. The pump must not run "
            "out of medicine.",
        ),
        KindSpec(
            AlertKind.RESERVOIR_LOW,
            Severity.HIGH,
            CAREGIVERS | NURSES,
            escalates=True,
            staff_summary="The projected reservoir volume has reached the low-reservoir alarm.",
            caregiver_summary="The medicine in the pump is running low. The pump may now beep "
            "(a single tone, about once an hour).",
            caregiver_action="Call the clinic today to make sure the refill is booked before "
            "the date the pump is expected to be empty.",
        ),
        KindSpec(
            AlertKind.RESERVOIR_EMPTY_SOON,
            Severity.CRITICAL,
            CAREGIVERS | NURSES | ON_CALL,
            escalates=True,
            staff_summary="The reservoir is projected empty within the empty-soon window, or "
            "already empty.",
            caregiver_summary="The pump is expected to run out of medicine very soon (or it "
            "already has). When it is empty the pump sounds a two-tone alarm.",
            caregiver_action="Call the clinic now. Stopping this medicine suddenly is "
            "dangerous. If there are signs of withdrawal, or the clinic is closed, call the "
            "after-hours number or go to the emergency department and say the person has an "
            "intrathecal baclofen pump.",
        ),
        KindSpec(
            AlertKind.DEVICE_REPLACEMENT,
            Severity.WARNING,
            NURSES,
            escalates=True,
            staff_summary="The pump's replacement date (ERI + shutdown, or battery end) is "
            "approaching; schedule the replacement at least 3 months ahead.",
        ),
        KindSpec(
            AlertKind.STABILITY_LIMIT,
            Severity.WARNING,
            NURSES,
            escalates=True,
            staff_summary="The drug in the pump reaches its stability limit soon; refill "
            "before it whatever the volume left.",
        ),
        KindSpec(
            AlertKind.REFILL_DISCREPANCY,
            Severity.HIGH,
            ON_CALL,
            escalates=True,
            staff_summary="The last refill's reconciliation was flagged: the volume removed "
            "does not match what the pump should have delivered.",
        ),
        KindSpec(
            AlertKind.PROJECTION_FAILED,
            Severity.HIGH,
            NURSES | ON_CALL,
            escalates=True,
            staff_summary="The app cannot project this pump's reservoir, so no refill-due or "
            "empty date is known. Check the fill and the program.",
        ),
    )
}

assert set(KINDS) == set(AlertKind.values), "every alert kind needs its spec"
