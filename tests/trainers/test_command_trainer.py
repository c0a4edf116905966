"""A command trainer: a script run per segment, its reports, steering, resume and failures.

Driven through :func:`trainers.runner.execute_segment` with scripted effects (no database):
``scripts/lines.py`` speaks the JSON-lines protocol itself, the README's example script
speaks it through the ``rungs`` helper.
"""

from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured

from sweeps import services
from sweeps.models import SegmentLog
from tests.trainers.conftest import Effects, Spec
from tests.trainers.test_runner_db import Queue, queue
from trainers import runner
from trainers.command import CommandTrainer, parse_report
from trainers.registry import get_trainer, loadable_trainers
from trainers.reporting import STEP_METRICS

__all__ = ["queue"]  # the fixture

LINES = {"command": "python tests/trainers/scripts/lines.py", "metrics": ["val_loss"]}
EXAMPLE = {
    "command": "python examples/script_trainer/train.py",
    "metrics": ["val_loss", "val_acc"],
    "uses_gpu": False,
}


@pytest.fixture(autouse=True)
def registered(settings: Any) -> None:
    settings.RUNGS_TRAINERS = {
        "lines": LINES,
        "lines-json": {**LINES, "params": "json"},
        "lines-impatient": {**LINES, "grace_seconds": 0.5},
        "example": EXAMPLE,
        "missing": {"command": "no-such-program-here --x"},
    }


def segment(effects: Effects, spec: Spec, **options: Any) -> runner.SegmentResult:
    """Run a segment whose reporter asks the heartbeat at every report."""
    return runner.execute_segment(
        spec, reporter_options={"decision_seconds": 0.0, **options}, **effects.kwargs()
    )


def console(effects: Effects) -> str:
    return "".join(text for text, _ in effects.console)


# --- the entry ------------------------------------------------------------------------------


def test_an_entry_becomes_a_trainer_with_the_step_metrics() -> None:
    cls = get_trainer("lines")
    assert issubclass(cls, CommandTrainer) and cls.key == "lines"
    assert cls.metrics == (*STEP_METRICS, "val_loss") and cls.resource_unit == "epochs"
    argv = cls.argv({"lr": 0.5, "flag": True, "name": "adam"})
    assert argv[1:] == ["tests/trainers/scripts/lines.py", "--flag=true", "--lr=0.5", "--name=adam"]


def test_a_worker_offers_only_the_commands_it_can_run() -> None:
    keys, broken = loadable_trainers()
    assert {"lines", "example", "digits-mlp"} <= set(keys)
    assert "missing" not in keys and "'no-such-program-here'" in broken["missing"]


@pytest.mark.parametrize(
    ("entry", "field"),
    [
        ({"command": ""}, "'command'"),
        ({"command": "python x.py", "params": "yaml"}, "'params'"),
        ({"command": "python x.py", "metrics": "val_loss"}, "'metrics'"),
        ({"command": "python x.py", "env": {"A": 1}}, "'env'"),
        ({"command": "python x.py", "grace_seconds": 0}, "'grace_seconds'"),
        ({"command": "python x.py", "shell": True}, "unknown fields ['shell']"),
    ],
)
def test_a_bad_entry_is_refused_naming_its_field(settings: Any, entry: dict, field: str) -> None:
    settings.RUNGS_TRAINERS = {"bad": entry}
    with pytest.raises(ImproperlyConfigured, match=re.escape(field)):
        get_trainer("bad")


def test_the_trainers_file_is_the_one_place(settings: Any, tmp_path: Path) -> None:
    (tmp_path / "t.yaml").write_text("mine:\n  command: python s.py\n  metrics: [acc]\n")
    (tmp_path / "s.py").write_text("")
    settings.RUNGS_TRAINERS_FILE, settings.RUNGS_TRAINERS = tmp_path / "t.yaml", {}
    cls = get_trainer("mine")
    assert cls.cwd == tmp_path and cls.metrics[-1] == "acc"
    (tmp_path / "t.yaml").write_text("- not a mapping\n")
    with pytest.raises(ImproperlyConfigured, match="must map trainer keys"):
        get_trainer("mine")


def test_a_function_beside_the_trainers_file_needs_no_pythonpath(
    settings: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "path", list(sys.path))  # restored after the test
    monkeypatch.setattr(sys, "modules", dict(sys.modules))
    (tmp_path / "t.yaml").write_text("mine: own_model_xyz:train\nbroken: own_model_nope:train\n")
    (tmp_path / "own_model_xyz.py").write_text(
        "from trainers.function import rungs_trainer\n"
        "@rungs_trainer(key='mine', metrics=['val_loss'])\n"
        "def train(config, session):\n"
        "    pass\n"
    )
    settings.RUNGS_TRAINERS_FILE, settings.RUNGS_TRAINERS = tmp_path / "t.yaml", {}
    assert get_trainer("mine").metrics[-1] == "val_loss"
    with pytest.raises(ModuleNotFoundError, match="own_model_nope"):
        get_trainer("broken")


