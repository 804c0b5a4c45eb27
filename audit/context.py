"""What a change came through, for the audit entries written while it runs: the API sets the
token a request used, so every entry it causes names the token."""

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_via: ContextVar[str] = ContextVar("audit_via", default="")


def current_via() -> str:
    return _via.get()


@contextmanager
def audit_via(description: str) -> Iterator[None]:
    """Within the block, audit entries record ``description`` (e.g. "API token itb_ab12cd34")."""
    reset = _via.set(description)
    try:
        yield
    finally:
        _via.reset(reset)
