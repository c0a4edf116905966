"""Pieces of the classifier loop: gradient norm before clipping, optimizers, batch order."""

from __future__ import annotations

import pytest
import torch

from trainers.loop import epoch_order, evaluate, gradient_norm, make_optimizer


def model_with_grads() -> torch.nn.Module:
    model = torch.nn.Linear(4, 3)
    for p in model.parameters():
        p.grad = torch.full_like(p, 2.0)
    return model


def test_gradient_norm_is_measured_before_clipping() -> None:
    model = model_with_grads()
    n = sum(p.numel() for p in model.parameters())  # 15 gradients of 2.0
    expected = (n * 4.0) ** 0.5
    norm = gradient_norm(model, clip=1.0)
    assert float(norm) == torch.tensor(expected).item()
    after = torch.nn.utils.get_total_norm([p.grad for p in model.parameters()])
    assert abs(float(after) - 1.0) < 1e-5, "the gradients themselves were clipped"


def test_gradient_norm_without_clipping_leaves_gradients() -> None:
    model = model_with_grads()
    gradient_norm(model, clip=0.0)
    assert all(torch.equal(p.grad, torch.full_like(p, 2.0)) for p in model.parameters())


def test_optimizers_follow_params() -> None:
    model = torch.nn.Linear(2, 2)
    adam = make_optimizer(model, {"optimizer": "adam", "lr": 0.01, "weight_decay": 0.1})
    sgd = make_optimizer(
        model, {"optimizer": "sgd", "lr": 0.02, "weight_decay": 0.0, "momentum": 0.9}
    )
    assert isinstance(adam, torch.optim.AdamW) and adam.param_groups[0]["weight_decay"] == 0.1
    assert isinstance(sgd, torch.optim.SGD) and sgd.param_groups[0]["momentum"] == 0.9


def test_epoch_order_is_fixed_by_seed_and_epoch() -> None:
    cpu = torch.device("cpu")
    assert torch.equal(epoch_order(1, 0, 50, cpu), epoch_order(1, 0, 50, cpu))
    assert not torch.equal(epoch_order(1, 0, 50, cpu), epoch_order(1, 1, 50, cpu))
    assert sorted(epoch_order(1, 3, 50, cpu).tolist()) == list(range(50))


def test_classifier_reports_the_norm_before_clipping(cpu: object) -> None:
    from trainers.runner import execute_segment

    from .conftest import Effects, Spec

    runs = {}
    for clip in (0.0, 0.05):
        effects = Effects()
        execute_segment(
            Spec("digits-mlp", {"lr": 0.01}, 0.2, {"clip_grad_norm": clip}),
            device=cpu,  # type: ignore[arg-type]
            **effects.kwargs(),
        )
        runs[clip] = effects
    free, clipped = ([v for _, v in runs[c].series("grad_norm")] for c in (0.0, 0.05))
    assert free[0] == clipped[0] > 0.05, "same first step: the norm is measured before clipping"
    assert free[1:] != clipped[1:], "clipping changed the updates"


def test_the_lr_schedule_ends_at_the_sweeps_full_budget_unless_told_otherwise(
    cpu: object,
) -> None:
    from trainers.runner import execute_segment
    from trainers.schedules import ScheduleFactor

    from .conftest import Effects, Spec

    params = {"lr": 0.1, "schedule": "warmup_cosine"}
    lrs = {}
    for horizon, args in ((2.0, {}), (40.0, {}), (40.0, {"schedule_epochs": 2.0})):
        effects = Effects()
        execute_segment(
            Spec("digits-mlp", params, 1.0, {"batch_size": 128, **args}, horizon=horizon),
            device=cpu,  # type: ignore[arg-type]
            **effects.kwargs(),
        )
        lrs[horizon, bool(args)] = effects.series("lr")
    steps = len(lrs[2.0, False])  # one epoch
    for key, horizon in (((2.0, False), 2), ((40.0, True), 2), ((40.0, False), 40)):
        factor = ScheduleFactor("warmup_cosine", horizon * steps)
        assert [v for _, v in lrs[key]] == [pytest.approx(0.1 * factor(s - 1)) for s, _ in lrs[key]]


def test_evaluation_gives_the_standard_error_of_the_per_example_losses(cpu: object) -> None:
    torch.manual_seed(0)
    model = torch.nn.Linear(5, 3)
    x, y = torch.randn(101, 5), torch.randint(0, 3, (101,))
    mean, se, acc = evaluate(model, x, y, cpu)  # type: ignore[arg-type]
    losses = torch.nn.functional.cross_entropy(model(x), y, reduction="none").detach()
    assert mean == pytest.approx(losses.mean().item(), rel=1e-5)
    assert se == pytest.approx(losses.std().item() / 101**0.5, rel=1e-4)
    assert acc == pytest.approx((model(x).argmax(1) == y).float().mean().item())
