"""Figures say "no points yet" when empty, and parallel coordinates angle names that would
not fit side by side (pure functions, no browser: the browser test checks the drawing)."""

from __future__ import annotations

from dashboard import plots
from tests.dashboard.test_browser_polish import SPACE_8


def row(n: int, params: dict[str, object]) -> dict[str, object]:
    return {"trial": n, "number": n, "params": params, "status": "stopped", "rung": 0,
            "budget": 1.0, "value": 0.1 * n, "time": None}  # fmt: skip


def test_empty_history_and_parallel_say_no_points_yet() -> None:
    history = plots.history_figure([], mode="min", metric="val_loss")
    parallel = plots.parallel_figure([], SPACE_8, metric="val_loss", mode="min")
    for figure in (history, parallel):
        assert figure["layout"]["annotations"] == [plots.NO_POINTS]
    assert plots.NO_POINTS["text"] == "no points yet"
    full = plots.history_figure([row(1, {})], mode="min", metric="val_loss")
    assert "annotations" not in full["layout"]


def test_eight_parameter_names_are_angled_with_room_above_and_right() -> None:
    figure = plots.parallel_figure([row(1, {})], SPACE_8, metric="val_loss", mode="min")
    trace, margin = figure["data"][0], figure["layout"]["margin"]
    assert trace["labelangle"] == -45
    longest = max(len(d["label"]) for d in trace["dimensions"])  # "learning_rate (log)"
    assert margin["t"] >= plots.TITLE_PX + longest * plots.LABEL_CHAR_PX * 0.7
    assert figure["layout"]["title"]["yanchor"] == "top"


def test_a_few_short_names_stay_level() -> None:
    space = {"lr": {"type": "float", "low": 1e-4, "high": 0.1, "log": True},
             "opt": {"type": "categorical", "choices": ["adam", "sgd"]}}  # fmt: skip
    figure = plots.parallel_figure([row(1, {"lr": 0.01, "opt": "sgd"})], space,
                                   metric="val_loss", mode="min")  # fmt: skip
    assert figure["data"][0]["labelangle"] == 0
    assert figure["layout"]["margin"]["t"] == 80
