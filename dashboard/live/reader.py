"""A sweep tailer's database reads (they run on the reader thread, see
:mod:`dashboard.live.threads`): the whole state once, then what is new past the cursors.

Points come first and alone (:meth:`SweepReader.read_points`): they are what a page waits
for. The rest (events, rung results, the trials they touched and the sweep row) is
:meth:`SweepReader.read_state`, which the tailer folds into its
:class:`~dashboard.live.state.LiveState`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Q

from sweeps import actions, queries
from sweeps.models import Event, MetricPoint, Sweep, Trial

from .cursors import CursorTracker
from .state import Read
from .streams import Row

BATCH = 20_000  # points per read; more arrive in the next increment at once
SCAN = 100_000  # ids of all sweeps looked at per read when holes must be told apart


@dataclass
class Loaded:
    """The whole state of a sweep, read once when its tailer starts."""

    sweep: Sweep
    trials: list[dict[str, Any]]
    results: list[dict[str, Any]]
    event_cursor: int


class SweepReader:
    """Reads one sweep's news; owns the points cursor (:attr:`tracker`)."""

    def __init__(self, sweep_id: int) -> None:
        self.sweep_id = sweep_id
        self.tracker = CursorTracker(0)

    def load(self) -> Loaded:
        """First read: the whole state, the points cursor at the newest id."""
        sweep = Sweep.objects.select_related("owner").get(pk=self.sweep_id)
        # Start at the newest id of any sweep: what lies below is in the snapshots.
        newest = MetricPoint.objects.order_by("-id").values_list("id", flat=True).first()
        self.tracker = CursorTracker(newest or 0)
        event_cursor = (
            Event.objects.filter(sweep_id=self.sweep_id)
            .order_by("-id")
            .values_list("id", flat=True)
            .first()
        ) or 0
        results = queries.rung_results(self.sweep_id)
        return Loaded(sweep, queries.trial_rows(sweep), results, event_cursor)

    def _points_qs(self) -> Any:
        return (
            MetricPoint.objects.filter(sweep_id=self.sweep_id, id__gt=self.tracker.cursor)
            .order_by("id")
            .values_list("id", "trial_id", "name", "step", "value", "time")
        )

    def read_points(self, now: float, idle: bool) -> tuple[list[Row], int]:
        """New points past the cursor, and the cursor after them; moves only the tracker.

        ``idle``: the tailer's state is due for a re-read, and the scan of every visible id
        runs even without new points of this sweep."""
        rows = list(map(Row._make, self._points_qs()[:BATCH]))
        ids = [r.id for r in rows]
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
                rows = list(map(Row._make, self._points_qs().filter(id__lte=hi)[:BATCH]))
                ids = [r.id for r in rows]
            if hi is not None:
                taken = self.tracker.take([i for i in ids if i <= hi], visible, hi, now=now)
                rows = rows[:taken]
            else:
                rows = []
        return rows, self.tracker.cursor

    def read_state(
        self, after_event: int, after_result: int, watched: list[int], max_trial: int, idle: bool
    ) -> Read:
        """Events and rung results past the cursors; the sweep row and the trials they
        touched (with ``watched`` and any above ``max_trial``) when there was news or the
        state is ``idle``."""
        out = Read()
        out.events = queries.events(self.sweep_id, after=after_event, limit=500)
        out.results = queries.rung_results(self.sweep_id, after=after_result)
        touched = {e["trial"] for e in out.events if e["trial"]} | {r["trial"] for r in out.results}
        new_trials = Trial.objects.filter(sweep_id=self.sweep_id, id__gt=max_trial).exists()
        if out.events or out.results or new_trials or idle:
            sweep = Sweep.objects.select_related("owner").filter(pk=self.sweep_id).first()
            if sweep is None:
                out.gone = True
                return out
            out.sweep = sweep
            ids = set(watched) | touched
            qs = Trial.objects.filter(sweep_id=self.sweep_id)
            qs = qs.filter(Q(pk__in=ids) | Q(pk__gt=max_trial))
            ctx = actions.context_for(sweep)
            out.trials = [queries.trial_row(v, ctx) for v in qs.values(*queries.TRIAL_FIELDS)]
        return out
