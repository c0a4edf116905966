"""Routes of the REST API, mounted under ``/api/`` by ``dashboard/urls.py``."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_not_required
from django.urls import URLPattern, include, path, re_path, register_converter
from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularAPIView
from rest_framework.permissions import AllowAny

from sweeps import actions
from sweeps.api import docs, export_views, lr_range, planning, sharing, spaces, views

# Where dashboard/urls.py mounts this module; the schema's paths carry it.
PREFIX = "api/"


def _view(view_cls: Any, **initkwargs: Any) -> Any:
    # The site requires a login for every page; the API answers 401/403 itself instead of
    # redirecting a script to the login form.
    return login_not_required(view_cls.as_view(**initkwargs))


class _VerbConverter:
    """A path segment naming a registered action on ``target``; any other segment does not
    match (``to_python`` raising ValueError), so unknown paths stay the JSON 404."""

    regex = "[a-z][a-z0-9_]*"
    target: actions.Target = "sweep"

    def to_python(self, value: str) -> actions.Action:
        action = actions.by_verb(self.target, value)
        if action is None:
            raise ValueError(value)
        return action

    def to_url(self, value: actions.Action) -> str:
        return value.verb or ""


class _SweepVerb(_VerbConverter):
    target = "sweep"


class _TrialVerb(_VerbConverter):
    target = "trial"


register_converter(_SweepVerb, "sweep_action")
register_converter(_TrialVerb, "trial_action")


def action_patterns() -> list[URLPattern]:
    """One named route per registered action with a verb (``api-trial-kill``), read from
    the registry now: the schema view calls this on every request."""
    return [
        path(
            f"{a.target}s/<int:pk>/{a.verb}/",
            _view(views.ActionView, declared=a),
            name=f"api-{a.target}-{a.verb}",
        )
        for a in actions.REGISTRY.values()
        if a.verb is not None
    ]


resource_patterns: list[URLPattern] = [
    path("sweeps/", _view(views.SweepListView), name="api-sweeps"),
    path("sweeps/plan/", _view(planning.PlanView), name="api-sweep-plan"),
    path("sweeps/<int:pk>/spec/", _view(planning.SweepSpecView), name="api-sweep-spec"),
    path("sweeps/<int:pk>/zoom/", _view(planning.ZoomView), name="api-sweep-zoom"),
    path("trainers/", _view(planning.TrainerListView), name="api-trainers"),
    path("search-spaces/", _view(spaces.SearchSpaceListView), name="api-search-spaces"),
    path("search-spaces/<int:pk>/", _view(spaces.SearchSpaceDetailView), name="api-search-space"),
    path(
        "search-spaces/<int:pk>/sharing/",
        _view(sharing.SearchSpaceSharingView),
        name="api-search-space-sharing",
    ),
    path("sweeps/<int:pk>/sharing/", _view(sharing.SweepSharingView), name="api-sweep-sharing"),
    path("sweeps/<int:pk>/", _view(views.SweepDetailView), name="api-sweep"),
    path("sweeps/<int:pk>/trials/", _view(views.SweepTrialsView), name="api-sweep-trials"),
    path("sweeps/<int:pk>/bracket/", _view(views.BracketView), name="api-sweep-bracket"),
    path("sweeps/<int:pk>/export.csv", _view(export_views.ExportCsvView), name="api-export-csv"),
    path("sweeps/<int:pk>/export.json", _view(export_views.ExportJsonView), name="api-export-json"),
    path(
        "sweeps/<int:pk>/export.parquet",
        _view(export_views.ExportParquetView),
        name="api-export-parquet",
    ),
    path("trials/<int:pk>/", _view(views.TrialDetailView), name="api-trial"),
    path("trials/<int:pk>/metrics/", _view(views.MetricsView), name="api-trial-metrics"),
    path("trials/<int:pk>/logs/", _view(views.TrialLogsView), name="api-trial-logs"),
    path("workers/", _view(views.WorkerListView), name="api-workers"),
    path("lr-range-tests/", _view(lr_range.RangeTestListView), name="api-lr-range-tests"),
    path("lr-range-tests/<int:pk>/", _view(lr_range.RangeTestDetailView), name="api-lr-range-test"),
]
# Actions registered after start-up (tests, plugins) are served by these two routes.
action_fallbacks = [
    path("sweeps/<int:pk>/<sweep_action:action>/", _view(views.RegisteredActionView)),
    path("trials/<int:pk>/<trial_action:action>/", _view(views.RegisteredActionView)),
]


def schema_patterns() -> list[Any]:
    """What the schema describes: the resources above and the actions registered now."""
    return [path(PREFIX, include([*resource_patterns, *action_patterns()]))]


class SchemaView(SpectacularAPIView):
    """The OpenAPI schema of exactly the resources above and the actions registered now,
    under their public prefix."""

    permission_classes = [AllowAny]

    @extend_schema(exclude=True)  # the schema does not describe itself
    def get(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        self.patterns = schema_patterns()
        return super().get(request, *args, **kwargs)


urlpatterns = [
    *resource_patterns,
    *action_patterns(),
    *action_fallbacks,
    path("schema/", login_not_required(SchemaView.as_view()), name="api-schema"),
    path("docs/", docs.api_docs, name="api-docs"),
    # Last: anything else under /api/ is a JSON 404, not the site's HTML page.
    re_path(r"^(?P<path>.*)$", views.not_found),
]
