"""One error shape for the whole API, and the exception handler that produces it.

* 400: ``{"errors": {field: rule}}`` — the dotted field path (``scheduler.eta``,
  ``space.lr.low``, ``params.lr``) and the rule it breaks, exactly as
  :class:`~sweeps.search.space.SpaceError` reports it. Parse errors name ``body``; a
  request Django itself found malformed names ``request``.
* 401 / 403 / 404 / 405 / 406 / 409 / 413 / 415 / 5xx: ``{"detail": message}``.

Errors Django answers before a view runs (no route, a body over the limit) get the same
shapes from :mod:`sweeps.api.middleware`.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ObjectDoesNotExist, RequestDataTooBig
from django.http import Http404
from drf_spectacular.utils import OpenApiResponse
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response
from rest_framework.views import exception_handler, set_rollback

from sweeps.api.parsers import PayloadTooLarge, body_limit, too_large_message
from sweeps.search.space import SpaceError
from sweeps.services import Conflict
from sweeps.states import InvalidTransition


class ErrorsSerializer(serializers.Serializer):
    """400: every bad field with the rule it breaks."""

    errors = serializers.DictField(
        child=serializers.CharField(),
        help_text='Field path -> rule, e.g. {"scheduler.eta": "must be a whole number >= 2"}.',
    )


class DetailSerializer(serializers.Serializer):
    """401 / 403 / 404 / 409: one message."""

    detail = serializers.CharField()


def flatten_detail(detail: Any, prefix: str = "") -> dict[str, str]:
    """Turn DRF's nested ``ValidationError.detail`` into ``{dotted.field: rule}``."""
    if isinstance(detail, dict):
        out: dict[str, str] = {}
        for key, value in detail.items():
            name = "body" if key == "non_field_errors" and not prefix else str(key)
            out.update(flatten_detail(value, f"{prefix}.{name}" if prefix else name))
        return out
    if isinstance(detail, list):
        if detail and all(not isinstance(item, dict | list) for item in detail):
            return {prefix or "body": "; ".join(str(item) for item in detail)}
        out = {}
        for index, item in enumerate(detail):
            out.update(flatten_detail(item, f"{prefix}.{index}" if prefix else str(index)))
        return out
    return {prefix or "body": str(detail)}


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Map domain and DRF exceptions onto the API's error shapes (see the module docstring)."""
    if isinstance(exc, SpaceError):
        set_rollback()
        return Response({"errors": exc.errors}, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, Conflict | InvalidTransition):
        # The object moved on (or is in a state that forbids the action): the client may
        # re-read it and decide again, which is what 409 means.
        set_rollback()
        return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
    if isinstance(exc, RequestDataTooBig):
        # DRF reads through request.body when the stream was touched; Django then refuses
        # a body over DATA_UPLOAD_MAX_MEMORY_SIZE as a 400 HTML page unless caught here.
        limit = body_limit()
        exc = PayloadTooLarge(too_large_message(limit) if limit is not None else None)
    if isinstance(exc, ObjectDoesNotExist) and not isinstance(exc, Http404):
        # A service re-fetches rows under lock; a row that vanished meanwhile is a 404.
        exc = exceptions.NotFound()
    if isinstance(exc, exceptions.ValidationError):
        set_rollback()
        return Response({"errors": flatten_detail(exc.detail)}, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, exceptions.ParseError):
        set_rollback()
        return Response({"errors": {"body": str(exc.detail)}}, status=status.HTTP_400_BAD_REQUEST)
    return exception_handler(exc, context)


BAD_REQUEST = OpenApiResponse(ErrorsSerializer, description="Bad input: field -> rule.")
UNAUTHENTICATED = OpenApiResponse(
    DetailSerializer, description="No or bad credentials (token or session)."
)
FORBIDDEN = OpenApiResponse(
    DetailSerializer, description="Not allowed: a viewer tried to steer, or CSRF failed."
)
NOT_FOUND = OpenApiResponse(
    DetailSerializer, description="No such object, or not visible to this user."
)
CONFLICT = OpenApiResponse(
    DetailSerializer, description="The object's current state does not allow this action."
)
NOT_ACCEPTABLE = OpenApiResponse(
    DetailSerializer, description="The Accept header asks for a type this API does not serve."
)
UNSUPPORTED = OpenApiResponse(DetailSerializer, description="The body is not JSON.")
TOO_LARGE = OpenApiResponse(
    DetailSerializer, description="The body is larger than the site's limit (RUNGS_MAX_BODY_BYTES)."
)


def error_responses(*codes: int) -> dict[int, OpenApiResponse]:
    """The documented error responses of an operation: 401 and 406 always, plus ``codes``."""
    known = {
        400: BAD_REQUEST,
        401: UNAUTHENTICATED,
        403: FORBIDDEN,
        404: NOT_FOUND,
        406: NOT_ACCEPTABLE,
        409: CONFLICT,
        413: TOO_LARGE,
        415: UNSUPPORTED,
    }
    return {code: known[code] for code in sorted({401, 406, *codes})}
