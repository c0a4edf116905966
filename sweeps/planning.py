"""Before a launch: the dry run of a spec, the spec that recreates a sweep, and the zoomed-in
space around a sweep's best trials.

:func:`dry_run` validates a spec exactly as a launch does (:func:`~sweeps.validation.clean_spec`
and the workers check of :func:`~sweeps.services.launch_warnings`) and answers with the rung
table the sweep would run (:func:`sweeps.search.plan.plan_sweep`); it writes nothing and
sends nothing. :func:`spec_of` turns cleaned fields back into a spec (the body of
``POST /api/sweeps/``), so a cleaned spec, a cloned sweep and a zoomed-in one all read the
same way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from sweeps.access import visible_spaces
from sweeps.models import RungResult, Sweep, Trial
from sweeps.search import Space, SpaceError, parse_space, validate_config
from sweeps.search.plan import SweepPlan, plan_sweep
from sweeps.search.samplers import GridSampler
from sweeps.search.zoom import zoom_space
from sweeps.services.workers import launch_warnings
from sweeps.transitions import Conflict
from sweeps.validation import clean_spec

COPY_SUFFIX = " (copy)"
ZOOM_SUFFIX = " (zoom)"
NAME_MAX = 200  # Sweep.name's column


@dataclass(frozen=True)
class DryRun:
    """What a launch of ``spec`` would run, and what its launcher should know."""

    plan: SweepPlan
    warnings: list[str]
    spec: dict[str, Any]


def spec_of(fields: dict[str, Any]) -> dict[str, Any]:
    """A spec (the launch body) from a sweep's fields as :func:`clean_spec` returns them."""
    saved = fields.get("search_space")
    spec: dict[str, Any] = {
        "name": fields["name"],
        "trainer": fields["trainer"],
        "trainer_args": dict(fields["trainer_args"]),
        "objective": {"metric": fields["objective_metric"], "mode": fields["objective_mode"]},
        "space": fields["space"],
        "sampler": dict(fields["sampler"]),
        "scheduler": dict(fields["scheduler"]),
        "max_trials": fields["max_trials"],
        "concurrency": fields["concurrency"],
        "seed": fields["seed"],
    }
    if saved is not None:
        spec["search_space"] = saved if isinstance(saved, int) else saved.pk
    if "start" in fields:
        spec["start"] = fields["start"]
    return spec


def capacity(fields: dict[str, Any]) -> int | None:
    """How many configs the sweep's sampler can ever propose (a grid's size), or None."""
    if fields["sampler"].get("name") != "grid":
        return None
    space = parse_space(fields["space"])
    return GridSampler(space, fields["seed"], grid_cap=settings.RUNGS_GRID_CAP).capacity()


def dry_run(data: Any, user: Any) -> DryRun:
    """The plan of a launch of ``data`` by ``user``; the same SpaceError (field -> rule) as
    the launch for a bad spec or a trainer no live worker runs. Nothing is written."""
    fields = clean_spec(data, user=user)
    warnings = launch_warnings(fields["trainer"])
    plan = plan_sweep(
        fields["scheduler"],
        fields["max_trials"],
        unit=fields["resource_unit"],
        capacity=capacity(fields),
    )
    return DryRun(plan, [*plan.warnings, *warnings], spec_of(fields))


def sweep_spec(sweep: Sweep, user: Any, suffix: str = COPY_SUFFIX) -> dict[str, Any]:
    """The spec that launches a copy of ``sweep``: its settings and its space inline, named
    "<name> (copy)"; its saved space too when ``user`` may see that one."""
    fields = {
        field: getattr(sweep, field)
        for field in (
            "trainer", "trainer_args", "objective_metric", "objective_mode", "space",
            "sampler", "scheduler", "max_trials", "concurrency", "seed",
        )
    }  # fmt: skip
    fields["name"] = sweep.name[: NAME_MAX - len(suffix)] + suffix
    saved = sweep.search_space_id
    if saved is not None and visible_spaces(user).filter(pk=saved).exists():
        fields["search_space"] = saved
    return spec_of(fields)


def ranked_results(sweep: Sweep) -> list[tuple[int, dict[str, Any]]]:
    """``(trial number, params)`` of every trial with a finite result, best first.

    A trial's standing is its result at the highest rung it reported: a trial the rule
    promoted further ranks above one cut earlier (their results were reached with different
    budgets, so they are not compared), and within a rung the better value ranks first.
    """
    sign = 1.0 if sweep.objective_mode == "min" else -1.0
    best: dict[int, tuple[int, float]] = {}
    for trial_id, rung, value in RungResult.objects.filter(sweep=sweep).values_list(
        "trial_id", "rung", "value"
    ):
        if value is None or not math.isfinite(value):
            continue
        if trial_id not in best or rung > best[trial_id][0]:
            best[trial_id] = (rung, value)
    trials = {
        pk: (number, params)
        for pk, number, params in Trial.objects.filter(pk__in=best).values_list(
            "id", "number", "params"
        )
    }
    order = sorted(best, key=lambda pk: (-best[pk][0], sign * best[pk][1], trials[pk][0]))
    return [trials[pk] for pk in order]


def zoom_sweep(sweep: Sweep, user: Any, *, k: int, margin: float) -> dict[str, Any]:
    """The space around ``sweep``'s ``k`` best trials (:func:`sweeps.search.zoom.zoom_space`)
    with what changed, the trials it is based on, how many of the sweep's results fall
    inside it, and a launch spec for the follow-up sweep. Conflict (409) with fewer than two
    results."""
    ranked = ranked_results(sweep)
    if len(ranked) < 2:
        raise Conflict(
            f"sweep {sweep.pk} has {len(ranked)} trial(s) with a finite result; zooming in "
            "needs at least 2"
        )
    top = ranked[:k]
    zoom = zoom_space(parse_space(sweep.space), [params for _, params in top], margin)
    space = zoom.space.to_spec()
    spec = sweep_spec(sweep, user, ZOOM_SUFFIX)
    spec["space"] = space
    return {
        "k": k,
        "margin": margin,
        "space": space,
        "changes": [{"name": c.name, "old": c.old, "new": c.new} for c in zoom.changes],
        "based_on": [number for number, _ in top],
        "warm_start": sum(_inside(zoom.space, params) for _, params in ranked),
        "spec": spec,
    }


def _inside(space: Space, params: dict[str, Any]) -> bool:
    try:
        validate_config(space, params)
    except SpaceError:
        return False
    return True
