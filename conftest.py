"""Fixtures shared by every test package."""

from __future__ import annotations

import os
from typing import Any

import pytest

# Browser tests drive a live server from synchronous Playwright code inside pytest.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

TOY_TRAINER = {"toy": "tests.fixtures:ToyTrainer"}


@pytest.fixture(autouse=True)
def fast_password_hashing(request: pytest.FixtureRequest) -> None:
    """The default hasher costs ~0.3 s per user; tests create hundreds."""
    if request.config.pluginmanager.has_plugin("django"):  # absent with -p no:django
        request.getfixturevalue("settings").PASSWORD_HASHERS = [
            "django.contrib.auth.hashers.MD5PasswordHasher"
        ]


@pytest.fixture
def toy_trainer(settings: Any) -> str:
    """Register the validation-only toy trainer; returns its key."""
    settings.RUNGS_TRAINERS = TOY_TRAINER
    return "toy"


@pytest.fixture
def user(django_user_model: Any) -> Any:
    return django_user_model.objects.create_user("alice", password="alice-password")


@pytest.fixture
def other_user(django_user_model: Any) -> Any:
    return django_user_model.objects.create_user("bob", password="bob-password")


@pytest.fixture
def staff_user(django_user_model: Any) -> Any:
    return django_user_model.objects.create_superuser("root", "root@example.com", "root-password")
