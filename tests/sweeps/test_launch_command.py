"""``manage.py launch --wait`` tells a script how the sweep ended: 0 only when it completed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from sweeps import services
from sweeps.sending import ADVANCE_SWEEP, RUN_SEGMENT
from trainers import runner

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def inline_workers(sent_tasks: Any) -> None:
    """Segments run as soon as they are sent, in this process."""
    sent_tasks.run(RUN_SEGMENT, lambda *args: runner.run_segment(*args, "cli@t:1"))
    sent_tasks.run(ADVANCE_SWEEP, services.advance_sweep)


def spec_file(tmp_path: Path, **changes: Any) -> str:
    spec = {
        "name": "cli", "trainer": "synthetic", "trainer_args": {"steps_per_epoch": 5},
        "space": {"lr": {"type": "float", "low": 0.01, "high": 0.3, "log": True}},
        "scheduler": {"name": "fifo", "max_resource": 2}, "max_trials": 2, "concurrency": 1,
        **changes,
    }  # fmt: skip
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec))
    return str(path)


def test_a_completed_sweep_exits_zero(tmp_path: Path, user: Any, capsys: Any) -> None:
    call_command("launch", spec_file(tmp_path), "--wait", "--user", user.username)
    assert "completed" in capsys.readouterr().out


def test_a_sweep_that_produced_nothing_exits_non_zero_with_the_reason(
    tmp_path: Path, user: Any, capsys: Any
) -> None:
    path = spec_file(
        tmp_path, trainer_args={"steps_per_epoch": 50, "diverge_lr": 0.1},
        space={"lr": {"type": "float", "low": 1.0, "high": 2.0}},
    )  # fmt: skip
    with pytest.raises(CommandError, match="ended failed") as failed:
        call_command("launch", path, "--wait", "--user", user.username)
    assert failed.value.returncode == 1
    out = capsys.readouterr().out
    assert "no trial produced a result (2 diverged)" in out


@pytest.mark.parametrize("suffix", [".json", ".yaml"])
def test_a_spec_file_nested_too_deep_is_refused_naming_the_spec(
    tmp_path: Path, user: Any, suffix: str
) -> None:
    path = tmp_path / f"deep{suffix}"
    path.write_text("[" * 10_000 + "]" * 10_000)
    with pytest.raises(CommandError, match="spec: .*nested deeper"):
        call_command("launch", str(path), "--user", user.username)
    from sweeps.models import Sweep

    assert not Sweep.objects.exists()
