"""A page's first message: the sweep's state, recent events, and its curves up to a cursor.

Without a cursor the snapshot is full (thinned curves of the trials it carries rows of:
every trial of a small sweep, those worth watching of a big one, see
:mod:`~dashboard.live.limits`); with one (a reconnecting page) it carries the points after
it instead, so the page resumes with no gap and no duplicate.
"""

from __future__ import annotations

from typing import Any

from dashboard import analytics, plots
from sweeps import queries
from sweeps.models import MetricPoint, Sweep, Trial

from .limits import TRIAL_ROWS, bracket_view, curve_trials, visible_trials
from .streams import encode_points

CATCH_UP_LIMIT = 200_000  # a page further behind than this gets a fresh snapshot
SNAPSHOT_EVENTS = 50


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
    trials = {t["id"]: t for t in state["trials"]}
    # A big sweep's page draws the curves of some trials (the live ones and the best); the
    # rest come with their next points, or when the page asks for them.
    summary = state.get("sweep") or {}
    mode = (summary.get("objective") or {}).get("mode", "min")
    drawn = {t["id"]: t for t in curve_trials(state["trials"], mode)}
    total = summary.get("trials", len(trials))
    data = queries.metric_series(
        sweep_id,
        names=queries.SWEEP_CHART_METRICS,
        upto=upto,
        trials=list(drawn) if len(drawn) < total else None,
    )
    # The curve figures carry the thinned series; the page keeps them as its data.
    snap["figures"] = plots.chart_figures(data["series"], trials, compact=True)
    snap["curves"] = {"trials": len(drawn), "of": total}
    return snap


def page_snapshot(sweep: Sweep) -> dict[str, Any]:
    """The snapshot a sweep page embeds in its HTML (the view's first render, no tailer):
    the page then opens its socket with this cursor and resumes from it."""
    trials = queries.trial_rows(sweep)
    results = queries.rung_results(sweep)
    summary = queries.summarize(sweep, trials)
    plan = queries.planned_rungs(sweep, sorted({t["bracket"] for t in trials}))
    whole = queries.bracket_payload(sweep, trials, results, plan)
    state = {
        "sweep": summary,
        "trials": visible_trials(trials, sweep.objective_mode),
        "bracket": bracket_view(whole, (summary.get("best") or {}).get("id")),
    }
    upto = (
        MetricPoint.objects.filter(sweep=sweep).order_by("-id").values_list("id", flat=True).first()
    ) or 0
    snap = build_snapshot(sweep.pk, upto, None, None, state)
    # A big sweep's panels (1.3 MB of a 1.5 MB page at 10,000 trials) come over the
    # socket: the page draws them only once they are scrolled near, after its first draw.
    small = len(trials) <= TRIAL_ROWS
    snap["analytics"] = analytics.panels(summary, trials, results) if small else None
    return snap
