"""A stand-in training script that reports JSON lines itself (no helper, no torch).

Its "model" is one weight decaying by ``--lr`` per step; it checkpoints that weight as JSON
at every epoch's end and on SIGTERM. ``--mode`` makes it misbehave: crash, garbage, nan,
bad-name, deaf (ignores SIGTERM), early (exits before its budget).
"""

import argparse
import json
import os
import signal
import sys
import time

parser = argparse.ArgumentParser()
parser.add_argument("--lr", type=float, default=0.1)
parser.add_argument("--mode", default="ok")
parser.add_argument("--sleep", type=float, default=0.0)
if "RUNGS_PARAMS_FILE" in os.environ:  # params: json in the trainers file
    with open(os.environ["RUNGS_PARAMS_FILE"]) as fh:
        params = json.load(fh)
    print("params file:", params, flush=True)
    args = parser.parse_args([f"--{name}={value}" for name, value in params.items()])
else:
    args = parser.parse_args()
env = os.environ
step, start = int(env["RUNGS_STEP"]), int(env["RUNGS_START_EPOCH"])
budget = int(env["RUNGS_BUDGET"])
weight = 1.0
if env["RUNGS_RESUME_FROM"]:
    with open(env["RUNGS_RESUME_FROM"]) as fh:
        state = json.load(fh)
    assert state["step"] == step, (state, step)
    weight = state["weight"]
stopping = []
signal.signal(
    signal.SIGTERM, signal.SIG_IGN if args.mode == "deaf" else lambda *_: stopping.append(1)
)


def emit(**fields):
    print(json.dumps(fields), flush=True)


def save(epochs_done):
    path = os.path.join(env["RUNGS_CHECKPOINT_DIR"], f"a{env['RUNGS_ATTEMPT']}-s{step}.pt")
    with open(path, "w") as fh:
        json.dump({"step": step, "weight": weight}, fh)
    emit(checkpoint=path, step=step, epoch=epochs_done)


print(f"training from step {step}, epoch {start} to {budget}", flush=True)
for epoch in range(start, budget if args.mode != "early" else start):
    for _ in range(10):
        if stopping:
            save(epoch)
            sys.exit(0)
        weight *= 1 - args.lr
        step += 1
        if args.mode == "crash" and step == 15:
            print("Traceback: something broke at step 15", file=sys.stderr, flush=True)
            sys.exit(3)
        if args.mode == "garbage" and step == 5:
            print('{"step": "five", "train_loss": 1}', flush=True)
        if args.mode == "bad-name" and step == 3:
            emit(step=step, train_loss=weight, **{"bad\u0000name": 1.0})
            continue
        loss = float("nan") if args.mode == "nan" and step == 7 else weight
        emit(step=step, train_loss=loss, grad_norm=2 * weight, lr=args.lr, samples=8)
        time.sleep(args.sleep)
    emit(epoch=epoch + 1, val_loss=weight * 1.1)
    save(epoch + 1)
