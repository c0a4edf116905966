"""A sweep as a pandas table, and that table as CSV, JSON or Parquet bytes.

Two tables: :func:`trials_frame` (one row per trial, params flattened to ``params.<name>``,
rung results to ``rung_<k>.value`` / ``rung_<k>.budget``) and :func:`metrics_frame` (the
long table of metric points). Both have fixed leading columns even when empty, so a script
can rely on them.

CSV and JSON are also made as a stream (:func:`stream_trials`, :func:`stream_metrics`):
rows read a chunk at a time (:data:`CHUNK_ROWS` points, :data:`TRIAL_CHUNK_ROWS`
trials) and written chunk by chunk, so memory stays flat
however large the sweep; the bytes are those of the whole table rendered at once.
"""

from __future__ import annotations

import io
import itertools
import json
from collections import defaultdict
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from sweeps.models import MetricPoint, RungResult, Sweep, Trial

if TYPE_CHECKING:
    import pandas as pd

# pandas is imported in the functions that build a table: it costs ~0.5 s and ~40 MB at
# import, which every process loading the URLconf (web, `up`, workers) paid for an export
# few of them ever make.

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
_FLOATS = ("best_value", "budget", "resource_done")
# Rows per database fetch and per written chunk. A 10,000-trial export with metrics held
# the whole table and its text at once (750,000 points: 331 MB at its peak, tracemalloc);
# 5,000 points a chunk peak at 5 MB. A trial row (its params, its rung results) is heavier.
CHUNK_ROWS = 5_000
TRIAL_CHUNK_ROWS = 500
# How a whole table writes a datetime column whose values have microseconds (Django's
# always do); a chunk must not decide by its own values.
_CSV_DATETIME = "%Y-%m-%d %H:%M:%S.%f+00:00"


def _cell(value: Any) -> Any:
    # Params are scalars by the space's rules; anything nested is kept readable as JSON.
    return json.dumps(value, sort_keys=True) if isinstance(value, dict | list) else value


_TRIAL_FIELDS = (
    "id", "number", "status", "manual", "bracket", "rung", "budget", "resource_done", "step",
    "best_value", "attempt", "error", "created_at", "started_at", "finished_at", "params",
)  # fmt: skip


def _trial_rows(sweep: Sweep) -> Iterator[dict[str, Any]]:
    """The trials table's rows by number, read :data:`TRIAL_CHUNK_ROWS` trials (and their
    rung results) at a time. Plain values, not model objects with prefetched results: those
    cost 2.5 kB a trial more at the peak (tracemalloc, 6,000 trials)."""
    trials = (
        Trial.objects.filter(sweep=sweep)
        .order_by("number")
        .values(*_TRIAL_FIELDS)
        .iterator(chunk_size=TRIAL_CHUNK_ROWS)
    )
    for chunk in _chunks(trials, TRIAL_CHUNK_ROWS):
        results: dict[int, list[tuple[int, float, float | None]]] = defaultdict(list)
        for trial_id, rung, budget, value in RungResult.objects.filter(
            trial_id__in=[trial["id"] for trial in chunk]
        ).values_list("trial_id", "rung", "budget", "value"):
            results[trial_id].append((rung, budget, value))
        for trial in chunk:
            yield _trial_row(sweep, trial, results[trial["id"]])


def _trial_row(
    sweep: Sweep, trial: dict[str, Any], results: list[tuple[int, float, float | None]]
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "sweep_id": sweep.pk,
        "trial_id": trial["id"],
        **{name: trial[name] for name in TRIAL_COLUMNS[2:]},
    }
    params = trial["params"] if isinstance(trial["params"], dict) else {}
    for name, value in params.items():
        row[f"params.{name}"] = _cell(value)
    for rung, budget, value in results:
        row[f"rung_{rung}.budget"] = budget
        row[f"rung_{rung}.value"] = value
    return row


def _kind(value: Any) -> str:
    if value is None:
        return "missing"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "other"
    return "float" if isinstance(value, float) else "int"


def trial_columns(sweep: Sweep) -> tuple[list[str], set[str]]:
    """The trials table's columns (the fixed ones, each param in the order trials first name
    it, then each rung's budget and value), and the param columns that a table built at
    once holds as floats (pandas' rule): numbers only, and a float among them or a trial
    without one."""
    kinds: dict[str, set[str]] = {}
    present: dict[str, int] = {}
    trials = 0
    for params in (
        Trial.objects.filter(sweep=sweep)
        .order_by("number")
        .values_list("params", flat=True)
        .iterator(chunk_size=CHUNK_ROWS)
    ):
        trials += 1
        for name, value in (params if isinstance(params, dict) else {}).items():
            kinds.setdefault(name, set()).add(_kind(value))
            present[name] = present.get(name, 0) + 1
    for name in kinds:
        if present[name] < trials:
            kinds[name].add("missing")
    floats = {
        f"params.{name}"
        for name, found in kinds.items()
        if "other" not in found and found & {"int", "float"} and found & {"float", "missing"}
    }
    rungs = RungResult.objects.filter(trial__sweep=sweep).values_list("rung", flat=True)
    columns = (
        TRIAL_COLUMNS
        + [f"params.{name}" for name in kinds]
        + [f"rung_{rung}.{what}" for rung in sorted(set(rungs)) for what in ("budget", "value")]
    )
    return columns, floats


