"""Multi-fidelity test objectives for ``bench.search_quality``: simulated training runs.

Each :class:`Problem` maps a config and a budget ``b`` (resource units, 1..R, R=81) to a
noiseless value ``mean(x, b)``; a run observes ``mean(x, b) + sd(b) * noise`` with the noise
drawn from ``np.random.default_rng([seed, trial, round(b)])``, so every value is a pure
function of (config, budget, trial id, seed). ``f(x) = mean(x, R)`` is the true (full-budget,
noiseless) value and ``f_star`` its known minimum: regret is ``f(incumbent) - f_star``.

* ``branin`` and ``hartmann6``: the test function plus a shared learning curve and a smooth
  config-dependent term that fades with the budget (values unchanged from the first version
  of the benchmark).
* ``lr_trap``: a learning-rate sweep whose low budgets favour high learning rates (they make
  fast early progress) while at the full budget they plateau high; the optimum is a moderate
  effective learning rate.
* ``hartmann6_bad``: the "bad" multi-fidelity Hartmann-6 of mf-prior-bench (``mfpbench``,
  ``MFHartmann6BenchmarkBad``: fidelity bias 3.5, noise 4.0; the multi-fidelity Hartmann of
  Kandasamy et al. 2017 with a stronger bias): ``alpha' = alpha - 3.5 (1 - s)`` with
  ``s = log(b) / log(R)``, so low budgets flatten and then invert the function, plus
  half-normal noise ``4.0 (1 - s) |N(0, 1)|``.
* ``mixed``: categorical optimizer, integer depth and (log) width, log learning rate and
  dropout, with a learning curve whose early ranking favours Adam, small models and high
  learning rates (moderately misleading).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

R = 81  # max resource (epochs); min 1, eta 3: rungs 1, 3, 9, 27, 81
LOG_R = math.log(R)


def _w(budget: float) -> float:
    """1 at the lowest budget, 0 at R."""
    return 1.0 - math.log(budget) / LOG_R


@dataclass(frozen=True)
class Problem:
    name: str
    space: dict[str, Any]
    mean: Callable[[Mapping[str, Any], float], float]  # noiseless value at a budget
    sd: Callable[[float], float]  # noise scale at a budget
    f_star: float  # min over the space of mean(x, R)
    x_star: dict[str, Any] = field(default_factory=dict)  # a config reaching f_star (if known)
    half_normal: bool = False  # noise |N(0, 1)| instead of N(0, 1)
    note: str = ""

    def f(self, x: Mapping[str, Any]) -> float:
        """True value: full budget, no noise."""
        return self.mean(x, R)

    def value(self, x: Mapping[str, Any], budget: float, trial: int, seed: int) -> float:
        noise = np.random.default_rng([seed, trial, round(budget)]).normal()
        if self.half_normal:
            noise = abs(noise)
        return self.mean(x, budget) + self.sd(budget) * noise


# --- Branin and Hartmann-6 with a fading misleading term -----------------------------------


def branin(x: Mapping[str, Any]) -> float:
    x1, x2 = float(x["x1"]), float(x["x2"])
    a, b, c, r, s, t = 1.0, 5.1 / (4 * math.pi**2), 5 / math.pi, 6.0, 10.0, 1 / (8 * math.pi)
    return a * (x2 - b * x1**2 + c * x1 - r) ** 2 + s * (1 - t) * math.cos(x1) + s


_H_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])
_H_A = np.array(
    [
        [10, 3, 17, 3.5, 1.7, 8],
        [0.05, 10, 17, 0.1, 8, 14],
        [3, 3.5, 1.7, 10, 17, 8],
        [17, 8, 0.05, 10, 0.1, 14],
    ]
)
_H_P = 1e-4 * np.array(
    [
        [1312, 1696, 5569, 124, 8283, 5886],
        [2329, 4135, 8307, 3736, 1004, 9991],
        [2348, 1451, 3522, 2883, 3047, 6650],
        [4047, 8828, 8732, 5743, 1091, 381],
    ]
)
H6_X_STAR = {
    f"x{i}": v for i, v in enumerate((0.20169, 0.150011, 0.476874, 0.275332, 0.311652, 0.6573))
}


def _hartmann6_alpha(x: Mapping[str, Any], alpha: np.ndarray) -> float:
    v = np.array([float(x[f"x{i}"]) for i in range(6)])
    return float(-np.sum(alpha * np.exp(-np.sum(_H_A * (v - _H_P) ** 2, axis=1))))


def hartmann6(x: Mapping[str, Any]) -> float:
    return _hartmann6_alpha(x, _H_ALPHA)


_W = np.array([0.7, -0.4, 0.9, 0.3, -0.8, 0.5])


def _fading(
    f: Callable[[Mapping[str, Any]], float],
    g: Callable[[Mapping[str, Any]], float],
    curve: float,
    kappa: float,
) -> Callable[[Mapping[str, Any], float], float]:
    """y(x, b) = f(x) + w(b) L + w(b)^2 kappa g(x)."""

    def mean(x: Mapping[str, Any], budget: float) -> float:
        w = _w(budget)
        return f(x) + w * curve + w * w * kappa * g(x)

    return mean


def _sd_doubling(sigma: float) -> Callable[[float], float]:
    return lambda budget: sigma * (1 + _w(budget))


BRANIN = Problem(
    "branin",
    {
        "x1": {"type": "float", "low": -5.0, "high": 10.0},
        "x2": {"type": "float", "low": 0.0, "high": 15.0},
    },
    _fading(
        branin,
        lambda x: math.sin(0.8 * float(x["x1"]) + 1.0) * math.cos(0.5 * float(x["x2"])),
        curve=30.0,
        kappa=15.0,
    ),
    _sd_doubling(1.0),
    0.397887,
    {"x1": math.pi, "x2": 2.275},
    note="Branin + learning curve + fading term",
)

HARTMANN6 = Problem(
    "hartmann6",
    {f"x{i}": {"type": "float", "low": 0.0, "high": 1.0} for i in range(6)},
    _fading(
        hartmann6,
        lambda x: math.sin(2 * math.pi * float(np.dot(_W, [float(x[f"x{i}"]) for i in range(6)]))),
        curve=1.0,
        kappa=0.6,
    ),
    _sd_doubling(0.05),
    -3.32237,
    H6_X_STAR,
    note="Hartmann-6 + learning curve + fading term",
)


# --- Hartmann-6, mf-prior-bench's "bad" fidelities ------------------------------------------

H6_BAD_BIAS = 3.5
H6_BAD_NOISE = 4.0


def _hartmann6_bad_mean(x: Mapping[str, Any], budget: float) -> float:
    return _hartmann6_alpha(x, _H_ALPHA - H6_BAD_BIAS * _w(budget))


HARTMANN6_BAD = Problem(
    "hartmann6_bad",
    {f"x{i}": {"type": "float", "low": 0.0, "high": 1.0} for i in range(6)},
    _hartmann6_bad_mean,
    lambda budget: H6_BAD_NOISE * _w(budget),
    -3.32237,
    H6_X_STAR,
    half_normal=True,
    note="mfpbench MFHartmann6 'bad' (bias 3.5, noise 4.0), log-scaled fidelity 1..81",
)


# --- lr_trap: high learning rates win early, lose at the full budget --------------------------

LR_L0 = 2.5  # loss before training
LR_V_OPT = -3.0  # best log10 effective learning rate at the full budget


def _lr_parts(x: Mapping[str, Any]) -> tuple[float, float, float]:
    """(floor, rate, overfit) of a config; loss(b) = floor + (L0 - floor) e^(-rate b) + overfit (b/R)^2."""
    v = math.log10(float(x["lr"])) - math.log10(1.0 - float(x["momentum"]))  # effective lr
    w = math.log10(float(x["wd"]))
    d = float(x["dropout"])
    w_opt = -4.0 - 0.5 * (v - LR_V_OPT)  # best weight decay shrinks as the lr grows
    floor = (
        0.05
        + 0.15 * (v - LR_V_OPT) ** 2
        + 0.3 * max(0.0, v - LR_V_OPT - 1.5) ** 2  # instability: high learning rates plateau high
        + 0.03 * (w - w_opt) ** 2
        + 0.8 * max(0.0, d - 0.25) ** 2
    )
    rate = 0.12 * 10 ** (0.7 * (v - LR_V_OPT)) * (1.0 - 0.6 * d)  # fast early progress with high lr
    overfit = 0.3 * math.exp(-d / 0.08)  # appears late; dropout prevents it
    return floor, rate, overfit


def _lr_mean(x: Mapping[str, Any], budget: float) -> float:
    floor, rate, overfit = _lr_parts(x)
    return floor + (LR_L0 - floor) * math.exp(-rate * budget) + overfit * (budget / R) ** 2


LR_TRAP = Problem(
    "lr_trap",
    {
        "lr": {"type": "float", "low": 1e-5, "high": 1.0, "log": True},
        "wd": {"type": "float", "low": 1e-7, "high": 1e-1, "log": True},
        "momentum": {"type": "float", "low": 0.0, "high": 0.95},
        "dropout": {"type": "float", "low": 0.0, "high": 0.6},
    },
    _lr_mean,
    lambda budget: 0.01 + 0.09 * _w(budget),
    # Minimised once with scipy (L-BFGS-B from 162 starts over log10 lr, log10 wd, dropout at
    # momentum 0; momentum only rescales the effective lr); tests check that no sampled config
    # beats it and that x_star reaches it.
    0.05975414817542149,
    {
        "lr": 10**-2.973162118895374,
        "wd": 10**-4.013418937128442,
        "momentum": 0.0,
        "dropout": 0.3016921115078762,
    },
    note="log lr/wd, momentum, dropout; high lr wins at budgets <= 9",
)


# --- mixed: categorical + integer + float ---------------------------------------------------

MIX_OPT = {  # optimizer -> (best log10 lr, floor offset, speed)
    "sgd": (-1.3, 0.10, 0.05),
    "adam": (-3.0, 0.14, 0.20),
    "adamw": (-3.0, 0.08, 0.15),
}
MIX_L0 = 2.3


def _mix_parts(x: Mapping[str, Any]) -> tuple[float, float]:
    v_opt, base, speed = MIX_OPT[str(x["optimizer"])]
    v = math.log10(float(x["lr"]))
    layers, width, d = int(x["layers"]), int(x["width"]), float(x["dropout"])
    cap = math.log2(width) + layers  # 5 .. 16
    d_opt = min(0.5, max(0.0, 0.1 + 0.05 * (cap - 10)))
    floor = (
        base
        + 0.12 * (v - v_opt) ** 2
        + 0.015 * max(0.0, 12.0 - cap) ** 2  # too small: underfits
        + 0.01 * max(0.0, cap - 12.0) ** 2  # too big: overfits a little
        + 0.6 * (d - d_opt) ** 2
    )
    rate = speed * 10 ** (0.7 * (v - v_opt)) * (10.0 / cap) * (1.0 - 0.8 * d)
    return floor, rate


def _mix_mean(x: Mapping[str, Any], budget: float) -> float:
    floor, rate = _mix_parts(x)
    return floor + (MIX_L0 - floor) * math.exp(-min(rate, 50.0) * budget)


MIXED = Problem(
    "mixed",
    {
        "optimizer": {"type": "categorical", "choices": ["sgd", "adam", "adamw"]},
        "layers": {"type": "int", "low": 1, "high": 6},
        "width": {"type": "int", "low": 16, "high": 1024, "log": True},
        "lr": {"type": "float", "low": 1e-5, "high": 1.0, "log": True},
        "dropout": {"type": "float", "low": 0.0, "high": 0.5},
    },
    _mix_mean,
    lambda budget: 0.01 + 0.05 * _w(budget),
    # Minimised once: for every optimizer, layers and width with |log2(width) + layers - 12|
    # <= 1.5 (elsewhere the capacity penalty alone exceeds the gap), L-BFGS-B over log10 lr and
    # dropout; tests check that no sampled config beats it and that x_star reaches it.
    0.08038237455299853,
    {
        "optimizer": "adamw",
        "layers": 2,
        "width": 1015,
        "lr": 10**-2.9804235334299487,
        "dropout": 0.1970562069575713,
    },
    note="categorical optimizer, int layers, int log width, log lr, dropout",
)

PROBLEMS: dict[str, Problem] = {
    p.name: p for p in (BRANIN, HARTMANN6, LR_TRAP, HARTMANN6_BAD, MIXED)
}
