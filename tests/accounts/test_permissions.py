"""Read-scope tokens read; write-scope tokens and sessions may also write."""

import pytest

from tests.accounts.conftest import bearer

pytestmark = pytest.mark.urls("tests.accounts.urls")

URL = "/api/whoami/"
CALC = "/api/calculate/"
READ_ONLY = "This API token has read scope; this request needs write scope."


def test_read_token_may_get(issue, api):
    _, clear = issue(scope="read")
    assert api.get(URL, **bearer(clear)).status_code == 200


@pytest.mark.parametrize("method", ["post", "delete"])
def test_read_token_may_not_write(issue, api, method):
    _, clear = issue(scope="read")
    response = getattr(api, method)(URL, **bearer(clear))
    assert response.status_code == 403
    assert response.json() == {"detail": READ_ONLY}


@pytest.mark.parametrize("method", ["put", "patch"])
def test_read_token_refused_before_the_method_is_looked_at(issue, api, method):
    _, clear = issue(scope="read")
    response = getattr(api, method)(URL, {}, format="json", **bearer(clear))
    assert response.status_code == 403
    assert response.json() == {"detail": READ_ONLY}


def test_read_token_may_post_to_a_view_that_allows_it(issue, api):
    _, clear = issue(scope="read")
    response = api.post(CALC, {"values": [1, 2, 3]}, format="json", **bearer(clear))
    assert response.status_code == 200
    assert response.json()["sum"] == 6
    assert response.json()["username"] == "integrator"


def test_read_token_may_not_delete_on_a_view_that_allows_read_posts(issue, api):
    _, clear = issue(scope="read")
    response = api.delete(CALC, **bearer(clear))
    assert response.status_code == 403
    assert response.json() == {"detail": READ_ONLY}


@pytest.mark.parametrize(("method", "status"), [("post", 201), ("delete", 204)])
def test_write_token_may_write(issue, api, method, status):
    _, clear = issue(scope="write")
    assert getattr(api, method)(URL, **bearer(clear)).status_code == status


def test_session_may_write(world, api):
    api.force_login(world.nurse)
    response = api.post(URL)
    assert response.status_code == 201
    assert response.json()["auth"] == "session"
