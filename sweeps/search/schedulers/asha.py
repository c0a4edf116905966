"""Asynchronous successive halving (ASHA, Li et al. 2018).

One bracket, rungs 0..top. Whenever a worker is free, the deepest rung with a trial in the
top ``floor(n_rung / eta)`` of that rung's reported results, not promoted yet, sends that
trial up; if there is none, a new config starts at rung 0. Nobody waits for a rung to
fill, so workers never idle; trials below the cut simply wait (they may still be promoted
when later results arrive) and are stopped when the sweep runs out of new configs.
"""

from __future__ import annotations

import itertools

from sweeps.search.decisions import PAUSED, PENDING, RUNNING, WAITING, Promote, Stop, TrialSnapshot
from sweeps.search.schedulers.base import Context, Plan, Scheduler, rank_key

__all__ = ["AshaScheduler"]


class AshaScheduler(Scheduler):
    """ASHA; a trial's place in a rung's ranking is its reported result there."""

    name = "asha"

    def _plan(self, ctx: Context) -> Plan:
        trials = ctx.snapshot.trials
        plan = Plan()
        promotable: set[int] = set()
        for j in range(self.top_rung - 1, -1, -1):
            reported = [t for t in trials if j in t.results]
            quota = len(reported) // self.eta

            def by_rule(t: TrialSnapshot, j: int = j) -> bool:
                return t.rung > j and (j + 1) not in t.manual_promotions

            candidates = [
                t
                for t in reported
                if t.finite(j)
                and t.id not in ctx.handled
                and (by_rule(t) or (t.rung == j and t.status in (WAITING, PAUSED)))
            ]
            left = quota - sum(1 for t in reported if by_rule(t))
            ranked = sorted(candidates, key=rank_key(j))
            for t in ranked[:quota]:
                if t.rung != j or left <= 0:
                    continue
                left -= 1  # a paused trial in the top keeps its place until resumed
                if t.status == WAITING:
                    plan.promotions.append(Promote(t.id, j + 1, self.budget(j + 1)))
                    promotable.add(t.id)
            if left >= 0:  # the rule's places are filled: trials tied with the last go too
                for t in self.ties(ranked, quota, j):
                    if t.rung == j and t.status == WAITING and t.id not in promotable:
                        plan.promotions.append(Promote(t.id, j + 1, self.budget(j + 1), tie=True))
                        promotable.add(t.id)
        plan.places = itertools.repeat((0, 0))
        busy = any(t.status in (PENDING, RUNNING, PAUSED) for t in trials)
        if not plan.promotions and not busy and not ctx.starts_possible:
            # The sweep is out of new configs and nothing can change the rankings any more:
            # whoever still waits will never be promoted.
            for t in trials:
                if t.status == WAITING and t.id not in ctx.handled and t.rung < self.top_rung:
                    plan.stops.append(
                        Stop(
                            t.id,
                            f"not in the best 1/{self.eta} at rung {t.rung} when the sweep ended",
                        )
                    )
        return plan
