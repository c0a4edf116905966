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

Database reads run on one dedicated thread (``_reader``), so the tailers never wait behind
page renders and their connections are easy to close (:func:`close_connections`).

Latency: a nudge reads the points past the cursor and sends them at once. The rest of the
state (events, rung results, trials, the sweep row: three queries or more) follows a tick
that found points at most every ``STATE_EVERY`` seconds, so a trainer's stream of nudges
does not keep the reader busy when its next points arrive; a tick that found no points (a
steering action, a rung result) reads it at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import os
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from channels.layers import get_channel_layer
from django.conf import settings
from django.db import close_old_connections, connections
from django.db.models import Q

from dashboard import analytics, plots
from dashboard.broadcast import sweep_group
from sweeps import actions, queries
from sweeps.models import Event, MetricPoint, Sweep, Trial
from sweeps.states import TrialStatus

log = logging.getLogger(__name__)

POLL_EMBEDDED = 0.1  # seconds; the nudge cannot cross processes with the in-memory layer
POLL_REDIS = 1.0  # seconds; the Redis nudge wakes the tailer, this is the fallback
HOLE_TIMEOUT = 1.0  # seconds to wait for a lower id to commit before giving up on it
REFRESH = 1.0  # seconds between re-reads of active trials and the sweep row when idle
STATE_EVERY = 0.1  # seconds between reads of events, rung results and trials after nudges
CHECK_EVERY = 1.0  # seconds between connection upkeep checks of a reader thread
# Seconds between re-joins of the sweep's group by its member page: a Redis that restarted
# (or expired the group after a day) forgot the member, and every page fell back to polling.
MEMBER_EVERY = 30.0
BATCH = 20_000  # points per read; more arrive in the next increment at once
SCAN = 100_000  # ids of all sweeps looked at per read when holes must be told apart
CATCH_UP_LIMIT = 200_000  # a page further behind than this gets a fresh snapshot
ANALYTICS_EVERY = 2.0  # seconds between recomputations of the analysis panels
SNAPSHOT_EVENTS = 50
LIGHT_FIELDS = ("id", "number", "status", "bracket", "rung", "budget", "manual_rungs")

Row = tuple[int, int, str, int, "float | None", float]  # id, trial, name, step, value, time

_reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rungs-tailer")
_thinker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rungs-analytics")


def _fresh_executors() -> None:
    # A forked child (a test server, a pre-forking host) inherits executors whose threads did
    # not survive the fork; work sent to them would wait forever.
    global _reader, _thinker
    _reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rungs-tailer")
    _thinker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rungs-analytics")
    _tailers.clear()


os.register_at_fork(after_in_child=_fresh_executors)


def poll_interval() -> float:
    """How often a tailer polls when no nudge wakes it."""
    return POLL_REDIS if settings.REDIS_URL else POLL_EMBEDDED


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


def close_connections() -> None:
    """Close the tailer thread's database connections (tests call this before teardown)."""
    _reader.submit(connections.close_all).result()


# --- cursors ------------------------------------------------------------------------------


class CursorTracker:
    """Moves a cursor over ids that may become visible out of order (pure).

    All sweeps share one id sequence, so :meth:`take` is given the sweep's new ids and,
    unless they simply continue the cursor, every visible id up to ``hi``. An id missing
    below a visible one is a *hole*: a transaction that has not committed yet, or one that
    rolled back (or a deleted row). Delivery stops before the first hole until it fills,
    or until it has been a hole for ``hole_timeout`` seconds: an id that was already below
    the visible frontier that long ago is given up.
    """

    def __init__(self, cursor: int, hole_timeout: float = HOLE_TIMEOUT) -> None:
        self.cursor = cursor
        self.hole_timeout = hole_timeout
        self._settled = cursor  # holes at or below this id are given up
        self._frontiers: deque[tuple[float, int]] = deque()

    def contiguous(self, ids: Sequence[int]) -> bool:
        """True when ``ids`` (ascending) follow the cursor without a gap."""
        return bool(ids) and ids[-1] - self.cursor == len(ids)

    def take(
        self, ids: Sequence[int], visible: Iterable[int] = (), hi: int | None = None, *, now: float
    ) -> int:
        """How many of ``ids`` to deliver now; advances :attr:`cursor`.

        ``ids``: the sweep's new ids, ascending. ``visible``: every committed id (any
        sweep) in ``(cursor, hi]``; ``hi`` defaults to the last of ``ids``.
        """
        if hi is None:
            if not ids:
                return 0
            hi = ids[-1]
        self._frontiers.append((now, hi))
        while self._frontiers and self._frontiers[0][0] <= now - self.hole_timeout:
            self._settled = max(self._settled, self._frontiers.popleft()[1])
        if self.contiguous(ids) and hi == ids[-1]:
            self.cursor = hi
            return len(ids)
        present = sorted({i for i in (*visible, *ids) if self.cursor < i <= hi} | {hi})
        stop = hi + 1
        expected = self.cursor + 1
        for i in present:
            if i > expected:  # the hole expected .. i - 1
                first_young = max(expected, self._settled + 1)
                if first_young < i:
                    stop = first_young
                    break
            expected = i + 1
        self.cursor = hi if stop > hi else stop - 1
        return sum(1 for i in ids if i < stop)


