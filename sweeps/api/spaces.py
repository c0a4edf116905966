"""Saved search spaces through the API: list, create, read, change, delete.

A body is ``{"name", "description", "space"}``; ``space`` has the format of a sweep spec's
``space`` and is checked by the same parser (:func:`~sweeps.search.space.parse_space`), so
errors name ``space.<param>.<field>`` as a launch's do. Who may do what is
:mod:`sweeps.access`'s rule: a space you may not see is a 404, one you may see but not
change a 403.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from django.urls import reverse
from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response

from sweeps import services
from sweeps.access import can_delete_space, can_edit_space, can_share, visible_spaces
from sweeps.api.closed import ClosedBodySchema, ClosedSerializer
from sweeps.api.errors import error_responses
from sweeps.api.serializers import ParameterSpecSerializer
from sweeps.api.views import ApiView, _check_id
from sweeps.guard import check_json
from sweeps.models import SearchSpace
from sweeps.search.space import SpaceError, parse_space

FIELDS = ("name", "description", "space")
NAME_MAX = 120  # SearchSpace.name's column
DESCRIPTION_MAX = 10_000
EXAMPLE = {
    "name": "mlp",
    "description": "learning rate and width of the digits MLP",
    "space": {
        "lr": {"type": "float", "low": 0.0001, "high": 0.1, "log": True},
        "width": {"type": "int", "low": 16, "high": 256},
        "optimizer": {"type": "categorical", "choices": ["adam", "sgd"]},
        "momentum": {
            "type": "float", "low": 0.0, "high": 0.99,
            "condition": {"parent": "optimizer", "values": ["sgd"]},
        },
    },
}  # fmt: skip


def clean_space_body(body: Any, *, required: tuple[str, ...]) -> dict[str, Any]:
    """A saved space's fields from a request body: ``name`` (stripped), ``description``,
    ``space`` (a parsed :class:`~sweeps.search.space.Space`); SpaceError (field -> rule)."""
    if not isinstance(body, dict):
        raise SpaceError({"body": "must be a JSON object"})
    check_json(body, "body", document=True)
    errors: dict[str, str] = {}
    for key in sorted(set(body) - set(FIELDS)):
        errors[key] = f"is not a field of a search space; allowed: {list(FIELDS)}"
    for key in required:
        if key not in body:
            errors[key] = "is required"
    if not required and not set(body) & set(FIELDS):
        errors.setdefault("body", f"give at least one of {list(FIELDS)}")
    out: dict[str, Any] = {}
    if "name" in body:
        name = body["name"]
        if not isinstance(name, str) or not name.strip() or len(name.strip()) > NAME_MAX:
            errors["name"] = f"must be a non-empty string of at most {NAME_MAX} characters"
        else:
            out["name"] = name.strip()
    if "description" in body:
        description = body["description"]
        if not isinstance(description, str) or len(description) > DESCRIPTION_MAX:
            errors["description"] = f"must be a string of at most {DESCRIPTION_MAX} characters"
        else:
            out["description"] = description
    if "space" in body:
        try:
            out["space"] = parse_space(body["space"])
        except SpaceError as exc:
            errors.update(exc.errors)
    if errors:
        raise SpaceError(errors)
    return out


# --- what is sent ----------------------------------------------------------------------------


class SearchSpaceSerializer(serializers.ModelSerializer):
    """A saved search space, and what you may do with it."""

    owner = serializers.SerializerMethodField()
    space = serializers.SerializerMethodField()
    can_edit = serializers.SerializerMethodField(help_text="You may change it (PUT, PATCH).")
    can_share = serializers.SerializerMethodField(help_text="You may change its sharing.")
    can_delete = serializers.SerializerMethodField(help_text="You may delete it.")

    class Meta:
        model = SearchSpace
        fields = [
            "id", "name", "description", "owner", "space", "created_at", "updated_at",
            "can_edit", "can_share", "can_delete",
        ]  # fmt: skip
        read_only_fields = fields

    def _user(self) -> Any:
        return self.context["user"]

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_owner(self, obj: SearchSpace) -> str | None:
        return obj.owner.get_username() if obj.owner else None

    @extend_schema_field(serializers.DictField(child=ParameterSpecSerializer()))
    def get_space(self, obj: SearchSpace) -> dict[str, Any]:
        return obj.to_spec()

    def get_can_edit(self, obj: SearchSpace) -> bool:
        editing = self.context.get("editing")
        if editing is not None:  # a list passes the ids the user edits (one query for all)
            return can_share(self._user(), obj) or obj.pk in editing
        return can_edit_space(self._user(), obj)

    def get_can_share(self, obj: SearchSpace) -> bool:
        return can_share(self._user(), obj)

    def get_can_delete(self, obj: SearchSpace) -> bool:
        return can_delete_space(self._user(), obj)


# --- what is accepted (the schema; clean_space_body validates) -------------------------------


class SearchSpaceBodySerializer(ClosedSerializer):
    """A saved search space: its name, a description and the space itself."""

    name = serializers.CharField(max_length=NAME_MAX, help_text="Unique among the owner's.")
    description = serializers.CharField(
        required=False, allow_blank=True, max_length=DESCRIPTION_MAX
    )
    space = serializers.DictField(
        child=ParameterSpecSerializer(),
        help_text="Parameter name -> spec, as a sweep spec's space.",
    )


class SearchSpacePatchSerializer(ClosedSerializer):
    """The fields of a saved search space to change; give at least one."""

    min_properties = 1

    name = serializers.CharField(max_length=NAME_MAX, required=False)
    description = serializers.CharField(
        required=False, allow_blank=True, max_length=DESCRIPTION_MAX
    )
    space = serializers.DictField(child=ParameterSpecSerializer(), required=False)


def _data(obj: SearchSpace, request: Request) -> dict[str, Any]:
    obj = SearchSpace.objects.select_related("owner").prefetch_related("parameters").get(pk=obj.pk)
    return SearchSpaceSerializer(obj, context={"user": request.user}).data


def visible_space(request: Request, pk: int) -> SearchSpace:
    """The saved space ``pk`` if ``request.user`` may see it (404 otherwise)."""
    _check_id(pk)
    return get_object_or_404(visible_spaces(request.user), pk=pk)


class SearchSpaceListView(ApiView):
    """Saved search spaces you can see; save a new one."""

    @extend_schema(
        summary="The saved search spaces you can see",
        description="Your own, those shared with you; staff see all.",
        responses={200: SearchSpaceSerializer(many=True), **error_responses()},
    )
    def get(self, request: Request) -> Response:
        spaces: QuerySet[SearchSpace] = (
            visible_spaces(request.user)
            .select_related("owner")
            .prefetch_related("parameters")
            .order_by("name", "id")
        )
        editing = set(
            SearchSpace.editors.through.objects.filter(user=request.user).values_list(
                "searchspace_id", flat=True
            )
        )
        context = {"user": request.user, "editing": editing}
        return Response(SearchSpaceSerializer(spaces, many=True, context=context).data)

    @extend_schema(
        summary="Save a search space",
        description=(
            "The space is checked as a sweep spec's is: 400 with every bad field "
            "(`space.<param>.<field>`) and nothing saved. You own the new space."
        ),
        request=SearchSpaceBodySerializer,
        responses={201: SearchSpaceSerializer, **error_responses(400, 413, 415)},
        examples=[OpenApiExample("An MLP's space", value=EXAMPLE, request_only=True)],
    )
    def post(self, request: Request) -> Response:
        fields = clean_space_body(request.data, required=("name", "space"))
        saved = services.create_space(request.user, **fields)
        return Response(
            _data(saved, request),
            status=status.HTTP_201_CREATED,
            headers={"Location": reverse("api-search-space", args=[saved.pk])},
        )


class SearchSpaceDetailView(ApiView):
    """One saved search space."""

    schema = ClosedBodySchema()  # PATCH must send a body with at least one field

    @extend_schema(
        summary="A saved search space",
        responses={200: SearchSpaceSerializer, **error_responses(404)},
    )
    def get(self, request: Request, pk: int) -> Response:
        return Response(_data(visible_space(request, pk), request))

    def _change(self, request: Request, pk: int, *, replace: bool) -> Response:
        saved = visible_space(request, pk)
        if not can_edit_space(request.user, saved):
            raise PermissionDenied("only the space's owner, its editors or staff may change it")
        if replace:
            fields = {
                "description": "",
                **clean_space_body(request.data, required=("name", "space")),
            }
        else:
            fields = clean_space_body(request.data, required=())
        return Response(_data(services.update_space(saved.pk, **fields), request))

    @extend_schema(
        summary="Replace a saved search space",
        description=(
            "Name and space are required; a description left out becomes empty. Sweeps "
            "launched from the space keep the copy they searched."
        ),
        request=SearchSpaceBodySerializer,
        responses={200: SearchSpaceSerializer, **error_responses(400, 403, 404, 413, 415)},
    )
    def put(self, request: Request, pk: int) -> Response:
        return self._change(request, pk, replace=True)

    @extend_schema(
        summary="Change part of a saved search space",
        request=SearchSpacePatchSerializer,
        responses={200: SearchSpaceSerializer, **error_responses(400, 403, 404, 413, 415)},
        examples=[
            OpenApiExample("A new description", value={"description": "v2"}, request_only=True)
        ],
    )
    def patch(self, request: Request, pk: int) -> Response:
        return self._change(request, pk, replace=False)

    @extend_schema(
        summary="Delete a saved search space",
        description="Owner and staff only. Sweeps launched from it keep their copy.",
        responses={204: None, **error_responses(403, 404)},
    )
    def delete(self, request: Request, pk: int) -> Response:
        saved = visible_space(request, pk)
        if not can_delete_space(request.user, saved):
            raise PermissionDenied("only the space's owner or staff may delete it")
        services.delete_space(saved.pk)
        return Response(status=status.HTTP_204_NO_CONTENT)
