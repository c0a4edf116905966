"""Plotly figures of the dashboard as pure functions: plain rows in, a figure dict out.

Nothing here touches the database or the request: the live tailer and the views pass rows
from :mod:`sweeps.queries`, and the page hands the dicts to ``Plotly.react``. Live curves
are appended in the browser; each curve figure carries, in ``layout.meta.templates``, the
trace style for a metric so the page styles a new trial's trace exactly as this module
would.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sweeps.queries import best_so_far

GOLDEN_ANGLE = 137.508
BASE_LAYOUT: dict[str, Any] = {
    "template": "plotly_white",
    "margin": {"l": 56, "r": 16, "t": 32, "b": 40},
    "hovermode": "closest",
    "showlegend": False,
    "font": {"size": 12},
    # Keep the user's zoom and toggles when the page re-renders with new data.
    "uirevision": "keep",
}
# How each metric is drawn; validation metrics are per epoch, so dashed with markers.
METRIC_STYLE: dict[str, dict[str, Any]] = {
    "train_loss": {"mode": "lines", "line": {"width": 1.5}},
    "val_loss": {
        "mode": "lines+markers",
        "line": {"width": 1.5, "dash": "dot"},
        "marker": {"size": 5},
    },
    "val_acc": {
        "mode": "lines+markers",
        "line": {"width": 1.5, "dash": "dot"},
        "marker": {"size": 5},
    },
    "grad_norm": {"mode": "lines", "line": {"width": 1.2}},
    "lr": {"mode": "lines", "line": {"width": 1.5}},
}
DEFAULT_STYLE: dict[str, Any] = {"mode": "lines", "line": {"width": 1.5}}
# What an empty chart says (static/js/chart.js says the same on the live curves).
NO_POINTS: dict[str, Any] = {
    "text": "no points yet",
    "name": "no-points",
    "xref": "paper",
    "yref": "paper",
    "x": 0.5,
    "y": 0.5,
    "showarrow": False,
    "font": {"size": 13, "color": "#6b7280"},
}
CHARTS: dict[str, dict[str, Any]] = {
    "loss": {"metrics": ("train_loss", "val_loss"), "title": "Loss (train per step, validation per epoch)", "y": "loss"},
    "grad": {"metrics": ("grad_norm",), "title": "Gradient norm per step", "y": "‖g‖"},
    "lr": {"metrics": ("lr",), "title": "Learning rate", "y": "learning rate"},
}  # fmt: skip


def wide_positive(values: Iterable[float | None], span: float = 1e3) -> bool:
    """True when the finite values are all > 0 and spread over more than ``span`` (x to y):
    then a log axis keeps a diverging trial from flattening every other one."""
    finite = [v for v in values if v is not None and math.isfinite(v)]
    return bool(finite) and min(finite) > 0 and max(finite) / min(finite) > span


def trial_color(number: int) -> str:
    """A stable, well-spread colour per trial number (the page's ``trialColor`` mirrors it)."""
    return f"hsl({(number * GOLDEN_ANGLE) % 360:.1f}, 65%, 45%)"


def _layout(title: str, **extra: Any) -> dict[str, Any]:
    layout = {**BASE_LAYOUT, "title": {"text": title, "x": 0.01, "font": {"size": 13}}}
    layout.update(extra)
    return layout


def _style(metric: str) -> dict[str, Any]:
    return METRIC_STYLE.get(metric, DEFAULT_STYLE)


def curve_trace(
    trial: Mapping[str, Any], metric: str, steps: Sequence[int], values: Sequence[float | None]
) -> dict[str, Any]:
    """One trial's curve of one metric, coloured by trial, tagged with ``meta``."""
    style = _style(metric)
    color = trial_color(trial["number"])
    trace: dict[str, Any] = {
        "type": "scatter",
        "mode": style["mode"],
        "x": list(steps),
        "y": list(values),
        "name": f"#{trial['number']} {metric}",
        "uid": f"{trial['id']}:{metric}",
        "meta": {"trial": trial["id"], "number": trial["number"], "metric": metric},
        "line": {**style["line"], "color": color},
        "hovertemplate": f"trial {trial['number']} · {metric}<br>step %{{x}}<br>%{{y:.4g}}<extra></extra>",
    }
    if "marker" in style:
        trace["marker"] = {**style["marker"], "color": color}
    return trace


def curves_figure(
    series: Iterable[Mapping[str, Any]],
    trials: Mapping[int, Mapping[str, Any]],
    *,
    metrics: Sequence[str],
    title: str,
    y_title: str,
    x_title: str = "step",
    log_y: bool = False,
    compact: bool = False,
) -> dict[str, Any]:
    """Curves of ``metrics`` for every trial: one trace per (trial, metric).

    ``series``: rows ``{"trial", "name", "step", "value"}`` (see
    :func:`sweeps.queries.metric_series`); rows of other metrics or unknown trials are
    skipped. ``trials``: id -> row with at least ``id`` and ``number``.

    ``compact=True`` leaves each trace only its data and ``meta``: the page styles it from
    ``layout.meta.templates`` and :func:`trial_color` (a sweep of 1,000 trials has 3,000
    traces; their repeated style would be half the page).
    """
    wanted = set(metrics)
    data = [
        curve_trace(trials[s["trial"]], s["name"], s["step"], s["value"])
        for s in series
        if s["name"] in wanted and s["trial"] in trials
    ]
    data.sort(key=lambda t: (metrics.index(t["meta"]["metric"]), t["meta"]["number"]))
    if compact:
        data = [{"x": t["x"], "y": t["y"], "meta": t["meta"]} for t in data]
    templates = {m: {k: v for k, v in _style(m).items()} for m in metrics}
    layout = _layout(
        title,
        xaxis={"title": {"text": x_title}},
        yaxis={"title": {"text": y_title}, "type": "log" if log_y else "linear"},
        meta={"metrics": list(metrics), "templates": templates},
    )
    return {"data": data, "layout": layout}


def chart_figures(
    series: Iterable[Mapping[str, Any]],
    trials: Mapping[int, Mapping[str, Any]],
    *,
    compact: bool = False,
) -> dict[str, dict[str, Any]]:
    """The sweep page's curve charts (loss, gradient norm, learning rate) from one series list."""
    rows = list(series)
    return {
        key: curves_figure(
            rows,
            trials,
            metrics=chart["metrics"],
            title=chart["title"],
            y_title=chart["y"],
            compact=compact,
        )
        for key, chart in CHARTS.items()
    }


def history_figure(
    rows: Sequence[Mapping[str, Any]], *, mode: str, metric: str, x: str = "number"
) -> dict[str, Any]:
    """Objective against trial number (``x="number"``) or time (``x="time"``), one point per
    trial at the highest rung it finished, coloured by that rung, with the best-so-far line.

    ``rows``: :func:`sweeps.queries.trial_results` rows (trial, number, rung, value, time).
    """
    key = "number" if x == "number" else "time"
    ordered = sorted(rows, key=lambda r: (r[key] is None, r[key] or 0))
    xs = [r[key] for r in ordered]
    ys = [r["value"] for r in ordered]
    best = best_so_far(ys, mode)
    points = {
        "type": "scatter",
        "mode": "markers",
        "name": "trials",
        "x": xs,
        "y": ys,
        "customdata": [[r["trial"], r["number"], r["rung"], r["budget"]] for r in ordered],
        "marker": {
            "size": 8,
            "color": [r["rung"] for r in ordered],
            "colorscale": "Viridis",
            "showscale": bool(ordered),
            "colorbar": {"title": {"text": "rung"}, "thickness": 10},
        },
        "hovertemplate": "trial %{customdata[1]} · rung %{customdata[2]} (budget %{customdata[3]})"
        "<br>%{y:.4g}<extra></extra>",
    }
    # The step line needs only the points where the best changes, and the last one: at
    # 10,000 trials the whole line doubled a figure past the live socket's cap.
    kept = [i for i, b in enumerate(best) if i == 0 or b != best[i - 1] or i == len(best) - 1]
    line = {
        "type": "scatter",
        "mode": "lines",
        "name": "best so far",
        "x": [xs[i] for i in kept],
        "y": [best[i] for i in kept],
        "line": {"shape": "hv", "color": "#dc2626", "width": 2},
        "hoverinfo": "skip",
    }
    layout = _layout(
        f"{metric} by {'trial number' if key == 'number' else 'time'} (best so far in red)",
        xaxis={"title": {"text": "trial" if key == "number" else "time"}},
        yaxis={"title": {"text": metric}},
    )
    if key == "time":
        layout["xaxis"]["type"] = "date"
    if wide_positive(ys):
        layout["yaxis"]["type"] = "log"
    if not ordered:
        layout["annotations"] = [NO_POINTS]
    return {"data": [points, line], "layout": layout}


def _dimension(name: str, spec: Mapping[str, Any], values: list[Any]) -> dict[str, Any]:
    if spec.get("type") == "categorical":
        choices = list(spec.get("choices", []))
        labels = [str(c) for c in choices]
        index = {repr(c): i for i, c in enumerate(choices)}
        coded = [index.get(repr(v)) if v is not None else None for v in values]
        return {
            "label": name,
            "values": coded,
            "tickvals": list(range(len(choices))),
            "ticktext": labels,
            "range": [0, max(len(choices) - 1, 1)],
        }
    if spec.get("log"):
        coded = [math.log10(v) if isinstance(v, int | float) and v > 0 else None for v in values]
        lo, hi = math.log10(spec["low"]), math.log10(spec["high"])
        ticks = list(range(math.ceil(lo), math.floor(hi) + 1))
        return {
            "label": f"{name} (log)",
            "values": coded,
            "range": [lo, hi],
            "tickvals": ticks,
            "ticktext": [f"1e{t}" for t in ticks],
        }
    return {
        "label": name,
        "values": [v if isinstance(v, int | float) else None for v in values],
        "range": [spec.get("low", 0), spec.get("high", 1)],
    }


# Parcoords draws in WebGL and reads its pixels back per line: 10,000 lines took 4.6 s of
# a page's first draw. A bigger sweep shows its best this many, and says so.
PARALLEL_LINES = 1000


def parallel_figure(
    rows: Sequence[Mapping[str, Any]],
    space: Mapping[str, Mapping[str, Any]],
    *,
    metric: str,
    mode: str,
    limit: int = PARALLEL_LINES,
) -> dict[str, Any]:
    """Parallel coordinates: one axis per parameter plus the objective, lines coloured by
    the objective (best dark). ``rows``: :func:`sweeps.queries.trial_results` rows; of more
    than ``limit``, the best ``limit`` by value (the title says how many of how many)."""
    total = len(rows)
    if total > limit:
        sign = 1.0 if mode == "min" else -1.0
        rows = sorted(rows, key=lambda r: (sign * r["value"], r["number"]))[:limit]
    dims = [
        _dimension(name, spec, [(r.get("params") or {}).get(name) for r in rows])
        for name, spec in space.items()
    ]
    # Parcoords cannot draw a missing value: an inactive conditional parameter sits at the
    # bottom of its axis.
    for dim in dims:
        floor = dim["range"][0]
        dim["values"] = [floor if v is None else v for v in dim["values"]]
    values = [r["value"] for r in rows]
    if wide_positive(values):
        values = [math.log10(v) for v in values]
        metric = f"{metric} (log)"
    dims.append({"label": metric, "values": values})
    angle, margin = _parallel_labels([d["label"] for d in dims])
    trace = {
        "type": "parcoords",
        "dimensions": dims,
        "labelangle": angle,
        "labelfont": {"size": 11},
        "tickfont": {"size": 10},
        "rangefont": {"size": 10},
        "line": {
            "color": values,
            "colorscale": "Viridis",
            "reversescale": mode == "min",
            "showscale": bool(rows),
            "colorbar": {"title": {"text": metric, "side": "right"}, "thickness": 10},
        },
    }
    title = "Parameters and objective"
    if total > len(rows):
        title += f" (the best {len(rows):,} of {total:,} trials)"
    layout = _layout(title, margin=margin)
    # At the top of the figure, above the angled labels (Plotly centres it in the margin).
    layout["title"].update(y=1, yanchor="top", pad={"t": 10})
    if not rows:
        layout["annotations"] = [NO_POINTS]
    return {"data": [trace], "layout": layout}


# Parcoords writes each axis' name above it in one line, centred: at 8 parameters in the
# narrowest card (a 380 px plot) every name ran into its neighbours. Angled at 45° they
# stack like stairs (neighbours 26 px apart across the text, at 37 px between axes); the
# top margin makes room for the longest, the right one for the last, which rises past it.
LABEL_CHAR_PX = 6.4  # the 11 px label font, per character on average
NARROWEST_PLOT_PX = 380
TITLE_PX = 34


def _parallel_labels(labels: Sequence[str]) -> tuple[int, dict[str, int]]:
    """The label angle and the margins for parallel-coordinate axes named ``labels``."""
    margin = {"l": 40, "r": 70, "t": 80, "b": 30}
    widths = [len(label) * LABEL_CHAR_PX for label in labels]
    spacing = (NARROWEST_PLOT_PX - margin["l"] - margin["r"]) / max(len(labels) - 1, 1)
    if max(widths, default=0) + 6 <= spacing:
        return 0, margin
    rise = math.sin(math.radians(45))
    margin["t"] = TITLE_PX + math.ceil(max(widths) * rise) + 10
    margin["r"] = max(margin["r"], math.ceil(widths[-1] * rise) + 12)
    return -45, margin


def importance_figure(importance: Mapping[str, float] | None) -> dict[str, Any]:
    """Horizontal bars of parameter importance (largest on top); ``None``: not computed yet
    (the page's first render leaves the forest to the live socket)."""
    items = sorted((importance or {}).items(), key=lambda kv: kv[1])
    trace = {
        "type": "bar",
        "orientation": "h",
        "x": [round(v, 4) for _, v in items],
        "y": [k for k, _ in items],
        "marker": {"color": "#2563eb"},
        "hovertemplate": "%{y}: %{x:.1%}<extra></extra>",
    }
    layout = _layout(
        "Parameter importance (random forest)",
        xaxis={"tickformat": ".0%", "range": [0, 1]},
        margin={"l": 90, "r": 16, "t": 32, "b": 36},
    )
    if not items:  # an empty chart says why, as the others say "no points yet"
        why = (
            "computing…" if importance is None else "needs 4 finished trials with different results"
        )
        layout["annotations"] = [{**NO_POINTS, "text": why, "name": "no-importance"}]
        layout["yaxis"] = {"visible": False}
    return {"data": [trace], "layout": layout}


def surrogate_figure(explanation: Mapping[str, Any], *, metric: str) -> dict[str, Any]:
    """The Bayesian sampler's model along one parameter: mean ± std, the acquisition (on a
    second axis) and the results it was fitted on.

    ``explanation``: ``param``, ``values``, ``mean``, ``std``, ``acquisition``,
    ``observed`` ([(x, y)]), ``rung``, ``acq_func``, ``choice`` (why that rung; see the
    sampler's ``explain``).
    """
    xs = list(explanation["values"])
    mean = list(explanation["mean"])
    std = list(explanation["std"])
    upper = [m + s for m, s in zip(mean, std, strict=True)]
    lower = [m - s for m, s in zip(mean, std, strict=True)]
    observed = list(explanation.get("observed", ()))
    data = [
        {"type": "scatter", "mode": "lines", "x": xs, "y": upper, "line": {"width": 0}, "hoverinfo": "skip", "name": "+σ"},
        {"type": "scatter", "mode": "lines", "x": xs, "y": lower, "fill": "tonexty", "fillcolor": "rgba(37,99,235,0.18)", "line": {"width": 0}, "hoverinfo": "skip", "name": "−σ"},
        {"type": "scatter", "mode": "lines", "x": xs, "y": mean, "line": {"color": "#2563eb", "width": 2}, "name": "mean"},
        {"type": "scatter", "mode": "markers", "x": [o[0] for o in observed], "y": [o[1] for o in observed], "marker": {"color": "#111827", "size": 6}, "name": "results"},
        {"type": "scatter", "mode": "lines", "x": xs, "y": list(explanation["acquisition"]), "yaxis": "y2", "line": {"color": "#16a34a", "dash": "dash"}, "name": f"acquisition ({explanation.get('acq_func', '')})"},
    ]  # fmt: skip
    # The second line says which rung the model is fitted on and why (the sampler's words).
    choice = explanation.get("choice")
    title = f"Surrogate along {explanation['param']}" + (
        f"<br><span style='font-size:11px'>{html.escape(choice)}</span>"
        if choice
        else f" (rung {explanation.get('rung', 0)})"
    )
    layout = _layout(
        title,
        xaxis={"title": {"text": explanation["param"]}},
        yaxis={"title": {"text": f"{metric} (model)"}},
        yaxis2={
            "title": {"text": "acquisition", "standoff": 4},
            "overlaying": "y",
            "side": "right",
            "showgrid": False,
            "tickformat": ".2~g",
        },
        showlegend=True,
        legend={"orientation": "h", "y": -0.25},
        margin={"l": 56, "r": 72, "t": 56 if choice else 32, "b": 40},
    )
    if explanation.get("log"):
        layout["xaxis"]["type"] = "log"
    return {"data": data, "layout": layout}


def sparkline_points(values: Sequence[float], width: int = 120, height: int = 28) -> str:
    """SVG ``points`` of a polyline for the sweep list's best-so-far sparkline."""
    finite = [v for v in values if v is not None and math.isfinite(v)]
    if len(finite) < 2:
        return ""
    lo, hi = min(finite), max(finite)
    span = hi - lo or 1.0
    n = len(finite)
    pad = 2
    return " ".join(
        f"{pad + i * (width - 2 * pad) / (n - 1):.1f},{pad + (hi - v) * (height - 2 * pad) / span:.1f}"
        for i, v in enumerate(finite)
    )
