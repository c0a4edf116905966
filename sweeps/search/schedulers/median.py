"""Median stopping (Golovin et al. 2017, Google Vizier).

Trials train through the rungs of the ladder like checkpoints. After each rung, a trial
whose result is worse than the median of the other trials' results at the same rung is
stopped, once at least ``min_trials`` others have reported there; otherwise it continues.
NaN / inf count as the worst possible result in the median.
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import Sequence

from sweeps.search.decisions import WAITING, Promote, Stop
from sweeps.search.samplers.base import Sampler
from sweeps.search.schedulers.base import Context, Plan, Scheduler

__all__ = ["MedianStoppingScheduler"]


class MedianStoppingScheduler(Scheduler):
    """Stop a trial that is worse than the median of its peers at the same rung."""

    name = "median"

    def __init__(
        self, ladder: Sequence[float], eta: int, sampler: Sampler, min_trials: int = 3
    ) -> None:
        super().__init__(ladder, eta, sampler)
        if min_trials < 1:
            raise ValueError(f"min_trials must be >= 1, got {min_trials}")
        self.min_trials = min_trials

    def _plan(self, ctx: Context) -> Plan:
        plan = Plan(places=itertools.repeat((0, 0)))
        trials = ctx.snapshot.trials
        for t in trials:
            j = t.rung
            if (
                t.status != WAITING
                or t.id in ctx.handled
                or j >= self.top_rung
                or not t.has_current_result
            ):
                continue
            others = [
                u.results[j] if math.isfinite(u.results[j]) else math.inf
                for u in trials
                if u.id != t.id and j in u.results
            ]
            if len(others) >= self.min_trials and t.results[j] > statistics.median(others):
                plan.stops.append(
                    Stop(t.id, f"worse than the median of {len(others)} trials at rung {j}")
                )
            else:
                plan.promotions.append(Promote(t.id, j + 1, self.budget(j + 1)))
        plan.promotions.sort(key=lambda p: -p.rung)
        return plan
