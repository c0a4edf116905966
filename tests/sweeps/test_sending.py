"""Tasks are sent by name: the names are the workers' registered tasks, a send reaches the
broker with its queue, and eager mode (RUNGS_CELERY_EAGER) still runs the task in place."""

from __future__ import annotations

from typing import Any

import pytest
from celery import current_app

from sweeps import sending, services


@pytest.fixture
def app() -> Any:
    return current_app._get_current_object()


def test_every_name_sweeps_sends_is_a_registered_task(app: Any) -> None:
    app.loader.import_default_modules()  # what a worker imports on start
    for name in (sending.RUN_SEGMENT, sending.CLEANUP_CHECKPOINTS, sending.ADVANCE_SWEEP):
        assert name in app.tasks


def test_a_send_reaches_the_broker_by_name_with_its_queue(
    app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[str, Any, dict[str, Any]]] = []
    monkeypatch.setattr(app, "send_task", lambda name, args, **kw: calls.append((name, args, kw)))
    sending.send_task(sending.RUN_SEGMENT, 7, 1, 2, queue="segments")
    sending.send_task(sending.ADVANCE_SWEEP, 7)
    assert [(name, args, kw.get("queue")) for name, args, kw in calls] == [
        (sending.RUN_SEGMENT, (7, 1, 2), "segments"),
        (sending.ADVANCE_SWEEP, (7,), None),
    ]


def test_eager_mode_runs_the_task_in_place(app: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    ran: list[int] = []
    monkeypatch.setitem(app.conf, "task_always_eager", True)
    monkeypatch.setattr(services, "advance_sweep", ran.append)
    sending.send_task(sending.ADVANCE_SWEEP, 42)
    assert ran == [42]
