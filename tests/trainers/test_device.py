"""Device selection, and training on CUDA with mixed precision (skipped without a GPU)."""

from __future__ import annotations

import pytest
import torch

from trainers.device import select_device
from trainers.runner import execute_segment

from .conftest import Effects, Spec

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


def test_cpu_trains_in_fp32_without_autocast() -> None:
    dev = select_device(prefer_cuda=False)
    assert dev.device.type == "cpu" and dev.amp_dtype is None
    assert not dev.uses_scaler and not dev.grad_scaler().is_enabled()
    assert dev.memory_mb() is None


def test_unknown_precision_is_refused() -> None:
    with pytest.raises(ValueError, match="precision must be one of"):
        select_device("fp8")


@pytest.mark.gpu
@cuda
def test_cuda_auto_prefers_bf16_and_fp16_uses_a_scaler() -> None:
    auto = select_device("auto")
    assert auto.is_cuda
    expected = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    assert auto.amp_dtype == expected
    fp16 = select_device("fp16")
    assert fp16.uses_scaler and fp16.grad_scaler().is_enabled()
    assert select_device("fp32").amp_dtype is None


@pytest.mark.gpu
@cuda
@pytest.mark.parametrize("precision", ["bf16", "fp16", "fp32"])
def test_digits_mlp_learns_on_cuda(precision: str) -> None:
    if precision == "bf16" and not torch.cuda.is_bf16_supported():
        pytest.skip("this GPU has no bf16")
    effects = Effects()
    spec = Spec("digits-mlp", {"lr": 3e-3, "hidden": 128}, 4, {"precision": precision})
    result = execute_segment(spec, **effects.kwargs())
    assert result.outcome == "done"
    accs = [v for _, v in effects.series("val_acc")]
    assert accs[-1] > accs[0] and accs[-1] > 0.85
    mem = [v for _, v in effects.series("gpu_mem_mb")]
    assert len(mem) == 4 and all(v is not None and v > 0 for v in mem)


@pytest.mark.gpu
@cuda
def test_cuda_resume_matches_straight_training() -> None:
    params = {"lr": 0.05, "hidden": 32, "dropout": 0.3, "optimizer": "sgd", "momentum": 0.9}
    args = {"precision": "fp16"}  # exercises the grad scaler's checkpointed state
    straight = Effects()
    whole = execute_segment(Spec("digits-mlp", params, 2, args), **straight.kwargs())
    first, second = Effects(), Effects()
    part1 = execute_segment(Spec("digits-mlp", params, 1, args, trial_id=8), **first.kwargs())
    part2 = execute_segment(
        Spec("digits-mlp", params, 2, args, trial_id=8, attempt=2, step=part1.step,
             start_resource=1.0, checkpoint=part1.checkpoint),
        **second.kwargs(),
    )  # fmt: skip
    assert part2.step == whole.step
    a = torch.load(whole.checkpoint, weights_only=True)
    b = torch.load(part2.checkpoint, weights_only=True)
    assert a["scaler"] is not None and a["scaler"]["scale"] == b["scaler"]["scale"]
    for key in a["model"]:
        assert torch.allclose(a["model"][key], b["model"][key], atol=1e-5), key
    losses = [v for _, v in straight.series("train_loss")]
    resumed = [v for _, v in first.series("train_loss") + second.series("train_loss")]
    assert resumed == pytest.approx(losses, rel=1e-4)


def test_synthetic_stays_on_the_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    import trainers.runner as runner

    chosen: list[bool] = []
    real = runner.select_device

    def spy(precision: str = "auto", *, prefer_cuda: bool = True) -> object:
        chosen.append(prefer_cuda)
        return real(precision, prefer_cuda=prefer_cuda)

    monkeypatch.setattr(runner, "select_device", spy)
    execute_segment(Spec("synthetic", {"lr": 0.1}, 0.2), **Effects().kwargs())
    execute_segment(Spec("digits-mlp", {"lr": 0.01}, 0.1), **Effects().kwargs())
    assert chosen == [False, True]