# --- increments ---------------------------------------------------------------------------


def _num(value: float | None) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return float(f"{value:.6g}")


def encode_points(rows: Sequence[Row]) -> list[dict[str, Any]]:
    """Points grouped per (trial, metric) in id order: ``{"t", "n", "s": steps, "v": values}``."""
    groups: dict[tuple[int, str], dict[str, Any]] = {}
    for _, trial, name, step, value, _ in rows:
        group = groups.get((trial, name))
        if group is None:
            group = groups[(trial, name)] = {"t": trial, "n": name, "s": [], "v": []}
        group["s"].append(step)
        group["v"].append(_num(value))
    return list(groups.values())


@dataclass
class Increment:
    """What one tailer read found: points ``(lo, cursor]`` and the changed state."""

    cursor: int
    rows: list[Row]
    state: dict[str, Any]
    _text: str | None = None

    def message(self, rows: Sequence[Row]) -> dict[str, Any]:
        return {
            "type": "inc",
            "cursor": self.cursor,
            "points": encode_points(rows),
            # When the newest and oldest points were logged: pages measure report -> draw
            # latency with them.
            "tmax": max((r[5] for r in rows), default=None),
            "tmin": min((r[5] for r in rows), default=None),
            **self.state,
        }

    def text_for(self, stream: Stream) -> str | None:
        """The JSON a stream should get (None: nothing new for it)."""
        rows = self.rows
        if stream.trial is not None:
            rows = [r for r in rows if r[1] == stream.trial]
        if rows and rows[0][0] <= stream.floor:
            rows = [r for r in rows if r[0] > stream.floor]
        if not rows and not self.state:
            return None
        if rows is self.rows:  # the common case: one encoding shared by every page
            if self._text is None:
                self._text = json.dumps(self.message(rows), separators=(",", ":"))
            return self._text
        return json.dumps(self.message(rows), separators=(",", ":"))


class Stream:
    """One open page: gets the snapshot, then every increment after it, in order."""

    def __init__(
        self,
        send: Callable[[str], Awaitable[None]],
        *,
        trial: int | None = None,
        channel: str | None = None,
    ) -> None:
        self.send = send
        self.trial = trial
        self.channel = channel  # the page's channel-layer name, if it can receive nudges
        self.floor = 0  # points with id <= floor were sent already (or the page had them)
        self.ready = False
        self.pending: list[Increment | str] = []
        self.tailer: SweepTailer | None = None

    async def push(self, inc: Increment | str) -> None:
        """Send an increment (or a ready-made message) now, or after the snapshot."""
        if not self.ready:
            self.pending.append(inc)
            return
        await self._deliver(inc)

    async def _deliver(self, inc: Increment | str) -> None:
        if isinstance(inc, str):
            await self.send(inc)
            return
        text = inc.text_for(self)
        self.floor = max(self.floor, inc.cursor)
        if text is not None:
            await self.send(text)

    async def start(self, snapshot: dict[str, Any]) -> None:
        """Send the snapshot, then what arrived while it was being built."""
        await self.send(json.dumps(snapshot, separators=(",", ":")))
        self.floor = max(self.floor, snapshot["cursor"])
        while self.pending:
            await self._deliver(self.pending.pop(0))
        self.ready = True


# --- the tailer ---------------------------------------------------------------------------


