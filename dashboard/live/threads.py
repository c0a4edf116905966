"""The live path's two worker threads: one for database reads, one for the analysis panels.

Database reads run on one dedicated thread, so the tailers never wait behind page renders
and their connections are easy to close (:func:`close_connections`).
"""

from __future__ import annotations

import asyncio
import math
import os
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from django.db import close_old_connections, connections

CHECK_EVERY = 1.0  # seconds between connection upkeep checks of a reader thread

_reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rungs-tailer")
_thinker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rungs-analytics")


def _fresh_executors() -> None:
    # A forked child (a test server, a pre-forking host) inherits executors whose threads did
    # not survive the fork; work sent to them would wait forever.
    global _reader, _thinker
    _reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rungs-tailer")
    _thinker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rungs-analytics")


os.register_at_fork(after_in_child=_fresh_executors)

_upkeep = threading.local()


def _in_thread(executor: ThreadPoolExecutor, fn: Callable[..., Any], *args: Any) -> Awaitable[Any]:
    def run() -> Any:
        # Connection upkeep once a second, not around every read: on PostgreSQL it hands the
        # connection back to the pool, which checks it (a round trip) before lending it again.
        now = time.monotonic()
        if now - getattr(_upkeep, "at", -math.inf) >= CHECK_EVERY:
            close_old_connections()
            _upkeep.at = now
        try:
            return fn(*args)
        except Exception:
            _upkeep.at = -math.inf  # check (and drop a broken connection) before the next read
            raise

    return asyncio.get_running_loop().run_in_executor(executor, run)


def on_reader(fn: Callable[..., Any], *args: Any) -> Awaitable[Any]:
    """Run ``fn(*args)`` on the database reader thread."""
    return _in_thread(_reader, fn, *args)


def on_thinker(fn: Callable[..., Any], *args: Any) -> Awaitable[Any]:
    """Run ``fn(*args)`` on the analysis thread (slow figures never hold a read back)."""
    return _in_thread(_thinker, fn, *args)


def close_connections() -> None:
    """Close the reader thread's database connections (tests call this before teardown)."""
    _reader.submit(connections.close_all).result()
