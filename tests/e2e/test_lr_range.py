"""An LR range test of the digits MLP on a real worker, asked for with ``manage.py
lr-range-test`` as the README shows."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

from sweeps.models import LRRangeTest
from tests.workers import ROOT, Worker

pytestmark = pytest.mark.slow


def test_the_digits_mlp_range_test_suggests_a_range_short_of_divergence(
    worker: Worker, user: Any
) -> None:
    command = [
        sys.executable, "manage.py", "lr-range-test", "--trainer", "digits-mlp",
        "--param", "optimizer=sgd", "--param", "momentum=0.9", "--user", user.username,
    ]  # fmt: skip
    done = subprocess.run(
        command, cwd=ROOT, env=worker.env, capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, done.stdout + done.stderr + worker.logs()
    test = LRRangeTest.objects.get()
    assert test.status == "done" and test.worker.endswith(f":{worker.proc.pid}")
    lrs, smoothed = test.curve["lr"], test.curve["smoothed"]
    assert lrs[0] == pytest.approx(1e-7) and lrs == sorted(lrs)
    # It stopped on the diverging loss, before the top of the range.
    assert len(lrs) < test.steps and "4x its minimum" in test.stopped
    assert smoothed[-1] > 4 * min(smoothed)
    low, high = test.suggested["low"], test.suggested["high"]
    assert lrs[0] < low < high < lrs[-1]
    assert f"suggested lr range: {low:.3g} to {high:.3g}" in done.stdout