def test_log_lines_and_reports_are_told_apart() -> None:
    assert parse_report("epoch 3: loss 0.2") is None
    assert parse_report('{"config": {"lr": 0.1}}') is None  # JSON, but no report key
    assert parse_report("{not json") is None
    assert parse_report('{"step": 3, "train_loss": 0.5}') == {"step": 3, "train_loss": 0.5}


# --- a segment ------------------------------------------------------------------------------


def test_a_segment_reports_steps_evaluations_checkpoints_and_console() -> None:
    effects = Effects()
    result = segment(effects, Spec(trainer="lines", params={"lr": 0.1}, budget=2))
    assert result.outcome == "done" and result.step == 20 and result.resource_done == 2.0
    for name in ("train_loss", "grad_norm", "lr"):
        assert [s for s, _ in effects.series(name)] == list(range(1, 21)), name
    assert [s for s, _ in effects.series("val_loss")] == [10, 20]
    assert result.value == pytest.approx(0.9**20 * 1.1)
    assert [(Path(p).name, s, r) for p, s, r in effects.checkpoints] == [
        ("a1-s10.pt", 10, 1.0),
        ("a1-s20.pt", 20, 2.0),
    ]
    assert result.checkpoint.endswith("a1-s20.pt")
    assert "training from step 0, epoch 0 to 2" in console(effects)
    assert '"step"' not in console(effects), "report lines are points, not console"
    assert all(v and v > 0 for _, v in effects.series("samples_per_s")[1:])
    assert effects.console[-1][1] == 0, "the last console write carries the exit code"


def test_a_promoted_segment_resumes_from_the_scripts_checkpoint() -> None:
    first = Effects()
    a = segment(first, Spec(trainer="lines", params={"lr": 0.1}, budget=1))
    again = Effects()
    spec = Spec(trainer="lines", params={"lr": 0.1}, budget=3, start_resource=a.resource_done,
                step=a.step, checkpoint=a.checkpoint, attempt=2)  # fmt: skip
    b = segment(again, spec)
    assert b.outcome == "done" and b.step == 30 and b.resource_done == 3.0
    assert [s for s, _ in again.series("train_loss")] == list(range(11, 31))
    assert again.series("train_loss")[0][1] == pytest.approx(0.9**11)
    assert "training from step 10, epoch 1 to 3" in console(again)


def test_parameters_can_come_as_a_json_file() -> None:
    effects = Effects()
    spec = Spec(trainer="lines-json", params={"mode": "params-file", "lr": 0.2}, budget=1)
    assert segment(effects, spec).outcome == "done"
    assert "params file: {'mode': 'params-file', 'lr': 0.2}" in console(effects)


@pytest.mark.parametrize("decision", ["stop", "pause"])
def test_kill_and_pause_reach_the_script_within_two_seconds(decision: str) -> None:
    heard: list[float] = []

    def decide(n: int) -> str:
        if effects.checkpoints:  # once the first epoch is saved
            heard.append(heard[0] if heard else time.monotonic())
            return decision
        return "continue"

    effects = Effects(decide)
    spec = Spec(trainer="lines", params={"lr": 0.1, "sleep": 0.05}, budget=5)
    result = segment(effects, spec)
    assert result.outcome == decision
    assert time.monotonic() - heard[0] < 2.0
    # The script checkpointed where SIGTERM found it, mid-epoch; progress is that checkpoint.
    saved = json.loads(Path(result.checkpoint).read_text())
    assert result.step == saved["step"] and 10 < result.step < 20
    assert result.resource_done == 1.0


def test_a_script_deaf_to_sigterm_is_killed_after_its_grace() -> None:
    effects = Effects(lambda n: "stop" if effects.checkpoints else "continue")
    spec = Spec(trainer="lines-impatient", params={"mode": "deaf", "sleep": 0.05}, budget=50)
    started = time.monotonic()
    result = segment(effects, spec)
    assert result.outcome == "stop" and time.monotonic() - started < 5
    # Killed after its last checkpoint: the trial keeps that one, and its step.
    last = max(s for s, _ in effects.series("train_loss"))
    assert result.step == effects.checkpoints[-1][1] < last
    assert result.checkpoint == effects.checkpoints[-1][0]


