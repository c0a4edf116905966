"""The runner maps every way a segment can end to exactly one service call."""

from __future__ import annotations

import time
from typing import Any, ClassVar

import pytest
import torch

from trainers import runner
from trainers.base import Trainer
from trainers.runner import execute_segment, short_traceback

from .conftest import Effects, Spec


class Exploding(Trainer):
    key = "exploding"
    error: ClassVar[BaseException] = RuntimeError("boom")

    def run(self, session: Any) -> None:
        session.reporter.step(1, train_loss=1.0, grad_norm=1.0, lr=0.1, samples=1)
        raise self.error


class OutOfMemory(Exploding):
    key = "oom"
    error = torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")


class Lazy(Trainer):
    key = "lazy"

    def run(self, session: Any) -> None:
        """Returns without saying how the segment ended."""


class Sleepy(Trainer):
    key = "sleepy"

    def run(self, session: Any) -> None:
        time.sleep(30)


@pytest.fixture
def extra_trainers(settings: Any) -> None:
    settings.RUNGS_TRAINERS = {
        k: f"tests.trainers.test_runner:{cls}"
        for k, cls in (("exploding", "Exploding"), ("oom", "OutOfMemory"), ("lazy", "Lazy"),
                       ("sleepy", "Sleepy"))
    }  # fmt: skip


def test_done_reports_the_objective_at_the_final_step(cpu: Any, effects: Effects) -> None:
    result = execute_segment(
        Spec("synthetic", {"lr": 0.1}, 2, {"steps_per_epoch": 10}), device=cpu, **effects.kwargs()
    )
    assert result.outcome == "done" and result.step == 20 and result.resource_done == 2.0
    assert result.value == effects.series("val_loss")[-1][1]
    assert effects.series("val_loss")[-1][0] == 20


def test_objective_can_be_any_reported_metric(cpu: Any, effects: Effects) -> None:
    spec = Spec("synthetic", {"lr": 0.1}, 1, {"steps_per_epoch": 10}, objective_metric="val_acc")
    result = execute_segment(spec, device=cpu, **effects.kwargs())
    assert result.value == effects.series("val_acc")[-1][1]


def test_an_objective_never_reported_fails_without_retry(cpu: Any, effects: Effects) -> None:
    spec = Spec("synthetic", {"lr": 0.1}, 1, {"steps_per_epoch": 10}, objective_metric="f1")
    result = execute_segment(spec, device=cpu, **effects.kwargs())
    assert result.outcome == "failed"
    assert result.reason.startswith("objective.metric 'f1' was never reported")
    assert "'val_loss'" in result.reason


def test_exception_is_retried_with_a_short_traceback(
    cpu: Any, effects: Effects, extra_trainers: None
) -> None:
    result = execute_segment(Spec("exploding", {}, 1), device=cpu, **effects.kwargs())
    assert result.outcome == "retry"
    assert "RuntimeError: boom" in result.reason and "test_runner.py" in result.reason
    assert effects.series("train_loss") == [(1, 1.0)], "points are flushed before reporting"


def test_out_of_memory_fails_without_retry(
    cpu: Any, effects: Effects, extra_trainers: None
) -> None:
    result = execute_segment(Spec("oom", {}, 1), device=cpu, **effects.kwargs())
    assert result.outcome == "failed" and result.reason.startswith("CUDA out of memory")


def test_a_trainer_without_an_outcome_fails(
    cpu: Any, effects: Effects, extra_trainers: None
) -> None:
    result = execute_segment(Spec("lazy", {}, 1), device=cpu, **effects.kwargs())
    assert result.outcome == "failed" and "returned without an outcome" in result.reason


def test_bad_trainer_args_fail_naming_the_field(cpu: Any, effects: Effects) -> None:
    spec = Spec("synthetic", {"lr": 0.1}, 1, {"steps_per_epoch": -3})
    result = execute_segment(spec, device=cpu, **effects.kwargs())
    assert result.outcome == "failed" and "trainer_args.steps_per_epoch" in result.reason


def test_time_limit_is_checked_at_every_step(cpu: Any, effects: Effects) -> None:
    spec = Spec("synthetic", {"lr": 0.1}, 100, {"steps_per_epoch": 10, "step_sleep": 0.02})
    started = time.monotonic()
    result = execute_segment(spec, device=cpu, time_limit=0.3, **effects.kwargs())
    assert time.monotonic() - started < 2
    assert result.outcome == "failed"
    assert result.reason.startswith("time limit of 0.3 s per segment exceeded at step")


def test_hard_time_limit_interrupts_a_stuck_step(
    cpu: Any, effects: Effects, extra_trainers: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runner, "HARD_LIMIT_GRACE", 0.2)
    started = time.monotonic()
    result = execute_segment(Spec("sleepy", {}, 1), device=cpu, time_limit=0.2, **effects.kwargs())
    assert time.monotonic() - started < 5
    assert result.outcome == "failed" and "time limit" in result.reason


