"""Train an MLP on sklearn's bundled 8x8 digits: an ordinary argparse training script.

Runs on its own (``python train.py --lr 0.01 --epochs 5``). For Rungs it gained three
lines, each marked ``# rungs``: the import, the step report and the epoch report; and its
epoch loop reads ``rungs.epochs(...)`` instead of ``range(...)``, which resumes a promoted
trial from its checkpoint and saves one every epoch. It is registered as a command trainer
in ``examples/trainers.yaml``.
"""

import argparse

import rungs  # rungs
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from torch import nn


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    torch.set_num_threads(1)
    x, y = load_digits(return_X_y=True)
    x_train, y_train = torch.tensor(x[:1400] / 16, dtype=torch.float32), torch.tensor(y[:1400])
    x_val, y_val = torch.tensor(x[1400:] / 16, dtype=torch.float32), torch.tensor(y[1400:])
    model = nn.Sequential(nn.Linear(64, args.hidden), nn.ReLU(), nn.Linear(args.hidden, 10))
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)

    for epoch in rungs.epochs(args.epochs, model=model, optimizer=optimizer):
        model.train()
        for idx in torch.randperm(len(x_train)).split(args.batch_size):
            loss = F.cross_entropy(model(x_train[idx]), y_train[idx])
            optimizer.zero_grad()
            loss.backward()
            rungs.step(loss, model=model, optimizer=optimizer, samples=len(idx))  # rungs
            optimizer.step()
        model.eval()
        with torch.no_grad():
            logits = model(x_val)
        val_loss = F.cross_entropy(logits, y_val).item()
        val_acc = (logits.argmax(1) == y_val).float().mean().item()
        rungs.report(val_loss=val_loss, val_acc=val_acc)  # rungs
        print(f"epoch {epoch + 1}: val_loss {val_loss:.4f} val_acc {val_acc:.3f}")


if __name__ == "__main__":
    main()
