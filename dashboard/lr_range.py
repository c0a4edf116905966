"""The LR range test pages: ask for a test, then watch its curve and take its range."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from dashboard.views import plotly_url, script_json
from sweeps.api.lr_range import RangeTestSerializer
from sweeps.models import LRRangeTest
from sweeps.services.lr_range import DEFAULTS, RULES


def range_test_list(request: HttpRequest) -> HttpResponse:
    """The user's tests and a form for a new one."""
    tests = LRRangeTest.objects.filter(owner=request.user)[:50]
    return render(
        request,
        "dashboard/lr_range_list.html",
        {"tests": tests, "defaults": DEFAULTS, "rules": RULES},
    )


def range_test_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """One test: smoothed loss against a log learning rate, the suggested range marked."""
    test = get_object_or_404(LRRangeTest, pk=pk, owner=request.user)
    return render(
        request,
        "dashboard/lr_range_detail.html",
        {
            "test": test,
            "test_json": script_json(RangeTestSerializer(test).data),
            "plotly_url": plotly_url(),
        },
    )