def test_nan_objective_counts_as_diverged(
    cpu: Any, effects: Effects, monkeypatch: pytest.MonkeyPatch
) -> None:
    from trainers.builtin import _nqm

    monkeypatch.setattr(_nqm, "eval_noise", lambda seed, step: float("nan"))
    result = execute_segment(
        Spec("synthetic", {"lr": 0.1}, 1, {"steps_per_epoch": 5}), device=cpu, **effects.kwargs()
    )
    assert result.outcome == "diverged" and result.reason.startswith("val_loss was nan")


def test_short_traceback_keeps_the_end() -> None:
    try:
        raise ValueError("x" * 5000)
    except ValueError as exc:
        text = short_traceback(exc, limit=300)
    assert len(text) == 300 and text.startswith("...") and text.endswith("x")


# --- run_segment against fake services -------------------------------------------------------


class FakeServices:
    def __init__(self, spec: Any, decisions: list[str] | None = None) -> None:
        self.spec = spec
        self.calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []
        self.decisions = decisions or []

    def begin_segment(self, *args: Any) -> Any:
        self.calls.append(("begin_segment", args, {}))
        return self.spec

    def heartbeat(self, trial_id: int, attempt: int) -> str:
        return self.decisions.pop(0) if self.decisions else "continue"

    def checkpoint_saved(self, *args: Any, **kwargs: Any) -> None:
        self.calls.append(("checkpoint_saved", args, kwargs))

    def __getattr__(self, name: str) -> Any:
        def record(*args: Any, **kwargs: Any) -> None:
            self.calls.append((name, args, kwargs))

        return record

    def names(self) -> list[str]:
        return [c[0] for c in self.calls]


@pytest.fixture
def fake_services(monkeypatch: pytest.MonkeyPatch) -> Any:
    import sweeps
    import sweeps.ingest

    points: list[Any] = []
    monkeypatch.setattr(sweeps.ingest, "write_points", lambda s, t, p, **kw: points.extend(p))

    def install(spec: Any, decisions: list[str] | None = None) -> FakeServices:
        fake = FakeServices(spec, decisions)
        fake.points = points  # type: ignore[attr-defined]
        monkeypatch.setattr(sweeps, "services", fake, raising=False)
        monkeypatch.setitem(__import__("sys").modules, "sweeps.services", fake)
        return fake

    return install


def test_run_segment_finishes_a_rung(fake_services: Any) -> None:
    spec = Spec("synthetic", {"lr": 0.1}, 2, {"steps_per_epoch": 5}, rung=1, attempt=3)
    fake = fake_services(spec)
    runner.run_segment(7, 1, 3, "host:1")
    assert fake.names() == [
        "begin_segment",
        "checkpoint_saved",
        "checkpoint_saved",
        "finish_segment",
    ]
    assert fake.calls[0][1] == (7, 1, 3, "host:1")
    _, args, kwargs = fake.calls[-1]
    assert args == (7, 3, 1)
    assert kwargs["step"] == 10 and kwargs["resource_done"] == 2.0
    assert kwargs["checkpoint"].endswith("a3-s10.pt") and kwargs["value"] is not None
    assert fake.calls[2][2] == {
        "resource_done": 2.0,
        "step": 10,
        "checkpoint": kwargs["checkpoint"],
    }


def test_run_segment_interrupts_on_pause(fake_services: Any) -> None:
    spec = Spec("synthetic", {"lr": 0.1}, 50, {"steps_per_epoch": 5, "step_sleep": 0.05})
    fake = fake_services(spec, decisions=["continue", "pause"])
    runner.run_segment(7, 0, 1, "host:1")
    assert fake.names()[-1] == "interrupt_segment"
    kwargs = fake.calls[-1][2]
    assert 0 < kwargs["step"] < 250 and kwargs["checkpoint"].endswith(f"-s{kwargs['step']}.pt")


def test_run_segment_reports_divergence(fake_services: Any) -> None:
    spec = Spec("synthetic", {"lr": 5.0}, 50, {"steps_per_epoch": 50})
    fake = fake_services(spec)
    runner.run_segment(7, 0, 1, "host:1")
    name, args, kwargs = fake.calls[-1]
    assert name == "fail_segment" and args == (7, 1)
    assert kwargs["diverged"] is True and kwargs["retry"] is False
    assert "train_loss was" in kwargs["reason"]


def test_run_segment_does_nothing_for_a_stale_delivery(fake_services: Any) -> None:
    fake = fake_services(None)
    runner.run_segment(7, 0, 1, "host:1")
    assert fake.names() == ["begin_segment"] and fake.points == []


def test_task_passes_host_and_pid(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    from trainers.tasks import run_segment_task

    seen: list[Any] = []
    monkeypatch.setattr(runner, "run_segment", lambda *a, **k: seen.append((a, k)))
    assert run_segment_task.name == "rungs.run_segment"
    run_segment_task.apply(args=(4, 2, 1))
    ((args, kwargs),) = seen
    assert args == (4, 2, 1) and kwargs["worker"].endswith(f":{os.getpid()}")