# --- failures -------------------------------------------------------------------------------


def test_a_crash_fails_with_the_end_of_stderr() -> None:
    effects = Effects()
    result = segment(effects, Spec(trainer="lines", params={"mode": "crash"}, budget=3))
    assert result.outcome == "failed"
    assert result.reason.startswith("script exited with code 3; the end of its stderr:")
    assert "something broke at step 15" in result.reason
    assert "[stderr] Traceback: something broke" in console(effects)


def test_a_malformed_report_fails_naming_the_line() -> None:
    result = segment(Effects(), Spec(trainer="lines", params={"mode": "garbage"}, budget=1))
    assert result.outcome == "failed"
    assert "stdout line 6" in result.reason and "'step' must be a whole number" in result.reason


def test_a_nan_loss_diverges() -> None:
    result = segment(Effects(), Spec(trainer="lines", params={"mode": "nan"}, budget=1))
    assert result.outcome == "diverged" and "train_loss was nan at step 7" in result.reason


def test_a_metric_name_no_column_can_hold_fails_the_trial() -> None:
    effects = Effects()
    result = segment(effects, Spec(trainer="lines", params={"mode": "bad-name"}, budget=1))
    assert result.outcome == "failed" and "control character" in result.reason
    assert not any("bad" in name for name, *_ in effects.points)


def test_a_script_that_stops_short_of_its_budget_fails() -> None:
    result = segment(Effects(), Spec(trainer="lines", params={"mode": "early"}, budget=2))
    assert result.outcome == "failed" and "exited after 0 of 2 epochs" in result.reason


def test_a_command_that_is_not_there_fails_the_segment() -> None:
    result = segment(Effects(), Spec(trainer="missing", params={}, budget=1))
    assert result.outcome in ("failed", "retry") and "no-such-program-here" in result.reason


# --- the helper, in the README's example script ----------------------------------------------


def test_the_example_script_resumes_exactly_where_it_stopped() -> None:
    params = {"lr": 0.01, "hidden": 32}
    first = Effects(lambda n: "pause" if first.checkpoints else "continue")
    a = segment(first, Spec(trainer="example", params=params, budget=3))
    # Paused within its second epoch (22 steps each), at the step SIGTERM found it.
    assert a.outcome == "pause" and 22 < a.step < 44 and a.resource_done == 1.0
    steps = [s for s, _ in first.series("train_loss")]
    assert steps[: a.step] == list(range(1, a.step + 1))
    again = Effects()
    spec = Spec(trainer="example", params=params, budget=3, start_resource=a.resource_done,
                step=a.step, checkpoint=a.checkpoint, attempt=2)  # fmt: skip
    b = segment(again, spec)
    assert b.outcome == "done" and b.resource_done == 3.0
    # The step count continues; the interrupted epoch is trained again from its start.
    assert [s for s, _ in again.series("train_loss")][0] == a.step + 1
    assert {"grad_norm", "lr", "val_loss", "val_acc"} <= {n for n, *_ in again.points}
    assert all(v and v > 0 for _, v in again.series("grad_norm"))


# --- a sweep through the real services ------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_bad_scripts_fail_their_trials_and_the_sweep_goes_on(user: Any, queue: Queue) -> None:
    sweep = services.create_sweep(
        {
            "name": "misbehaving scripts",
            "trainer": "lines",
            "space": {
                "mode": {"type": "categorical", "choices": ["crash", "garbage", "nan", "ok"]}
            },
            "scheduler": {"name": "fifo", "max_resource": 2},
            "sampler": {"name": "grid"},
            "max_trials": 4,
            "concurrency": 1,
        },
        user,
    )
    queue.run_all()
    sweep.refresh_from_db()
    assert sweep.status == "completed"
    by_mode = {t.params["mode"]: t for t in sweep.trials.all()}
    assert {mode: t.status for mode, t in by_mode.items()} == {
        "crash": "failed", "garbage": "failed", "nan": "diverged", "ok": "completed",
    }  # fmt: skip
    assert "exited with code 3" in by_mode["crash"].error
    assert "something broke at step 15" in by_mode["crash"].error
    assert "'step' must be a whole number" in by_mode["garbage"].error
    assert "train_loss was nan at step 7" in by_mode["nan"].error
    # Each segment's console is kept, with its exit code once the script ended.
    crash_log = SegmentLog.objects.get(trial=by_mode["crash"])
    assert crash_log.exit_code == 3 and "[stderr] Traceback" in crash_log.text
    assert SegmentLog.objects.get(trial=by_mode["ok"]).exit_code == 0
