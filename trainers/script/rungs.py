"""Report to Rungs from a training script: three added lines, standard library only.

A command trainer (see ``trainers/command.py`` in Rungs) runs a script once per segment with
this file on ``PYTHONPATH``. The script adds::

    import rungs                                                  # 1
    for epoch in rungs.epochs(args.epochs, model=model, optimizer=optimizer):  # was range(...)
        for xb, yb in batches:
            ...
            loss.backward()
            rungs.step(loss, model=model, optimizer=optimizer)    # 2: before clipping / step
            optimizer.step()
        rungs.report(val_loss=evaluate(model))                    # 3

``epochs`` restores the trial's checkpoint (model, optimizer, scheduler, RNG states, step
count), yields the epochs this segment owns (from where the trial left off to the rung's
budget) and saves a checkpoint at each epoch's end. ``step`` reports the train loss, the
gradient norm of ``model`` and the learning rate. Rungs sends SIGTERM to kill or pause a
trial; the next ``step`` (or the epoch's end) then saves a checkpoint and exits, so the
trial stops within one step and resumes exactly there.

Run outside Rungs (no ``RUNGS_BUDGET`` in the environment) the script behaves as before:
``epochs(n)`` is ``range(n)`` and nothing is printed.

Reports are JSON lines on stdout, which a script may also print itself:
``{"step": 12, "train_loss": 0.5, "grad_norm": 1.2, "lr": 0.01}`` after an optimizer step
(``step`` counts over the trial's whole life: continue from ``RUNGS_STEP``),
``{"epoch": 3, "val_loss": 0.4}`` after evaluating (``epoch``: epochs completed), and
``{"checkpoint": "<file in RUNGS_CHECKPOINT_DIR>", "step": 12, "epoch": 3}`` after saving one.
"""

from __future__ import annotations

import json
import math
import os
import random
import signal
import sys
from collections.abc import Iterator
from typing import Any

_ENV = os.environ
ACTIVE = "RUNGS_BUDGET" in _ENV
_OBJECTS = ("model", "optimizer", "scheduler")
_state: dict[str, Any] = {
    "step": int(_ENV.get("RUNGS_STEP", "0")),
    "epoch": None,  # the epoch being trained, inside epochs()
    "objects": {},
    "saved_step": -1,
    "stop": False,
}


def _emit(**fields: Any) -> None:
    if ACTIVE:
        sys.stdout.write(json.dumps(fields) + "\n")
        sys.stdout.flush()


def _on_sigterm(signum: int, frame: Any) -> None:
    _state["stop"] = True  # obeyed at the next step() or epoch end


if ACTIVE:
    signal.signal(signal.SIGTERM, _on_sigterm)


def _torch() -> Any:
    torch = sys.modules.get("torch")
    if torch is None:
        raise RuntimeError("rungs: checkpoints need torch imported by the script")
    return torch


def _save(epochs_done: int) -> None:
    """Save the objects given to epochs() and the RNG states at the current step."""
    objects = _state["objects"]
    if not objects or _state["saved_step"] == _state["step"]:
        return
    torch = _torch()
    step = _state["step"]
    folder = _ENV["RUNGS_CHECKPOINT_DIR"]
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, f"a{int(_ENV.get('RUNGS_ATTEMPT', '0'))}-s{step}.pt")
    payload = {name: obj.state_dict() for name, obj in objects.items()}
    payload.update(
        step=step,
        epoch=epochs_done,
        torch_rng=torch.get_rng_state(),
        python_rng=list(random.getstate()[1]),
    )
    tmp = f"{path}.{os.getpid()}.tmp"
    torch.save(payload, tmp)
    os.replace(tmp, path)
    _state["saved_step"] = step
    _emit(checkpoint=path, step=step, epoch=epochs_done)


def _restore() -> int:
    """Load RUNGS_RESUME_FROM into the objects; return the epochs it had completed."""
    path = _ENV.get("RUNGS_RESUME_FROM", "")
    if not path:
        return 0
    torch = _torch()
    payload = torch.load(path, map_location="cpu", weights_only=True)
    for name, obj in _state["objects"].items():
        obj.load_state_dict(payload[name])
    torch.set_rng_state(payload["torch_rng"])
    random.setstate((3, tuple(payload["python_rng"]), None))
    _state["step"] = _state["saved_step"] = int(payload["step"])
    return int(payload["epoch"])


def _obey() -> None:
    """Checkpoint and exit if Rungs asked the trial to stop or pause."""
    if _state["stop"]:
        epoch = _state["epoch"]
        _save(epoch if epoch is not None else int(_ENV.get("RUNGS_START_EPOCH", "0")))
        raise SystemExit(0)


def epochs(
    n: int = 0, *, model: Any = None, optimizer: Any = None, scheduler: Any = None
) -> Iterator[int]:
    """The epochs this segment trains (0-based): ``range(n)`` outside Rungs.

    Restores ``model``, ``optimizer`` and ``scheduler`` from the trial's checkpoint first and
    saves them at the end of every epoch.
    """
    if not ACTIVE:
        yield from range(n)
        return
    given = {"model": model, "optimizer": optimizer, "scheduler": scheduler}
    _state["objects"] = {k: v for k, v in given.items() if v is not None}
    start = _restore() if _state["objects"] else int(_ENV.get("RUNGS_START_EPOCH", "0"))
    for epoch in range(start, math.ceil(float(_ENV["RUNGS_BUDGET"]))):
        _state["epoch"] = epoch
        yield epoch
        _state["epoch"] = None
        _save(epoch + 1)
        _obey()


def _number(value: Any) -> float:
    return float(value.detach().float().item() if hasattr(value, "detach") else value)


def step(
    loss: Any,
    *,
    model: Any = None,
    optimizer: Any = None,
    lr: float | None = None,
    samples: int = 0,
    **extra: Any,
) -> None:
    """Report one optimizer step: call after ``loss.backward()``, before clipping and
    ``optimizer.step()``; ``samples`` (the batch size) gives the throughput. Exits (after a
    checkpoint) if Rungs asked the trial to stop."""
    _obey()
    _state["step"] += 1
    if not ACTIVE:
        return
    fields: dict[str, Any] = {"step": _state["step"], "train_loss": _number(loss)}
    if model is not None:
        squares = [
            float(p.grad.detach().float().pow(2).sum())
            for p in model.parameters()
            if p.grad is not None
        ]
        if squares:
            fields["grad_norm"] = math.sqrt(sum(squares))
    if optimizer is not None:
        lr = optimizer.param_groups[0]["lr"]
    if lr is not None:
        fields["lr"] = float(lr)
    if samples:
        fields["samples"] = int(samples)
    fields.update({k: _number(v) for k, v in extra.items()})
    _emit(**fields)


def report(**metrics: Any) -> None:
    """Report evaluation metrics (``val_loss=...``) at the end of an epoch; the segment's
    last report is its rung's result."""
    epoch = _state["epoch"]
    done = epoch + 1 if epoch is not None else int(_ENV.get("RUNGS_START_EPOCH", "0"))
    _emit(epoch=done, **{k: _number(v) for k, v in metrics.items()})
