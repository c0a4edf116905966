"""Synchronous successive halving, and Hyperband as a sequence of its brackets.

A bracket starts ``n`` configs at its entry rung. When every member of a rung has reported
(or was killed / failed), the best ``floor(n_rung / eta)`` go up one rung and the others are
stopped; at the top rung they complete. Hyperband runs brackets that trade the number of
configs against their starting budget (:func:`hyperband_brackets`); plain successive
halving repeats the most aggressive bracket.

Brackets are numbered 0, 1, 2, ... in the order they are opened; a bracket's shape follows
from its number alone, so nothing but the trials' ``bracket`` field is needed to rebuild it.
Brackets run side by side: a free worker goes to the oldest bracket with work (deepest rung
first) and a new bracket opens only when no open bracket has a place left.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass

from sweeps.search.decisions import PAUSED, TERMINAL, WAITING, Promote, Stop, TrialSnapshot
from sweeps.search.samplers.base import Sampler
from sweeps.search.schedulers.base import Context, Plan, Scheduler, rank_key

__all__ = [
    "BracketShape",
    "HyperbandScheduler",
    "SuccessiveHalvingScheduler",
    "bracket_cycle",
    "hyperband_brackets",
]


@dataclass(frozen=True)
class BracketShape:
    """``n`` configs enter at ``entry_rung``; ``sizes[i]`` reach rung ``entry_rung + i``."""

    s: int
    entry_rung: int
    sizes: tuple[int, ...]

    @property
    def n(self) -> int:
        return self.sizes[0]


def _shape(s: int, s_max: int, eta: int, n: int) -> BracketShape:
    return BracketShape(s, s_max - s, tuple(n // eta**i for i in range(s + 1)))


def hyperband_brackets(s_max: int, eta: int) -> list[BracketShape]:
    """Hyperband's brackets, most aggressive first, as printed in the lecture notes.

    Bracket ``s`` starts ``floor((s_max + 1) / (s + 1)) * eta**s`` configs at rung
    ``s_max - s`` and keeps ``floor(n / eta**i)`` at each following rung. For R=81, eta=3::

        s=4: 81@1 27@3 9@9 3@27 1@81      s=3: 27@3 9@9 3@27 1@81
        s=2:  9@9  3@27 1@81              s=1:  6@27 2@81        s=0: 5@81

    (Li et al.'s paper rounds up the real ratio instead, ``ceil((s_max+1) eta^s / (s+1))``,
    giving 34 / 15 / 8 configs for s = 3 / 2 / 1; the notes' integer form is used so the
    table above is reproduced exactly.)
    """
    if s_max < 0:
        raise ValueError(f"s_max must be >= 0, got {s_max}")
    if eta < 2:
        raise ValueError(f"eta must be >= 2, got {eta}")
    return [_shape(s, s_max, eta, ((s_max + 1) // (s + 1)) * eta**s) for s in range(s_max, -1, -1)]


def bracket_cycle(name: str, top_rung: int, eta: int) -> list[BracketShape]:
    """The shapes a bracketed scheduler opens, in order: bracket ``b`` has ``[b % len]``.

    ``sha`` repeats its one bracket of ``eta**top_rung`` configs entering at rung 0;
    ``hyperband`` cycles through :func:`hyperband_brackets`. The schedulers below and the
    dry run (:mod:`sweeps.search.plan`) both read their brackets from here.
    """
    if name == "sha":
        return [_shape(top_rung, top_rung, eta, eta**top_rung)]
    if name == "hyperband":
        return hyperband_brackets(top_rung, eta)
    raise ValueError(f"only sha and hyperband run brackets, got {name!r}")


class _BracketedScheduler(Scheduler):
    """Runs synchronous brackets side by side, their shapes from :func:`bracket_cycle`."""

    # A bracket whose trials are all finished (see ``SettledBracket``) yields no stop,
    # promotion or wait: only its size matters, so a snapshot may give it by its size.
    settles_brackets = True

    def __init__(self, ladder: tuple[float, ...], eta: int, sampler: Sampler) -> None:
        super().__init__(ladder, eta, sampler)
        self.brackets = bracket_cycle(self.name, self.top_rung, eta)

    def shape(self, bracket: int) -> BracketShape:
        return self.brackets[bracket % len(self.brackets)]

    def _plan(self, ctx: Context) -> Plan:
        by_bracket: dict[int, list[TrialSnapshot]] = {}
        for t in ctx.snapshot.trials:
            by_bracket.setdefault(t.bracket, []).append(t)
        plan = Plan()
        open_places: list[tuple[int, int]] = []
        blocked: list[str] = []
        settled = ctx.snapshot.settled
        for b in sorted(by_bracket.keys() | settled.keys()):
            shape = self.shape(b)
            trials = by_bracket.get(b, [])
            started = settled[b].trials if b in settled else len(trials)
            entry_open = ctx.starts_possible and started < shape.n
            if entry_open:
                open_places.extend([(b, shape.entry_rung)] * (shape.n - started))
            if b in settled:
                continue  # every trial in it is finished and reported: nothing to decide
            reason = self._bracket(b, shape, trials, entry_open, ctx, plan)
            if reason:
                blocked.append(reason)
        # Deeper rungs first, then older brackets: finishing a bracket early gives the
        # sampler results from high budgets sooner.
        bracket_of = {t.id: t.bracket for t in ctx.snapshot.trials}
        plan.promotions.sort(key=lambda p: (-p.rung, bracket_of[p.trial_id]))
        next_bracket = max(max(by_bracket, default=-1), max(settled, default=-1)) + 1
        plan.places = itertools.chain(open_places, self._new_brackets(next_bracket))
        plan.blocked = "; ".join(blocked)
        return plan

    def _new_brackets(self, first: int) -> Iterator[tuple[int, int]]:
        for b in itertools.count(first):
            shape = self.shape(b)
            for _ in range(shape.n):
                yield (b, shape.entry_rung)

    def _bracket(
        self,
        b: int,
        shape: BracketShape,
        trials: list[TrialSnapshot],
        entry_open: bool,
        ctx: Context,
        plan: Plan,
    ) -> str:
        """Add bracket ``b``'s stops and promotions to ``plan``; return what blocks it, if anything."""
        settled = (
            not entry_open
        )  # the rung below is fully decided (for the entry rung: all started)
        for j in range(shape.entry_rung, self.top_rung):
            if not settled:
                return ""
            members = [t for t in trials if t.rung >= j]
            unfinished = [
                t
                for t in members
                if t.rung == j and j not in t.results and t.status not in TERMINAL
            ]
            if unfinished:
                paused = sum(1 for t in unfinished if t.status == PAUSED)
                return f"bracket {b} rung {j}: {len(unfinished)} trial(s) to report" + (
                    f" ({paused} paused, keeping their place)" if paused else ""
                )
            quota = len(members) // self.eta

            def by_rule(t: TrialSnapshot, j: int = j) -> bool:
                return t.rung > j and (j + 1) not in t.manual_promotions

            # Candidates keep or compete for a place: those the rule already promoted, and
            # those waiting (or paused) here. Stopped, killed, failed, NaN and manually
            # promoted trials are out, so their places go to the next best.
            candidates = [
                t
                for t in members
                if t.finite(j)
                and t.id not in ctx.handled
                and (by_rule(t) or (t.rung == j and t.status in (WAITING, PAUSED)))
            ]
            ranked = sorted(candidates, key=rank_key(j))
            winners = ranked[:quota]
            left = quota - sum(1 for t in members if by_rule(t))
            decided_now = False
            promoted: set[int] = set()
            for t in winners:
                if t.rung != j or left <= 0:
                    continue
                left -= 1
                promoted.add(t.id)
                decided_now = True
                if t.status == WAITING:
                    plan.promotions.append(Promote(t.id, j + 1, self.budget(j + 1)))
                # A paused winner keeps its place: promoted once resumed.
            if decided_now:  # the rung is decided this turn: its ties go on with its winners
                for t in self.ties(ranked, quota, j):
                    if t.rung == j and t.status == WAITING:
                        promoted.add(t.id)
                        plan.promotions.append(Promote(t.id, j + 1, self.budget(j + 1), tie=True))
            for t in members:
                if (
                    t.rung == j
                    and t.status in (WAITING, PAUSED)
                    and t.id not in promoted
                    and t.id not in ctx.handled
                ):
                    plan.stops.append(
                        Stop(t.id, f"not in the best 1/{self.eta} at rung {j} of bracket {b}")
                    )
            settled = not decided_now
        return ""


class SuccessiveHalvingScheduler(_BracketedScheduler):
    """Synchronous successive halving: every bracket starts ``eta**s_max`` configs at rung 0."""

    name = "sha"


class HyperbandScheduler(_BracketedScheduler):
    """Hyperband: brackets cycle through :func:`hyperband_brackets`, most aggressive first."""

    name = "hyperband"
