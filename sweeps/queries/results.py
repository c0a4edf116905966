"""Each trial's final result, the rows the analysis panels (:mod:`dashboard.analytics`)
read. Pure: trial rows and rung results in, rows out."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sweeps.queries.rows import finite


def trial_results(
    trials: Iterable[Mapping[str, Any]], results: Iterable[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """Per trial, its result at the highest rung it finished (pure): rows with trial,
    number, params, status, rung, budget, value and time (ISO, of that result), in
    trial-number order. Trials without a finite result are left out."""
    last: dict[int, Mapping[str, Any]] = {}
    for r in results:
        if finite(r.get("value")) is None:
            continue
        prev = last.get(r["trial"])
        if prev is None or r["rung"] > prev["rung"]:
            last[r["trial"]] = r
    out = []
    for t in sorted(trials, key=lambda t: t["number"]):
        r = last.get(t["id"])
        if r is None:
            continue
        out.append(
            {
                "trial": t["id"],
                "number": t["number"],
                "params": t.get("params") or {},
                "status": t["status"],
                "rung": r["rung"],
                "budget": r["budget"],
                "value": r["value"],
                "time": r.get("created_at"),
            }
        )
    return out
