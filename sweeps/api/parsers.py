"""The API's one body parser: JSON that has passed :mod:`sweeps.guard`, or a clean error.

DRF's ``JSONParser`` reads the whole stream (Django's upload limit is only checked when
``request.body`` is touched, which DRF does not do), lets a deep document's
``RecursionError`` through as a 500, and hands on integers no column holds. This parser
reads at most the upload limit plus one byte (413 past it) and parses with
:func:`sweeps.guard.parse_json`, so every such body is a 400 naming the field.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import IO, Any

from django.conf import settings
from rest_framework import status
from rest_framework.exceptions import APIException
from rest_framework.parsers import JSONParser

from sweeps.guard import parse_json


class PayloadTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "payload_too_large"


def body_limit() -> int | None:
    """The most bytes a request body may have (Django's ``DATA_UPLOAD_MAX_MEMORY_SIZE``)."""
    limit: int | None = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    return limit


def too_large_message(limit: int) -> str:
    return f"The request body must be at most {limit} bytes."


class GuardedJSONParser(JSONParser):
    """``application/json`` bodies, size-limited and guarded; errors name ``body``."""

    def parse(
        self,
        stream: IO[bytes],
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> Any:
        limit = body_limit()
        raw = stream.read() if limit is None else stream.read(limit + 1)
        if limit is not None and len(raw) > limit:
            raise PayloadTooLarge(too_large_message(limit))
        # json.loads takes bytes in any UTF encoding, as RFC 8259 asks.
        return parse_json(raw, "body", document=True)
