"""Launching from the browser: the dry run of a spec, the trainers to choose from, the spec
that clones a sweep, and a zoomed-in space around a sweep's best trials."""

from __future__ import annotations

import math
import re
from typing import Any

from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from sweeps.api.errors import error_responses
from sweeps.api.serializers import ParameterSpecSerializer, SweepSpecSerializer
from sweeps.api.views import EXAMPLE_SPEC, ApiView, _object_body, _query_int, visible_sweep
from sweeps.leases import live_workers
from sweeps.planning import dry_run, sweep_spec, zoom_sweep
from sweeps.search.schedulers import SCHEDULERS
from sweeps.search.space import SpaceError
from sweeps.validation import registered_trainers

# --- the dry run ----------------------------------------------------------------------------


class PlannedRungSerializer(serializers.Serializer):
    """How many trials train at a rung, and to which budget each."""

    rung = serializers.IntegerField()
    trials = serializers.IntegerField(
        allow_null=True, help_text="Null where the scheduler fixes no count (asha, median)."
    )
    budget = serializers.FloatField(help_text="Resource each trial trains to, in the unit.")


class PlannedBracketSerializer(serializers.Serializer):
    """One bracket: its rungs from its entry rung to the top."""

    bracket = serializers.IntegerField(help_text="0, 1, ... in the order brackets open.")
    s = serializers.IntegerField(allow_null=True, help_text="Hyperband's s (sha: the top rung).")
    entry_rung = serializers.IntegerField()
    size = serializers.IntegerField(
        allow_null=True, help_text="Trials a full bracket starts (null: no fixed size)."
    )
    trials = serializers.IntegerField(
        allow_null=True, help_text="Trials it starts here (fewer than size: max_trials ran out)."
    )
    rungs = PlannedRungSerializer(many=True)


class PlanSerializer(serializers.Serializer):
    """The rung table a sweep runs (see sweeps/search/plan.py for how it is derived)."""

    scheduler = serializers.CharField(help_text=f"One of {', '.join(SCHEDULERS)}.")
    unit = serializers.CharField(help_text="The resource unit: epochs or steps.")
    eta = serializers.IntegerField()
    max_resource = serializers.FloatField()
    rung_budgets = serializers.ListField(child=serializers.FloatField())
    brackets = PlannedBracketSerializer(many=True, help_text="The first 100 brackets.")
    brackets_total = serializers.IntegerField(help_text="Brackets the sweep opens in all.")
    total_budget = serializers.FloatField(
        help_text="Resource trained in all; promoted trials resume from their checkpoints."
    )
    total_budget_without_resume = serializers.FloatField(
        help_text="Sum of trials x budget over every rung (each rung trained from scratch)."
    )
    full_budget_trials = serializers.IntegerField(help_text="Trials that reach max_resource.")
    max_trials = serializers.IntegerField()
    trials = serializers.IntegerField(help_text="Trials started: max_trials or a grid's size.")
    exact = serializers.BooleanField(
        help_text="False: counts and totals are bounds (asha: at most, when every trial "
        "reports; median: at most, when nobody is stopped; keep_ties: at least)."
    )
    bound = serializers.ChoiceField(
        choices=["exact", "at most", "at least", "about"],
        help_text="What the counts and totals are.",
    )
    text = serializers.CharField(help_text="The plan in one sentence.")


class DryRunSerializer(serializers.Serializer):
    """What a launch of the spec would run; nothing was created."""

    plan = PlanSerializer()
    warnings = serializers.ListField(
        child=serializers.CharField(),
        help_text="Settings that waste the search, and that no worker is running.",
    )
    spec = SweepSpecSerializer(help_text="The spec as the launch would read it, defaults filled.")


