"""What every scheduler shares: the resource ladder, slot filling, steering helpers."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from sweeps.search.decisions import (
    ACTIVE,
    COMPLETED,
    PAUSED,
    PENDING,
    RUNNING,
    STOPPED,
    TERMINAL,
    WAITING,
    Complete,
    Decision,
    Finish,
    Promote,
    Start,
    Stop,
    SweepSnapshot,
    TrialSnapshot,
    Wait,
)
from sweeps.search.samplers.base import History, Pending, Sampler, history_from_snapshot

__all__ = ["Context", "Plan", "Scheduler", "rank_key", "resource_ladder"]


def resource_ladder(min_resource: float, max_resource: float, eta: int) -> tuple[float, ...]:
    """Rung budgets, lowest first: ``max_resource * eta**-k`` down to ``min_resource``.

    The top rung is exactly ``max_resource``; there are ``floor(log_eta(max / min)) + 1``
    rungs. When both ends are whole numbers (epochs, steps) every budget is rounded to a
    whole number, so R=81, r=1, eta=3 gives 1, 3, 9, 27, 81.
    """
    if eta < 2:
        raise ValueError(f"eta must be >= 2, got {eta}")
    if not (0 < min_resource <= max_resource):
        raise ValueError(
            f"need 0 < min_resource <= max_resource, got {min_resource} and {max_resource}"
        )
    s_max = math.floor(math.log(max_resource / min_resource) / math.log(eta) + 1e-9)
    rungs = [max_resource * float(eta) ** (k - s_max) for k in range(s_max + 1)]
    if float(min_resource).is_integer() and float(max_resource).is_integer():
        rounded: list[float] = []
        for r in rungs:
            value = float(max(round(r), 1))
            if rounded and value <= rounded[-1]:
                value = rounded[-1] + 1
            rounded.append(value)
        rungs = rounded
    return tuple(rungs)


TIE_Z = 1.96  # intervals of ``keep_ties``: about 95 %


def rank_key(rung: int) -> Any:
    """Sort key at ``rung``: best (lowest) value first, ties broken by trial id."""

    def key(t: TrialSnapshot) -> tuple[float, int]:
        return (t.results[rung], t.id)

    return key


@dataclass(frozen=True)
class Context:
    """Facts every scheduler's rule needs, computed once per decision."""

    snapshot: SweepSnapshot
    starts_possible: bool  # a queued config or the sampler can still start a trial
    handled: frozenset[int]  # trials already stopped / completed in this decision


@dataclass
class Plan:
    """A scheduler rule's answer before worker slots are handed out.

    ``promotions`` are in priority order; ``places`` yields ``(bracket, rung)`` for new
    configs, in order, for as long as new configs may be placed; ``blocked`` says why slots
    stay free when nothing can run.
    """

    stops: list[Stop] = field(default_factory=list)
    promotions: list[Promote] = field(default_factory=list)
    places: Iterator[tuple[int, int]] = field(default_factory=lambda: iter(()))
    blocked: str = ""