@dataclass
class _Read:
    """Rows one tick read (in the reader thread); applied on the event loop."""

    rows: list[Row] = field(default_factory=list)
    cursor: int = 0
    events: list[dict[str, Any]] = field(default_factory=list)
    results: list[dict[str, Any]] = field(default_factory=list)
    trials: list[dict[str, Any]] = field(default_factory=list)
    sweep: Sweep | None = None
    gone: bool = False


class SweepTailer:
    """Reads a sweep's news from the database and sends it to every open page."""

    def __init__(self, sweep_id: int) -> None:
        self.sweep_id = sweep_id
        self.loop = asyncio.get_running_loop()
        self.streams: set[Stream] = set()
        self.tracker = CursorTracker(0)
        self.event_cursor = 0
        self.result_cursor = 0
        self.sweep: Sweep | None = None
        self.trials: dict[int, dict[str, Any]] = {}
        self.results: list[dict[str, Any]] = []
        self.plan: dict[int, dict[str, Any]] = {}
        self.summary: dict[str, Any] = {}
        self.bracket: dict[str, Any] = {}
        self.analytics: dict[str, Any] | None = None
        self._analytics_at = 0.0
        self._analytics_dirty = True
        self._analytics_task: asyncio.Task[None] | None = None
        self._refreshed = 0.0
        self._wake = asyncio.Event()
        self._loaded = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._member: Stream | None = None  # the page whose channel is in the sweep's group
        self._membership = asyncio.Lock()
        self.closed = False

    # -- lifecycle --

    @property
    def cursor(self) -> int:
        return self.tracker.cursor

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
        await self.keep_member()  # closed: leaves the group
        if self._analytics_task is not None:
            self._analytics_task.cancel()

    def subscribe(self, stream: Stream) -> int:
        """Add ``stream``; returns the cursor its snapshot must cover (no await in between,
        so the next increment starts exactly after it)."""
        stream.tailer = self
        self.streams.add(stream)
        return self.cursor

    async def keep_member(self, rejoin: bool = False) -> None:
        """Keep exactly one open page's channel in the sweep's group (none once closed).

        That page's consumer gets the sweep's nudges and wakes this tailer; the others get
        none. When the member page goes, another takes its place (a nudge sent in between
        is caught by the fallback poll). ``rejoin``: add the member again (the layer may
        have lost it); joining is idempotent."""
        layer = get_channel_layer()
        if layer is None:
            return
        group = sweep_group(self.sweep_id)
        async with self._membership:
            member = self._member
            if member is not None and member in self.streams and not self.closed:
                if rejoin and member.channel:
                    try:
                        await layer.group_add(group, member.channel)
                    except Exception:  # the fallback poll carries the news; try next time
                        log.warning("sweep %s: could not rejoin its group", self.sweep_id)
                return
            if member is not None:
                self._member = None
                with contextlib.suppress(Exception):
                    await layer.group_discard(group, member.channel)
            if self.closed:
                return
            for stream in list(self.streams):
                if stream.channel:
                    try:
                        await layer.group_add(group, stream.channel)
                    except Exception:  # the fallback poll carries the news
                        log.warning(
                            "sweep %s: could not join its group", self.sweep_id, exc_info=True
                        )
                        return
                    self._member = stream
                    return

    # -- reading --

    def _load(self) -> None:
        """First read: the whole state, cursors at the newest rows."""
        sweep = Sweep.objects.select_related("owner").get(pk=self.sweep_id)
        # Start at the newest id of any sweep: what lies below is in the snapshots.
        newest = MetricPoint.objects.order_by("-id").values_list("id", flat=True).first()
        self.tracker = CursorTracker(newest or 0)
        self.event_cursor = (
            Event.objects.filter(sweep_id=self.sweep_id)
            .order_by("-id")
            .values_list("id", flat=True)
            .first()
        ) or 0
        self.results = queries.rung_results(self.sweep_id)
        self.result_cursor = max((r["id"] for r in self.results), default=0)
        self.trials = {t["id"]: t for t in queries.trial_rows(sweep)}
        self.sweep = sweep
        self.plan = queries.planned_rungs(
            sweep, sorted({t["bracket"] for t in self.trials.values()})
        )
        self.summary = queries.summarize(sweep, list(self.trials.values()))
        self.bracket = self._bracket()
        self._refreshed = time.monotonic()

    def _points_qs(self) -> Any:
        return (
            MetricPoint.objects.filter(sweep_id=self.sweep_id, id__gt=self.tracker.cursor)
            .order_by("id")
            .values_list("id", "trial_id", "name", "step", "value", "time")
        )

    def _read_points(self, now: float) -> tuple[list[Row], int]:
        """New points past the cursor (reader thread); moves only the tracker."""
        rows = list(self._points_qs()[:BATCH])
        ids = [r[0] for r in rows]
        idle = now - self._refreshed >= REFRESH
        if rows and self.tracker.contiguous(ids):
            self.tracker.take(ids, now=now)
        elif rows or idle:
            # Other sweeps' ids interleave with ours: look at every visible id in the range
            # to tell them from holes. When idle, this also moves the cursor past them, so
            # the range stays short.
            visible_qs = MetricPoint.objects.filter(id__gt=self.tracker.cursor)
            if ids:
                visible_qs = visible_qs.filter(id__lte=ids[-1])
            visible = list(visible_qs.order_by("id").values_list("id", flat=True)[:SCAN])
            hi = ids[-1] if ids else (visible[-1] if visible else None)
            if ids and len(visible) == SCAN:
                hi = visible[-1]
            if not ids and hi is not None:
                # This sweep's points committed between the first read and the scan are in
                # ``visible``: read them, or the cursor would move past them unread.
                rows = list(self._points_qs().filter(id__lte=hi)[:BATCH])
                ids = [r[0] for r in rows]
            if hi is not None:
                taken = self.tracker.take([i for i in ids if i <= hi], visible, hi, now=now)
                rows = rows[:taken]
            else:
                rows = []
        return rows, self.tracker.cursor

    def _read(self, active: list[int], max_trial: int, now: float) -> _Read:
        """The state part of a tick (reader thread): events, rung results, the trials they
        touched and the sweep row. Applied on the event loop by :meth:`_apply`."""
        out = _Read()
        out.events = queries.events(self.sweep_id, after=self.event_cursor, limit=500)
        out.results = queries.rung_results(self.sweep_id, after=self.result_cursor)
        touched = {e["trial"] for e in out.events if e["trial"]} | {r["trial"] for r in out.results}
        new_trials = Trial.objects.filter(sweep_id=self.sweep_id, id__gt=max_trial).exists()
        if out.events or out.results or new_trials or now - self._refreshed >= REFRESH:
            sweep = Sweep.objects.select_related("owner").filter(pk=self.sweep_id).first()
            if sweep is None:
                out.gone = True
                return out
            out.sweep = sweep
            ids = set(active) | touched
            qs = Trial.objects.filter(sweep_id=self.sweep_id)
            qs = qs.filter(Q(pk__in=ids) | Q(pk__gt=max_trial))
            ctx = actions.context_for(sweep)
            out.trials = [queries.trial_row(v, ctx) for v in qs.values(*queries.TRIAL_FIELDS)]
        return out

    def _bracket(self) -> dict[str, Any]:
        assert self.sweep is not None
        light = [{k: t[k] for k in LIGHT_FIELDS} for t in self.trials.values()]
        return queries.bracket_payload(self.sweep, light, self.results, self.plan)

    def _apply(self, read: _Read, now: float) -> Increment | None:
        """Fold a read into the state (event loop); the increment to send, if any."""
        state: dict[str, Any] = {}
        if read.events:
            self.event_cursor = read.events[-1]["id"]
            state["events"] = read.events
        if read.results:
            self.results.extend(read.results)
            self.result_cursor = read.results[-1]["id"]
        structure = bool(read.results)
        if read.sweep is not None:
            self._refreshed = now
            changed = []
            for row in read.trials:
                old = self.trials.get(row["id"])
                if old != row:
                    if old is None or any(old[k] != row[k] for k in LIGHT_FIELDS):
                        structure = True
                    self.trials[row["id"]] = row
                    changed.append(row)
            if self.sweep is not None and read.sweep.status != self.sweep.status:
                # What a trial allows depends on its sweep (none on a cancelled one): rows
                # that were not re-read get their actions anew, so their buttons follow.
                changed.extend(self._reoffer(read.sweep, {row["id"] for row in changed}))
            if changed:
                state["trials"] = changed
            sweep_changed = self._sweep_fields(read.sweep) != self._sweep_fields(self.sweep)
            self.sweep = read.sweep
            if changed or sweep_changed:
                summary = queries.summarize(read.sweep, list(self.trials.values()))
                if summary != self.summary:
                    self.summary = summary
                    state["sweep"] = summary
        if structure:
            brackets = sorted({t["bracket"] for t in self.trials.values()})
            if set(brackets) - set(self.plan) and self.sweep is not None:
                self.plan = queries.planned_rungs(self.sweep, brackets)
            bracket = self._bracket()
            if bracket != self.bracket:
                self.bracket = bracket
                state["bracket"] = bracket
            self._analytics_dirty = True
        if not read.rows and not state:
            return None
        return Increment(read.cursor, read.rows, state)

    def _reoffer(self, sweep: Sweep, skip: set[int]) -> list[dict[str, Any]]:
        """Trial rows (other than ``skip``) whose allowed actions differ under ``sweep``'s
        status, updated in place in the state."""
        ctx = actions.context_for(sweep)
        out = []
        for tid, row in self.trials.items():
            offered = actions.row_actions("trial", row, ctx)
            if tid not in skip and offered != row.get("actions"):
                self.trials[tid] = row = {**row, "actions": offered}
                out.append(row)
        return out

    @staticmethod
    def _sweep_fields(sweep: Sweep | None) -> tuple[Any, ...]:
        if sweep is None:
            return ()
        return (sweep.status, sweep.concurrency, sweep.max_trials, sweep.error, sweep.finished_at)

    async def _run(self) -> None:
        try:
            await _in_thread(_reader, self._load)
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
            due = poll if self._member is None else MEMBER_EVERY
            if time.monotonic() - member_at >= due and (rejoin is None or rejoin.done()):
                member_at = time.monotonic()
                rejoin = self.loop.create_task(self.keep_member(rejoin=True))
            timeout = poll
            if state_owed:
                # Owed state rides on the next points tick (right after its send, when the
                # next nudge is furthest away); without one it is read at this deadline.
                timeout = min(poll, max(0.0, state_at + 2 * STATE_EVERY - time.monotonic()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=timeout)
            self._wake.clear()
            now = time.monotonic()
            # Re-read active trials, and those whose worker has not let go yet (a killed
            # trial's segment clears its worker a moment later, without an event).
            active = [
                t["id"]
                for t in self.trials.values()
                if t["status"] in TrialStatus.ACTIVE or t["worker"]
            ]
            max_trial = max(self.trials, default=0)
            try:
                # Points first, and out at once: they are what a page waits for.
                rows, cursor = await _in_thread(_reader, self._read_points, now)
                if rows:
                    await self._fan_out(Increment(cursor, rows, {}))
                # A tick with points is a trainer's: its state can wait a little. A tick
                # without is likely a steering action or a result: read the state now.
                state_owed = bool(rows) and now - state_at < STATE_EVERY
                if state_owed:
                    continue
                state_at = now
                read = await _in_thread(_reader, self._read, active, max_trial, now)
                read.cursor = cursor
            except Exception:
                # A dropped connection or a restarted database: try again at the next poll.
                log.warning("tailer of sweep %s could not read", self.sweep_id, exc_info=True)
                await asyncio.sleep(poll)
                continue
            if read.gone:
                await self._broadcast_gone()
                return
            inc = self._apply(read, now)
            if inc is not None:
                await self._fan_out(inc)
            self._maybe_analytics(now)

    async def _fan_out(self, inc: Increment) -> None:
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
        if busy or not self._analytics_dirty or now - self._analytics_at < ANALYTICS_EVERY:
            return
        self._analytics_at = now
        self._analytics_dirty = False
        self._analytics_task = self.loop.create_task(self._compute_analytics(push=True))

    def request_analytics(self) -> None:
        """Compute the panels soon and push them (a new page arrived before any were cached)."""
        self._analytics_dirty = True
        busy = self._analytics_task is not None and not self._analytics_task.done()
        if not busy:
            self._analytics_at = time.monotonic()
            self._analytics_dirty = False
            self._analytics_task = self.loop.create_task(self._compute_analytics(push=True))

    async def _compute_analytics(self, push: bool) -> None:
        summary, trials, results = self.summary, list(self.trials.values()), list(self.results)
        try:
            figures = await _in_thread(_thinker, analytics.panels, summary, trials, results)
        except Exception:
            log.exception("analysis panels of sweep %s failed", self.sweep_id)
            return
        self.analytics = figures
        if push:
            text = json.dumps({"type": "analytics", **figures}, separators=(",", ":"))
            for stream in list(self.streams):
                try:
                    await stream.push(text)
                except Exception:
                    log.debug("could not push to a stream", exc_info=True)

    # -- snapshots --

    def state(self) -> dict[str, Any]:
        """The in-memory state a snapshot starts from."""
        return {
            "sweep": self.summary,
            "trials": sorted(self.trials.values(), key=lambda t: t["number"]),
            "bracket": self.bracket,
        }


# --- registry: one tailer per sweep per process (per event loop) ---------------------------

_tailers: dict[int, SweepTailer] = {}


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

    Without ``cursor`` the snapshot is full (thinned curves of every trial up to the
    snapshot's cursor). With ``cursor`` (a reconnecting page) it carries the points after
    it instead, so the page resumes with no gap and no duplicate. ``trial`` limits points
    to one trial (the trial page). ``channel``: the page's channel-layer name, through
    which it can receive the sweep's nudges for the tailer (see :meth:`SweepTailer.keep_member`).
    """
    tailer = await tailer_for(sweep_id)
    if tailer.closed:
        raise LookupError(f"sweep {sweep_id} is gone")
    stream = Stream(send, trial=trial, channel=channel)
    upto = tailer.subscribe(stream)
    state = tailer.state()
    try:
        await tailer.keep_member()
        snapshot = await _in_thread(_reader, build_snapshot, sweep_id, upto, cursor, trial, state)
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
        await tailer.keep_member()


def build_snapshot(
    sweep_id: int,
    upto: int,
    cursor: int | None,
    trial: int | None,
    state: dict[str, Any],
) -> dict[str, Any]:
    """A page's first message: state, recent events and either thinned curves (full) or
    the points after ``cursor`` (resume), everything up to ``upto``."""
    snap: dict[str, Any] = {"type": "snapshot", "cursor": upto, **state}
    snap["events"] = queries.events(sweep_id, limit=SNAPSHOT_EVENTS, newest=True, trial=trial)
    behind = cursor is not None and 0 <= upto - cursor <= CATCH_UP_LIMIT
    if cursor is not None and (behind or cursor >= upto):
        rows = queries.points_after(sweep_id, cursor, upto=upto, limit=CATCH_UP_LIMIT, trial=trial)
        snap["full"] = False
        snap["points"] = encode_points(rows)
        snap["tmax"] = max((r[5] for r in rows), default=None)
        snap["tmin"] = min((r[5] for r in rows), default=None)
        return snap
    snap["full"] = True
    if trial is not None:
        found = Trial.objects.filter(pk=trial, sweep_id=sweep_id).first()
        series = queries.trial_series(found, upto=upto)["series"] if found is not None else {}
        snap["series"] = [
            {"trial": trial, "name": name, "step": s["step"], "value": s["value"]}
            for name, s in series.items()
        ]
        return snap
    data = queries.metric_series(sweep_id, names=queries.SWEEP_CHART_METRICS, upto=upto)
    trials = {t["id"]: t for t in state["trials"]}
    # The curve figures carry the thinned series; the page keeps them as its data.
    snap["figures"] = plots.chart_figures(data["series"], trials, compact=True)
    return snap


def page_snapshot(sweep: Sweep) -> dict[str, Any]:
    """The snapshot a sweep page embeds in its HTML (the view's first render, no tailer):
    the page then opens its socket with this cursor and resumes from it."""
    trials = queries.trial_rows(sweep)
    results = queries.rung_results(sweep)
    summary = queries.summarize(sweep, trials)
    plan = queries.planned_rungs(sweep, sorted({t["bracket"] for t in trials}))
    state = {
        "sweep": summary,
        "trials": trials,
        "bracket": queries.bracket_payload(sweep, trials, results, plan),
    }
    upto = (
        MetricPoint.objects.filter(sweep=sweep).order_by("-id").values_list("id", flat=True).first()
    ) or 0
    snap = build_snapshot(sweep.pk, upto, None, None, state)
    snap["analytics"] = analytics.panels(summary, trials, results)
    return snap