class PlanView(ApiView):
    """The dry run of a launch."""

    @extend_schema(
        summary="Dry run: the rung table a spec would run",
        description=(
            "The body is a sweep spec, validated by the same code as `POST /api/sweeps/` "
            "(400 with every bad field, and 400 naming `trainer` when workers are live and "
            "none runs it). Answers with the brackets, rungs, trials and budgets the sweep "
            "would run, its total budget, how many trials reach the full budget, and "
            "warnings (e.g. max_trials too small to fill the first bracket). Creates nothing."
        ),
        request=SweepSpecSerializer,
        responses={200: DryRunSerializer, **error_responses(400, 413, 415)},
        examples=[OpenApiExample("The spec of a launch", value=EXAMPLE_SPEC, request_only=True)],
    )
    def post(self, request: Request) -> Response:
        result = dry_run(_object_body(request), request.user)
        return Response(
            {"plan": result.plan.to_json(), "warnings": result.warnings, "spec": result.spec}
        )


# --- trainers -------------------------------------------------------------------------------

ARG_TYPES = {int: "int", float: "float", bool: "bool", str: "str"}


class TrainerArgSerializer(serializers.Serializer):
    """One argument of a trainer (``trainer_args.<name>`` in a spec)."""

    type = serializers.ChoiceField(choices=list(ARG_TYPES.values()))
    default = serializers.JSONField(allow_null=True)
    low = serializers.FloatField(allow_null=True)
    high = serializers.FloatField(allow_null=True)
    choices = serializers.ListField(child=serializers.JSONField())
    help = serializers.CharField(allow_blank=True)


class TrainerSerializer(serializers.Serializer):
    """A registered trainer: what a spec may name in ``trainer``."""

    key = serializers.CharField()
    description = serializers.CharField(allow_blank=True)
    resource_unit = serializers.CharField(help_text="epochs or steps: what rung budgets count.")
    metrics = serializers.ListField(
        child=serializers.CharField(), help_text="What it reports; the objective is one of them."
    )
    default_space = serializers.DictField(help_text="The space a spec without one searches.")
    args_schema = serializers.DictField(child=TrainerArgSerializer())
    workers = serializers.IntegerField(help_text="Live workers that can run it.")
    error = serializers.CharField(
        allow_null=True, help_text="Why this server cannot read it (null when it can)."
    )


def _arg(arg: Any) -> dict[str, Any]:
    return {
        "type": ARG_TYPES.get(arg.type, "str"),
        "default": arg.default,
        "low": arg.low,
        "high": arg.high,
        "choices": list(arg.choices),
        "help": arg.help,
    }


def trainer_rows() -> list[dict[str, Any]]:
    """Every registered trainer as :class:`TrainerSerializer` describes it."""
    counts: dict[str, int] = {}
    for keys in live_workers().values_list("trainers", flat=True):
        for key in set(keys or []):
            counts[key] = counts.get(key, 0) + 1
    rows = []
    for key, cls, error in registered_trainers():
        row: dict[str, Any] = {
            "key": key, "description": "", "resource_unit": "", "metrics": [],
            "default_space": {}, "args_schema": {}, "workers": counts.get(key, 0),
            "error": error or None,
        }  # fmt: skip
        if cls is not None:
            row.update(
                description=cls.description,
                resource_unit=cls.resource_unit,
                metrics=list(cls.metrics),
                default_space=dict(cls.default_space),
                args_schema={name: _arg(arg) for name, arg in cls.args_schema.items()},
            )
        rows.append(row)
    return rows


class TrainerListView(ApiView):
    """The trainers a sweep can use."""

    @extend_schema(
        summary="The registered trainers, their arguments and default spaces",
        description=(
            "Every trainer a spec may name, with its arguments (type, default, bounds, "
            "choices), the metrics it reports, its default search space and how many live "
            "workers can run it."
        ),
        responses={200: TrainerSerializer(many=True), **error_responses()},
    )
    def get(self, request: Request) -> Response:
        return Response(TrainerSerializer(trainer_rows(), many=True).data)


# --- cloning --------------------------------------------------------------------------------