class Scheduler(ABC):
    """Decides budgets. Subclasses implement :meth:`_plan` (their rule).

    :meth:`decide` is pure: the same snapshot (and sampler settings) gives the same
    decisions. See the package docstring for the steering semantics.
    """

    name = "scheduler"
    # ``keep_ties`` (successive halving, Hyperband, ASHA): see :meth:`ties`.
    keep_ties = False
    # Whether the rule can decide from a snapshot that gives settled brackets by their size
    # (``SweepSnapshot.settled``): only one whose brackets are decided apart from each other.
    settles_brackets = False

    def __init__(self, ladder: Sequence[float], eta: int, sampler: Sampler) -> None:
        if not ladder:
            raise ValueError("the resource ladder needs at least one rung")
        if eta < 2:
            raise ValueError(f"eta must be >= 2, got {eta}")
        self.ladder = tuple(float(r) for r in ladder)
        self.eta = eta
        self.sampler = sampler

    @property
    def top_rung(self) -> int:
        return len(self.ladder) - 1

    def budget(self, rung: int) -> float:
        """Resource for ``rung``; above the top (budget extensions) it keeps growing by eta."""
        if rung < 0:
            raise ValueError(f"rung must be >= 0, got {rung}")
        if rung <= self.top_rung:
            return self.ladder[rung]
        return self.ladder[-1] * float(self.eta) ** (rung - self.top_rung)

    def ties(self, ranked: Sequence[TrialSnapshot], kept: int, rung: int) -> list[TrialSnapshot]:
        """The science fair's successive elimination: with ``keep_ties``, the trials ranked
        just below the first ``kept`` whose interval (result ± TIE_Z standard errors) overlaps
        the last kept one's, so a trial is only cut when it is clearly behind. At most
        ``max(1, kept // 2)`` of them; none where a standard error is missing."""
        if not self.keep_ties or not 0 < kept < len(ranked):
            return []
        last = ranked[kept - 1]
        last_se = last.errors.get(rung)
        out: list[TrialSnapshot] = []
        for t in ranked[kept:]:
            se = t.errors.get(rung)
            if last_se is None or se is None:
                break
            if t.results[rung] - last.results[rung] > TIE_Z * (se + last_se):
                break  # ranked best first: the rest are farther still
            out.append(t)
        return out[: max(1, kept // 2)]

    # --- steering helpers -----------------------------------------------------------------

    def manual_promotion(self, trial: TrialSnapshot) -> Promote:
        """The decision for a user's "promote" (or "extend budget") on ``trial``.

        Allowed for a trial that finished its rung: waiting, stopped by the rule, or
        completed (then it is a budget extension: one rung above the top, eta times the
        budget). The app records the new rung in ``manual_promotions``, so the rule does not
        count it against its quota.
        """
        if trial.status in TERMINAL:
            raise ValueError(
                f"trial {trial.id} is {trial.status}: a killed, failed or diverged trial is never promoted"
            )
        if trial.status not in (WAITING, STOPPED, COMPLETED):
            raise ValueError(
                f"trial {trial.id} is {trial.status}: only a trial that finished its rung "
                "(waiting, stopped or completed) can be promoted"
            )
        if not trial.finite(trial.rung):
            raise ValueError(
                f"trial {trial.id} has no finite result at rung {trial.rung}: NaN / inf results are never promoted"
            )
        return Promote(trial.id, trial.rung + 1, self.budget(trial.rung + 1), manual=True)

    # --- the decision -----------------------------------------------------------------------

    def accepts_settled(self) -> bool:
        """Whether :meth:`decide` may be given settled brackets by their size alone: the
        rule decides each bracket apart (:attr:`settles_brackets`) and the sampler needs
        nothing of the trials but how many it proposed."""
        return self.settles_brackets and not self.sampler.reads_history

    @abstractmethod
    def _plan(self, ctx: Context) -> Plan:
        """The rule: stops, promotions in priority order, places for new configs."""

    def decide(self, snapshot: SweepSnapshot) -> list[Decision]:
        """What to do now. Pure: the snapshot is the only input.

        Order of the result: stops and completions first, then starts and promotions (never
        more than ``snapshot.free_slots`` of them), then one ``Wait`` or ``Finish`` when
        nothing was started or promoted.
        """
        if snapshot.settled and not self.accepts_settled():
            raise ValueError(
                f"the {self.name} scheduler with the {self.sampler.name} sampler needs every "
                "trial: a snapshot for it cannot give settled brackets by their size"
            )
        decisions: list[Decision] = []
        handled: set[int] = set()
        for t in snapshot.trials:
            if t.status != WAITING or not t.has_current_result:
                continue
            if not t.finite(t.rung):
                decisions.append(Stop(t.id, f"non-finite result at rung {t.rung}: never promoted"))
                handled.add(t.id)
            elif t.rung >= self.top_rung:
                decisions.append(Complete(t.id))
                handled.add(t.id)

        sampler_room = (
            math.inf if snapshot.max_trials is None else snapshot.max_trials - snapshot.n_trials
        )
        sampler_possible = sampler_room > 0 and not self.sampler.exhausted(
            History(n_proposed=snapshot.n_proposed)
        )
        starts_possible = bool(snapshot.queued_configs) or sampler_possible
        plan = self._plan(Context(snapshot, starts_possible, frozenset(handled)))
        decisions.extend(plan.stops)
        handled.update(s.trial_id for s in plan.stops)

        slots = snapshot.free_slots
        runs: list[Decision] = []
        started_configs: list[Pending] = []
        # 1. Configs a user enqueued start first, in order.
        for config in snapshot.queued_configs:
            if slots == 0:
                break
            place = next(plan.places, None)
            if place is None:
                break
            bracket, rung = place
            runs.append(
                Start(dict(config), bracket, rung, self.budget(rung), manual=True, source="manual")
            )
            started_configs.append(Pending(config, rung))
            slots -= 1
        # 2. Promotions chosen by the rule, in its priority order.
        for promote in plan.promotions:
            if slots == 0:
                break
            runs.append(promote)
            slots -= 1
        # 3. New configs from the sampler in the remaining places (one batched proposal, so
        #    a Bayesian sampler spreads them with its constant liar).
        room = sampler_room - len(started_configs)
        places: list[tuple[int, int]] = []
        if sampler_possible and len(started_configs) == len(snapshot.queued_configs):
            while slots > len(places) and room > len(places):
                place = next(plan.places, None)
                if place is None:
                    break
                places.append(place)
        if places:
            # The history is only built when the sampler is asked and reads it (it is the
            # costly part: ~15 ms at 10,000 trials, for a sampler that needs only its index).
            if self.sampler.reads_history:
                history = history_from_snapshot(snapshot, self.top_rung)
            else:
                history = History(n_proposed=snapshot.n_proposed, top_rung=self.top_rung)
            history = history.with_pending(started_configs)
            proposals = self.sampler.propose(history, len(places))
            for (bracket, rung), proposal in zip(places, proposals, strict=False):
                runs.append(
                    Start(proposal.params, bracket, rung, self.budget(rung), source=proposal.source)
                )
        decisions.extend(runs)
        if not runs:
            decisions.append(self._idle(snapshot, handled, starts_possible, plan.blocked))
        return decisions

    def _idle(
        self, snapshot: SweepSnapshot, handled: set[int], starts_possible: bool, blocked: str
    ) -> Decision:
        active = [t for t in snapshot.trials if t.status in ACTIVE and t.id not in handled]
        if not active and not starts_possible:
            return Finish("every trial is finished and no new trial can start")
        if snapshot.free_slots == 0:
            return Wait("no free worker slot")
        if blocked:
            return Wait(blocked)
        running = sum(1 for t in active if t.status in (PENDING, RUNNING))
        paused = sum(1 for t in active if t.status == PAUSED)
        return Wait(f"waiting for results ({running} running, {paused} paused)")
