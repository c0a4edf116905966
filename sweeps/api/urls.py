"""Routes of the REST API, mounted under ``/api/`` by ``dashboard/urls.py``."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_not_required
from django.urls import URLPattern, include, path, re_path
from drf_spectacular.views import SpectacularAPIView
from rest_framework.permissions import AllowAny

from sweeps.api import docs, views

# Where dashboard/urls.py mounts this module; the schema's paths carry it.
PREFIX = "api/"


def _view(view_cls: Any) -> Any:
    # The site requires a login for every page; the API answers 401/403 itself instead of
    # redirecting a script to the login form.
    return login_not_required(view_cls.as_view())


resource_patterns: list[URLPattern] = [
    path("sweeps/", _view(views.SweepListView), name="api-sweeps"),
    path("sweeps/<int:pk>/", _view(views.SweepDetailView), name="api-sweep"),
    path("sweeps/<int:pk>/pause/", _view(views.PauseSweepView), name="api-sweep-pause"),
    path("sweeps/<int:pk>/resume/", _view(views.ResumeSweepView), name="api-sweep-resume"),
    path("sweeps/<int:pk>/cancel/", _view(views.CancelSweepView), name="api-sweep-cancel"),
    path("sweeps/<int:pk>/trials/", _view(views.SweepTrialsView), name="api-sweep-trials"),
    path("sweeps/<int:pk>/bracket/", _view(views.BracketView), name="api-sweep-bracket"),
    path("sweeps/<int:pk>/export.csv", _view(views.ExportCsvView), name="api-export-csv"),
    path("sweeps/<int:pk>/export.json", _view(views.ExportJsonView), name="api-export-json"),
    path(
        "sweeps/<int:pk>/export.parquet",
        _view(views.ExportParquetView),
        name="api-export-parquet",
    ),
    path("trials/<int:pk>/", _view(views.TrialDetailView), name="api-trial"),
    path("trials/<int:pk>/kill/", _view(views.KillTrialView), name="api-trial-kill"),
    path("trials/<int:pk>/pause/", _view(views.PauseTrialView), name="api-trial-pause"),
    path("trials/<int:pk>/resume/", _view(views.ResumeTrialView), name="api-trial-resume"),
    path("trials/<int:pk>/promote/", _view(views.PromoteTrialView), name="api-trial-promote"),
    path("trials/<int:pk>/extend/", _view(views.ExtendTrialView), name="api-trial-extend"),
    path("trials/<int:pk>/metrics/", _view(views.MetricsView), name="api-trial-metrics"),
]

# The schema describes exactly the resources above, under their public prefix.
schema_patterns = [path(PREFIX, include(resource_patterns))]

urlpatterns = [
    *resource_patterns,
    path(
        "schema/",
        login_not_required(
            SpectacularAPIView.as_view(patterns=schema_patterns, permission_classes=[AllowAny])
        ),
        name="api-schema",
    ),
    path("docs/", docs.api_docs, name="api-docs"),
    # Last: anything else under /api/ is a JSON 404, not the site's HTML page.
    re_path(r"^(?P<path>.*)$", views.not_found),
]
