"""The read side's rows: one shape per model, and one rule that makes them JSON."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from sweeps import queries
from tests.factories import add_result, make_sweep, make_trial


def test_the_encoder_writes_nan_and_inf_as_null_wherever_they_are() -> None:
    value = {"a": [1.5, math.nan, {"b": -math.inf}], "c": (math.inf,), "d": "x"}
    text = json.dumps(value, cls=queries.RowEncoder)
    assert json.loads(text) == {"a": [1.5, None, {"b": None}], "c": [None], "d": "x"}


def test_finite_values_are_written_as_python_writes_them() -> None:
    value = {"v": [0.1, 1e-300, 12345.678], "n": None, "ok": True}
    assert json.dumps(value, cls=queries.RowEncoder) == json.dumps(value)


def test_one_rounding_rule_for_drawn_values() -> None:
    assert queries.rounded(0.123456789) == 0.12346
    assert queries.rounded(math.nan) is None and queries.finite(math.inf) is None
    assert queries.finite(0.123456789) == 0.123456789


@pytest.mark.django_db
def test_rows_have_the_keys_their_types_declare(user: Any) -> None:
    sweep = make_sweep(user)
    trial = make_trial(sweep, 1, best_value=math.inf, status="stopped")
    add_result(trial, 0, 1.0, math.nan)
    [row] = queries.trial_rows(sweep)
    assert set(row) == set(queries.TrialRow.__annotations__)
    assert row["best_value"] is None
    [result] = queries.rung_results(sweep)
    assert set(result) == set(queries.RungResultRow.__annotations__)
    assert result["value"] is None
    assert set(queries.sweep_totals([sweep])[sweep.pk]) == {"counts", "best"}