def trials_frame(sweep: Sweep) -> pd.DataFrame:
    """One row per trial, ordered by number."""
    import pandas as pd

    columns, _ = trial_columns(sweep)
    frame = pd.DataFrame(list(_trial_rows(sweep)), columns=columns)
    for column in _DATETIMES:
        frame[column] = pd.to_datetime(frame[column], utc=True)
    for column in _FLOATS:
        frame[column] = frame[column].astype("float64")
    return frame


def metrics_frame(sweep: Sweep) -> pd.DataFrame:
    """Every metric point of the sweep: trial, trial number, name, step, value, time, id."""
    import pandas as pd

    records = (
        MetricPoint.objects.filter(sweep=sweep)
        .order_by("id")
        .values_list("trial_id", "trial__number", "name", "step", "value", "time", "id")
    )
    frame = pd.DataFrame.from_records(records.iterator(chunk_size=20_000), columns=METRIC_COLUMNS)
    return frame.astype({"value": "float64", "time": "float64"})


def _chunks(rows: Iterable[Any], size: int) -> Iterator[list[Any]]:
    iterator = iter(rows)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


def _trial_chunks(sweep: Sweep, columns: list[str], floats: set[str]) -> Iterator[pd.DataFrame]:
    import pandas as pd

    # Each column gets the type the whole table gives it, never one a chunk's own values
    # suggest: a chunk where an int param is never inactive would write 64, not 64.0.
    rung_columns = [c for c in columns if c.startswith("rung_")]
    for chunk in _chunks(_trial_rows(sweep), TRIAL_CHUNK_ROWS):
        frame = pd.DataFrame(chunk, columns=columns, dtype=object)
        for column in _DATETIMES:
            frame[column] = pd.to_datetime(frame[column], utc=True)
        for column in (*_FLOATS, *rung_columns, *floats):
            frame[column] = frame[column].astype("float64")
        yield frame


def _metric_chunks(sweep: Sweep) -> Iterator[pd.DataFrame]:
    import pandas as pd

    records = (
        MetricPoint.objects.filter(sweep=sweep)
        .order_by("id")
        .values_list("trial_id", "trial__number", "name", "step", "value", "time", "id")
    )
    for chunk in _chunks(records.iterator(chunk_size=CHUNK_ROWS), CHUNK_ROWS):
        frame = pd.DataFrame.from_records(chunk, columns=METRIC_COLUMNS)
        yield frame.astype({"value": "float64", "time": "float64"})


def _stream(frames: Iterable[pd.DataFrame], columns: list[str], fmt: str) -> Iterator[bytes]:
    import pandas as pd

    if fmt == "csv":
        yield pd.DataFrame(columns=columns).to_csv(index=False).encode()  # the header
        for frame in frames:
            for column in _DATETIMES:
                if column in frame:
                    frame[column] = frame[column].dt.strftime(_CSV_DATETIME)
            yield frame.to_csv(index=False, header=False).encode()
    elif fmt == "json":
        yield b"["
        separator = b""
        for frame in frames:
            text = frame.to_json(orient="records", date_format="iso", date_unit="us") or "[]"
            yield separator + text[1:-1].encode()  # the records, without the brackets
            separator = b","
        yield b"]"
    else:
        raise ValueError(f"a stream's format must be csv or json, got {fmt!r}")


def stream_trials(sweep: Sweep, fmt: str) -> Iterator[bytes]:
    """The trials table (:func:`trials_frame`) as CSV or JSON, chunk by chunk."""
    columns, floats = trial_columns(sweep)
    return _stream(_trial_chunks(sweep, columns, floats), columns, fmt)


def stream_metrics(sweep: Sweep, fmt: str) -> Iterator[bytes]:
    """The metric points (:func:`metrics_frame`) as CSV or JSON, chunk by chunk."""
    return _stream(_metric_chunks(sweep), METRIC_COLUMNS, fmt)


def _arrow_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """Parquet columns have one type; a categorical param may mix (``[1, "auto"]``)."""
    import pandas as pd

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
