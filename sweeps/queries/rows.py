"""The rows the read side hands out, one shape per model, and the rules that make them JSON.

Every reader (the pages, the live tailer, the REST API, the exports) reads a trial, a sweep,
a rung result or a metric point through these shapes, so a value is made JSON-safe in one
place: :func:`finite` (NaN and inf become None, since JSON has no such numbers) for values
sent as stored, :func:`rounded` (five significant digits) for the curves pages draw, and
:func:`iso` for datetimes. :class:`RowEncoder` writes them, and turns any non-finite
float left into null by the same rule.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any, TypedDict, cast

from django.core.serializers.json import DjangoJSONEncoder

from sweeps.actions import RowContext, context_for, row_actions
from sweeps.buckets import finite, rounded
from sweeps.models import Event, RungResult, Sweep, Trial

__all__ = [
    "TRIAL_FIELDS", "BestTrial", "EventRow", "PointRow", "RowEncoder", "RungResultRow",
    "TrialRow", "events", "finite", "iso", "rounded", "rung_results", "trial_row", "trial_rows",
]  # fmt: skip


class TrialRow(TypedDict):
    """A trial as the pages and the socket read it (:func:`trial_row`)."""

    id: int
    number: int
    status: str
    params: dict[str, Any]
    manual: bool
    bracket: int
    rung: int
    budget: float
    manual_rungs: list[int]
    tie_rungs: list[int]
    step: int
    resource_done: float
    best_value: float | None
    worker: str
    error: str
    created_at: str | None
    started_at: str | None
    finished_at: str | None
    has_checkpoint: bool
    actions: list[str]


class BestTrial(TypedDict):
    """The trial with the best finite ``best_value`` of a sweep, and that value."""

    id: int
    number: int
    value: float


class RungResultRow(TypedDict):
    """The objective a trial reached at the end of one rung (:func:`rung_results`)."""

    id: int
    trial: int
    rung: int
    budget: float
    value: float | None
    se: float | None  # the value's standard error, when the trainer reports one
    manual: bool
    created_at: str | None


class PointRow(TypedDict):
    """One logged metric value; ``id`` is the live cursor."""

    id: int
    trial: int
    name: str
    step: int
    value: float | None
    time: float


class EventRow(TypedDict):
    """One audit event (:func:`events`)."""

    id: int
    trial: int | None
    trial_number: int | None
    user: str
    kind: str
    message: str
    created_at: str | None


class RowEncoder(DjangoJSONEncoder):
    """JSON for rows and what is built of them: Django's types as Django writes them, and
    NaN / inf as null (:func:`finite`), never the ``NaN`` token Python writes by default,
    which browsers' ``JSON.parse`` refuses."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["allow_nan"] = False
        super().__init__(*args, **kwargs)

    def encode(self, o: Any) -> str:
        try:
            return super().encode(o)
        except ValueError:
            # Rows come finite already; copying a whole snapshot to find a stray NaN is
            # paid only when there is one.
            return super().encode(_finite_tree(o))


def _finite_tree(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite_tree(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite_tree(v) for v in value]
    return value


TRIAL_FIELDS = (
    "id", "number", "status", "params", "manual", "bracket", "rung", "budget", "manual_rungs",
    "tie_rungs", "step", "resource_done", "best_value", "worker", "error", "created_at", "started_at",
    "finished_at", "checkpoint",
)  # fmt: skip


def iso(value: Any) -> str | None:
    """A datetime as the rows carry it: ISO 8601, or None."""
    return value.isoformat() if value is not None else None


# --- trials -------------------------------------------------------------------------------


def trial_row(values: Mapping[str, Any], ctx: RowContext) -> TrialRow:
    """A JSON-ready trial row from ``Trial.objects.values(*TRIAL_FIELDS)``, with the actions
    allowed on it now (``ctx``: its sweep's :class:`~sweeps.actions.RowContext`)."""
    row = dict(values)
    for key in ("created_at", "started_at", "finished_at"):
        row[key] = iso(row.get(key))
    row["best_value"] = finite(row.get("best_value"))
    row["manual_rungs"] = list(row.get("manual_rungs") or [])
    row["tie_rungs"] = list(row.get("tie_rungs") or [])
    row["error"] = (row.get("error") or "")[-500:]
    # Where the files are is the workers' business; the page needs whether they exist.
    row["has_checkpoint"] = bool(row.pop("checkpoint", ""))
    row["actions"] = row_actions("trial", row, ctx)
    return cast(TrialRow, row)


def trial_rows(sweep: Sweep | int, *, ids: Iterable[int] | None = None) -> list[TrialRow]:
    """The sweep's trials (or only ``ids``) as JSON-ready rows, in trial-number order.

    Keys: id, number, status, params, manual, bracket, rung, budget, manual_rungs, step,
    resource_done, best_value, worker, error (last 500 characters), created_at, started_at,
    finished_at, has_checkpoint, actions (the names of the actions allowed now).
    """
    if isinstance(sweep, int):
        sweep = Sweep.objects.get(pk=sweep)
    ctx = context_for(sweep)
    qs = Trial.objects.filter(sweep_id=sweep.pk)
    if ids is not None:
        qs = qs.filter(pk__in=list(ids))
    return [trial_row(v, ctx) for v in qs.order_by("number").values(*TRIAL_FIELDS)]


def rung_results(sweep: Sweep | int, *, after: int = 0) -> list[RungResultRow]:
    """The sweep's rung results with id > ``after``, oldest first: id, trial, rung, budget,
    value (None for NaN / inf), se (its standard error, or None), manual, created_at."""
    sweep_id = sweep if isinstance(sweep, int) else sweep.pk
    rows = RungResult.objects.filter(sweep_id=sweep_id, id__gt=after).order_by("id")
    return [
        {
            "id": r["id"],
            "trial": r["trial_id"],
            "rung": r["rung"],
            "budget": r["budget"],
            "value": finite(r["value"]),
            "se": finite(r["se"]),
            "manual": r["manual"],
            "created_at": iso(r["created_at"]),
        }
        for r in rows.values(
            "id", "trial_id", "rung", "budget", "value", "se", "manual", "created_at"
        )
    ]


def events(
    sweep: Sweep | int,
    *,
    after: int = 0,
    trial: int | None = None,
    limit: int = 200,
    newest: bool = False,
) -> list[EventRow]:
    """Audit events (who did what, when) with id > ``after``, oldest first.

    ``newest=True`` returns the last ``limit`` events instead of the first ones.
    """
    sweep_id = sweep if isinstance(sweep, int) else sweep.pk
    qs = Event.objects.filter(sweep_id=sweep_id, id__gt=after)
    if trial is not None:
        qs = qs.filter(trial_id=trial)
    fields = ("id", "trial_id", "trial__number", "user__username", "kind", "message", "created_at")
    if newest:
        rows = list(qs.order_by("-id").values(*fields)[:limit])[::-1]
    else:
        rows = list(qs.order_by("id").values(*fields)[:limit])
    return [
        {
            "id": r["id"],
            "trial": r["trial_id"],
            "trial_number": r["trial__number"],
            "user": r["user__username"] or "",
            "kind": r["kind"],
            "message": r["message"],
            "created_at": iso(r["created_at"]),
        }
        for r in rows
    ]
