"""Users of the app. Which patients a user may see is decided by care-team membership
(``pumps.CareTeamMember``), never by a flag on the user."""

from django.contrib.auth.models import AbstractUser
from django.db import models


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
