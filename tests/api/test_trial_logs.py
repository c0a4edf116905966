"""A script trial's console output through the API and the Python client."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from sweeps.ingest import append_console
from sweeps.models import Sweep

pytestmark = pytest.mark.django_db


def test_segments_in_order_with_their_exit_codes(
    viewer: Any, client_for: Any, sweep: Sweep, settings: Any
) -> None:
    settings.RUNGS_LOG_CHARS = 1000
    trial = sweep.trials.get(number=1)
    append_console(trial.pk, 0, 1, "epoch 1: val_loss 0.5\n", 0)
    append_console(trial.pk, 1, 2, "x" * 900 + "\n")
    append_console(trial.pk, 1, 2, "[stderr] warning: slow\n" + "y" * 200)
    body = client_for(viewer).get(reverse("api-trial-logs", args=[trial.pk])).json()
    assert [(s["rung"], s["attempt"], s["exit_code"]) for s in body] == [(0, 1, 0), (1, 2, None)]
    assert body[0]["text"] == "epoch 1: val_loss 0.5\n" and body[0]["dropped"] == 0
    # Only the last RUNGS_LOG_CHARS characters are kept; the cut is counted.
    assert len(body[1]["text"]) == 1000 and body[1]["text"].endswith("y" * 200)
    assert body[1]["dropped"] == 901 + 23 + 200 - 1000
    assert "[stderr] warning: slow" in body[1]["text"]


def test_a_stranger_gets_a_404(stranger: Any, client_for: Any, sweep: Sweep) -> None:
    trial = sweep.trials.get(number=1)
    append_console(trial.pk, 0, 1, "secret\n")
    response = client_for(stranger).get(reverse("api-trial-logs", args=[trial.pk]))
    assert response.status_code == 404 and "secret" not in response.content.decode()


def test_a_nul_in_the_output_does_not_stop_it_being_kept(sweep: Sweep) -> None:
    trial = sweep.trials.get(number=2)
    append_console(trial.pk, 0, 1, "a\x00b\n")
    assert trial.logs.get().text == "a\ufffdb\n"
