"""Fixtures of the dashboard tests; the factories are :mod:`tests.factories` (re-exported
here, where the dashboard tests import them from)."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pytest

from tests.factories import (  # re-exported for the dashboard tests
    SPACE,
    add_points,
    add_result,
    build_sha_sweep,
    make_sweep,
    make_trial,
)

__all__ = ["SPACE", "add_points", "add_result", "build_sha_sweep", "make_sweep", "make_trial"]

# Browser tests drive a live server from synchronous Playwright code inside pytest.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture
def sweep_factory(user: Any) -> Callable[..., Any]:
    return lambda **fields: make_sweep(user, **fields)


@pytest.fixture(autouse=True)
def _no_broker(request: pytest.FixtureRequest) -> None:
    """Sends are recorded by the root ``sent_tasks``; ``slow`` tests (real workers) send for
    real."""
    if not request.node.get_closest_marker("slow"):
        request.getfixturevalue("sent_tasks")


@pytest.fixture(autouse=True, scope="package")
def _no_persistent_connections() -> Any:
    """Connections opened by the socket code's threads close after each use (Django's
    default), so none is left open on the test database when it is flushed or dropped."""
    from django.db import connections

    db = connections.settings["default"]
    old = db.get("CONN_MAX_AGE", 0)
    db["CONN_MAX_AGE"] = 0
    yield
    db["CONN_MAX_AGE"] = old


@pytest.fixture(autouse=True)
def _close_tailer_connections() -> Any:
    """The tailer reads on its own thread; close its connections so the test database can
    be flushed and dropped."""
    yield
    from asgiref.sync import SyncToAsync
    from django.db import connections

    from dashboard import tailer

    tailer.close_connections()
    # database_sync_to_async work in async tests runs on asgiref's single sync thread.
    executor = getattr(SyncToAsync, "single_thread_executor", None)
    if executor is not None:
        executor.submit(connections.close_all).result()
    _close_stray_connections()


def _close_stray_connections() -> None:
    """Close connections an async test opened in its own context (Django keeps one per
    async context), which the main thread's ``connections`` cannot reach."""
    import gc
    import threading
    import weakref

    from django.db import connections
    from django.db.backends.base.base import BaseDatabaseWrapper

    mine = connections["default"]
    for obj in gc.get_objects():
        if isinstance(obj, weakref.ProxyTypes):  # a dead proxy raises on any access
            continue
        if (
            isinstance(obj, BaseDatabaseWrapper)
            and obj is not mine
            and obj.connection is not None
            and obj._thread_ident == threading.get_ident()
            and not obj.in_atomic_block
        ):
            obj.close()
