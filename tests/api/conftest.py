"""Fixtures of the API tests: users in every role, token clients, sweeps with trials.

No API test talks to a real broker: the root ``sent_tasks`` (turned on for every test here)
records every Celery send
instead, so tests can also assert that a rejected request enqueued nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from sweeps.models import Sweep
from tests.api.factories import shared_sweep


@pytest.fixture(autouse=True)
def _no_broker(request: pytest.FixtureRequest) -> None:
    """Sends are recorded by the root ``sent_tasks``; a test that starts a real worker (the
    ``real_worker`` fixture) sends for real."""
    if "real_worker" not in request.fixturenames:
        request.getfixturevalue("sent_tasks")


@pytest.fixture(autouse=True)
def _toy(toy_trainer: str) -> str:
    return toy_trainer


@pytest.fixture
def owner(user: Any) -> Any:
    return user


@pytest.fixture
def stranger(other_user: Any) -> Any:
    return other_user


@pytest.fixture
def viewer(django_user_model: Any) -> Any:
    return django_user_model.objects.create_user("carol", password="carol-password")


@pytest.fixture
def staff(staff_user: Any) -> Any:
    return staff_user


@pytest.fixture
def client_for() -> Callable[[Any], APIClient]:
    """An API client authenticated with ``user``'s token (anonymous for None)."""

    def make(user: Any) -> APIClient:
        client = APIClient()
        if user is not None:
            token, _ = Token.objects.get_or_create(user=user)
            client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
        return client

    return make


@pytest.fixture
def sweep(owner: Any, viewer: Any) -> Sweep:
    """See :func:`tests.api.factories.shared_sweep`."""
    return shared_sweep(owner, viewer)
