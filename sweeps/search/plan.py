"""The dry run: the rung table a sweep will run, worked out before it runs.

:func:`plan_sweep` takes the scheduler config and ``max_trials`` of a spec and returns a
:class:`SweepPlan`: per bracket, per rung, how many trials train there and to which budget;
the resource spent in all; how many trials reach the full budget; and warnings for
settings that waste the search (a first bracket that ``max_trials`` cannot fill sends no
trial to the full budget).

It is derived from the schedulers' own code, not restated: the ladder is
:func:`~sweeps.search.schedulers.rung_budgets`, the brackets are
:func:`~sweeps.search.schedulers.halving.bracket_cycle`, and the counts follow the
schedulers' rules:

* ``sha`` / ``hyperband``: configs fill the brackets in order (a new bracket opens only when
  every open one is full), so bracket ``b`` gets ``min(n_b, trials left)``; a bracket that
  holds ``k`` trials keeps ``k // eta**i`` at its ``i``-th rung (the rule's quota is
  ``floor(n_rung / eta)``, and killed or failed trials still count in ``n_rung``).
* ``asha``: no fixed counts while it runs (it promotes as results arrive); when every trial
  has reported a finite result it has promoted exactly ``n_rung // eta`` from each rung,
  so the totals are what it spends at most.
* ``median``: a trial goes through every rung unless it is worse than the median there;
  the totals are the ceiling (nobody stopped).
* ``fifo``: one rung at ``max_resource``; every trial trains to it.
* ``keep_ties`` (sha, hyperband, asha) sends trials within noise of the last one a rung
  keeps up too; the rule's counts are then the least (``bound``: "at least"; asha's
  "about").

A promoted trial resumes from its checkpoint (:mod:`sweeps.search.simulate` does the same),
so it only trains the difference between two rungs' budgets: ``total_budget`` counts that;
``total_budget_without_resume`` counts ``trials x budget`` per rung, as the lecture's
"Total number of epochs: 5x81=405" does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sweeps.search.schedulers import rung_budgets, validate_scheduler_config
from sweeps.search.schedulers.halving import BracketShape, bracket_cycle

__all__ = ["MAX_LISTED_BRACKETS", "PlannedBracket", "PlannedRung", "SweepPlan", "plan_sweep"]

# A sweep of 100,000 trials in brackets of 9 has 11,112 brackets: the totals count them
# all, the table lists the first ones.
MAX_LISTED_BRACKETS = 100
LABELS = {
    "sha": "Successive halving",
    "hyperband": "Hyperband",
    "asha": "ASHA",
    "median": "Median stopping",
    "fifo": "FIFO",
}


@dataclass(frozen=True)
class PlannedRung:
    """``trials`` train to ``budget`` at ``rung``; None where the scheduler fixes no count."""

    rung: int
    trials: int | None
    budget: float


@dataclass(frozen=True)
class PlannedBracket:
    """One bracket: ``size`` configs when full (None: no fixed size), its rungs from its
    entry rung up to the top."""

    bracket: int
    s: int | None
    entry_rung: int
    size: int | None
    rungs: tuple[PlannedRung, ...]

    @property
    def trials(self) -> int | None:
        return self.rungs[0].trials

    @property
    def full(self) -> bool:
        return self.size is None or self.trials == self.size


@dataclass(frozen=True)
class SweepPlan:
    """What a sweep will run; see the module docstring for how each number is derived."""

    scheduler: str
    unit: str
    eta: int
    max_resource: float
    ladder: tuple[float, ...]
    max_trials: int
    trials: int  # configs the sweep starts: max_trials, or fewer when the grid is smaller
    brackets: tuple[PlannedBracket, ...]  # the first MAX_LISTED_BRACKETS
    brackets_total: int
    total_budget: float
    total_budget_without_resume: float
    full_budget_trials: int
    bound: str  # "exact", or what the counts and totals are: "at most" / "at least" / "about"
    warnings: tuple[str, ...]
    text: str

    @property
    def exact(self) -> bool:
        return self.bound == "exact"

    def to_json(self) -> dict[str, Any]:
        """The plan as the API sends it (``warnings`` travel beside it, not inside)."""
        return {
            "scheduler": self.scheduler,
            "unit": self.unit,
            "eta": self.eta,
            "max_resource": self.max_resource,
            "rung_budgets": list(self.ladder),
            "brackets": [
                {
                    "bracket": b.bracket,
                    "s": b.s,
                    "entry_rung": b.entry_rung,
                    "size": b.size,
                    "trials": b.trials,
                    "rungs": [
                        {"rung": r.rung, "trials": r.trials, "budget": r.budget} for r in b.rungs
                    ],
                }
                for b in self.brackets
            ],
            "brackets_total": self.brackets_total,
            "total_budget": self.total_budget,
            "total_budget_without_resume": self.total_budget_without_resume,
            "full_budget_trials": self.full_budget_trials,
            "max_trials": self.max_trials,
            "trials": self.trials,
            "exact": self.exact,
            "bound": self.bound,
            "text": self.text,
        }


def _num(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.4g}"


def _spend(counts: Sequence[int], budgets: Sequence[float]) -> tuple[float, float]:
    """(resumed, from scratch): what ``counts[i]`` trials reaching ``budgets[i]`` train."""
    resumed = scratch = 0.0
    before = 0.0
    for n, budget in zip(counts, budgets, strict=True):
        resumed += n * (budget - before)
        scratch += n * budget
        before = budget
    return resumed, scratch


def _cascade(n: int, eta: int, rungs: int) -> tuple[int, ...]:
    return tuple(n // eta**i for i in range(rungs))


def plan_sweep(
    scheduler: Mapping[str, Any],
    max_trials: int,
    *,
    unit: str = "epochs",
    capacity: int | None = None,
) -> SweepPlan:
    """The rung table a sweep with this scheduler config and ``max_trials`` runs.

    ``capacity``: how many configs the sampler can ever propose (a grid's size; None for
    the unbounded samplers); the sweep starts ``min(max_trials, capacity)`` trials. Raises
    :class:`~sweeps.search.space.SpaceError` for a bad scheduler config and ValueError for
    ``max_trials < 1``.
    """
    if max_trials < 1:
        raise ValueError(f"max_trials must be >= 1, got {max_trials}")
    cfg = validate_scheduler_config(scheduler)
    name, eta = cfg["name"], cfg["eta"]
    ladder = rung_budgets(cfg)
    top = len(ladder) - 1
    n = max_trials if capacity is None else max(0, min(max_trials, capacity))
    limit = (
        f"max_trials is {max_trials}"
        if capacity is None or capacity >= max_trials
        else f"the grid has only {capacity} configurations"
    )
    full = f"the full budget of {_num(ladder[-1])} {unit}"
    # keep_ties sends trials within noise of the last one the rule keeps up too (at most half
    # as many again per rung, and only where the trainer reports standard errors): the rule's
    # counts become the least a bracket runs.
    ties = bool(cfg.get("keep_ties"))
    tie_note = "; keep_ties may send up to half as many again up each rung as ties" if ties else ""
    warnings: list[str] = []

    if name in ("sha", "hyperband"):
        cycle = bracket_cycle(name, top, eta)
        brackets: list[PlannedBracket] = []
        resumed = scratch = 0.0
        at_top = count = 0
        left = n
        while left > 0:
            shape: BracketShape = cycle[count % len(cycle)]
            k = min(shape.n, left)
            sizes = shape.sizes if k == shape.n else _cascade(k, eta, shape.s + 1)
            budgets = ladder[shape.entry_rung :]
            spent = _spend(sizes, budgets)
            resumed, scratch = resumed + spent[0], scratch + spent[1]
            at_top += sizes[-1]
            if len(brackets) < MAX_LISTED_BRACKETS:
                rungs = tuple(
                    PlannedRung(shape.entry_rung + i, size, budgets[i])
                    for i, size in enumerate(sizes)
                )
                brackets.append(PlannedBracket(count, shape.s, shape.entry_rung, shape.n, rungs))
            if k < shape.n and sizes[-1] == 0:
                if count == 0:
                    warnings.append(
                        f"{limit}, but the first {LABELS[name]} bracket needs {shape.n} "
                        f"trials: no trial would reach {full}"
                        + (" by the rule (only ties might)" if ties else "")
                        + f" (raise max_trials to {shape.n}, or lower max_resource or eta)"
                    )
                else:
                    fill = "" if n < max_trials else f" (max_trials {n - k + shape.n} fills it)"
                    warnings.append(
                        f"{limit}, which leaves bracket {count} with {k} of its {shape.n} "
                        f"trials: none of them would reach {full}"
                        + (" by the rule (only ties might)" if ties else "")
                        + fill
                    )
            left -= k
            count += 1
        brackets_total = count
        bound = "at least" if ties else "exact"
        least = "at least " if ties else ""
        text = (
            f"{LABELS[name]} over {_rungs(ladder, unit)} (eta {eta}): {brackets_total} "
            f"bracket{'s' if brackets_total != 1 else ''}, {n} trials, {least}{at_top} "
            f"{'reaches' if at_top == 1 else 'reach'} "
            f"{full}; {least}{_num(resumed)} {unit} in all (promoted trials resume from "
            f"their checkpoints){tie_note}"
        )
        listed = tuple(brackets)
    else:
        counts = _cascade(n, eta, top + 1) if name == "asha" else (n,) * (top + 1)
        resumed, scratch = _spend(counts, ladder)
        at_top = counts[-1]
        bound = "exact" if name == "fifo" else "about" if ties else "at most"
        rungs = tuple(
            PlannedRung(i, counts[i] if bound == "exact" else None, budget)
            for i, budget in enumerate(ladder)
        )
        listed = (PlannedBracket(0, None, 0, None, rungs),)
        brackets_total = 1
        if name == "asha":
            if at_top == 0:
                warnings.append(
                    f"{limit}, but ASHA sends one trial in {eta**top} to the full budget: "
                    f"no trial would reach {full}"
                    + (" by the rule (only ties might)" if ties else "")
                    + f" (it needs at least {eta**top} trials)"
                )
            text = (
                f"ASHA over {_rungs(ladder, unit)} (eta {eta}): {n} trials, promoted as soon "
                f"as they rank in the top 1/{eta} of a rung; {bound} {at_top} reach {full} "
                f"and {bound} {_num(resumed)} {unit} in all{tie_note}"
            )
        elif name == "median":
            text = (
                f"Median stopping over {_rungs(ladder, unit)}: {n} trials, each stopped at "
                f"the first rung where it is worse than the median of the others there (once "
                f"{cfg['min_trials']} have reported); at most {_num(resumed)} {unit} in all"
            )
        else:
            text = (
                f"FIFO: {n} trials, each trained to {_num(ladder[-1])} {unit}, no early "
                f"stopping; {_num(resumed)} {unit} in all"
            )
    return SweepPlan(
        scheduler=name,
        unit=unit,
        eta=eta,
        max_resource=ladder[-1],
        ladder=ladder,
        max_trials=max_trials,
        trials=n,
        brackets=listed,
        brackets_total=brackets_total,
        total_budget=resumed,
        total_budget_without_resume=scratch,
        full_budget_trials=at_top,
        bound=bound,
        warnings=tuple(warnings),
        text=text,
    )


def _rungs(ladder: Sequence[float], unit: str) -> str:
    if len(ladder) == 1:
        return f"one rung of {_num(ladder[0])} {unit}"
    return f"rungs of {', '.join(_num(b) for b in ladder)} {unit}"
