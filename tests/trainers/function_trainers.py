"""Training functions the function-trainer tests register (a linear model on generated data)."""

from __future__ import annotations

import time
from typing import Any

import torch
from torch import nn

from trainers.base import Arg
from trainers.function import FunctionSession, rungs_trainer

ARGS = {
    "steps_per_epoch": Arg(int, 10, low=1, high=1000),
    "step_sleep": Arg(float, 0.0, low=0.0, high=1.0),
    "nan_at_step": Arg(int, 0, low=0, high=10**6, help="Report a NaN loss at this step."),
    "raise_at_step": Arg(int, 0, low=0, high=10**6, help="Raise in user code at this step."),
    "restore": Arg(bool, True, help="Call session.restore (False: forget to)."),
}


WEIGHTS = torch.tensor([1.0, -2.0, 0.5, 3.0])


def line_test(config: dict[str, Any], restore: Any) -> dict[str, Any]:
    """The final evaluation: fresh data (seed 1) the training (seed 0) never reads."""
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(64, 4, generator=gen)
    y = x @ WEIGHTS + 0.1 * torch.randn(64, generator=gen)
    model = nn.Linear(4, 1)
    restore(model=model)
    with torch.no_grad():
        return {"test_loss": ((model(x).squeeze(1) - y) ** 2).mean()}


@rungs_trainer(
    key="fn-line",
    metrics=["val_loss"],
    space={"lr": {"type": "float", "low": 0.01, "high": 0.3, "log": True}},
    args=ARGS,
    uses_gpu=False,
    test=line_test,
)
def line(config: dict[str, Any], session: FunctionSession) -> None:
    """A linear regression trained with SGD, a batch of 8 per step."""
    args = session.args
    spe, batch = int(args["steps_per_epoch"]), 8
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(spe * batch, 4, generator=gen)
    y = x @ WEIGHTS + 0.1 * torch.randn(spe * batch, generator=gen)
    model = nn.Linear(4, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=float(config.get("lr", 0.05)))
    if args["restore"]:
        session.restore(model=model, optimizer=optimizer)
    for _epoch in session.epochs():
        for idx in torch.randperm(len(x)).split(batch):
            loss = ((model(x[idx]).squeeze(1) - y[idx]) ** 2).mean()
            if session.global_step + 1 == args["nan_at_step"]:
                loss = loss * float("nan")
            if session.global_step + 1 == args["raise_at_step"]:
                raise RuntimeError("boom in user code")
            optimizer.zero_grad()
            loss.backward()
            session.step(loss, model=model, optimizer=optimizer, samples=len(idx))
            optimizer.step()
            time.sleep(args["step_sleep"])
        with torch.no_grad():
            session.report(val_loss=((model(x).squeeze(1) - y) ** 2).mean())
