"""A sweep as a pandas table, and that table as CSV, JSON or Parquet bytes.

Two tables: :func:`trials_frame` (one row per trial, params flattened to ``params.<name>``,
rung results to ``rung_<k>.value`` / ``rung_<k>.budget``) and :func:`metrics_frame` (the
long table of metric points). Both have fixed leading columns even when empty, so a script
can rely on them.
"""

from __future__ import annotations

import io
import json
from typing import Any

import pandas as pd

from sweeps.models import MetricPoint, Sweep, Trial

CONTENT_TYPES = {
    "csv": "text/csv",
    "json": "application/json",
    "parquet": "application/vnd.apache.parquet",
}
TRIAL_COLUMNS = [
    "sweep_id", "trial_id", "number", "status", "manual", "bracket", "rung", "budget",
    "resource_done", "step", "best_value", "attempt", "error", "created_at", "started_at",
    "finished_at",
]  # fmt: skip
METRIC_COLUMNS = ["trial_id", "number", "name", "step", "value", "time", "id"]
_DATETIMES = ("created_at", "started_at", "finished_at")


def _cell(value: Any) -> Any:
    # Params are scalars by the space's rules; anything nested is kept readable as JSON.
    return json.dumps(value, sort_keys=True) if isinstance(value, dict | list) else value


def trials_frame(sweep: Sweep) -> pd.DataFrame:
    """One row per trial, ordered by number."""
    rows: list[dict[str, Any]] = []
    param_names: dict[str, None] = {}
    rung_columns: set[tuple[int, str]] = set()
    for trial in (
        Trial.objects.filter(sweep=sweep).order_by("number").prefetch_related("rung_results")
    ):
        row: dict[str, Any] = {
            "sweep_id": sweep.pk,
            "trial_id": trial.pk,
            "number": trial.number,
            "status": trial.status,
            "manual": trial.manual,
            "bracket": trial.bracket,
            "rung": trial.rung,
            "budget": trial.budget,
            "resource_done": trial.resource_done,
            "step": trial.step,
            "best_value": trial.best_value,
            "attempt": trial.attempt,
            "error": trial.error,
            "created_at": trial.created_at,
            "started_at": trial.started_at,
            "finished_at": trial.finished_at,
        }
        params = trial.params if isinstance(trial.params, dict) else {}
        for name, value in params.items():
            param_names.setdefault(name)
            row[f"params.{name}"] = _cell(value)
        for result in trial.rung_results.all():
            rung_columns.add((result.rung, "budget"))
            rung_columns.add((result.rung, "value"))
            row[f"rung_{result.rung}.budget"] = result.budget
            row[f"rung_{result.rung}.value"] = result.value
        rows.append(row)
    columns = (
        TRIAL_COLUMNS
        + [f"params.{name}" for name in param_names]
        + [f"rung_{rung}.{what}" for rung, what in sorted(rung_columns)]
    )
    frame = pd.DataFrame(rows, columns=columns)
    for column in _DATETIMES:
        frame[column] = pd.to_datetime(frame[column], utc=True)
    for column in ("best_value", "budget", "resource_done"):
        frame[column] = frame[column].astype("float64")
    return frame


def metrics_frame(sweep: Sweep) -> pd.DataFrame:
    """Every metric point of the sweep: trial, trial number, name, step, value, time, id."""
    records = (
        MetricPoint.objects.filter(sweep=sweep)
        .order_by("id")
        .values_list("trial_id", "trial__number", "name", "step", "value", "time", "id")
    )
    frame = pd.DataFrame.from_records(records.iterator(chunk_size=20_000), columns=METRIC_COLUMNS)
    return frame.astype({"value": "float64", "time": "float64"})


def _arrow_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """Parquet columns have one type; a categorical param may mix (``[1, "auto"]``)."""
    frame = frame.copy()
    for column in frame.columns:
        if frame[column].dtype != object:
            continue
        kinds = {type(v) for v in frame[column] if v is not None and not pd.isna(v)}
        if len(kinds) > 1:
            frame[column] = frame[column].map(lambda v: None if v is None or pd.isna(v) else str(v))
    return frame


def render(frame: pd.DataFrame, fmt: str) -> tuple[bytes, str]:
    """``frame`` as ``fmt`` bytes and its content type; ValueError for an unknown format."""
    if fmt == "csv":
        return frame.to_csv(index=False).encode(), CONTENT_TYPES[fmt]
    if fmt == "json":
        text = frame.to_json(orient="records", date_format="iso", date_unit="us")
        return (text or "[]").encode(), CONTENT_TYPES[fmt]
    if fmt == "parquet":
        buffer = io.BytesIO()
        _arrow_safe(frame).to_parquet(buffer, index=False)
        return buffer.getvalue(), CONTENT_TYPES[fmt]
    raise ValueError(f"format must be one of {sorted(CONTENT_TYPES)}, got {fmt!r}")
