"""The live path: one shared tailer per sweep per process, fanning out to open pages.

A :class:`SweepTailer` reads what is new in the database past its cursors — metric points
(``MetricPoint.id > cursor``), events, rung results, and the trials and sweep row they
touched — and sends one increment to every :class:`Stream` (one per open WebSocket). It is
woken by the sweep's nudges, which one of its pages' consumers receives for it: the tailer
keeps exactly one page's channel in the sweep's group (with every page in the group, each
nudge cost this process a channel-layer message per open page). It also polls: every
``POLL_EMBEDDED`` seconds with the in-memory layer, whose nudges cannot cross processes,
and every ``POLL_REDIS`` seconds as a fallback with Redis. However many pages watch a
sweep, a process runs one tailer (one database poll) for it.

Cursor semantics: a page that received the increment with ``cursor`` C has every point of
the sweep with id <= C, and no other. Ids are handed out before commit, so on PostgreSQL
with several writers a lower id can become visible after a higher one; the tailer only
moves its cursor past a missing id once it is committed, or after ``HOLE_TIMEOUT`` seconds
(a rolled-back or deleted row never appears). A page reconnects with ``?cursor=C`` and
gets exactly the points after C.

Database reads run on one dedicated thread, so the tailers never wait behind page renders
and their connections are easy to close (:func:`close_connections`).

Latency: a nudge reads the points past the cursor and sends them at once. The rest of the
state (events, rung results, trials, the sweep row: three queries or more) follows a tick
that found points at most every ``STATE_EVERY`` seconds, so a trainer's stream of nudges
does not keep the reader busy when its next points arrive; a tick that found no points (a
steering action, a rung result) reads it at once.

This module is the tailer's task and its registry; its parts live in :mod:`dashboard.live`:
the cursor, the pure state it folds reads into, the reads, the streams, the group
membership and the snapshots (their public names are importable from here too).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any

from django.conf import settings

from dashboard import analytics
from dashboard.live.cursors import HOLE_TIMEOUT, CursorTracker
from dashboard.live.limits import TRIAL_ROWS
from dashboard.live.membership import GroupMembership
from dashboard.live.reader import SweepReader
from dashboard.live.snapshots import build_snapshot, page_snapshot
from dashboard.live.state import LiveState
from dashboard.live.streams import Increment, Row, Stream, encode_points
from dashboard.live.threads import close_connections, on_reader, on_thinker

__all__ = [
    "HOLE_TIMEOUT",
    "CursorTracker",
    "Increment",
    "Row",
    "Stream",
    "SweepTailer",
    "build_snapshot",
    "close_connections",
    "close_stream",
    "encode_points",
    "open_stream",
    "page_snapshot",
    "poll_interval",
    "running_tailers",
    "tailer_for",
]

log = logging.getLogger(__name__)

POLL_EMBEDDED = 0.1  # seconds; the nudge cannot cross processes with the in-memory layer
POLL_REDIS = 1.0  # seconds; the Redis nudge wakes the tailer, this is the fallback
STATE_EVERY = 0.1  # seconds between reads of events, rung results and trials after nudges
# Seconds between re-joins of the sweep's group by its member page: a Redis that restarted
# (or expired the group after a day) forgot the member, and every page fell back to polling.
MEMBER_EVERY = 30.0
ANALYTICS_EVERY = 2.0  # seconds between recomputations of the analysis panels


def poll_interval() -> float:
    """How often a tailer polls when no nudge wakes it."""
    return POLL_REDIS if settings.REDIS_URL else POLL_EMBEDDED


class SweepTailer:
    """Reads a sweep's news from the database and sends it to every open page."""

    def __init__(self, sweep_id: int) -> None:
        self.sweep_id = sweep_id
        self.loop = asyncio.get_running_loop()
        self.streams: set[Stream] = set()
        self.reader = SweepReader(sweep_id)
        self.state = LiveState()
        self.analytics: dict[str, Any] | None = None
        self._analytics_at = 0.0
        self._analytics_task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._loaded = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.membership = GroupMembership(sweep_id, self.streams, lambda: self.closed)
        self.closed = False

    # -- lifecycle --

    @property
    def cursor(self) -> int:
        return self.reader.tracker.cursor

    def start(self) -> None:
        self._task = self.loop.create_task(self._run(), name=f"tailer-{self.sweep_id}")

    async def ready(self) -> None:
        await self._loaded.wait()

    def wake(self) -> None:
        """A nudge: read now instead of at the next poll."""
        self._wake.set()

    async def stop(self) -> None:
        self.closed = True
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            except Exception:  # pragma: no cover - logged by _run already
                pass
        await self.membership.keep()  # closed: leaves the group
        if self._analytics_task is not None:
            self._analytics_task.cancel()

    def subscribe(self, stream: Stream) -> int:
        """Add ``stream``; returns the cursor its snapshot must cover (no await in between,
        so the next increment starts exactly after it)."""
        stream.tailer = self
        self.streams.add(stream)
        return self.cursor

    # -- reading (on the reader thread) --

    def _load(self) -> None:
        """First read: the whole state, cursors at the newest rows."""
        loaded = self.reader.load()
        self.state.start(
            loaded.sweep, loaded.trials, loaded.results, loaded.event_cursor, time.monotonic()
        )

    def _read_points(self, now: float) -> tuple[list[Row], int]:
        """New points past the cursor; moves only the cursor."""
        return self.reader.read_points(now, self.state.idle(now))

    # -- the task --

    async def _run(self) -> None:
        try:
            await on_reader(self._load)
        except Exception:
            log.exception("tailer of sweep %s could not load", self.sweep_id)
            self.closed = True
            self._loaded.set()
            return
        self._loaded.set()
        poll = poll_interval()
        state_at = -math.inf  # when the state was last read
        state_owed = False  # a tick skipped the state read
        member_at = time.monotonic()  # when the group membership was last (re)made
        rejoin: asyncio.Task[None] | None = None
        while not self.closed:
            # Without a member (a join failed: the layer was down) try again at every poll.
            # Off the read path: a layer that hangs must not hold the points back.
            due = poll if self.membership.member is None else MEMBER_EVERY
            if time.monotonic() - member_at >= due and (rejoin is None or rejoin.done()):
                member_at = time.monotonic()
                rejoin = self.loop.create_task(self.membership.keep(rejoin=True))
            timeout = poll
            if state_owed:
                # Owed state rides on the next points tick (right after its send, when the
                # next nudge is furthest away); without one it is read at this deadline.
                timeout = min(poll, max(0.0, state_at + 2 * STATE_EVERY - time.monotonic()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=timeout)
            self._wake.clear()
            now = time.monotonic()
            state = self.state
            watched, max_trial = state.watched(), state.max_trial()
            try:
                # Points first, and out at once: they are what a page waits for.
                rows, cursor = await on_reader(self._read_points, now)
                points = state.points(rows, cursor)
                if points is not None:
                    await self._fan_out(points)
                # A tick with points is a trainer's: its state can wait a little. A tick
                # without is likely a steering action or a result: read the state now.
                state_owed = bool(rows) and now - state_at < STATE_EVERY
                if state_owed:
                    continue
                state_at = now
                read = await on_reader(
                    self.reader.read_state,
                    state.event_cursor,
                    state.result_cursor,
                    watched,
                    max_trial,
                    state.idle(now),
                )
            except Exception:
                # A dropped connection or a restarted database: try again at the next poll.
                log.warning("tailer of sweep %s could not read", self.sweep_id, exc_info=True)
                await asyncio.sleep(poll)
                continue
            if read.gone:
                await self._broadcast_gone()
                return
            inc = state.fold(read, cursor, now)
            if inc is not None:
                await self._fan_out(inc)
            self._maybe_analytics(now)

    async def _fan_out(self, inc: Increment | str) -> None:
        for stream in list(self.streams):
            try:
                await stream.push(inc)
            except Exception:  # a closing socket; its consumer detaches it
                log.debug("could not push to a stream", exc_info=True)

    async def _broadcast_gone(self) -> None:
        text = json.dumps({"type": "gone", "sweep": self.sweep_id})
        for stream in list(self.streams):
            with contextlib.suppress(Exception):
                await stream.send(text)
        self.closed = True

    # -- analysis panels --

    def _maybe_analytics(self, now: float) -> None:
        busy = self._analytics_task is not None and not self._analytics_task.done()
        if busy or not self.state.analytics_dirty or now - self._analytics_at < ANALYTICS_EVERY:
            return
        self._analytics_at = now
        self.state.analytics_dirty = False
        self._analytics_task = self.loop.create_task(self._compute_analytics())

    def request_analytics(self) -> None:
        """Compute the panels soon and push them (a new page arrived before any were cached)."""
        self.state.analytics_dirty = True
        busy = self._analytics_task is not None and not self._analytics_task.done()
        if not busy:
            self._analytics_at = time.monotonic()
            self.state.analytics_dirty = False
            self._analytics_task = self.loop.create_task(self._compute_analytics())

    async def _compute_analytics(self) -> None:
        state = self.state
        summary, trials, results = state.summary, list(state.trials.values()), list(state.results)
        # A big sweep's first panels skip what is slow (parameter importance fits a forest:
        # seconds at 10,000 trials, the page's panels blank until then; a small sweep's page
        # has them from its first render); the full set follows.
        quick = self.analytics is None and len(trials) > TRIAL_ROWS
        steps = [analytics.quick_panels, analytics.panels] if quick else [analytics.panels]
        for step in steps:
            try:
                figures = await on_thinker(step, summary, trials, results)
            except Exception:
                log.exception("analysis panels of sweep %s failed", self.sweep_id)
                return
            self.analytics = figures
            await self._fan_out(json.dumps({"type": "analytics", **figures}, separators=(",", ":")))


# --- registry: one tailer per sweep per process (per event loop) ---------------------------

_tailers: dict[int, SweepTailer] = {}
# A forked child (a test server, a pre-forking host) inherits tailers whose tasks did not
# survive the fork.
os.register_at_fork(after_in_child=_tailers.clear)


async def tailer_for(sweep_id: int) -> SweepTailer:
    """The running tailer of ``sweep_id`` in this process, started if needed."""
    loop = asyncio.get_running_loop()
    tailer = _tailers.get(sweep_id)
    if tailer is None or tailer.closed or tailer.loop is not loop:
        tailer = SweepTailer(sweep_id)
        _tailers[sweep_id] = tailer
        tailer.start()
    await tailer.ready()
    return tailer


def running_tailers() -> list[SweepTailer]:
    """Tailers alive in this process (for tests and diagnostics)."""
    return [t for t in _tailers.values() if not t.closed]


async def open_stream(
    sweep_id: int,
    send: Callable[[str], Awaitable[None]],
    *,
    cursor: int | None = None,
    trial: int | None = None,
    channel: str | None = None,
) -> Stream:
    """Attach a page to the sweep's tailer and send it its snapshot.

    Without ``cursor`` the snapshot is full: the rows and thinned curves of the trials a
    page is shown at first (every trial of a small sweep; see
    :func:`dashboard.live.limits.visible_trials`) up to the snapshot's cursor. With ``cursor`` (a reconnecting page) it carries the points after
    it instead, so the page resumes with no gap and no duplicate. ``trial`` limits points
    to one trial (the trial page). ``channel``: the page's channel-layer name, through
    which it can receive the sweep's nudges for the tailer (see
    :class:`~dashboard.live.membership.GroupMembership`).
    """
    tailer = await tailer_for(sweep_id)
    if tailer.closed:
        raise LookupError(f"sweep {sweep_id} is gone")
    stream = Stream(send, trial=trial, channel=channel)
    upto = tailer.subscribe(stream)
    state = tailer.state.snapshot()
    try:
        await tailer.membership.keep()
        snapshot = await on_reader(build_snapshot, sweep_id, upto, cursor, trial, state)
        snapshot["analytics"] = tailer.analytics
        if tailer.analytics is None:
            tailer.request_analytics()
        if cursor is not None and cursor > upto:
            stream.floor = cursor  # the page is ahead of this process: skip what it has
        await stream.start(snapshot)
    except BaseException:
        await close_stream(stream)
        raise
    return stream


async def close_stream(stream: Stream) -> None:
    """Detach a page; the tailer stops with its last page."""
    tailer = stream.tailer
    if tailer is None:
        return
    tailer.streams.discard(stream)
    if not tailer.streams:
        if _tailers.get(tailer.sweep_id) is tailer:
            del _tailers[tailer.sweep_id]
        await tailer.stop()
    else:
        await tailer.membership.keep()
