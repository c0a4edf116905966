"""GET /api/sweeps/<id>/bracket/: rungs, their trials ranked, promotions by rule or by hand."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from sweeps.models import RungResult, Sweep

pytestmark = pytest.mark.django_db


def test_bracket_shows_rungs_ranks_cuts_and_manual_promotions(
    viewer: Any, client_for: Any, sweep: Sweep
) -> None:
    t3 = sweep.trials.get(number=3)
    # Trial 3 had the worst rung-0 result but was promoted by hand.
    RungResult.objects.create(sweep=sweep, trial=t3, rung=0, budget=1, value=0.9)
    t3.manual_rungs = [1]
    t3.save(update_fields=["manual_rungs"])

    response = client_for(viewer).get(reverse("api-sweep-bracket", args=[sweep.pk]))
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["sweep"], body["metric"], body["mode"]) == (sweep.pk, "val_loss", "min")
    (bracket,) = body["brackets"]
    rungs = {r["rung"]: r for r in bracket["rungs"]}
    rung0 = [(c["number"], c["rank"], c["state"]) for c in rungs[0]["cells"]]
    # Ranked by the rung-0 result, best first; the pending trial has none yet.
    assert rung0[:3] == [(2, 1, "cut"), (1, 2, "promoted"), (3, 3, "promoted")]
    assert rung0[3][0] == 4 and rung0[3][1] is None
    promotions = {(p["trial"], p["from"], p["to"]): p["manual"] for p in bracket["promotions"]}
    t1 = sweep.trials.get(number=1)
    assert promotions[(t3.pk, 0, 1)] is True
    assert promotions[(t1.pk, 0, 1)] is False and promotions[(t1.pk, 1, 2)] is False
    assert [c["number"] for c in rungs[2]["cells"]] == [1]
    assert rungs[2]["cells"][0]["state"] == "completed"


def test_bracket_of_a_sweep_without_trials_is_empty(
    owner: Any, client_for: Any, sweep: Sweep
) -> None:
    sweep.trials.all().delete()
    body = client_for(owner).get(reverse("api-sweep-bracket", args=[sweep.pk])).json()
    assert body["sweep"] == sweep.pk
    assert all(cell == [] for b in body["brackets"] for r in b["rungs"] for cell in [r["cells"]])


def test_rungs_carry_the_cut_line_noise_flags_and_rank_correlation(
    owner: Any, client_for: Any
) -> None:
    from sweeps.models import RungResult
    from tests.api.factories import make_sweep, make_trial

    sweep = make_sweep(owner, scheduler={"name": "sha", "min_resource": 1, "max_resource": 3,
                                         "eta": 3})  # fmt: skip
    values = {1: (0.30, 0.20), 2: (0.40, 0.35), 3: (0.41, 0.42), 4: (0.60, None)}
    for number, (low, high) in values.items():
        promoted = high is not None
        trial = make_trial(sweep, number, status="running" if promoted else "stopped",
                           rung=1 if promoted else 0)  # fmt: skip
        se = 0.1 if number == 3 else 0.01  # trial 3's interval reaches across the cut
        RungResult.objects.create(sweep=sweep, trial=trial, rung=0, budget=1, value=low, se=se)
        if promoted:
            RungResult.objects.create(sweep=sweep, trial=trial, rung=1, budget=3, value=high)
    body = client_for(owner).get(reverse("api-sweep-bracket", args=[sweep.pk])).json()
    first = body["brackets"][0]["rungs"][0]
    assert first["cut"] == pytest.approx((0.41 + 0.60) / 2)
    assert [c["noise"] for c in first["cells"]] == [False, False, True, False]
    assert [c["se"] for c in first["cells"]] == [0.01, 0.01, 0.1, 0.01]
    # 3 trials in both rungs, the same order at 1 and 3 epochs.
    assert first["next_corr"] == {"rho": pytest.approx(1.0), "n": 3}
    assert body["brackets"][0]["rungs"][1]["next_corr"] is None