class SweepSpecView(ApiView):
    """The spec that launches a copy of a sweep."""

    @extend_schema(
        summary="The spec that recreates a sweep (to clone it)",
        description=(
            "The sweep's settings as a launch body: its space inline (even when it came "
            "from a saved space, whose id is in `search_space` when you may see it), named "
            '"<name> (copy)". POST it to /api/sweeps/ (edited or not) to launch the copy.'
        ),
        responses={200: SweepSpecSerializer, **error_responses(404)},
    )
    def get(self, request: Request, pk: int) -> Response:
        return Response(sweep_spec(visible_sweep(request, pk), request.user))


# --- zooming in -----------------------------------------------------------------------------

K_MAX = 1000
MARGIN_MAX = 10.0
# What the schema calls a number in a query: plain decimal notation (float() would also take
# "inf", "1_0", " 2" and other scripts' digits).
NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?")


def _query_margin(request: Request, default: float) -> float:
    raw = request.query_params.get("margin")
    if raw is None or raw == "":
        return default
    if len(raw) > 40 or not NUMBER.fullmatch(raw):
        raise SpaceError({"margin": f"must be a number, got {raw[:40]!r}"})
    value = float(raw)
    if not (math.isfinite(value) and 0 <= value <= MARGIN_MAX):
        raise SpaceError({"margin": f"must be between 0 and {MARGIN_MAX:g}, got {raw!r}"})
    return value


class ParameterChangeSerializer(serializers.Serializer):
    """One parameter's spec before and after zooming in."""

    name = serializers.CharField()
    old = ParameterSpecSerializer()
    new = ParameterSpecSerializer(allow_null=True, help_text="Null: the parameter is dropped.")


class ZoomSerializer(serializers.Serializer):
    """A narrower space around a sweep's best trials, and a spec to search it."""

    k = serializers.IntegerField()
    margin = serializers.FloatField()
    space = serializers.DictField(child=ParameterSpecSerializer())
    changes = ParameterChangeSerializer(many=True, help_text="The parameters that changed.")
    based_on = serializers.ListField(
        child=serializers.IntegerField(),
        help_text="Numbers of the trials zoomed in on, best first.",
    )
    warm_start = serializers.IntegerField(
        help_text="Trials of this sweep with a finite result whose params lie in the new space."
    )
    spec = SweepSpecSerializer(
        help_text='This sweep\'s spec with the new space, named "<name> (zoom)": POST it to '
        "/api/sweeps/ to launch the follow-up."
    )


class ZoomView(ApiView):
    """Coarse to fine: the space around a sweep's best trials."""

    @extend_schema(
        summary="Zoom in: a narrower space around a sweep's best trials",
        description=(
            "Trials rank by their result at the highest rung they reached (a promoted trial "
            "above one cut earlier), then by value. For the best `k`, each float or int "
            "parameter gets the range of their values widened by `margin` x its spread on "
            "each side (on the log scale for a log parameter), clipped to the old bounds and "
            "rounded outward (ints and stepped floats onto the old grid); a categorical keeps "
            "the values they took; conditions stay, and a parameter whose condition can no "
            "longer hold is dropped. 409 when the sweep has fewer than 2 results."
        ),
        parameters=[
            OpenApiParameter(
                "k",
                {"type": "integer", "minimum": 2, "maximum": K_MAX},
                description="How many of the best trials (default 5).",
            ),
            OpenApiParameter(
                "margin",
                {"type": "number", "minimum": 0, "maximum": MARGIN_MAX},
                description="Widening on each side, times the spread of the values (default 0.25).",
            ),
        ],
        responses={200: ZoomSerializer, **error_responses(400, 404, 409)},
    )
    def get(self, request: Request, pk: int) -> Response:
        sweep = visible_sweep(request, pk)
        k = _query_int(request, "k", 5, 2, K_MAX)
        margin = _query_margin(request, 0.25)
        assert k is not None
        return Response(zoom_sweep(sweep, request.user, k=k, margin=margin))
