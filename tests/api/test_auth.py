"""Who gets in: tokens and sessions (with CSRF); anonymous requests never see data."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from sweeps.models import Sweep
from tests.api.factories import OPERATIONS, counts, spec, url_of

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(("method", "name", "body"), OPERATIONS)
def test_anonymous_gets_401_and_no_data_and_changes_nothing(
    method: str, name: str, body: dict[str, Any] | None, sweep: Sweep, sent_tasks: list[Any]
) -> None:
    before = counts()
    response = getattr(APIClient(), method)(url_of(name, sweep), body, format="json")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert set(response.json()) == {"detail"}
    assert b"shared" not in response.content
    assert counts() == before and sent_tasks == []


def test_a_wrong_token_is_401(sweep: Sweep) -> None:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token " + "0" * 40)
    response = client.get(reverse("api-sweeps"))
    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid token."}


def test_a_token_authenticates_without_csrf(owner: Any, client_for: Any, sweep: Sweep) -> None:
    client = client_for(owner)
    client.handler.enforce_csrf_checks = True
    assert client.get(reverse("api-sweeps")).json()["results"][0]["name"] == "shared"
    response = client.post(reverse("api-sweep-pause", args=[sweep.pk]))
    assert response.status_code == 200 and response.json()["status"] == "paused"


def test_the_api_does_not_redirect_to_the_login_page() -> None:
    response = APIClient().get(reverse("api-sweeps"))
    assert response.status_code == 401 and "Location" not in response


def test_session_reads_work(owner: Any, sweep: Sweep) -> None:
    client = APIClient()
    client.force_login(owner)
    assert client.get(reverse("api-sweep", args=[sweep.pk])).json()["name"] == "shared"


def test_session_post_without_csrf_token_is_rejected(
    owner: Any, sweep: Sweep, sent_tasks: list[Any]
) -> None:
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(owner)
    before = counts()
    response = client.post(reverse("api-sweeps"), spec(), format="json")
    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]
    response = client.post(reverse("api-sweep-pause", args=[sweep.pk]))
    assert response.status_code == 403
    assert counts() == before and sent_tasks == []
    sweep.refresh_from_db()
    assert sweep.status == "running"


def test_session_post_with_csrf_token_is_accepted(owner: Any, sweep: Sweep) -> None:
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(owner)
    # Any page sets the CSRF cookie; the login page is one a script can always load.
    client.get(reverse("login"))
    token = client.cookies["csrftoken"].value
    response = client.post(reverse("api-sweep-pause", args=[sweep.pk]), HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "paused"
    response = client.patch(
        reverse("api-sweep", args=[sweep.pk]),
        {"concurrency": 5},
        format="json",
        HTTP_X_CSRFTOKEN=token,
    )
    assert response.status_code == 200 and response.json()["concurrency"] == 5
