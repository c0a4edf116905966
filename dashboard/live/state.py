"""A sweep's live state, folded from what the tailer reads (pure: no database, no channels).

:class:`LiveState` holds what every page of a sweep is shown besides its curves: the trial
rows, the rung results, the bracket and the sweep's summary, with the cursors of the events
and results it has seen. The tailer hands it what a read found (:class:`Read`, or a batch
of points) and sends on the :class:`~dashboard.live.streams.Increment` it returns: only
what changed. The rows and the sweep come in already read, so a test folds plain data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sweeps import actions, queries
from sweeps.models import Sweep
from sweeps.states import TrialStatus

from .limits import bracket_view, visible_trials
from .streams import Increment, Row

REFRESH = 1.0  # seconds between re-reads of active trials and the sweep row when idle
# What the bracket is drawn from: a change to any other field leaves it as it is.
LIGHT_FIELDS = ("id", "number", "status", "bracket", "rung", "budget", "manual_rungs", "tie_rungs")


@dataclass
class Read:
    """What the state part of one tick read (in the reader thread); folded on the event loop.

    ``sweep`` is None when the tick did not re-read the sweep and its trials (nothing
    happened and the state is fresh); ``gone``: the sweep was deleted.
    """

    events: list[dict[str, Any]] = field(default_factory=list)
    results: list[dict[str, Any]] = field(default_factory=list)
    trials: list[dict[str, Any]] = field(default_factory=list)
    sweep: Sweep | None = None
    gone: bool = False


class LiveState:
    """The sweep's state as its pages see it; :meth:`fold` turns a read into the message."""

    def __init__(self) -> None:
        self.sweep: Sweep | None = None
        self.trials: dict[int, dict[str, Any]] = {}
        self.results: list[dict[str, Any]] = []
        self.plan: dict[int, dict[str, Any]] = {}
        self.summary: dict[str, Any] = {}
        self.bracket: dict[str, Any] = {}  # whole (page reads are answered from it)
        self.view: dict[str, Any] = {}  # the bracket as pages are sent it (bounded, folded)
        self.event_cursor = 0  # the newest event sent (or in the snapshots)
        self.result_cursor = 0  # the newest rung result folded in
        self.refreshed = 0.0  # when the sweep and its active trials were last read
        self.analytics_dirty = True  # the analysis panels are older than the bracket

    def start(
        self,
        sweep: Sweep,
        trials: list[dict[str, Any]],
        results: list[dict[str, Any]],
        event_cursor: int,
        now: float,
    ) -> None:
        """Begin from the whole state: the sweep, all its trial rows and rung results, and
        its newest event's id."""
        self.event_cursor = event_cursor
        self.results = results
        self.result_cursor = max((r["id"] for r in results), default=0)
        self.trials = {t["id"]: t for t in trials}
        self.sweep = sweep
        self.plan = queries.planned_rungs(sweep, sorted({t["bracket"] for t in trials}))
        self.summary = queries.summarize(sweep, list(self.trials.values()))
        self.bracket = self._bracket()
        self.view = self._view()
        self.refreshed = now

    # -- what the next read looks at --

    def idle(self, now: float) -> bool:
        """True when the sweep and its active trials are due for a re-read anyway."""
        return now - self.refreshed >= REFRESH

    def watched(self) -> list[int]:
        """Trials to re-read at every state read: active ones, and those whose worker has
        not let go yet (a killed trial's segment clears its worker a moment later, without
        an event)."""
        return [
            t["id"]
            for t in self.trials.values()
            if t["status"] in TrialStatus.ACTIVE or t["worker"]
        ]

    def max_trial(self) -> int:
        """The highest trial id known: any above it is new."""
        return max(self.trials, default=0)

    # -- folding --

    @staticmethod
    def points(rows: list[Row], cursor: int) -> Increment | None:
        """The increment carrying new points up to ``cursor`` (None: no points)."""
        return Increment(cursor, rows, {}) if rows else None

    def fold(self, read: Read, cursor: int, now: float) -> Increment | None:
        """Fold a read into the state; the increment to send (at the points ``cursor``),
        or None when nothing a page shows changed."""
        state: dict[str, Any] = {}
        if read.events:
            self.event_cursor = read.events[-1]["id"]
            state["events"] = read.events
        if read.results:
            self.results.extend(read.results)
            self.result_cursor = read.results[-1]["id"]
        structure = bool(read.results)
        if read.sweep is not None:
            self.refreshed = now
            changed = []
            for row in read.trials:
                old = self.trials.get(row["id"])
                if old != row:
                    if old is None or any(old.get(k) != row.get(k) for k in LIGHT_FIELDS):
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
            self.bracket = self._bracket()
            view = self._view()
            if view != self.view:
                # A big sweep's pages see its bracket folded: a change out of their sight
                # sends nothing.
                self.view = view
                state["bracket"] = view
            self.analytics_dirty = True
        if not state:
            return None
        return Increment(cursor, [], state)

    def snapshot(self) -> dict[str, Any]:
        """The state a page's snapshot starts from: the summary, the trial rows worth
        watching (every row of a small sweep; ``summary["trials"]`` says how many there
        are) and the bracket's view (see :mod:`~dashboard.live.limits`)."""
        mode = self.sweep.objective_mode if self.sweep is not None else "min"
        return {
            "sweep": self.summary,
            "trials": visible_trials(list(self.trials.values()), mode),
            "bracket": self.view,
        }

    def _view(self) -> dict[str, Any]:
        best = (self.summary.get("best") or {}).get("id")
        return bracket_view(self.bracket, best)

    def _bracket(self) -> dict[str, Any]:
        assert self.sweep is not None
        light = [{k: t.get(k) for k in LIGHT_FIELDS} for t in self.trials.values()]
        return queries.bracket_payload(self.sweep, light, self.results, self.plan)

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
        # ``tested``: once the test set is used, the final evaluation is no longer offered.
        return (sweep.status, sweep.concurrency, sweep.max_trials, sweep.error, sweep.finished_at,
                sweep.tested)  # fmt: skip
