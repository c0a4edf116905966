"""REST views. They authenticate, check who may see or steer, validate the request's shape,
and hand every state change to :mod:`sweeps.services`.

Visibility is checked before anything else: a sweep or trial the user may not see is a 404
(whether it exists is not revealed); one they may see but not steer is a 403.
"""

from __future__ import annotations

import inspect
from typing import Any, ClassVar

from django.contrib.auth.decorators import login_not_required
from django.db.models import QuerySet
from django.http import HttpRequest, JsonResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    extend_schema,
)
from rest_framework import status
from rest_framework.authentication import SessionAuthentication, TokenAuthentication
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from sweeps import actions, services
from sweeps.access import can_steer, visible_sweeps
from sweeps.actions import Action
from sweeps.api.closed import ClosedBodySchema
from sweeps.api.errors import api_exception_handler, error_responses
from sweeps.api.pagination import SweepPagination, TrialPagination
from sweeps.api.parsers import GuardedJSONParser
from sweeps.api.serializers import (
    BracketSerializer,
    MetricsPageSerializer,
    SegmentLogSerializer,
    SweepCreatedSerializer,
    SweepSerializer,
    SweepSpecSerializer,
    TrialSerializer,
    WorkerSerializer,
)
from sweeps.guard import MAX_INT, check_text
from sweeps.models import MetricPoint, Sweep, Trial
from sweeps.queries import sweep_totals, worker_rows
from sweeps.search.space import SpaceError

EXAMPLE_SPEC: dict[str, Any] = {
    "name": "lr search",
    "trainer": "synthetic",
    "trainer_args": {"steps_per_epoch": 20},
    "objective": {"metric": "val_loss", "mode": "min"},
    "space": {
        "lr": {"type": "float", "low": 0.001, "high": 0.5, "log": True},
        "momentum": {"type": "float", "low": 0.0, "high": 0.9},
    },
    "sampler": {"name": "random"},
    "scheduler": {"name": "hyperband", "min_resource": 1, "max_resource": 9, "eta": 3},
    "max_trials": 9,
    "concurrency": 2,
    "seed": 1,
}
# One page of raw metric points; clients follow ``cursor`` for the rest.
METRICS_PAGE = 10_000
MAX_POINTS_CAP = 100_000
METRIC_NAME_MAX = 32  # MetricPoint.name's column
NO_NUL = "^[^\\u0000]*$"  # the schema's way to say "no NUL character"


class ApiView(APIView):
    """Base of every API view: token or session auth, JSON in and out, one error shape."""

    # Token first: an anonymous request then gets 401 with ``WWW-Authenticate: Token``.
    authentication_classes: ClassVar[list[type]] = [TokenAuthentication, SessionAuthentication]
    permission_classes: ClassVar[list[type]] = [IsAuthenticated]
    renderer_classes: ClassVar[list[type]] = [JSONRenderer]
    parser_classes: ClassVar[list[type]] = [GuardedJSONParser]

    def get_exception_handler(self) -> Any:
        return api_exception_handler


@csrf_exempt  # it changes nothing; a 403 page here would hide the JSON answer
@login_not_required
def not_found(request: HttpRequest, path: str = "") -> JsonResponse:
    """Any other URL under /api/ (``/api/sweeps/-1/``, a typo): a JSON 404 for scripts."""
    return JsonResponse({"detail": "Not found."}, status=404)


def visible_sweep(request: Request, pk: int, *, steer: bool = False) -> Sweep:
    """The sweep ``pk`` if ``request.user`` may see it (404 otherwise); 403 if they may not
    steer it and ``steer`` is asked."""
    _check_id(pk)
    sweep = get_object_or_404(visible_sweeps(request.user), pk=pk)
    if steer and not can_steer(request.user, sweep):
        raise PermissionDenied("only the sweep's editors, owner or staff may steer it")
    return sweep


def visible_trial(request: Request, pk: int, *, steer: bool = False) -> Trial:
    """The trial ``pk`` if its sweep is visible to ``request.user``; as :func:`visible_sweep`."""
    _check_id(pk)
    trial = get_object_or_404(
        Trial.objects.select_related("sweep").prefetch_related("rung_results"),
        pk=pk,
        sweep__in=visible_sweeps(request.user).values("pk"),
    )
    if steer and not can_steer(request.user, trial.sweep):
        raise PermissionDenied("only the sweep's editors, owner or staff may steer its trials")
    return trial


