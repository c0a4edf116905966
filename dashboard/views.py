"""Pages of the dashboard. Views read; state changes go through :mod:`sweeps.services`."""

from __future__ import annotations

from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from sweeps.access import visible_sweeps
from sweeps.states import TrialStatus


def sweep_list(request: HttpRequest) -> HttpResponse:
    sweeps = (
        visible_sweeps(request.user)
        .select_related("owner")
        .annotate(
            n_trials=Count("trials"),
            n_finished=Count("trials", filter=Q(trials__status__in=TrialStatus.FINISHED)),
        )
    )
    return render(request, "dashboard/sweep_list.html", {"sweeps": sweeps})


@login_not_required
def health(request: HttpRequest) -> JsonResponse:
    """Liveness for load balancers and ``up``: the database answers."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})
