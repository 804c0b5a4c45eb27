"""Clinical history rows: written once, never edited or deleted in place."""

from typing import Any, ClassVar

from django.db import models


class ImmutableRecordError(ValueError):
    """Raised when code tries to rewrite clinical history."""


class HistoryRecord(models.Model):
    """Base for rows that are history (programs, steps, fills, dilutions, audit entries).

    A change is a new row that supersedes the old one; ``save()`` refuses updates except of
    ``MUTABLE_FIELDS`` (named in ``update_fields``), and ``delete()`` always refuses."""

    MUTABLE_FIELDS: ClassVar[frozenset[str]] = frozenset()
    EDIT_REFUSED: ClassVar[str] = "This record is never edited; record a new one."
    DELETE_REFUSED: ClassVar[str] = "This record is part of the history and is never deleted."

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            update_fields = kwargs.get("update_fields")
            if update_fields is None or not set(update_fields) <= self.MUTABLE_FIELDS:
                raise ImmutableRecordError(self.EDIT_REFUSED)
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise ImmutableRecordError(self.DELETE_REFUSED)
