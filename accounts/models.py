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


# --- Sign-in protection, two-factor authentication and sessions ---------------------------------


class LoginMethod(models.TextChoices):
    PASSWORD = "password", "Password"
    TOTP = "totp", "Authenticator code"
    RECOVERY_CODE = "recovery_code", "Recovery code"


class LoginOutcome(models.TextChoices):
    SUCCEEDED = "succeeded", "Signed in"
    CODE_REQUIRED = "code_required", "Password accepted, code required"
    FAILED = "failed", "Failed"
    LOCKED_OUT = "locked_out", "Refused: locked out"


class LoginEvent(models.Model):
    """One sign-in attempt: every password and two-factor code tried, right or wrong, and every
    attempt refused because its (username, address) pair was locked out.

    ``username`` is what was typed, normalised (``accounts.lockout.normalise_username``), so
    attempts on accounts that do not exist are kept (and locked out) the same way. The lockout
    counts ``failed`` rows per (username, address); see ``accounts.lockout``."""

    occurred_at = models.DateTimeField(default=timezone.now, editable=False)
    username = models.CharField(max_length=150, help_text="As typed, normalised.")
    user = models.ForeignKey(
        User,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="login_events",
        help_text="The account the username names; empty when no account has it.",
    )
    address = models.CharField(
        max_length=45, blank=True, help_text="The client's IP address; empty when unknown."
    )
    method = models.CharField(max_length=20, choices=LoginMethod.choices)
    outcome = models.CharField(max_length=20, choices=LoginOutcome.choices)
    user_agent = models.CharField(max_length=300, blank=True)
    locked_until = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Set on the failure that locked the (username, address) pair: sign-in from "
        "that address with that username is refused until then.",
    )

    class Meta:
        ordering = ["-occurred_at", "-id"]
        verbose_name = "sign-in event"
        indexes = [
            # The lockout's queries: one (username, address) pair, newest first.
            models.Index(
                fields=["username", "address", "-occurred_at"], name="accounts_login_pair_idx"
            ),
            models.Index(fields=["-occurred_at"], name="accounts_login_time_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(method__in=LoginMethod.values),
                name="accounts_loginevent_method_valid",
            ),
            models.CheckConstraint(
                condition=models.Q(outcome__in=LoginOutcome.values),
                name="accounts_loginevent_outcome_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_outcome_display()}: {self.username} from {self.address or '?'}"


class UserSession(models.Model):
    """A live browser session of a user, so their sessions can be ended at once (deactivation,
    a two-factor reset) whatever the session engine. Written when the user signs in, removed
    when they sign out or the session is ended."""

    session_key = models.CharField(max_length=40, unique=True)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="browser_sessions")
    created_at = models.DateTimeField(default=timezone.now)
    address = models.CharField(max_length=45, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "signed-in session"

    def __str__(self) -> str:
        return f"Session of {self.user} since {self.created_at:%Y-%m-%d %H:%M} UTC"


class TwoFactorDevice(models.Model):
    """A user's authenticator app (TOTP, RFC 6238: SHA-1, 6 digits, 30-second steps).

    Created unconfirmed when the user opens the set-up page, confirmed by the first right code.
    ``last_used_step`` is the last time step accepted: a code of that step or an earlier one is
    refused (a code seen over a shoulder or replayed from a log cannot be used again)."""

    user = models.OneToOneField(User, on_delete=models.CASCADE, related_name="two_factor_device")
    secret = models.CharField(
        max_length=64, editable=False, help_text="The shared secret, base32 (RFC 4648)."
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    confirmed_at = models.DateTimeField(
        null=True, blank=True, help_text="Empty until the user entered a first right code."
    )
    last_used_step = models.BigIntegerField(null=True, blank=True, editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name = "two-factor authenticator"

    def __str__(self) -> str:
        state = "confirmed" if self.confirmed_at else "not confirmed"
        return f"Authenticator of {self.user} ({state})"


class RecoveryCode(models.Model):
    """A one-time code that stands in for an authenticator code (a lost phone). Only the
    SHA-256 of the code is kept; the codes are shown once, when they are made."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="recovery_codes")
    code_hash = models.CharField(max_length=64, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    used_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "code_hash"], name="accounts_recoverycode_unique_per_user"
            ),
        ]

    def __str__(self) -> str:
        return f"Recovery code of {self.user} ({'used' if self.used_at else 'unused'})"
