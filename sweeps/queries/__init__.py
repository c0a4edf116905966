"""Read-side queries shared by the dashboard and the REST API. Nothing here writes.

One module per job, every public name re-exported here:

* :mod:`~sweeps.queries.rows` — one row shape per model (trial, rung result, point, event)
  and the one rule that makes values JSON-safe: :func:`trial_rows`, :func:`rung_results`,
  :func:`events`.
* :mod:`~sweeps.queries.summaries` — counts, progress and the best trial:
  :func:`sweep_summary` / :func:`summarize` for one sweep, :func:`sweep_summaries` (the
  list page) and :func:`sweep_totals` (the API) for a list in a fixed number of queries.
* :mod:`~sweeps.queries.bracket` — the halving picture: :func:`bracket`.
* :mod:`~sweeps.queries.series` — curves thinned to a point budget: :func:`metric_series`,
  :func:`trial_series`, :func:`points_after`; the bucket arithmetic is
  :mod:`sweeps.buckets`, shared with ingest.
* :mod:`~sweeps.queries.results` — each trial's final result, what the analysis panels
  read (parameter importance itself lives with them, in :mod:`dashboard.analytics`).
* :mod:`~sweeps.queries.workers` — the workers, their state and the trial each trains:
  :func:`worker_rows`; :func:`live_workers` (what a launch checks).
"""

from __future__ import annotations

from sweeps.buckets import (  # the read side and ingest share the arithmetic
    FINEST,
    ROLLUP_LEVELS,
    Bucket,
    bucket_width,
    draw_buckets,
    fold_buckets,
)
from sweeps.queries.bracket import bracket, bracket_payload, build_bracket, planned_rungs
from sweeps.queries.results import trial_results
from sweeps.queries.rows import (
    TRIAL_FIELDS,
    BestTrial,
    EventRow,
    PointRow,
    RowEncoder,
    RungResultRow,
    TrialRow,
    events,
    finite,
    iso,
    rounded,
    rung_results,
    trial_row,
    trial_rows,
)
from sweeps.queries.series import (
    SERIES_MAX_POINTS,
    SERIES_MIN_POINTS,
    SERIES_TOTAL_POINTS,
    SWEEP_CHART_METRICS,
    downsample,
    downsample_indices,
    downsample_points,
    metric_series,
    points_after,
    series_budget,
    trial_series,
)
from sweeps.queries.summaries import (
    best_so_far,
    best_trial,
    status_counts,
    summarize,
    sweep_state,
    sweep_summaries,
    sweep_summary,
    sweep_totals,
)
from sweeps.queries.workers import (
    WORKER_STATES,
    WorkerRow,
    WorkerTrial,
    live_workers,
    worker_rows,
)

__all__ = [
    "FINEST", "ROLLUP_LEVELS", "SERIES_MAX_POINTS", "SERIES_MIN_POINTS", "SERIES_TOTAL_POINTS",
    "SWEEP_CHART_METRICS", "TRIAL_FIELDS", "BestTrial", "Bucket", "EventRow", "PointRow",
    "RowEncoder", "RungResultRow", "TrialRow", "best_so_far", "best_trial", "bracket",
    "bracket_payload", "bucket_width", "build_bracket", "downsample", "downsample_indices",
    "downsample_points", "draw_buckets", "events", "finite", "fold_buckets", "iso",
    "metric_series", "planned_rungs", "points_after", "rounded", "rung_results",
    "series_budget", "status_counts", "summarize", "sweep_state", "sweep_summaries",
    "sweep_summary", "sweep_totals",
    "trial_results", "trial_row", "trial_rows", "trial_series",
    "WORKER_STATES", "WorkerRow", "WorkerTrial", "live_workers", "worker_rows",
]  # fmt: skip
