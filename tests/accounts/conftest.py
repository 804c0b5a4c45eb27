from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.test import APIClient

from accounts.models import ApiToken
from accounts.services import api_token_issue


@pytest.fixture
def issue(world: Any) -> Callable[..., tuple[ApiToken, str]]:
    """Issue a token (by the admin, to the integrator unless told otherwise)."""

    def _issue(**kwargs: Any) -> tuple[ApiToken, str]:
        kwargs.setdefault("actor", world.admin)
        kwargs.setdefault("user", world.integrator)
        kwargs.setdefault("scope", "read")
        return api_token_issue(**kwargs)

    return _issue


@pytest.fixture
def api() -> APIClient:
    return APIClient()


def bearer(token: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}
