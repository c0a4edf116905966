"""The synthetic curve is deterministic, fast, diverges on cue and changes rank with budget."""

from __future__ import annotations

import math
import time
from typing import Any

from trainers.runner import execute_segment

from .conftest import Effects, Spec

ARGS = {"steps_per_epoch": 20}


def run(cpu: Any, params: dict[str, Any], budget: float, **spec: Any) -> tuple[Any, Effects]:
    effects = Effects()
    args = {**ARGS, **spec.pop("trainer_args", {})}
    result = execute_segment(
        Spec("synthetic", params, budget, args, **spec), device=cpu, **effects.kwargs()
    )
    return result, effects


def values(effects: Effects, name: str) -> list[float | None]:
    return [v for _, v in effects.series(name)]


def test_same_params_and_seed_give_the_same_curve(cpu: Any) -> None:
    params = {"lr": 0.1, "width": 64, "momentum": 0.3}
    (_, a), (_, b) = run(cpu, params, 3, trial_id=1), run(cpu, params, 3, trial_id=2)
    for name in ("train_loss", "grad_norm", "val_loss"):
        assert values(a, name) == values(b, name)
    (_, c) = run(cpu, params, 3, seed=12)
    assert values(c, "train_loss") != values(a, "train_loss")


def test_reports_every_step_metric_and_epoch_metric(cpu: Any) -> None:
    result, effects = run(cpu, {"lr": 0.1}, 2)
    assert result.outcome == "done" and result.step == 40
    for name in ("train_loss", "grad_norm", "lr", "samples_per_s"):
        assert [s for s, _ in effects.series(name)] == list(range(1, 41))
    assert [s for s, _ in effects.series("val_loss")] == [20, 40]
    assert [s for s, _ in effects.series("val_acc")] == [20, 40]
    val = values(effects, "val_loss")
    assert values(effects, "val_acc") == [math.exp(-v) for v in val]  # type: ignore[operator]


def test_loss_falls(cpu: Any) -> None:
    _, effects = run(cpu, {"lr": 0.1, "width": 64}, 5)
    val = values(effects, "val_loss")
    assert val[-1] < val[0] / 2  # type: ignore[operator]


def test_diverges_exactly_above_diverge_lr(cpu: Any) -> None:
    args = {"trainer_args": {"diverge_lr": 0.5}}
    above, effects = run(cpu, {"lr": 1.0, "momentum": 0.5}, 20, **args)
    assert above.outcome == "diverged" and "train_loss was" in above.reason
    assert effects.series("train_loss")[-1][0] == above.step, "the last point shows where"
    below, _ = run(cpu, {"lr": 0.45, "momentum": 0.5}, 20, **args)
    assert below.outcome == "done" and math.isfinite(below.value)


def test_clipping_bounds_the_step_but_not_the_reported_norm(cpu: Any) -> None:
    params = {"lr": 0.05, "width": 512}
    _, free = run(cpu, params, 1)
    _, clipped = run(cpu, params, 1, trainer_args={"clip_grad_norm": 0.5})
    assert values(free, "grad_norm")[0] == values(clipped, "grad_norm")[0] > 0.5
    assert values(free, "val_loss") != values(clipped, "val_loss")


def test_ranking_changes_between_low_and_high_budget(cpu: Any) -> None:
    """Successive halving is not assumed right: a fast starter loses in the long run."""
    fast = {"lr": 0.3, "width": 64}
    slow = {"lr": 0.1, "width": 512}
    _, f = run(cpu, fast, 40)
    _, s = run(cpu, slow, 40)
    fv, sv = values(f, "val_loss"), values(s, "val_loss")
    assert fv[0] < sv[0]  # type: ignore[operator]
    assert fv[-1] > sv[-1]  # type: ignore[operator]


def test_step_sleep_slows_each_step(cpu: Any) -> None:
    started = time.monotonic()
    run(cpu, {"lr": 0.1}, 0.5, trainer_args={"step_sleep": 0.01})
    assert time.monotonic() - started >= 10 * 0.01


def test_stop_decision_is_obeyed_within_one_step(cpu: Any) -> None:
    effects = Effects(lambda n: "stop" if n >= 5 else "continue")
    result = execute_segment(
        Spec("synthetic", {"lr": 0.1}, 10, ARGS), device=cpu,
        reporter_options={"decision_seconds": 0}, **effects.kwargs(),
    )  # fmt: skip
    assert result.outcome == "stop" and result.step == 5
    assert result.checkpoint.endswith("a1-s5.pt") and result.resource_done == 0.25
