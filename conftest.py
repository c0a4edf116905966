"""Fixtures shared by every test package."""

from __future__ import annotations

import os
from collections.abc import Callable
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


class SentTasks(list[tuple[str, tuple[Any, ...]]]):
    """Every task sent through :mod:`sweeps.sending` during a test, as (task name, args).

    ``run(name, fn)`` hands a task's args to ``fn`` as soon as it is sent (an inline worker,
    or a test's own queue); a handler that raises is a refused send, as from a broker that is
    down, and is not recorded.
    """

    def __init__(self) -> None:
        super().__init__()
        self.handlers: dict[str, Callable[..., object]] = {}

    def run(self, name: str, handler: Callable[..., object]) -> None:
        self.handlers[name] = handler

    def send(self, name: str, *args: Any, queue: str | None = None) -> None:
        if name in self.handlers:
            self.handlers[name](*args)
        self.append((name, tuple(args)))

    def segments(self) -> list[tuple[Any, ...]]:
        """The args of the ``rungs.run_segment`` sends: (trial id, rung, attempt)."""
        from sweeps.sending import RUN_SEGMENT

        return [args for name, args in self if name == RUN_SEGMENT]


@pytest.fixture
def sent_tasks(monkeypatch: pytest.MonkeyPatch) -> SentTasks:
    """Record task sends instead of talking to a broker (the one seam: ``sweeps.sending``)."""
    from sweeps import sending

    sent = SentTasks()
    monkeypatch.setattr(sending, "send_task", sent.send)
    return sent
