"""The steering actions, each declared once: REST, the socket and the page all read this table.

An :class:`Action` names the service it calls, whether it targets a sweep or a trial, the
serializer that both validates its body and documents it in the OpenAPI schema, and the
statuses it is allowed from. Those statuses are derived from :data:`sweeps.states.TRANSITIONS`
(an action that moves a row *into* ``paused`` is allowed from every status with an edge to
``paused``), so the table of edges is never restated. :func:`allowed_actions` and
:func:`row_actions` say which actions a row offers now; every row sent anywhere carries them,
so the page shows buttons from data and encodes no rule.

:func:`perform` is the one way in for both protocols: it checks who may steer, finds the
object, validates the body and calls the service. Its errors are the API's:
:class:`~sweeps.search.space.SpaceError` (400, field -> rule), :class:`Forbidden` (403),
:class:`Missing` (404), :class:`~sweeps.services.Conflict` (409).

Adding an action: write its service in :mod:`sweeps.services` and add one :class:`Action`
to :data:`REGISTRY` here (with a body serializer if it takes one).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal, NamedTuple

from rest_framework import serializers

from sweeps import services
from sweeps.access import can_steer, visible_sweeps
from sweeps.api.closed import ClosedSerializer
from sweeps.api.errors import flatten_detail
from sweeps.models import Sweep, Trial
from sweeps.search import build_scheduler, parse_space
from sweeps.search.space import SpaceError, shown_value
from sweeps.states import TRANSITIONS, SweepStatus, TrialStatus
from sweeps.validation import CONCURRENCY_CAP, MAX_TRIALS_CAP, is_whole_number

Target = Literal["sweep", "trial"]


class Forbidden(Exception):
    """The user may see the sweep but not steer it (403)."""


class Missing(Exception):
    """No such sweep or trial that the user can see (404); ``field`` names which."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(message)


# --- request bodies ---------------------------------------------------------------------------


class WholeNumberField(serializers.IntegerField):
    """An integer in ``[min_value, max_value]``; ``3.0`` counts, ``True`` and ``"3"`` do not.

    DRF's IntegerField takes ``"3"`` and ``True``; the API has always refused both, with the
    same rule the spec validator states.
    """

    def to_internal_value(self, data: Any) -> int:
        if not is_whole_number(data):
            raise serializers.ValidationError(f"must be a whole number, got {shown_value(data)}")
        low, high = self.min_value, self.max_value
        if (low is not None and data < low) or (high is not None and data > high):
            raise serializers.ValidationError(
                f"must be between {low} and {high}, got {shown_value(data)}"
            )
        return int(data)

    def validate_empty_values(self, data: Any) -> tuple[bool, Any]:
        # Null is not a whole number either; DRF would say "may not be null".
        if data is None:
            raise serializers.ValidationError(f"must be a whole number, got {shown_value(data)}")
        return super().validate_empty_values(data)


class SweepUpdateSerializer(ClosedSerializer):
    """The settings of a sweep that can change while it runs; give at least one."""

    min_properties = 1
    unknown_rule = "cannot be changed on a sweep; allowed: {allowed}"

    concurrency = WholeNumberField(min_value=1, max_value=CONCURRENCY_CAP, required=False)
    max_trials = WholeNumberField(min_value=1, max_value=MAX_TRIALS_CAP, required=False)


_PARAMS_RULE = "must be an object mapping parameter names to values"


class EnqueueSerializer(ClosedSerializer):
    """A manual trial: the configuration to train next."""

    unknown_rule = "is not a field of a manual trial; allowed: {allowed}"

    params = serializers.DictField(
        help_text="Parameter name -> value, inside the sweep's space.",
        error_messages={"required": _PARAMS_RULE, "null": _PARAMS_RULE, "not_a_dict": _PARAMS_RULE},
    )


class FinalEvaluationRequestSerializer(ClosedSerializer):
    """The trial whose checkpoint is evaluated on the test set (once per sweep)."""

    unknown_rule = "is not a field of a final evaluation; allowed: {allowed}"

    trial_number = WholeNumberField(
        min_value=1, max_value=MAX_TRIALS_CAP, help_text="The number of the chosen trial."
    )


def validate_body(serializer_class: type[serializers.Serializer], body: Any) -> dict[str, Any]:
    """``body`` checked by ``serializer_class``; SpaceError (field -> rule) when it is bad."""
    if not isinstance(body, dict):
        raise SpaceError({"body": "must be a JSON object"})
    allowed = sorted(serializer_class().fields)
    rule = getattr(serializer_class, "unknown_rule", "is not a field; allowed: {allowed}")
    errors = {key: rule.format(allowed=allowed) for key in sorted(set(body) - set(allowed))}
    if getattr(serializer_class, "min_properties", None) and not set(body) & set(allowed):
        errors.setdefault("body", f"give at least one of {allowed}")
    checked = {k: v for k, v in body.items() if k in allowed and k not in errors}
    serializer = serializer_class(data=checked)
    if not serializer.is_valid():
        errors.update(flatten_detail(serializer.errors))
    if errors:
        raise SpaceError(errors)
    return dict(serializer.validated_data)


