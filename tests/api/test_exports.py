"""GET /api/sweeps/<id>/export.{csv,json,parquet}: tables that parse back with pandas."""

from __future__ import annotations

import io
from typing import Any

import pandas as pd
import pytest
from django.urls import reverse

from sweeps.models import Sweep
from tests.api.factories import add_points, make_sweep, make_trial

pytestmark = pytest.mark.django_db

READERS = {
    "csv": lambda data: pd.read_csv(io.BytesIO(data)),
    "json": lambda data: pd.read_json(io.BytesIO(data), orient="records"),
    "parquet": lambda data: pd.read_parquet(io.BytesIO(data)),
}
TYPES = {"csv": "text/csv", "json": "application/json", "parquet": "application/vnd.apache.parquet"}


def export(client: Any, sweep: Sweep, fmt: str, **query: Any) -> Any:
    return client.get(reverse(f"api-export-{fmt}", args=[sweep.pk]), query)


def body(response: Any) -> bytes:
    """CSV and JSON exports stream; Parquet comes whole."""
    if response.streaming:
        return b"".join(response.streaming_content)
    return response.content


@pytest.mark.parametrize("fmt", ["csv", "json", "parquet"])
def test_trials_table_has_flattened_params_and_results(
    fmt: str, viewer: Any, client_for: Any, sweep: Sweep
) -> None:
    response = export(client_for(viewer), sweep, fmt)
    assert response.status_code == 200
    assert response["Content-Type"].startswith(TYPES[fmt])
    assert f'filename="sweep-{sweep.pk}-trials.{fmt}"' in response["Content-Disposition"]
    frame = READERS[fmt](body(response))
    assert list(frame["number"]) == [1, 2, 3, 4]
    assert list(frame["status"]) == ["completed", "stopped", "running", "pending"]
    assert {"params.lr", "params.layers", "params.opt"} <= set(frame.columns)
    assert list(frame["params.opt"]) == ["adam", "adam", "adam", "sgd"]
    assert frame["params.lr"].tolist() == pytest.approx([0.01, 0.02, 0.03, 0.002])
    assert frame.loc[0, "best_value"] == pytest.approx(0.3)
    assert pd.isna(frame.loc[3, "best_value"])
    assert frame.loc[0, "rung_2.value"] == pytest.approx(0.3)
    assert frame.loc[0, "rung_0.budget"] == pytest.approx(1.0)
    assert pd.isna(frame.loc[2, "rung_0.value"])


@pytest.mark.parametrize("fmt", ["csv", "json", "parquet"])
def test_metrics_long_table(fmt: str, owner: Any, client_for: Any, sweep: Sweep) -> None:
    t3 = sweep.trials.get(number=3)
    add_points(t3, "train_loss", [1.0, 0.5, None])
    add_points(sweep.trials.get(number=1), "grad_norm", [2.0])
    response = export(client_for(owner), sweep, fmt, metrics=1)
    assert response.status_code == 200
    assert f"sweep-{sweep.pk}-metrics.{fmt}" in response["Content-Disposition"]
    frame = READERS[fmt](body(response))
    assert list(frame.columns) == ["trial_id", "number", "name", "step", "value", "time", "id"]
    assert list(frame["name"]) == ["train_loss"] * 3 + ["grad_norm"]
    assert list(frame["number"]) == [3, 3, 3, 1] and list(frame["step"]) == [0, 1, 2, 0]
    assert frame["value"].tolist()[:2] == [1.0, 0.5] and pd.isna(frame["value"].iloc[2])


@pytest.mark.parametrize("fmt", ["csv", "json", "parquet"])
def test_empty_sweep_exports_the_columns(fmt: str, owner: Any, client_for: Any) -> None:
    sweep = make_sweep(owner)
    frame = READERS[fmt](body(export(client_for(owner), sweep, fmt)))
    if fmt != "json":  # an empty JSON array has no columns to carry
        assert {"trial_id", "number", "status", "best_value"} <= set(frame.columns)
    assert len(frame) == 0


def test_parquet_keeps_a_param_whose_choices_mix_types(owner: Any, client_for: Any) -> None:
    sweep = make_sweep(owner)
    make_trial(sweep, 1, params={"width": 64, "act": "relu"})
    make_trial(sweep, 2, params={"width": "auto", "act": "relu"})
    make_trial(sweep, 3, params={"act": "tanh"})  # conditional: width inactive
    frame = READERS["parquet"](export(client_for(owner), sweep, "parquet").content)
    assert frame["params.width"].tolist()[:2] == ["64", "auto"]
    assert pd.isna(frame["params.width"].iloc[2])


def test_export_ignores_accept_and_errors_are_json(
    owner: Any, stranger: Any, client_for: Any, sweep: Sweep
) -> None:
    response = client_for(owner).get(
        reverse("api-export-csv", args=[sweep.pk]), HTTP_ACCEPT="text/csv"
    )
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    missing = client_for(stranger).get(
        reverse("api-export-csv", args=[sweep.pk]), HTTP_ACCEPT="text/csv"
    )
    assert missing.status_code == 404
    assert missing["Content-Type"] == "application/json" and "detail" in missing.json()


def test_bad_metrics_flag_is_400(owner: Any, client_for: Any, sweep: Sweep) -> None:
    response = export(client_for(owner), sweep, "csv", metrics="maybe")
    assert response.status_code == 400
    assert "must be 1 or 0" in response.json()["errors"]["metrics"]
