"""Users of the app. Which patients a user may see is decided by care-team membership
(``pumps.CareTeamMember``), never by a flag on the user."""

from datetime import datetime, timedelta

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils import timezone


class User(AbstractUser):
    """A person who signs in: clinician, nurse, caregiver, integrator or administrator."""

    phone = models.CharField(
        max_length=40, blank=True, help_text="Reachable number, shown to the care team."
    )

    class Meta:
        ordering = ["username"]

    def __str__(self) -> str:
        full = self.get_full_name()
        return f"{full} ({self.username})" if full else self.username


class ApiTokenScope(models.TextChoices):
    READ = "read", "Read"
    WRITE = "write", "Read and write"


class ApiToken(models.Model):
    """A bearer token with which an integration (an EHR, a pharmacy) calls the REST API as
    ``user``. Only the SHA-256 of the token is stored; the clear token is shown once, when it is
    issued (``accounts.services.api_token_issue``). Tokens are revoked, never deleted."""

    user = models.ForeignKey(
        User,
        on_delete=models.CASCADE,
        related_name="api_tokens",
        help_text="The API calls made with this token act as this user.",
    )
    name = models.CharField(
        max_length=100, blank=True, help_text='What the integration is, e.g. "Epic interface".'
    )
    prefix = models.CharField(
        max_length=8,
        unique=True,
        editable=False,
        help_text="The first characters of the token after itb_, kept in clear to find it.",
    )
    token_hash = models.CharField(
        max_length=64, editable=False, help_text="SHA-256 of the whole token (hex)."
    )
    scope = models.CharField(
        max_length=5,
        choices=ApiTokenScope.choices,
        help_text="Read tokens may only read; write tokens may also change records.",
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    created_by = models.ForeignKey(
        User,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Who issued the token; empty when issued from the command line.",
    )
    expires_at = models.DateTimeField(
        null=True, blank=True, help_text="Empty: the token never expires."
    )
    last_used_at = models.DateTimeField(
        null=True,
        blank=True,
        editable=False,
        help_text="Last request made with the token (updated at most once a minute).",
    )
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )

    # ``last_used_at`` is written at most this often, so most requests write nothing.
    LAST_USED_RESOLUTION = timedelta(seconds=60)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "API token"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(scope__in=ApiTokenScope.values),
                name="accounts_apitoken_scope_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"API token {self.prefix}" + (f" ({self.name})" if self.name else "")

    def is_active(self, now: datetime | None = None) -> bool:
        """Not revoked and not expired at ``now`` (default: the current time). Whether the user
        is active is checked separately."""
        now = now or timezone.now()
        if self.revoked_at is not None:
            return False
        return self.expires_at is None or now < self.expires_at

    def is_expired(self, now: datetime | None = None) -> bool:
        now = now or timezone.now()
        return self.expires_at is not None and now >= self.expires_at

    @property
    def allows_write(self) -> bool:
        return self.scope == ApiTokenScope.WRITE

    def mark_used(self, now: datetime | None = None) -> bool:
        """Record a use at ``now`` if the last recorded use is older than a minute.

        A single conditional ``UPDATE`` (compare-and-set): concurrent requests cannot move the
        time backwards or write it more than once a minute, and no other column is rewritten.
        Returns whether a row was written."""
        now = now or timezone.now()
        stale_before = now - self.LAST_USED_RESOLUTION
        if self.last_used_at is not None and self.last_used_at >= stale_before:
            return False  # known to be recent: no query at all
        written = (
            ApiToken.objects.filter(pk=self.pk)
            .filter(models.Q(last_used_at__isnull=True) | models.Q(last_used_at__lt=stale_before))
            .update(last_used_at=now)
        )
        if written:
            self.last_used_at = now
        return bool(written)
