"""The one training loop of the built-in torch classifiers.

Composed of small parts that trainers share: a fixed stratified train / validation / test
split (the sweep decides on validation only; the test split is left for one final,
explicit evaluation), data kept on the training device, an optimizer and LR schedule from
the trial's params, AMP on CUDA, and the step / evaluate / checkpoint rhythm of a
:class:`~trainers.session.Session`.

Determinism: the model is initialised from the trial's seed; the batch order of epoch ``e``
is a permutation seeded by (seed, e), so a segment resumed in the middle of an epoch sees
the same batches it would have seen without the interruption; dropout draws from the torch
RNG, whose state travels in the checkpoint.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from trainers.classifier import PARAM_DEFAULTS, Arrays, ClassifierTrainer
from trainers.device import Device
from trainers.reporting import CONTINUE
from trainers.schedules import ScheduleFactor
from trainers.session import DONE, Session

EVAL_BATCH = 8192


@dataclass(frozen=True)
class Splits:
    """Train / validation / test tensors on the training device."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])


def stratified_split(y: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (rest, held out): ``fraction`` of every class held out, fixed by ``seed``."""
    rng = np.random.default_rng(seed)
    rest, held = [], []
    for label in np.unique(y):
        idx = np.flatnonzero(y == label)
        rng.shuffle(idx)
        n_held = int(round(len(idx) * fraction))
        held.append(idx[:n_held])
        rest.append(idx[n_held:])
    return np.sort(np.concatenate(rest)), np.sort(np.concatenate(held))


def split_arrays(arrays: Arrays, args: dict[str, Any]) -> dict[str, np.ndarray]:
    """Split into train / val / test with the sweep's fixed ``split_seed``."""
    seed = int(args.get("split_seed", 0))
    x, y = arrays.x, arrays.y
    if arrays.x_test is not None and arrays.y_test is not None:
        x_test, y_test = arrays.x_test, arrays.y_test
    else:
        keep, test = stratified_split(y, float(args["test_fraction"]), seed)
        x_test, y_test = x[test], y[test]
        x, y = x[keep], y[keep]
    train, val = stratified_split(y, float(args["val_fraction"]), seed + 1)
    return {
        "x_train": x[train], "y_train": y[train], "x_val": x[val], "y_val": y[val],
        "x_test": x_test, "y_test": y_test,
    }  # fmt: skip


_SPLITS: dict[tuple[Any, ...], Splits] = {}


def get_splits(trainer: ClassifierTrainer, args: dict[str, Any], device: Device) -> Splits:
    """The trainer's splits on ``device``, cached per worker process (workers stay warm and
    run many segments of the same sweep)."""
    key = (
        trainer.key,
        float(args["val_fraction"]),
        float(args["test_fraction"]),
        int(args.get("split_seed", 0)),
        str(device.device),
    )
    if key not in _SPLITS:
        parts = split_arrays(trainer.load_arrays(args), args)
        tensors = {}
        for name, array in parts.items():
            dtype = torch.int64 if name.startswith("y") else torch.float32
            tensors[name] = torch.as_tensor(np.ascontiguousarray(array), dtype=dtype).to(
                device.device
            )
        if len(_SPLITS) >= 8:  # a worker serves few datasets; bound memory anyway
            _SPLITS.pop(next(iter(_SPLITS)))
        _SPLITS[key] = Splits(**tensors)
    return _SPLITS[key]


def make_optimizer(model: nn.Module, params: dict[str, Any]) -> torch.optim.Optimizer:
    """AdamW (decoupled weight decay) or SGD with momentum, from the trial's params."""
    name = params["optimizer"]
    lr, wd = float(params["lr"]), float(params["weight_decay"])
    if name == "adam":
        return torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=wd)
    if name == "sgd":
        return torch.optim.SGD(
            model.parameters(), lr=lr, momentum=float(params["momentum"]), weight_decay=wd
        )
    raise ValueError(f"params.optimizer must be 'adam' or 'sgd', got {name!r}")


def epoch_order(seed: int, epoch: int, n: int, device: torch.device) -> torch.Tensor:
    """The batch order of one epoch: a permutation fixed by (seed, epoch)."""
    generator = torch.Generator().manual_seed((int(seed) * 1_000_003 + int(epoch)) % 2**63)
    return torch.randperm(n, generator=generator).to(device)


def gradient_norm(model: nn.Module, clip: float) -> torch.Tensor:
    """The global L2 norm of the gradients *before* clipping; clips in place if ``clip`` > 0."""
    params = [p for p in model.parameters() if p.grad is not None]
    if clip > 0:
        # clip_grad_norm_ returns the total norm it measured before scaling the gradients.
        return torch.nn.utils.clip_grad_norm_(params, clip)
    return torch.nn.utils.get_total_norm([p.grad for p in params])


