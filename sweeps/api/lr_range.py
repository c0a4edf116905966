"""LR range tests through the API: ask for one, read its curve and suggested range."""

from __future__ import annotations

from django.urls import reverse
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response

from sweeps import services
from sweeps.api.errors import error_responses
from sweeps.api.views import ApiView, _check_id, _object_body
from sweeps.models import LRRangeTest
from sweeps.services.lr_range import RULES


class RangeTestRequestSerializer(serializers.Serializer):
    """What to test: a trainer that exposes its learning rate, and one configuration."""

    trainer = serializers.CharField(help_text="A trainer key (see the trainers file).")
    trainer_args = serializers.DictField(required=False, help_text="The trainer's arguments.")
    params = serializers.DictField(required=False, help_text="The configuration to train.")
    low = serializers.FloatField(required=False, default=1e-7, help_text="First learning rate.")
    high = serializers.FloatField(required=False, default=10.0, help_text="Last learning rate.")
    steps = serializers.IntegerField(
        required=False,
        default=100,
        min_value=10,
        max_value=10_000,
        help_text="Steps from low to high.",
    )


class RangeTestSerializer(serializers.ModelSerializer):
    """A test: ``queued``, ``running``, ``done`` (with its curve) or ``failed`` (``error``)."""

    curve = serializers.DictField(
        child=serializers.ListField(child=serializers.FloatField(allow_null=True)),
        help_text="lr, loss and smoothed (EMA) loss per step, while the rate rose.",
    )
    suggested = serializers.DictField(
        child=serializers.FloatField(),
        allow_null=True,
        help_text="{low, high}: from the steepest fall of the smoothed loss to its minimum.",
    )
    rules = serializers.SerializerMethodField(help_text="How the range was chosen.")

    class Meta:
        model = LRRangeTest
        fields = [
            "id", "trainer", "trainer_args", "params", "low", "high", "steps", "status",
            "curve", "suggested", "stopped", "rules", "error", "created_at", "finished_at",
        ]  # fmt: skip

    def get_rules(self, obj: LRRangeTest) -> str:
        return RULES


class RangeTestListView(ApiView):
    """Your LR range tests; ask for a new one."""

    @extend_schema(
        summary="Your LR range tests, newest first",
        responses={200: RangeTestSerializer(many=True), **error_responses()},
    )
    def get(self, request: Request) -> Response:
        tests = LRRangeTest.objects.filter(owner=request.user)[:100]
        return Response(RangeTestSerializer(tests, many=True).data)

    @extend_schema(
        summary="Run an LR range test on a worker",
        description=(
            "Trains one configuration while the learning rate rises exponentially from "
            "`low` to `high` over `steps` steps, stopping once the smoothed loss passes 4x "
            "its minimum. Read the result at the returned test's URL."
        ),
        request=RangeTestRequestSerializer,
        responses={201: RangeTestSerializer, **error_responses(400, 413, 415)},
        examples=[
            OpenApiExample(
                "The digits MLP with SGD",
                value={"trainer": "digits-mlp", "params": {"optimizer": "sgd"}},
                request_only=True,
            )
        ],
    )
    def post(self, request: Request) -> Response:
        test = services.create_range_test(_object_body(request), request.user)
        return Response(
            RangeTestSerializer(test).data,
            status=status.HTTP_201_CREATED,
            headers={"Location": reverse("api-lr-range-test", args=[test.pk])},
        )


class RangeTestDetailView(ApiView):
    """One LR range test."""

    @extend_schema(
        summary="An LR range test with its curve and suggested range",
        responses={200: RangeTestSerializer, **error_responses(404)},
    )
    def get(self, request: Request, pk: int) -> Response:
        _check_id(pk)
        test = LRRangeTest.objects.filter(pk=pk, owner=request.user).first()
        if test is None:
            raise NotFound(f"no LR range test {pk} of yours")
        return Response(RangeTestSerializer(test).data)
