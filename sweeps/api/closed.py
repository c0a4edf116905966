"""Closed request bodies: every field listed, any other key refused.

Its own module so that :mod:`sweeps.actions` (which declares each action's body) and
:mod:`sweeps.api.serializers` (which sends each row's allowed actions) can both use it
without importing each other.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiSerializerExtension
from drf_spectacular.openapi import AutoSchema
from rest_framework import serializers


class ClosedSerializer(serializers.Serializer):
    """An object whose fields are all listed: the validators refuse any other key, so the
    schema says ``additionalProperties: false`` (and ``minProperties`` when set)."""

    min_properties: int | None = None


class ClosedSerializerExtension(OpenApiSerializerExtension):
    """Writes what :class:`ClosedSerializer` promises into the schema."""

    target_class = ClosedSerializer
    match_subclasses = True

    def map_serializer(self, auto_schema: Any, direction: Any) -> dict[str, Any]:
        schema: dict[str, Any] = auto_schema._map_serializer(
            self.target, direction, bypass_extensions=True
        )
        schema["additionalProperties"] = False
        if self.target.min_properties is not None:
            schema["minProperties"] = self.target.min_properties
        return schema


class ClosedBodySchema(AutoSchema):
    """The schema of a view whose body is a :class:`ClosedSerializer` with ``min_properties``:
    the body is required, though none of its fields is on its own (PATCH: give any one)."""

    def _get_request_for_media_type(self, serializer: Any, direction: str = "request") -> Any:
        schema, required = super()._get_request_for_media_type(serializer, direction)
        return schema, required or bool(getattr(serializer, "min_properties", None))
