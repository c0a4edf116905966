"""The training loop of :class:`trainers.builtin.synthetic.SyntheticCurve` (numpy, no torch
model); kept apart so importing the trainer's declarations costs nothing."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import torch

from trainers.builtin.synthetic import DIM, NOISE_CHUNK
from trainers.reporting import CONTINUE
from trainers.session import DONE, Session


@dataclass(frozen=True)
class Curve:
    """The fixed quantities of one configuration."""

    lr: float
    momentum: float
    h: np.ndarray  # curvatures, float32
    sqrt_h: np.ndarray
    sigma: float
    floor: float
    theta0: float
    clip: float

    @classmethod
    def build(cls, params: dict[str, object], args: dict[str, object]) -> Curve:
        lr = float(params.get("lr", 0.05))  # type: ignore[arg-type]
        width = float(params.get("width", 64))  # type: ignore[arg-type]
        momentum = float(params.get("momentum", 0.0))  # type: ignore[arg-type]
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"params.momentum must be in [0, 1), got {momentum!r}")
        if width <= 0 or lr <= 0:
            raise ValueError("params.lr and params.width must be > 0")
        h_max = 2.0 * (1.0 + momentum) / float(args["diverge_lr"])  # type: ignore[arg-type]
        h = (h_max * np.arange(1, DIM + 1, dtype=np.float64) ** -1.5).astype(np.float32)
        batch = float(args["batch_size"])  # type: ignore[arg-type]
        sigma = float(args["noise"]) * math.sqrt(64.0 / width) / math.sqrt(batch / 32.0)  # type: ignore[arg-type]
        return cls(
            lr=lr,
            momentum=momentum,
            h=h,
            sqrt_h=np.sqrt(h),
            sigma=sigma,
            floor=0.05 + 3.0 / width,
            theta0=math.sqrt(width / 64.0),
            clip=float(args["clip_grad_norm"]),  # type: ignore[arg-type]
        )

    def loss(self, theta: np.ndarray) -> float:
        return float(0.5 * np.dot(self.h * theta, theta)) + self.floor


def noise_chunk(seed: int, chunk: int) -> np.ndarray:
    """Standard normals for global steps ``chunk * 1024 ... + 1023``: (1024, DIM + 1)."""
    rng = np.random.default_rng([int(seed) % 2**63, 1, int(chunk)])
    return rng.standard_normal((NOISE_CHUNK, DIM + 1)).astype(np.float32)


EVAL_NOISE = 0.005  # the standard deviation of the validation noise: its standard error


def eval_noise(seed: int, step: int) -> float:
    return float(np.random.default_rng([int(seed) % 2**63, 2, int(step)]).normal()) * EVAL_NOISE


def train_synthetic(session: Session) -> None:
    args = session.args
    curve = Curve.build(session.params, args)
    spe = int(args["steps_per_epoch"])
    target = session.target_step(spe)
    sleep = float(args["step_sleep"])
    batch = int(args["batch_size"])
    reporter = session.reporter

    ckpt = session.restore()
    if ckpt is None:
        theta = np.full(DIM, curve.theta0, dtype=np.float32)
        velocity = np.zeros(DIM, dtype=np.float32)
    else:
        theta = ckpt.extra["theta"].cpu().numpy().copy()
        velocity = ckpt.extra["velocity"].cpu().numpy().copy()

    def state() -> dict[str, torch.Tensor]:
        return {
            "theta": torch.from_numpy(theta.copy()),
            "velocity": torch.from_numpy(velocity.copy()),
        }

    def evaluate_and_checkpoint() -> None:
        with np.errstate(over="ignore", invalid="ignore"):
            val_loss = curve.loss(theta) + eval_noise(session.seed, session.step)
        session.record_eval(
            session.step, val_loss=val_loss, val_loss_se=EVAL_NOISE, val_acc=math.exp(-val_loss)
        )
        session.checkpoint(extra=state())

    step = session.step
    chunk_index, chunk = -1, None
    lr, beta, h, sqrt_h, sigma = curve.lr, curve.momentum, curve.h, curve.sqrt_h, curve.sigma
    with np.errstate(over="ignore", invalid="ignore"):
        while step < target:
            if step // NOISE_CHUNK != chunk_index:
                chunk_index = step // NOISE_CHUNK
                chunk = noise_chunk(session.seed, chunk_index)
            assert chunk is not None
            xi = chunk[step % NOISE_CHUNK]
            # The minibatch loss, measured before the update like a real training step.
            loss = curve.loss(theta) * math.exp(0.05 * sigma * float(xi[DIM]))
            grad = h * theta + sigma * sqrt_h * xi[:DIM]
            norm = float(np.sqrt(np.dot(grad, grad)))
            if curve.clip > 0 and norm > curve.clip:
                grad = grad * (curve.clip / norm)
            velocity = beta * velocity + grad
            if session.lr_at is not None:
                lr = session.lr_at(step)
            theta = theta - lr * velocity
            if sleep:
                time.sleep(sleep)
            step += 1
            session.step = step
            decision = reporter.step(step, train_loss=loss, grad_norm=norm, lr=lr, samples=batch)
            if session.is_epoch_end(step) or step == target:
                evaluate_and_checkpoint()
            if decision != CONTINUE:
                if not session.checkpointed():
                    session.checkpoint(extra=state())
                session.finish(decision)
                return
    if session.eval_step != session.step:
        evaluate_and_checkpoint()
    session.finish(DONE)