# --- the table --------------------------------------------------------------------------------


def sources(target: Target, into: str | None) -> frozenset[str]:
    """Statuses of ``target`` with an edge to ``into``; with ``into=None``, every status that
    is not terminal (it has some edge out), for actions that change settings, not status."""
    edges = TRANSITIONS[target]
    if into is None:
        return frozenset(s for s, out in edges.items() if out)
    return frozenset(s for s, out in edges.items() if into in out)


@dataclass(frozen=True)
class Action:
    """One steering action. ``name`` is what the socket sends and rows list; ``verb`` is its
    REST path segment (``/api/trials/<id>/<verb>/``), or None when a resource view serves it."""

    name: str
    target: Target
    service: Callable[..., Any]
    label: str
    summary: str
    into: str | None = None  # the status it moves the row to; allowed-from is derived from it
    # Narrows the derived statuses where the service refuses some of them (resume: only a
    # paused trial, though other statuses have edges to pending). Must be a subset.
    only: frozenset[str] | None = None
    # A condition on the row beyond its status, which the service enforces too.
    check: Callable[[Mapping[str, Any], RowContext], bool] | None = None
    body: type[serializers.Serializer] | None = None
    verb: str | None = None
    returns: Target | None = None  # what the reply carries; the target unless stated
    created: bool = False  # REST answers 201 with a Location
    danger: bool = False
    allowed_from: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        derived = sources(self.target, self.into)
        if self.only is not None and not self.only <= derived:
            raise ValueError(
                f"action {self.name!r}: only={sorted(map(str, self.only))} must be within the "
                f"statuses with an edge to {str(self.into)!r}, which are "
                f"{sorted(map(str, derived))}"
            )
        object.__setattr__(self, "allowed_from", self.only or derived)

    @property
    def result(self) -> Target:
        return self.returns or self.target


class RowContext(NamedTuple):
    """What a trial's actions depend on beyond the trial row: its sweep."""

    sweep_status: str
    top_rung: int | None  # None: unknown, the rung check is left to the service


def context_for(sweep: Sweep) -> RowContext:
    """The :class:`RowContext` of ``sweep``'s trials."""
    return RowContext(
        sweep.status, _top_rung(json.dumps([sweep.scheduler, sweep.space, sweep.seed]))
    )


@lru_cache(maxsize=256)
def _top_rung(settings: str) -> int | None:
    # The pure scheduler (no sampler fitted) from the sweep's settings: the same top rung
    # promote_trial checks through the worker's scheduler. Every row read asks, so cached.
    scheduler, space, seed = json.loads(settings)
    try:
        return build_scheduler(scheduler, parse_space(space), seed=seed).top_rung
    except (ValueError, KeyError, TypeError):
        return None  # settings that no longer parse: the service decides


def _can_continue(row: Mapping[str, Any], ctx: RowContext) -> bool:
    # A trial that trained needs its checkpoint to go on; the retention policy may have
    # removed it after the sweep ended.
    return not row.get("resource_done") or bool(row.get("has_checkpoint"))


def _offers_final_evaluation(row: Mapping[str, Any], ctx: RowContext) -> bool:
    return bool(row.get("offers_final_evaluation"))


def sweep_row(sweep: Sweep) -> dict[str, Any]:
    """What a sweep's actions depend on: its status, and whether it still offers its final
    evaluation (no query: the trainer's declaration and the sweep's own row)."""
    return {
        "status": sweep.status,
        "offers_final_evaluation": services.offers_final_evaluation(sweep),
    }


def _below_top(row: Mapping[str, Any], ctx: RowContext) -> bool:
    return _can_continue(row, ctx) and (ctx.top_rung is None or row["rung"] < ctx.top_rung)


_S, _T = SweepStatus, TrialStatus

REGISTRY: dict[str, Action] = {
    a.name: a
    for a in (
        Action("kill", "trial", services.kill_trial, "Kill",
               "Kill a trial: it stops at its next step", into=_T.KILLED, verb="kill",
               danger=True),
        Action("pause", "trial", services.pause_trial, "Pause",
               "Pause a trial: it checkpoints and keeps its place", into=_T.PAUSED, verb="pause"),
        Action("resume", "trial", services.resume_trial, "Resume",
               "Resume a paused trial from its checkpoint", into=_T.PENDING,
               only=frozenset({_T.PAUSED}), verb="resume"),
        Action("promote", "trial", services.promote_trial, "Promote",
               "Promote a trial into the next rung by hand", into=_T.PENDING,
               only=frozenset({_T.WAITING, _T.STOPPED}), check=_below_top, verb="promote"),
        Action("extend", "trial", services.extend_trial, "Extend",
               "Give a finished trial one more rung", into=_T.PENDING,
               only=frozenset({_T.COMPLETED}), check=_can_continue, verb="extend"),
        Action("pause_sweep", "sweep", services.pause_sweep, "Pause sweep",
               "Pause a sweep: no new segments start", into=_S.PAUSED, verb="pause"),
        Action("resume_sweep", "sweep", services.resume_sweep, "Resume sweep",
               "Resume a paused sweep", into=_S.RUNNING, only=frozenset({_S.PAUSED}),
               verb="resume"),
        Action("cancel_sweep", "sweep", services.cancel_sweep, "Cancel sweep",
               "Cancel a sweep: running trials stop at their next step", into=_S.CANCELLED,
               verb="cancel", danger=True),
        Action("update_sweep", "sweep", services.update_sweep, "Apply",
               "Change a running sweep's concurrency or trial budget",
               body=SweepUpdateSerializer),
        Action("enqueue", "sweep", services.enqueue_trial, "Add trial",
               "Enqueue a trial with chosen params; it starts next", body=EnqueueSerializer,
               returns="trial", created=True),
        Action("final_evaluation", "sweep", services.request_final_evaluation,
               "Final evaluation",
               "Evaluate one trial's checkpoint on the test set: once per sweep; a second "
               "request is refused (409) naming the first", body=FinalEvaluationRequestSerializer,
               check=_offers_final_evaluation, verb="final_evaluation"),
    )
}  # fmt: skip


