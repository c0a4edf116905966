"""The halving picture of a sweep: for each bracket, its rungs as columns (budget on top)
and the trials that entered each rung, ranked by their rung result, with promotions (by
the rule or by hand) and the flags a page draws (cut, running, killed, ...).

:func:`build_bracket` is pure (rows in, dicts out) and tested without a database.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from sweeps.models import Sweep, Trial
from sweeps.queries.rows import finite, rung_results
from sweeps.states import TrialStatus

ACTIVE = ("pending", "running", "waiting", "paused")  # cells whose fate at a rung is open


def _rank_key(mode: str) -> Any:
    def key(cell: Mapping[str, Any]) -> tuple[int, float, int]:
        value = cell["value"]
        if value is None:
            # No result yet (or NaN): after every ranked trial, in trial order.
            return (1 if cell["has_result"] else 2, 0.0, cell["number"])
        return (0, value if mode == "min" else -value, cell["number"])

    return key


def build_bracket(
    trials: Iterable[Mapping[str, Any]],
    results: Iterable[Mapping[str, Any]],
    *,
    mode: str = "min",
    planned: Mapping[int, Mapping[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """The brackets of a sweep from its trial rows and rung results (pure).

    ``trials``: rows with id, number, status, bracket, rung, budget, manual_rungs (and
    tie_rungs: rungs entered as a tie, whose promotion reads ``tie``).
    ``results``: rows with trial, rung, budget, value, manual. ``planned``: optional
    bracket -> ``{"entry": first rung, "budgets": {rung: budget}, "sizes": {rung: n}}``
    (see :func:`planned_rungs`), to show rungs nobody reached yet and their planned size.

    Returns one dict per bracket, in bracket order::

        {"bracket": 0, "entry": 0,
         "rungs": [{"rung": 0, "budget": 1.0, "size": 9, "planned_size": 9,
                    "cut": 0.35, "next_corr": {"rho": 0.8, "n": 3},
                    "cells": [{"trial": 7, "number": 7, "value": 0.31, "se": 0.01, "rank": 1,
                               "noise": False, "status": "running", "state": "promoted",
                               "promoted_to": 1, "promotion": "rule" | "manual" | None,
                               "manual": False, "has_result": True}, ...]}, ...],
         "promotions": [{"trial": 7, "from": 0, "to": 1, "manual": False}, ...]}

    A trial is in every rung from the one it entered (its lowest result, or its current
    rung) up to its current one. In a rung, cells are ranked by that rung's result (best
    first; NaN results after, then trials still training, by number). ``state`` says what
    happened to the trial at that rung: ``promoted`` (went on; ``promotion`` says whether by
    the rule or by hand), or, at its current rung, its status: ``pending``, ``running``,
    ``waiting`` (rung done, awaiting the decision), ``paused``, ``cut`` (stopped by the
    scheduler), ``completed``, ``killed``, ``failed``, ``diverged``. ``manual`` marks a trial
    that entered this rung by a manual promotion.

    The science fair's confidence: ``se`` is a cell's standard error (when reported);
    ``cut`` is the line the rule drew between promoted and not (:func:`_cut_line`) and
    ``noise`` flags cells whose interval crosses it; ``next_corr`` is the rank correlation
    of the rung's results with the next rung's (:func:`rank_correlation`; None on the top
    rung).
    """
    by_trial: dict[int, dict[int, Mapping[str, Any]]] = defaultdict(dict)
    for r in results:
        by_trial[r["trial"]][r["rung"]] = r
    cells_at: dict[int, dict[int, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    budgets: dict[tuple[int, int], float] = {}
    promotions: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for t in trials:
        b, current = t["bracket"], t["rung"]
        own = by_trial.get(t["id"], {})
        manual_rungs = set(t.get("manual_rungs") or [])
        manual_rungs.update(rung for rung, res in own.items() if res.get("manual"))
        entry, top = min([current, *own]), max([current, *own])
        for rung in range(entry, top + 1):
            res = own.get(rung)
            if res is not None:
                budgets.setdefault((b, rung), res["budget"])
            elif rung == current and t.get("budget"):
                budgets.setdefault((b, rung), t["budget"])
            promotion: str | None = None
            if rung < top:
                state = "promoted"
                manual_next = (rung + 1) in manual_rungs
                tie = (rung + 1) in set(t.get("tie_rungs") or [])
                promotion = "manual" if manual_next else "tie" if tie else "rule"
                promotions[b].append(
                    {"trial": t["id"], "from": rung, "to": rung + 1, "manual": manual_next}
                )
            else:
                state = "cut" if t["status"] == TrialStatus.STOPPED else t["status"]
            cells_at[b][rung].append(
                {
                    "trial": t["id"],
                    "number": t["number"],
                    "value": finite(res["value"]) if res is not None else None,
                    "se": finite(res.get("se")) if res is not None else None,
                    "has_result": res is not None,
                    "rank": None,
                    "status": t["status"],
                    "state": state,
                    "promoted_to": rung + 1 if rung < top else None,
                    "promotion": promotion,
                    "manual": rung in manual_rungs and rung > entry,
                }
            )
    plans = planned or {}
    out: list[dict[str, Any]] = []
    for b in sorted(cells_at):
        plan = plans.get(b, {})
        plan_budgets: Mapping[int, float] = plan.get("budgets", {})
        plan_sizes: Mapping[int, int] = plan.get("sizes", {})
        observed = cells_at[b]
        first = min([*observed, plan.get("entry", min(observed))])
        last = max([*observed, *plan_budgets])
        rungs = []
        for rung in range(first, last + 1):
            cells = sorted(observed.get(rung, []), key=_rank_key(mode))
            rank = 0
            for cell in cells:
                if cell["value"] is not None:
                    rank += 1
                    cell["rank"] = rank
            rungs.append(
                {
                    "rung": rung,
                    "budget": plan_budgets.get(rung, budgets.get((b, rung))),
                    "size": len(cells),
                    "planned_size": plan_sizes.get(rung),
                    "cut": _cut_line(cells),
                    "next_corr": None,
                    "cells": cells,
                }
            )
        for low, high in zip(rungs, rungs[1:], strict=False):
            low["next_corr"] = rank_correlation(low["cells"], high["cells"])
        out.append(
            {"bracket": b, "entry": first, "rungs": rungs, "promotions": promotions.get(b, [])}
        )
    return out


# Intervals are value ± Z * se: the science fair's "average score ± its uncertainty" (95 %).
Z = 1.96


def _cut_line(cells: list[dict[str, Any]]) -> float | None:
    """Where the rule cut this rung: halfway between its worst trial promoted by the rule and
    its best trial with a result that was not promoted (None until both exist). Marks each
    ranked cell ``noise``: its interval (value ± Z se) reaches across that line, so the
    validation set cannot tell on which side it belongs ("within noise")."""
    ranked = [c for c in cells if c["rank"] is not None]
    kept = [c for c in ranked if c["promotion"] == "rule"]
    left = [c for c in ranked if c["promoted_to"] is None and c["state"] not in ACTIVE]
    for cell in cells:
        cell["noise"] = False
    if not kept or not left:
        return None
    line = (kept[-1]["value"] + left[0]["value"]) / 2
    for cell in ranked:
        se = cell["se"]
        cell["noise"] = se is not None and abs(cell["value"] - line) <= Z * se
    return line


def rank_correlation(
    cells: Iterable[Mapping[str, Any]], later: Iterable[Mapping[str, Any]]
) -> dict[str, Any] | None:
    """Spearman's rank correlation between two rungs' results over the trials in both
    ("does the small budget predict the large one?"); None under 3 such trials."""
    first = {c["trial"]: c["value"] for c in cells if c["value"] is not None}
    pairs = [
        (first[c["trial"]], c["value"])
        for c in later
        if c["value"] is not None and c["trial"] in first
    ]
    if len(pairs) < 3:
        return None
    xs, ys = _ranks([x for x, _ in pairs]), _ranks([y for _, y in pairs])
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    cov = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    spread = math.sqrt(sum((x - mx) ** 2 for x in xs) * sum((y - my) ** 2 for y in ys))
    return {"rho": cov / spread if spread else None, "n": len(pairs)}


def _ranks(values: list[float]) -> list[float]:
    """1-based ranks, ties sharing their average rank."""
    order = sorted(range(len(values)), key=values.__getitem__)
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def planned_rungs(sweep: Sweep, brackets: Iterable[int]) -> dict[int, dict[str, Any]]:
    """What the sweep's scheduler plans for each bracket: entry rung, budget per rung, and
    (for successive halving and Hyperband) how many trials each rung holds.

    Built from the sweep's settings with the pure scheduler classes (no sampler is fitted);
    {} when the settings cannot be read, and the bracket is then drawn from what happened.
    """
    from sweeps.search import build_scheduler, parse_space

    try:
        scheduler = build_scheduler(sweep.scheduler, parse_space(sweep.space), seed=sweep.seed)
    except (ValueError, KeyError, TypeError):
        return {}
    plan: dict[int, dict[str, Any]] = {}
    for b in brackets:
        shape = scheduler.shape(b) if hasattr(scheduler, "shape") else None
        entry = shape.entry_rung if shape is not None else 0
        rungs = range(entry, scheduler.top_rung + 1)
        plan[b] = {
            "entry": entry,
            "budgets": {r: scheduler.budget(r) for r in rungs},
            "sizes": (
                {entry + i: n for i, n in enumerate(shape.sizes)} if shape is not None else {}
            ),
        }
    return plan


def bracket(sweep: Sweep) -> dict[str, Any]:
    """The science-fair picture of a sweep.

    Returns ``{"sweep": id, "metric": name, "mode": "min"|"max", "unit": resource unit,
    "scheduler": name, "brackets": [...]}`` where each bracket is as in
    :func:`build_bracket`: rungs as columns with their budget, trials ranked by their rung
    result, promotions by the rule or by hand (``manual``), and each cell's state (cut,
    running, killed, diverged, paused, ...).
    """
    trials = list(
        Trial.objects.filter(sweep=sweep).values(
            "id", "number", "status", "bracket", "rung", "budget", "manual_rungs", "tie_rungs"
        )
    )
    results = rung_results(sweep)
    plan = planned_rungs(sweep, sorted({t["bracket"] for t in trials}))
    return bracket_payload(sweep, trials, results, plan)


def bracket_payload(
    sweep: Sweep,
    trials: Iterable[Mapping[str, Any]],
    results: Iterable[Mapping[str, Any]],
    plan: Mapping[int, Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """:func:`bracket` from rows already in hand (the live tailer keeps them in memory)."""
    return {
        "sweep": sweep.pk,
        "metric": sweep.objective_metric,
        "mode": sweep.objective_mode,
        "unit": sweep.resource_unit,
        "scheduler": (sweep.scheduler or {}).get("name", ""),
        "brackets": build_bracket(trials, results, mode=sweep.objective_mode, planned=plan),
    }
