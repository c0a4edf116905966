"""A worker keeps its database connection across tasks, as Django does across requests."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest
from celery.signals import task_prerun
from django.db import connection

from dashboard.celery import app
from sweeps import tasks  # noqa: F401  (connects the handler, as a worker does)

pytestmark = pytest.mark.django_db(transaction=True)


def _before_task(eager: bool = False) -> None:
    task = SimpleNamespace(request=SimpleNamespace(is_eager=eager))
    task_prerun.send(sender=None, task=task, task_id="t", args=(), kwargs={})


def test_celerys_fixup_does_not_close_the_connection_around_each_task() -> None:
    assert app.conf.get("CELERY_DB_REUSE_MAX", 0) >= 100


def test_a_sound_connection_is_kept_and_an_old_one_dropped() -> None:
    connection.ensure_connection()
    raw = connection.connection
    connection.close_at = time.monotonic() + 60  # within CONN_MAX_AGE (PostgreSQL's is 60 s)
    _before_task()
    assert connection.connection is raw
    connection.close_at = time.monotonic() - 1  # past CONN_MAX_AGE
    _before_task(eager=True)  # in its caller's transaction: left alone
    assert connection.connection is raw
    _before_task()
    assert connection.connection is None