def _check_id(pk: int) -> None:
    # The route takes any run of digits; no row has an id past what a BIGINT column holds,
    # and such an id must not reach the database (psycopg refuses to send it).
    if pk > MAX_INT:
        raise NotFound()


def _sweep_data(sweep: Sweep) -> dict[str, Any]:
    sweep = Sweep.objects.select_related("owner").get(pk=sweep.pk)
    return SweepSerializer(sweep).data


def _trial_data(trial: Trial) -> dict[str, Any]:
    trial = Trial.objects.prefetch_related("rung_results").get(pk=trial.pk)
    return TrialSerializer(trial).data


def _query_int(request: Request, name: str, default: int | None, low: int, high: int) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    # int() takes Unicode digits, "_" and spaces too; the schema says ASCII digits.
    if not raw.isascii() or not raw.lstrip("-").isdigit():
        raise SpaceError({name: f"must be a whole number, got {raw[:40]!r}"})
    if len(raw) > 20:
        raise SpaceError({name: f"must be between {low} and {high}"})
    value = int(raw)
    if not low <= value <= high:
        raise SpaceError({name: f"must be between {low} and {high}, got {value}"})
    return value


def _object_body(request: Request) -> dict[str, Any]:
    if not isinstance(request.data, dict):
        raise SpaceError({"body": "must be a JSON object"})
    return request.data


def steer(request: Request, action: Action, pk: int) -> Any:
    """Carry out ``action`` on object ``pk`` through :func:`sweeps.actions.perform`, its
    errors turned into the API's (404, 403, 400, 409 in that order of checking)."""
    _check_id(pk)
    # An action without a body never reads one: what a client sends to /pause/ is ignored,
    # as it always was.
    body = request.data if action.body is not None else None
    try:
        return actions.perform(request.user, action, pk, body)
    except actions.Missing:
        raise NotFound() from None
    except actions.Forbidden as exc:
        raise PermissionDenied(str(exc)) from None


def _result(action: Action, obj: Any) -> Response:
    data = _trial_data(obj) if action.result == "trial" else _sweep_data(obj)
    if not action.created:
        return Response(data)
    route = "api-trial" if action.result == "trial" else "api-sweep"
    return Response(
        data,
        status=status.HTTP_201_CREATED,
        headers={"Location": reverse(route, args=[obj.pk])},
    )


class ActionSchema(AutoSchema):
    """The schema of one :class:`ActionView` route, read from its :class:`Action`."""

    def _action(self) -> Action:
        action = self.view.declared
        assert action is not None, "the schema is built from routes with a declared action"
        return action

    def get_summary(self) -> str | None:
        return self._action().summary

    def get_description(self) -> str:
        # What the service says it does (the summary says it in one line).
        return inspect.getdoc(self._action().service) or ""

    def get_request_serializer(self) -> Any:
        return self._action().body

    def get_response_serializers(self) -> Any:
        action = self._action()
        out = TrialSerializer if action.result == "trial" else SweepSerializer
        codes = (400, 403, 404, 409, 413, 415) if action.body else (403, 404, 409)
        return {201 if action.created else 200: out, **error_responses(*codes)}


class ActionView(ApiView):
    """Every ``POST /api/<sweeps|trials>/<id>/<verb>/`` steering route. The action is the
    route's (``declared``) or, on the catch-all route, looked up in
    :data:`sweeps.actions.REGISTRY` by its verb, so a registered action needs no view."""

    schema = ActionSchema()
    declared: Action | None = None

    def post(self, request: Request, pk: int, action: Action | None = None) -> Response:
        action = action or self.declared
        assert action is not None, "a steering route names its action"
        return _result(action, steer(request, action, pk))


class RegisteredActionView(ActionView):
    """The catch-all route of actions registered after start-up. The schema lists each of
    them under its own route (see ``schema_patterns``), so this one stays out of it."""

    schema = None


# --- sweeps ---------------------------------------------------------------------------------


