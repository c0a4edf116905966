"""Sharing through the API: ``GET`` / ``PUT`` ``/api/sweeps/{id}/sharing/`` and
``/api/search-spaces/{id}/sharing/``.

The body of a PUT is what a GET answers, ``{"viewers": [names], "editors": [names]}``, and
replaces both lists (``owner`` and ``can_change`` may be sent back as they came; the owner
cannot be changed here). Checked in this order: 404 for whoever cannot see the object, 403
for whoever may see it but not share it (only its owner and staff may), then 400 naming
``viewers`` or ``editors`` for an unknown user name or the owner listed. Viewers see;
editors see and steer a sweep or change a space (:mod:`sweeps.access`).
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response

from sweeps import services
from sweeps.access import can_share
from sweeps.api.closed import ClosedSerializer
from sweeps.api.errors import error_responses
from sweeps.api.spaces import visible_space
from sweeps.api.views import ApiView, visible_sweep
from sweeps.guard import check_json
from sweeps.models import SearchSpace, Sweep
from sweeps.search.space import SpaceError

ROLES = ("viewers", "editors")
BODY_FIELDS = (*ROLES, "owner", "can_change")
MAX_SHARES = 1000
USERNAME_MAX = 150  # django.contrib.auth's column


class SharingSerializer(serializers.Serializer):
    """Who sees (viewers) and who also steers or changes (editors) it, besides its owner."""

    owner = serializers.CharField(allow_null=True, help_text="Its owner's user name.")
    viewers = serializers.ListField(child=serializers.CharField())
    editors = serializers.ListField(child=serializers.CharField())
    can_change = serializers.BooleanField(help_text="You may change its sharing (PUT).")


class SharingBodySerializer(ClosedSerializer):
    """The new sharing: both lists replace the old ones."""

    viewers = serializers.ListField(
        child=serializers.CharField(max_length=USERNAME_MAX),
        max_length=MAX_SHARES,
        help_text="User names who may see it.",
    )
    editors = serializers.ListField(
        child=serializers.CharField(max_length=USERNAME_MAX),
        max_length=MAX_SHARES,
        help_text="User names who may also steer the sweep (or change the space).",
    )
    owner = serializers.CharField(
        required=False, help_text="Ignored when it names the owner (as a GET answered)."
    )
    can_change = serializers.BooleanField(required=False, help_text="Ignored (read-only).")


def clean_sharing(body: Any, owner: Any) -> dict[str, list[Any]]:
    """``{"viewers": [users], "editors": [users]}`` from a PUT body; SpaceError naming the
    field for an unknown name, the owner listed, a user in both lists or a bad shape."""
    if not isinstance(body, dict):
        raise SpaceError({"body": "must be a JSON object"})
    check_json(body, "body", document=True)
    errors: dict[str, str] = {}
    for key in sorted(set(body) - set(BODY_FIELDS)):
        errors[key] = f"is not a field of the sharing; allowed: {list(BODY_FIELDS)}"
    owner_name = owner.get_username() if owner else None
    if "owner" in body and (not isinstance(body["owner"], str) or body["owner"] != owner_name):
        errors["owner"] = (
            f"the owner is {owner_name!r} and cannot be changed here; send it back as it "
            "came or leave it out"
        )
    if "can_change" in body and not isinstance(body["can_change"], bool):
        errors["can_change"] = "must be true or false (it is read-only and ignored)"
    names: dict[str, list[str]] = {}
    for role in ROLES:
        value = body.get(role)
        if role not in body:
            errors[role] = "is required: a list of user names (empty to share with nobody)"
        elif not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            errors[role] = "must be a list of user names"
        elif len(value) > MAX_SHARES:
            errors[role] = f"must list at most {MAX_SHARES} users"
        else:
            names[role] = list(dict.fromkeys(value))  # a name twice is the same share
    # No user name is longer than its column; such a name is simply unknown.
    asked = {n for listed in names.values() for n in listed if len(n) <= USERNAME_MAX}
    User = get_user_model()
    found = {
        u.get_username(): u for u in User.objects.filter(**{f"{User.USERNAME_FIELD}__in": asked})
    }
    users: dict[str, list[Any]] = {}
    for role, listed in names.items():
        unknown = [n for n in listed if n not in found]
        if unknown:
            errors[role] = f"no user named {', '.join(repr(n[:USERNAME_MAX]) for n in unknown)}"
        elif owner_name is not None and owner_name in listed:
            errors[role] = f"{owner_name!r} owns it: the owner is not listed"
        else:
            users[role] = [found[n] for n in listed]
    both = sorted(set(names.get("viewers", ())) & set(names.get("editors", ())))
    if both and "viewers" not in errors:
        errors["viewers"] = (
            f"{', '.join(map(repr, both))} also listed as editor (editors see it too): list "
            "each user once"
        )
    if errors:
        raise SpaceError(errors)
    return users


def _answer(obj: Sweep | SearchSpace, request: Request) -> Response:
    data = {**services.sharing(obj), "can_change": can_share(request.user, obj)}
    return Response(SharingSerializer(data).data)


def _change(obj: Sweep | SearchSpace, request: Request, what: str) -> dict[str, list[Any]]:
    if not can_share(request.user, obj):
        raise PermissionDenied(f"only the {what}'s owner or staff may change its sharing")
    return clean_sharing(request.data, obj.owner)


PUT_DOC = {
    "request": SharingBodySerializer,
    "responses": {200: SharingSerializer, **error_responses(400, 403, 404, 413, 415)},
    "examples": [
        OpenApiExample(
            "Bob watches, Carol steers", value={"viewers": ["bob"], "editors": ["carol"]},
            request_only=True,
        )
    ],
}  # fmt: skip


class SweepSharingView(ApiView):
    """Who a sweep is shared with."""

    @extend_schema(
        summary="Who a sweep is shared with",
        responses={200: SharingSerializer, **error_responses(404)},
    )
    def get(self, request: Request, pk: int) -> Response:
        return _answer(visible_sweep(request, pk), request)

    @extend_schema(
        summary="Share a sweep: replace its viewers and editors",
        description=(
            "Viewers see the sweep; editors also steer it. Only the owner and staff may "
            "change this (403 for the others who see it). Recorded in the sweep's events."
        ),
        **PUT_DOC,
    )
    def put(self, request: Request, pk: int) -> Response:
        sweep = visible_sweep(request, pk)
        users = _change(sweep, request, "sweep")
        return _answer(services.share_sweep(sweep.pk, request.user, **users), request)


class SearchSpaceSharingView(ApiView):
    """Who a saved search space is shared with."""

    @extend_schema(
        summary="Who a saved search space is shared with",
        responses={200: SharingSerializer, **error_responses(404)},
    )
    def get(self, request: Request, pk: int) -> Response:
        return _answer(visible_space(request, pk), request)

    @extend_schema(
        summary="Share a saved search space: replace its viewers and editors",
        description=(
            "Viewers see the space and may launch sweeps from it; editors may also change "
            "it. Only the owner and staff may change this (403 for the others who see it)."
        ),
        **PUT_DOC,
    )
    def put(self, request: Request, pk: int) -> Response:
        saved = visible_space(request, pk)
        users = _change(saved, request, "space")
        return _answer(services.share_space(saved.pk, **users), request)
