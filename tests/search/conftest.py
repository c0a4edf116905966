"""Shared fixtures for the search-engine tests (pure Python: no database, no Django)."""

from __future__ import annotations

from typing import Any

import pytest

from sweeps.search import Space, TrialSnapshot, parse_space

MIXED_SPEC: dict[str, Any] = {
    "lr": {"type": "float", "low": 1e-5, "high": 1e-1, "log": True},
    "dropout": {"type": "float", "low": 0.0, "high": 0.5, "step": 0.1},
    "layers": {"type": "int", "low": 1, "high": 4},
    "width": {"type": "int", "low": 8, "high": 512, "log": True},
    "batch": {"type": "int", "low": 16, "high": 128, "step": 16},
    "opt": {"type": "categorical", "choices": ["adam", "sgd", 1, True]},
    "momentum": {
        "type": "float",
        "low": 0.0,
        "high": 0.99,
        "condition": {"parent": "opt", "values": ["sgd"]},
    },
    "nesterov": {
        "type": "categorical",
        "choices": [False, True],
        "condition": {"parent": "opt", "values": ["sgd"]},
    },
}


@pytest.fixture
def mixed_space() -> Space:
    """Every kind of parameter: log float, stepped float, int, log int, stepped int,
    categorical of mixed JSON types, and a conditional float."""
    return parse_space(MIXED_SPEC)


@pytest.fixture
def grid_space() -> Space:
    return parse_space(
        {
            "dropout": {"type": "float", "low": 0.0, "high": 0.5, "step": 0.25},
            "layers": {"type": "int", "low": 1, "high": 3},
            "opt": {"type": "categorical", "choices": ["adam", "sgd"]},
            "momentum": {
                "type": "float",
                "low": 0.5,
                "high": 0.9,
                "step": 0.4,
                "condition": {"parent": "opt", "values": ["sgd"]},
            },
        }
    )


def trial(
    tid: int, status: str, rung: int = 0, results: dict[int, float] | None = None, **kw: Any
) -> TrialSnapshot:
    """A trial snapshot with short defaults."""
    return TrialSnapshot(
        tid, kw.pop("params", {"x": tid / 100}), status, rung=rung, results=results or {}, **kw
    )