@contextmanager
def registered(action: Action) -> Iterator[Action]:
    """``action`` in :data:`REGISTRY` for the duration (tests, plugins tried out)."""
    if action.name in REGISTRY:
        raise ValueError(f"an action named {action.name!r} is already registered")
    REGISTRY[action.name] = action
    try:
        yield action
    finally:
        REGISTRY.pop(action.name, None)


def for_target(target: Target) -> list[Action]:
    """The registered actions on ``target``, in declaration order."""
    return [a for a in REGISTRY.values() if a.target == target]


def by_verb(target: Target, verb: str) -> Action | None:
    """The action served at ``/<target>s/<id>/<verb>/``, if any."""
    return next((a for a in for_target(target) if a.verb == verb), None)


def needs_form(action: Action) -> bool:
    """Whether the action's body must be filled in (a form), rather than sent empty (a button)."""
    if action.body is None:
        return False
    if getattr(action.body, "min_properties", None):
        return True
    return any(f.required for f in action.body().fields.values())


# --- what a row offers now --------------------------------------------------------------------


def row_actions(target: Target, row: Mapping[str, Any], ctx: RowContext | None = None) -> list[str]:
    """Names of the actions allowed on ``row`` (a row dict with ``status``) now.

    Trial rows need ``ctx``: no trial of a cancelled or failed sweep can be steered.
    """
    if target == "trial":
        assert ctx is not None, "trial rows need their sweep's RowContext"
        if ctx.sweep_status not in sources("sweep", None):
            return []
    out = []
    for action in for_target(target):
        if row["status"] not in action.allowed_from:
            continue
        if action.check is not None and not action.check(row, ctx or RowContext("", None)):
            continue
        out.append(action.name)
    return out


def allowed_actions(obj: Sweep | Trial, ctx: RowContext | None = None) -> list[str]:
    """Names of the actions allowed on a model instance now (reads ``trial.sweep`` unless
    ``ctx`` is given)."""
    if isinstance(obj, Sweep):
        return row_actions("sweep", sweep_row(obj))
    row = {
        "status": obj.status,
        "rung": obj.rung,
        "resource_done": obj.resource_done,
        "has_checkpoint": bool(obj.checkpoint),
    }
    return row_actions("trial", row, ctx or context_for(obj.sweep))


# --- carrying one out -------------------------------------------------------------------------


def perform(user: Any, action: Action, pk: int, body: Any, *, sweep_id: int | None = None) -> Any:
    """Carry out ``action`` on the sweep or trial ``pk`` for ``user``; the object the service
    returns. ``sweep_id`` (the socket's page) confines a trial to that sweep.

    Raises :class:`Missing` (not visible), :class:`Forbidden` (visible, not steerable),
    SpaceError (bad body) or :class:`~sweeps.services.Conflict` (the state forbids it).
    """
    visible = visible_sweeps(user) if user.is_authenticated else Sweep.objects.none()
    if action.target == "sweep":
        sweep = visible.filter(pk=pk).first()
        if sweep is None:
            raise Missing("sweep", f"no sweep {pk} that you can see")
    else:
        trials = Trial.objects.select_related("sweep").filter(sweep__in=visible.values("pk"))
        if sweep_id is not None:
            trials = trials.filter(sweep_id=sweep_id)
        trial = trials.filter(pk=pk).first()
        if trial is None:
            where = f" in sweep {sweep_id}" if sweep_id is not None else " that you can see"
            raise Missing("trial", f"no trial {pk}{where}")
        sweep = trial.sweep
    if not can_steer(user, sweep):
        what = "it" if action.target == "sweep" else "its trials"
        raise Forbidden(f"only the sweep's editors, owner or staff may steer {what}")
    data = validate_body(action.body, body) if action.body is not None else {}
    try:
        return action.service(pk, user=user, **data)
    except (Sweep.DoesNotExist, Trial.DoesNotExist):
        # Deleted between the check and the service's locked read.
        raise Missing(action.target, f"no {action.target} {pk}") from None