class SweepListView(ApiView):
    """Sweeps this user can see, newest first, in cursor pages; launch a new one from a spec."""

    pagination_class = SweepPagination

    @extend_schema(
        summary="List the sweeps you can see, newest first, one page at a time",
        description=(
            "A page of at most `page_size` sweeps (default 500, at most 1000); follow `next` "
            "until it is null."
        ),
        responses={200: SweepSerializer(many=True), **error_responses(400)},
    )
    def get(self, request: Request) -> Response:
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(
            visible_sweeps(request.user).select_related("owner"), request, view=self
        )
        assert page is not None, "the paginator always has a page size"
        context = {"summaries": sweep_totals(page)}
        return paginator.get_paginated_response(
            SweepSerializer(page, many=True, context=context).data
        )

    @extend_schema(
        summary="Launch a sweep from a spec",
        description=(
            "The body is a sweep spec (the same schema as spec files). A bad spec is "
            "answered with 400 and every bad field with its rule; nothing is created. So is "
            "a trainer no live worker can run, while some worker is live (400 naming "
            "`trainer`); with no live worker at all the sweep is created and waits, and "
            "`warnings` says so."
        ),
        request=SweepSpecSerializer,
        responses={201: SweepCreatedSerializer, **error_responses(400, 403, 413, 415)},
        examples=[
            OpenApiExample(
                "Hyperband over the synthetic learning curve",
                value=EXAMPLE_SPEC,
                request_only=True,
            )
        ],
    )
    def post(self, request: Request) -> Response:
        sweep = services.create_sweep(_object_body(request), request.user)
        data = {**_sweep_data(sweep), "warnings": list(getattr(sweep, "warnings", []))}
        return Response(
            data,
            status=status.HTTP_201_CREATED,
            headers={"Location": reverse("api-sweep", args=[sweep.pk])},
        )


class SweepDetailView(ApiView):
    """One sweep: its status, counts per trial status and best trial; change its budget."""

    schema = ClosedBodySchema()  # PATCH must send a body with at least one field

    @extend_schema(
        summary="A sweep with its trial counts and best trial",
        responses={200: SweepSerializer, **error_responses(404)},
    )
    def get(self, request: Request, pk: int) -> Response:
        return Response(_sweep_data(visible_sweep(request, pk)))

    @extend_schema(
        summary="Change a running sweep's concurrency or trial budget",
        request=actions.SweepUpdateSerializer,
        responses={200: SweepSerializer, **error_responses(400, 403, 404, 409, 413, 415)},
        examples=[
            OpenApiExample("More workers", value={"concurrency": 4}, request_only=True),
            OpenApiExample("A larger trial budget", value={"max_trials": 50}, request_only=True),
        ],
    )
    def patch(self, request: Request, pk: int) -> Response:
        sweep = steer(request, actions.REGISTRY["update_sweep"], pk)
        return Response(_sweep_data(sweep))


class SweepTrialsView(ApiView):
    """The trials of a sweep by number, in cursor pages; enqueue a manual trial."""

    pagination_class = TrialPagination

    @extend_schema(
        summary="The trials of a sweep by number, one page at a time",
        description=(
            "A page of at most `page_size` trials (default 500, at most 1000); follow `next` "
            "until it is null. Trials added meanwhile come on later pages, none twice."
        ),
        responses={200: TrialSerializer(many=True), **error_responses(400, 404)},
    )
    def get(self, request: Request, pk: int) -> Response:
        sweep = visible_sweep(request, pk)
        paginator = self.pagination_class()
        trials: QuerySet[Trial] = sweep.trials.prefetch_related("rung_results")
        page = paginator.paginate_queryset(trials, request, view=self)
        assert page is not None, "the paginator always has a page size"
        return paginator.get_paginated_response(TrialSerializer(page, many=True).data)

    @extend_schema(
        summary="Enqueue a trial with chosen params; it starts next",
        request=actions.EnqueueSerializer,
        responses={201: TrialSerializer, **error_responses(400, 403, 404, 409, 413, 415)},
        examples=[
            OpenApiExample(
                "A configuration to try next",
                value={"params": {"lr": 0.05, "width": 128, "momentum": 0.9}},
                request_only=True,
            )
        ],
    )
    def post(self, request: Request, pk: int) -> Response:
        trial = steer(request, actions.REGISTRY["enqueue"], pk)
        return Response(
            _trial_data(trial),
            status=status.HTTP_201_CREATED,
            headers={"Location": reverse("api-trial", args=[trial.pk])},
        )