@torch.no_grad()
def evaluate(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, device: Device
) -> tuple[float, float, float]:
    """Mean cross-entropy on (x, y), its standard error over the examples, and accuracy.

    The standard error (``std / sqrt(n)`` of the per-example losses) is the interval the
    lecture's science fair puts around an average score: two trials whose losses differ by
    less than it are not told apart by this validation set.
    """
    was_training = model.training
    model.eval()
    total = torch.zeros(3, device=x.device)  # sum of losses, of squared losses, correct
    for start in range(0, len(x), EVAL_BATCH):
        xb, yb = x[start : start + EVAL_BATCH], y[start : start + EVAL_BATCH]
        with device.autocast():
            logits = model(xb)
        losses = F.cross_entropy(logits.float(), yb, reduction="none")
        correct = (logits.argmax(dim=1) == yb).sum()
        total += torch.stack([losses.sum(), (losses * losses).sum(), correct.float()])
    model.train(was_training)
    n = max(len(x), 1)
    loss_sum, square_sum, correct_sum = total.tolist()
    mean = loss_sum / n
    variance = max(square_sum / n - mean * mean, 0.0) * n / max(n - 1, 1)
    return mean, math.sqrt(variance / n), correct_sum / n


def evaluate_on_test(
    trainer: ClassifierTrainer,
    args: dict[str, Any],
    params: dict[str, Any],
    checkpoint: str,
    device: Device,
) -> dict[str, float]:
    """A trial's checkpoint evaluated on the test split, which training and validation never
    read (see :func:`split_arrays`)."""
    from trainers.checkpoints import load_checkpoint

    data = get_splits(trainer, args, device)
    model = trainer.build_model({**PARAM_DEFAULTS, **params}, data.input_shape).to(device.device)
    load_checkpoint(checkpoint, model=model, map_location=device.device, restore_rngs=False)
    loss, se, acc = evaluate(model, data.x_test, data.y_test, device)
    return {
        "test_loss": loss,
        "test_loss_se": se,
        "test_acc": acc,
        "test_examples": len(data.x_test),
    }


def train_classifier(trainer: ClassifierTrainer, session: Session) -> None:
    """Train ``session`` (one segment) of a classifier trial; see the module docstring."""
    args = session.args
    params = {**PARAM_DEFAULTS, **session.params}
    device = session.device
    data = get_splits(trainer, args, device)
    n_train = len(data.x_train)
    batch_size = min(int(args["batch_size"]), n_train)
    steps_per_epoch = math.ceil(n_train / batch_size)
    target = session.target_step(steps_per_epoch)
    clip = float(args.get("clip_grad_norm", 0.0))

    torch.manual_seed(session.seed)  # a fresh trial's initial weights; a resume restores RNG
    model = trainer.build_model(params, data.input_shape).to(device.device)
    optimizer = make_optimizer(model, params)
    horizon = session.horizon_steps(float(args["schedule_epochs"]))
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, ScheduleFactor(params["schedule"], horizon)
    )
    scaler = device.grad_scaler()
    state = {"model": model, "optimizer": optimizer, "scheduler": scheduler, "scaler": scaler}
    session.restore(**state)
    device.reset_peak_memory()
    reporter = session.reporter

    def evaluate_and_checkpoint() -> None:
        val_loss, val_loss_se, val_acc = evaluate(model, data.x_val, data.y_val, device)
        metrics = {"val_loss": val_loss, "val_loss_se": val_loss_se, "val_acc": val_acc}
        mem = device.memory_mb()
        if mem is not None:
            metrics["gpu_mem_mb"] = mem
        session.record_eval(session.step, **metrics)
        session.checkpoint(**state)

    model.train()
    step = session.step
    order, order_epoch = None, -1
    while step < target:
        epoch, position = divmod(step, steps_per_epoch)
        if epoch != order_epoch:
            order, order_epoch = epoch_order(session.seed, epoch, n_train, device.device), epoch
        assert order is not None
        idx = order[position * batch_size : (position + 1) * batch_size]
        xb, yb = data.x_train[idx], data.y_train[idx]
        with device.autocast():
            loss = F.cross_entropy(model(xb), yb)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)
        norm = gradient_norm(model, clip)
        if session.lr_at is not None:
            for group in optimizer.param_groups:
                group["lr"] = session.lr_at(step)
        lr = optimizer.param_groups[0]["lr"]
        scaler.step(optimizer)
        scaler.update()
        scheduler.step()
        # One device sync per step for both numbers.
        loss_value, norm_value = torch.stack([loss.detach().float(), norm.float()]).tolist()
        step += 1
        session.step = step
        decision = reporter.step(
            step, train_loss=loss_value, grad_norm=norm_value, lr=lr, samples=len(idx)
        )
        if session.is_epoch_end(step) or step == target:
            evaluate_and_checkpoint()
        if decision != CONTINUE:
            if not session.checkpointed():
                session.checkpoint(**state)
            session.finish(decision)
            return
    if session.eval_step != session.step:
        # A segment with nothing left to train (its budget was reached before a lost
        # worker could report it) still owes the rung an evaluation at its final step.
        evaluate_and_checkpoint()
    session.finish(DONE)
