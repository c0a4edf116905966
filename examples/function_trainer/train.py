"""An MLP on sklearn's bundled 8x8 digits, as a Rungs training function (CPU, no download).

Rungs-specific lines: 8 -- the import, the decorator (3 lines, its search space included),
``session.restore``, the ``session.epochs()`` loop, ``session.step`` and ``session.report``.
Everything else is the model and data code the function would have without Rungs.

It is registered in ``examples/trainers.yaml`` (``fn-digits-mlp:
examples.function_trainer.train:train``); launch ``spec.yaml`` as the README shows.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from torch import nn

from trainers.function import FunctionSession, rungs_trainer

X, Y = load_digits(return_X_y=True)
X_TRAIN, Y_TRAIN = torch.tensor(X[:1400] / 16, dtype=torch.float32), torch.tensor(Y[:1400])
X_VAL, Y_VAL = torch.tensor(X[1400:] / 16, dtype=torch.float32), torch.tensor(Y[1400:])


@rungs_trainer(key="fn-digits-mlp", metrics=["val_loss", "val_acc"], uses_gpu=False, space={
    "lr": {"type": "float", "low": 1e-4, "high": 0.3, "log": True},
    "hidden": {"type": "int", "low": 16, "high": 256, "log": True}})  # fmt: skip
def train(config: dict[str, Any], session: FunctionSession) -> None:
    """An MLP on sklearn's 8x8 digits, written as a plain torch loop."""
    hidden, batch_size = int(config.get("hidden", 64)), 64
    model = nn.Sequential(nn.Linear(64, hidden), nn.ReLU(), nn.Linear(hidden, 10))
    optimizer = torch.optim.Adam(model.parameters(), lr=float(config.get("lr", 1e-3)))
    session.restore(model=model, optimizer=optimizer)
    for _epoch in session.epochs():
        model.train()
        for idx in torch.randperm(len(X_TRAIN)).split(batch_size):
            loss = F.cross_entropy(model(X_TRAIN[idx]), Y_TRAIN[idx])
            optimizer.zero_grad()
            loss.backward()
            session.step(loss, model=model, optimizer=optimizer, samples=len(idx))
            optimizer.step()
        model.eval()
        with torch.no_grad():
            logits = model(X_VAL)
        val_acc = (logits.argmax(1) == Y_VAL).float().mean()
        session.report(val_loss=F.cross_entropy(logits, Y_VAL), val_acc=val_acc)
