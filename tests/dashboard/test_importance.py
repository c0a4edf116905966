"""Parameter importance names the parameter that explains the objective."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dashboard import analytics


def test_param_importance_finds_the_parameter_that_matters() -> None:
    rng = np.random.default_rng(0)
    rows = []
    for i in range(60):
        lr, layers = 10 ** rng.uniform(-4, -1), int(rng.integers(1, 5))
        value = (math.log10(lr) + 2.5) ** 2 + rng.normal(0, 0.01)
        rows.append(
            {"params": {"lr": lr, "layers": layers, "opt": "adam"}, "value": value, "number": i}
        )
    imp = analytics.param_importance(
        rows,
        {
            "lr": {"type": "float", "low": 1e-4, "high": 0.1, "log": True},
            "layers": {"type": "int", "low": 1, "high": 4},
            "opt": {"type": "categorical", "choices": ["adam", "sgd"]},
        },
    )
    assert imp["lr"] > 0.8
    assert sum(imp.values()) == pytest.approx(1.0)


def test_param_importance_needs_enough_varied_results() -> None:
    rows = [{"params": {"lr": 0.1}, "value": 1.0}] * 10
    assert analytics.param_importance(rows, {"lr": {"type": "float", "low": 0, "high": 1}}) == {}
    assert (
        analytics.param_importance(rows[:2], {"lr": {"type": "float", "low": 0, "high": 1}}) == {}
    )
