"""The bracket structure: rungs as columns, ranking, promotions by rule and by hand, flags."""

from __future__ import annotations

from typing import Any

import pytest

from sweeps import queries
from tests.factories import add_result, build_sha_sweep, make_sweep, make_trial

# Task sends are recorded, never sent to a broker (the root conftest's sent_tasks).
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("sent_tasks")]


def _cells(rung: dict[str, Any]) -> dict[int, dict[str, Any]]:
    return {c["number"]: c for c in rung["cells"]}


def test_rungs_are_columns_with_budget_and_size(user: Any) -> None:
    data = build_sha_sweep(user)
    out = queries.bracket(data["sweep"])
    assert out["mode"] == "min" and out["metric"] == "val_loss"
    [b0] = out["brackets"]
    assert [r["budget"] for r in b0["rungs"]] == [1.0, 3.0, 9.0]
    assert [r["size"] for r in b0["rungs"]] == [9, 4, 1]
    # The scheduler's plan (sha, eta 3): 9 -> 3 -> 1; the manual promotion is the 4th.
    assert [r["planned_size"] for r in b0["rungs"]] == [9, 3, 1]


def test_cells_are_ranked_by_rung_result_best_first(user: Any) -> None:
    out = queries.bracket(build_sha_sweep(user)["sweep"])
    rung0, rung1, _ = out["brackets"][0]["rungs"]
    assert [c["number"] for c in rung0["cells"]] == [1, 2, 3, 4, 5, 6, 7, 8, 9]
    assert [c["rank"] for c in rung0["cells"]] == [1, 2, 3, 4, 5, 6, 7, 8, None]
    # Rung 1: results first (0.05 then 0.15), then the trials still training, by number.
    assert [c["number"] for c in rung1["cells"]] == [1, 2, 3, 6]
    assert [c["rank"] for c in rung1["cells"]] == [1, 2, None, None]


def test_max_mode_ranks_high_values_first(user: Any) -> None:
    data = build_sha_sweep(user)
    data["sweep"].objective_mode = "max"
    data["sweep"].save(update_fields=["objective_mode"])
    rung0 = queries.bracket(data["sweep"])["brackets"][0]["rungs"][0]
    assert [c["number"] for c in rung0["cells"]][:3] == [8, 7, 6]


def test_promotions_distinguish_rule_and_manual(user: Any) -> None:
    data = build_sha_sweep(user)
    b0 = queries.bracket(data["sweep"])["brackets"][0]
    ids = {n: t.pk for n, t in data["trials"].items()}
    promotions = {(p["trial"], p["from"], p["to"]): p["manual"] for p in b0["promotions"]}
    assert promotions == {
        (ids[1], 0, 1): False,
        (ids[1], 1, 2): False,
        (ids[2], 0, 1): False,
        (ids[3], 0, 1): False,
        (ids[6], 0, 1): True,
    }
    rung0, rung1, _ = b0["rungs"]
    assert _cells(rung0)[6]["promotion"] == "manual"
    assert _cells(rung0)[1]["promotion"] == "rule"
    assert _cells(rung1)[6]["manual"] is True
    assert _cells(rung1)[2]["manual"] is False


def test_cell_states_mark_cut_running_killed_diverged_paused(user: Any) -> None:
    b0 = queries.bracket(build_sha_sweep(user)["sweep"])["brackets"][0]
    rung0, rung1, rung2 = (_cells(r) for r in b0["rungs"])
    assert rung0[4]["state"] == "cut" and rung0[7]["state"] == "cut"
    assert rung0[8]["state"] == "killed"
    assert rung0[9]["state"] == "diverged" and rung0[9]["value"] is None
    assert rung0[1]["state"] == "promoted" and rung1[1]["state"] == "promoted"
    assert rung2[1]["state"] == "running"
    assert rung1[2]["state"] == "waiting" and rung1[3]["state"] == "running"
    assert rung1[6]["state"] == "paused"


def test_manual_result_flag_marks_manual_promotion_without_trial_field() -> None:
    trials = [
        {"id": 1, "number": 1, "status": "waiting", "bracket": 0, "rung": 1, "budget": 3.0},
        {"id": 2, "number": 2, "status": "stopped", "bracket": 0, "rung": 0, "budget": 1.0},
    ]
    results = [
        {"trial": 1, "rung": 0, "budget": 1.0, "value": 0.9, "manual": False},
        {"trial": 1, "rung": 1, "budget": 3.0, "value": 0.5, "manual": True},
        {"trial": 2, "rung": 0, "budget": 1.0, "value": 0.1, "manual": False},
    ]
    [b] = queries.build_bracket(trials, results, mode="min")
    assert b["promotions"] == [{"trial": 1, "from": 0, "to": 1, "manual": True}]
    assert b["rungs"][0]["cells"][0]["number"] == 2  # the better value ranks first


def test_planned_rungs_show_empty_columns() -> None:
    trials = [{"id": 1, "number": 1, "status": "running", "bracket": 0, "rung": 0, "budget": 1}]
    plan = {0: {"entry": 0, "budgets": {0: 1.0, 1: 3.0, 2: 9.0}, "sizes": {0: 9, 1: 3, 2: 1}}}
    [b] = queries.build_bracket(trials, [], planned=plan)
    assert [(r["budget"], r["size"], r["planned_size"]) for r in b["rungs"]] == [
        (1.0, 1, 9),
        (3.0, 0, 3),
        (9.0, 0, 1),
    ]


def test_hyperband_brackets_start_at_their_entry_rung(user: Any) -> None:
    sweep = make_sweep(
        user, scheduler={"name": "hyperband", "min_resource": 1, "max_resource": 81, "eta": 3}
    )
    make_trial(sweep, 1, bracket=0, rung=0, budget=1.0, status="running")
    late = make_trial(sweep, 2, bracket=1, rung=1, budget=3.0, status="waiting")
    add_result(late, 1, 3.0, 0.2)
    out = queries.bracket(sweep)["brackets"]
    assert [b["entry"] for b in out] == [0, 1]
    assert [r["budget"] for r in out[0]["rungs"]] == [1, 3, 9, 27, 81]
    assert [r["planned_size"] for r in out[0]["rungs"]] == [81, 27, 9, 3, 1]
    assert [(r["rung"], r["budget"], r["planned_size"]) for r in out[1]["rungs"]] == [
        (1, 3, 27),
        (2, 9, 9),
        (3, 27, 3),
        (4, 81, 1),
    ]
    assert out[1]["rungs"][0]["cells"][0]["manual"] is False


def test_several_brackets_are_kept_apart() -> None:
    trials = [
        {"id": 1, "number": 1, "status": "running", "bracket": 0, "rung": 0, "budget": 1},
        {"id": 2, "number": 2, "status": "running", "bracket": 1, "rung": 0, "budget": 3},
    ]
    out = queries.build_bracket(trials, [])
    assert [(b["bracket"], b["rungs"][0]["budget"]) for b in out] == [(0, 1), (1, 3)]
