"""Cursor pages for the API's lists that grow without bound (sweeps, a sweep's trials).

A page is ``{"next": url | null, "previous": url | null, "results": [...]}``; a client
follows ``next`` until it is null. The cursor holds the last row's key (a trial's
``number``, a sweep's ``id``), never an offset, so rows added while a client walks the pages
are neither skipped nor repeated: new trials get higher numbers and come at the end.

``page_size`` (1 to :data:`MAX_PAGE_SIZE`, default :data:`PAGE_SIZE`) and ``cursor`` (only
as the API gave it) are checked like every other field: a bad one is a 400 naming it.
"""

from __future__ import annotations

from typing import Any

from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import Cursor, CursorPagination
from rest_framework.request import Request

from sweeps.guard import MAX_INT

# 10,000 trials as one list were 6 MB and 1.6 s; 500 rows are about 300 kB.
PAGE_SIZE = 500
MAX_PAGE_SIZE = 1000


class KeyCursorPagination(CursorPagination):
    """Cursor pages ordered by one unique integer key (``ordering``), bounded in size."""

    page_size = PAGE_SIZE
    page_size_query_param = "page_size"
    max_page_size = MAX_PAGE_SIZE
    ordering = "id"
    cursor_query_description = "Where the page starts: the `next` or `previous` of the last page."
    page_size_query_description = f"Rows per page, 1 to {MAX_PAGE_SIZE} (default {PAGE_SIZE})."

    def get_page_size(self, request: Request) -> int:
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None or raw == "":
            return self.page_size
        rule = f"must be a whole number from 1 to {self.max_page_size}"
        # int() would take Unicode digits, "_" and spaces; the schema says ASCII digits.
        if not raw.isascii() or not raw.isdigit() or len(raw) > 9:
            raise ValidationError({self.page_size_query_param: f"{rule}, got {raw[:40]!r}"})
        value = int(raw)
        if not 1 <= value <= self.max_page_size:
            raise ValidationError({self.page_size_query_param: f"{rule}, got {value}"})
        return value

    def decode_cursor(self, request: Request) -> Cursor | None:
        try:
            cursor = super().decode_cursor(request)
        except NotFound:
            cursor = None
        else:
            # The position is the last key seen: an integer, or the filter on it would fail.
            position = None if cursor is None else cursor.position
            if position is None or (
                position.isascii() and position.isdigit() and int(position) <= MAX_INT
            ):
                return cursor
        raise ValidationError({self.cursor_query_param: "is not a cursor this API gave"})

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"] = {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": self.max_page_size,
                }
        return parameters

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        out = super().get_paginated_response_schema(schema)
        out["required"] = ["next", "previous", "results"]  # always sent, null when none
        out["properties"]["next"].update(
            description="The next page's URL; null on the last page.",
            example="https://rungs.example/api/sweeps/7/trials/?cursor=cD01MDA%3D&page_size=500",
        )
        out["properties"]["previous"].update(
            description="The page before; null on the first.",
            example="https://rungs.example/api/sweeps/7/trials/?cursor=cj0xJnA9NTAx&page_size=500",
        )
        return out


class TrialPagination(KeyCursorPagination):
    """A sweep's trials by number, as they always were listed."""

    ordering = "number"


class SweepPagination(KeyCursorPagination):
    """Sweeps newest first (ids grow with creation, as ``created_at`` does)."""

    ordering = "-id"
