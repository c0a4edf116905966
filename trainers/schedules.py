"""Learning-rate schedules as hyperparameters: a factor of the base LR for each global step.

The factor depends only on the global step and a fixed horizon: the sweep's full budget (its
top rung), or ``schedule_epochs`` when a sweep sets it; never on the current rung's budget,
so a trial promoted to a larger budget continues on the same curve instead of restarting its
warmup, and the trials that reach the top rung finish their schedule there. Past the horizon
the factor stays at its final value.

* ``constant``: 1.
* ``warmup_cosine``: linear warmup over the first 5 % of the horizon, then a cosine from 1 to
  1 % of the base LR.
* ``one_cycle``: like ``torch.optim.lr_scheduler.OneCycleLR`` with its defaults: up from
  1/25 to 1 over the first 30 %, then a cosine down to 1/(25 * 10^4).
"""

from __future__ import annotations

import math

SCHEDULES = ("constant", "warmup_cosine", "one_cycle")
WARMUP_FRACTION = 0.05
COSINE_FLOOR = 0.01
ONE_CYCLE_START = 1 / 25
ONE_CYCLE_PEAK_AT = 0.3
ONE_CYCLE_END = ONE_CYCLE_START / 1e4


def _cosine(progress: float, start: float, end: float) -> float:
    return end + (start - end) * 0.5 * (1 + math.cos(math.pi * min(max(progress, 0.0), 1.0)))


def lr_factor(schedule: str, step: int, horizon_steps: int) -> float:
    """The multiplier of the base LR at global ``step`` (0-based) for ``schedule``."""
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {list(SCHEDULES)}, got {schedule!r}")
    if schedule == "constant":
        return 1.0
    horizon = max(int(horizon_steps), 1)
    if schedule == "warmup_cosine":
        warmup = max(int(horizon * WARMUP_FRACTION), 1)
        if step < warmup:
            return (step + 1) / warmup
        return _cosine((step - warmup) / max(horizon - warmup, 1), 1.0, COSINE_FLOOR)
    peak = max(int(horizon * ONE_CYCLE_PEAK_AT), 1)
    if step < peak:
        return _cosine(1 - step / peak, 1.0, ONE_CYCLE_START)
    return _cosine((step - peak) / max(horizon - peak, 1), 1.0, ONE_CYCLE_END)


class ScheduleFactor:
    """``LambdaLR``'s callable: plain attributes only, so its state is checkpointable."""

    def __init__(self, schedule: str, horizon_steps: int) -> None:
        lr_factor(schedule, 0, horizon_steps)  # validate now, not at the first step
        self.schedule = schedule
        self.horizon_steps = int(horizon_steps)

    def __call__(self, step: int) -> float:
        return lr_factor(self.schedule, step, self.horizon_steps)
