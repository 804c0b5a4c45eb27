"""The menu each user sees, built from their care-team roles.

Roles come from the user's own care-team memberships (the same table ``pumps.selectors`` reads);
the menu only links to pages, and each page still asks the selectors what the user may see.
Entries whose page does not exist yet (their url name does not reverse) are left out.

The "Alerts" entry carries the number of open alerts nobody has acknowledged yet (one query),
the same alerts the list shows by default.
"""

from dataclasses import dataclass, field
from typing import Any

from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse

from pumps.models import CareRole, CareTeamMember

API_DOCS_URL = "/api/docs/"

# Clinic staff who work in the browser (integrators use the API).
WORKING_STAFF_ROLES = frozenset({CareRole.CLINICIAN.value, CareRole.NURSE.value})

# (label, url name) for clinicians and nurses, in menu order.
STAFF_ENTRIES: tuple[tuple[str, str], ...] = (
    ("Refill board", "home"),
    ("Calendar", "refills:calendar"),
    ("Alerts", "alerts:list"),
    ("Screening", "pumps:screening"),
)
CAREGIVER_ENTRIES: tuple[tuple[str, str], ...] = (("My patients", "web:caregiver"),)

ROLE_ORDER = [CareRole.CLINICIAN, CareRole.NURSE, CareRole.CAREGIVER, CareRole.INTEGRATOR]


@dataclass(frozen=True)
class NavItem:
    label: str
    url: str
    url_name: str
    current: bool = False
    # A number to show with the entry (open, unacknowledged alerts); None when not counted.
    count: int | None = None


@dataclass(frozen=True)
class Navigation:
    items: list[NavItem] = field(default_factory=list)
    account_items: list[NavItem] = field(default_factory=list)
    roles: frozenset[str] = frozenset()
    role_labels: list[str] = field(default_factory=list)
    api_docs_url: str = API_DOCS_URL

    @property
    def is_working_staff(self) -> bool:
        return bool(self.roles & WORKING_STAFF_ROLES)

    @property
    def is_caregiver(self) -> bool:
        return CareRole.CAREGIVER.value in self.roles

    @property
    def is_integrator(self) -> bool:
        return CareRole.INTEGRATOR.value in self.roles

    @property
    def urls(self) -> dict[str, str]:
        """Every entry's url by url name (handy in tests and templates)."""
        return {item.url_name: item.url for item in [*self.items, *self.account_items]}


def care_roles_of(user: Any) -> frozenset[str]:
    """The care roles ``user`` holds anywhere (clinic or patient); empty for anonymous or
    inactive users."""
    if user is None or not user.is_authenticated or not user.is_active:
        return frozenset()
    return frozenset(CareTeamMember.objects.filter(user=user).values_list("role", flat=True))


ALERTS_URL_NAME = "alerts:list"


def unacknowledged_alert_count(user: Any) -> int:
    """Open alerts ``user`` may handle that nobody has acknowledged, except caregiver reminders
    (information for caregivers, nothing for staff to do): one query."""
    from alerts.models import AlertStatus, Severity
    from alerts.selectors import alerts_visible_to

    return (
        alerts_visible_to(user)
        .filter(status=AlertStatus.OPEN, acknowledged_at__isnull=True)
        .exclude(severity=Severity.INFO)
        .order_by()
        .count()
    )


def _with_count(item: NavItem, user: Any) -> NavItem:
    if item.url_name != ALERTS_URL_NAME:
        return item
    count = unacknowledged_alert_count(user)
    label = f"{item.label} ({count})" if count else item.label
    return NavItem(
        label=label, url=item.url, url_name=item.url_name, current=item.current, count=count
    )


def _entry(label: str, url_name: str, request: HttpRequest | None) -> NavItem | None:
    try:
        url = reverse(url_name)
    except NoReverseMatch:
        return None
    current = False
    if request is not None:
        match = getattr(request, "resolver_match", None)
        if match is not None and match.view_name == url_name:
            current = True
        elif url != "/" and request.path.startswith(url):
            current = True
    return NavItem(label=label, url=url, url_name=url_name, current=current)


def build_navigation(user: Any, request: HttpRequest | None = None) -> Navigation:
    roles = care_roles_of(user)
    if user is None or not user.is_authenticated:
        return Navigation()
    entries: list[tuple[str, str]] = []
    if roles & WORKING_STAFF_ROLES:
        entries.extend(STAFF_ENTRIES)
    if CareRole.CAREGIVER.value in roles:
        entries.extend(CAREGIVER_ENTRIES)
    if user.is_staff:
        entries.append(("Admin", "admin:index"))
    items = [
        _with_count(item, user) for label, name in entries if (item := _entry(label, name, request))
    ]
    account_entries = [("Change password", "password_change")]
    if roles & WORKING_STAFF_ROLES or user.is_staff or user.is_superuser:
        # Two-factor authentication and signed-in sessions (accounts.views.security).
        account_entries.append(("Security", "accounts:security"))
    account = [item for label, name in account_entries if (item := _entry(label, name, request))]
    labels = [role.label for role in ROLE_ORDER if role.value in roles]
    if not labels and user.is_staff:
        labels = ["Administrator"]
    return Navigation(items=items, account_items=account, roles=roles, role_labels=labels)


def navigation_for(request: HttpRequest) -> Navigation:
    if getattr(request, "itb_two_factor_pending", False):
        # Signed in with the password only (accounts.middleware): no menu until the two-factor
        # code is entered.
        return Navigation()
    return build_navigation(getattr(request, "user", None), request)
