"""Figures are pure functions of rows."""

from __future__ import annotations

import json

import pytest

from dashboard import plots

TRIALS = {1: {"id": 1, "number": 1}, 2: {"id": 2, "number": 2}}
SERIES = [
    {"trial": 2, "name": "train_loss", "step": [0, 1], "value": [1.0, 0.5]},
    {"trial": 1, "name": "train_loss", "step": [0, 1], "value": [2.0, 1.5]},
    {"trial": 1, "name": "val_loss", "step": [1], "value": [1.7]},
    {"trial": 1, "name": "grad_norm", "step": [0, 1], "value": [3.0, 2.0]},
    {"trial": 9, "name": "train_loss", "step": [0], "value": [1.0]},  # unknown trial
]


def test_curves_are_one_trace_per_trial_and_metric_coloured_by_trial() -> None:
    fig = plots.curves_figure(
        SERIES, TRIALS, metrics=("train_loss", "val_loss"), title="t", y_title="loss"
    )
    metas = [(t["meta"]["number"], t["meta"]["metric"]) for t in fig["data"]]
    assert metas == [(1, "train_loss"), (2, "train_loss"), (1, "val_loss")]
    assert (
        fig["data"][0]["line"]["color"] == fig["data"][2]["line"]["color"] == plots.trial_color(1)
    )
    assert fig["data"][1]["line"]["color"] != plots.trial_color(1)
    assert fig["data"][2]["mode"] == "lines+markers" and fig["data"][2]["line"]["dash"] == "dot"
    assert fig["layout"]["meta"]["metrics"] == ["train_loss", "val_loss"]
    assert fig["layout"]["yaxis"]["type"] == "linear"
    json.dumps(fig)  # plain JSON, ready for Plotly.react


def test_chart_figures_split_metrics_and_log_toggle() -> None:
    figs = plots.chart_figures(SERIES, TRIALS)
    assert [t["meta"]["metric"] for t in figs["grad"]["data"]] == ["grad_norm"]
    assert figs["lr"]["data"] == []
    fig = plots.curves_figure(
        SERIES, TRIALS, metrics=("grad_norm",), title="g", y_title="g", log_y=True
    )
    assert fig["layout"]["yaxis"]["type"] == "log"


def test_history_has_best_so_far_line() -> None:
    rows = [
        {
            "trial": 1,
            "number": 1,
            "rung": 0,
            "budget": 1,
            "value": 0.5,
            "time": "2026-01-01T00:00:01",
        },
        {
            "trial": 2,
            "number": 2,
            "rung": 1,
            "budget": 3,
            "value": 0.7,
            "time": "2026-01-01T00:00:02",
        },
        {
            "trial": 3,
            "number": 3,
            "rung": 1,
            "budget": 3,
            "value": 0.2,
            "time": "2026-01-01T00:00:03",
        },
    ]
    fig = plots.history_figure(rows, mode="min", metric="val_loss")
    points, best = fig["data"]
    assert points["x"] == [1, 2, 3] and points["marker"]["color"] == [0, 1, 1]
    # The step line keeps the points where the best changes, and the last one.
    assert best["x"] == [1, 3] and best["y"] == [0.5, 0.2]
    best_max = plots.history_figure(rows, mode="max", metric="acc")["data"][1]
    assert best_max["x"] == [1, 2, 3] and best_max["y"] == [0.5, 0.7, 0.7]
    by_time = plots.history_figure(rows, mode="min", metric="val_loss", x="time")
    assert by_time["layout"]["xaxis"]["type"] == "date"


def test_parallel_coordinates_encode_log_and_categorical_axes() -> None:
    space = {
        "lr": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True},
        "opt": {"type": "categorical", "choices": ["adam", "sgd"]},
        "mom": {
            "type": "float",
            "low": 0.0,
            "high": 0.9,
            "condition": {"parent": "opt", "values": ["sgd"]},
        },
    }
    rows = [
        {"params": {"lr": 1e-3, "opt": "sgd", "mom": 0.5}, "value": 0.3},
        {"params": {"lr": 1e-2, "opt": "adam"}, "value": 0.1},
    ]
    [trace] = plots.parallel_figure(rows, space, metric="val_loss", mode="min")["data"]
    lr, opt, mom, objective = trace["dimensions"]
    assert lr["values"] == [-3.0, -2.0] and lr["ticktext"][0] == "1e-4"
    assert opt["values"] == [1, 0] and opt["ticktext"] == ["adam", "sgd"]
    assert mom["values"] == [0.5, 0.0]  # inactive: bottom of its axis
    assert objective["values"] == [0.3, 0.1]
    assert trace["line"]["reversescale"] is True