class BracketView(ApiView):
    """The halving picture: brackets, rungs, their trials, promotions (rule or manual)."""

    @extend_schema(
        summary="Brackets, rungs, their trials and promotions",
        responses={200: BracketSerializer, **error_responses(404)},
    )
    def get(self, request: Request, pk: int) -> Response:
        sweep = visible_sweep(request, pk)
        from sweeps import queries

        return Response(BracketSerializer(queries.bracket(sweep)).data)


# --- trials ---------------------------------------------------------------------------------


class TrialDetailView(ApiView):
    """One trial."""

    @extend_schema(
        summary="A trial with its rung results",
        responses={200: TrialSerializer, **error_responses(404)},
    )
    def get(self, request: Request, pk: int) -> Response:
        return Response(TrialSerializer(visible_trial(request, pk)).data)


class MetricsView(ApiView):
    """A trial's logged points after a cursor, optionally thinned to ``max_points``."""

    @extend_schema(
        summary="A trial's metric points after a cursor",
        parameters=[
            OpenApiParameter(
                "name",
                {"type": "string", "maxLength": METRIC_NAME_MAX, "pattern": NO_NUL},
                description="Only this metric (e.g. train_loss).",
            ),
            OpenApiParameter(
                "after",
                {"type": "integer", "minimum": 0, "maximum": MAX_INT},
                description="Only points with id > after (the last cursor).",
            ),
            OpenApiParameter(
                "max_points",
                {"type": "integer", "minimum": 2, "maximum": MAX_POINTS_CAP},
                description="Thin each series to at most this many points.",
            ),
        ],
        responses={200: MetricsPageSerializer, **error_responses(400, 404)},
    )
    def get(self, request: Request, pk: int) -> Response:
        trial = visible_trial(request, pk)
        name = request.query_params.get("name") or None
        if name is not None and len(name) > METRIC_NAME_MAX:
            raise SpaceError(
                {"name": f"must be a metric name of at most {METRIC_NAME_MAX} characters"}
            )
        if name is not None:
            check_text(name, "name")  # PostgreSQL refuses a NUL even in a WHERE clause
        after = _query_int(request, "after", 0, 0, MAX_INT)
        max_points = _query_int(request, "max_points", None, 2, MAX_POINTS_CAP)
        assert after is not None
        points = MetricPoint.objects.filter(trial=trial, id__gt=after)
        if name is not None:
            points = points.filter(name=name)
        fields = ("id", "name", "step", "value", "time")
        if max_points is None:
            rows = list(points.order_by("id").values(*fields)[:METRICS_PAGE])
            cursor = rows[-1]["id"] if rows else after
        else:
            # A thinned page covers everything up to the newest point, so the cursor moves
            # past the points that were left out too.
            from sweeps import queries

            cursor = points.order_by("-id").values_list("id", flat=True).first() or after
            rows = queries.downsample_points(points.filter(id__lte=cursor), max_points)
        return Response(MetricsPageSerializer({"points": rows, "cursor": cursor}).data)


class TrialLogsView(ApiView):
    """A script trial's console output, per segment."""

    @extend_schema(
        summary="A script trial's console output, one entry per segment",
        description=(
            "What a command trainer's script printed, per segment (rung and attempt), oldest "
            "first; a running segment's entry grows about every second. Empty for trainers "
            "that are not scripts."
        ),
        responses={200: SegmentLogSerializer(many=True), **error_responses(404)},
    )
    def get(self, request: Request, pk: int) -> Response:
        trial = visible_trial(request, pk)
        return Response(SegmentLogSerializer(trial.logs.order_by("id"), many=True).data)


# --- workers --------------------------------------------------------------------------------


class WorkerListView(ApiView):
    """The worker processes, what each can run and what it trains now."""

    @extend_schema(
        summary="The workers: their state, trainers and the trial each trains",
        description=(
            "Every registered worker, live ones first: running (it trains a trial), idle, "
            "lost (no heartbeat within the lease) or stopped. A trial of a sweep you cannot "
            "see is left out (the worker still shows running)."
        ),
        responses={200: WorkerSerializer(many=True), **error_responses()},
    )
    def get(self, request: Request) -> Response:
        rows = worker_rows(visible_sweeps(request.user))
        return Response(WorkerSerializer(rows, many=True).data)