@pytest.mark.parametrize("mode", ["min", "max"])
def test_parallel_coordinates_of_a_big_sweep_show_its_best_and_say_so(mode: str) -> None:
    space = {"x": {"type": "float", "low": 0.0, "high": 10.0}}
    rows = [{"number": i, "params": {"x": i / 10}, "value": float(i % 7)} for i in range(1, 51)]
    figure = plots.parallel_figure(rows, space, metric="m", mode=mode, limit=10)
    [trace] = figure["data"]
    kept = trace["dimensions"][-1]["values"]
    assert len(kept) == 10
    best = sorted((r["value"] for r in rows), reverse=mode == "max")[:10]
    assert sorted(kept) == sorted(best)
    assert "the best 10 of 50 trials" in figure["layout"]["title"]["text"]
    small = plots.parallel_figure(rows[:10], space, metric="m", mode=mode, limit=10)
    assert small["layout"]["title"]["text"] == "Parameters and objective"


def test_importance_bars_largest_on_top_and_empty_note() -> None:
    fig = plots.importance_figure({"lr": 0.7, "layers": 0.3})
    assert fig["data"][0]["y"] == ["layers", "lr"]
    assert "annotations" not in fig["layout"]
    [note] = plots.importance_figure({})["layout"]["annotations"]
    assert note["text"] == "needs 4 finished trials with different results"
    pending = plots.importance_figure(None)  # not computed yet: the socket brings it
    assert pending["layout"]["annotations"][0]["text"] == "computing…"
    assert pending["data"][0]["y"] == []


def test_surrogate_figure_has_band_mean_results_and_acquisition() -> None:
    expl = {
        "param": "lr", "rung": 1, "acq_func": "EI", "values": [0.1, 0.2], "mean": [1.0, 2.0],
        "std": [0.5, 0.1], "acquisition": [0.3, 0.0], "observed": [(0.1, 1.1)], "log": True,
    }  # fmt: skip
    fig = plots.surrogate_figure(expl, metric="val_loss")
    upper, lower, mean, observed, acq = fig["data"]
    assert upper["y"] == [1.5, 2.1] and lower["y"] == [0.5, 1.9] and mean["y"] == [1.0, 2.0]
    assert observed["x"] == [0.1] and acq["yaxis"] == "y2"
    assert fig["layout"]["xaxis"]["type"] == "log"


def test_sparkline_spans_the_box() -> None:
    points = plots.sparkline_points([3.0, 2.0, 1.0], width=100, height=20)
    xy = [tuple(map(float, p.split(","))) for p in points.split()]
    assert xy[0] == (2.0, 2.0) and xy[-1] == (98.0, 18.0)
    assert plots.sparkline_points([1.0]) == ""


def test_a_diverging_trial_switches_history_and_parallel_to_log() -> None:
    rows = [
        {"trial": 1, "number": 1, "rung": 0, "budget": 1, "value": 0.5, "time": None, "params": {}},
        {
            "trial": 2,
            "number": 2,
            "rung": 0,
            "budget": 1,
            "value": 8e21,
            "time": None,
            "params": {},
        },
    ]
    assert plots.history_figure(rows, mode="min", metric="m")["layout"]["yaxis"]["type"] == "log"
    [trace] = plots.parallel_figure(rows, {}, metric="m", mode="min")["data"]
    assert trace["dimensions"][-1]["label"] == "m (log)"
    assert trace["dimensions"][-1]["values"] == [pytest.approx(-0.30103), pytest.approx(21.90309)]
    calm = [dict(r, value=v) for r, v in zip(rows, (0.5, 0.7), strict=True)]
    assert "type" not in plots.history_figure(calm, mode="min", metric="m")["layout"]["yaxis"]
    assert not plots.wide_positive([0.0, 1e9])  # zero cannot go on a log axis
