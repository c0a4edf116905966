"""Sweep exports through the API: CSV, JSON and Parquet files of a sweep's trials and points
(the files themselves are built in :mod:`sweeps.api.exports`)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any, ClassVar

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpResponse, HttpResponseBase, StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.request import Request

from sweeps.api import exports
from sweeps.api.errors import error_responses
from sweeps.api.views import ApiView, visible_sweep
from sweeps.search.space import SpaceError


class FilesNegotiation(BaseContentNegotiation):
    """Exports answer with their own content type whatever ``Accept`` says; errors are JSON."""

    def select_parser(self, request: Request, parsers: list[Any]) -> Any:
        return parsers[0]

    def select_renderer(
        self, request: Request, renderers: list[Any], format_suffix: str | None = None
    ) -> tuple[Any, str]:
        return renderers[0], renderers[0].media_type


class ExportView(ApiView):
    """A sweep as a table: one row per trial (params flattened), or metric points."""

    fmt: ClassVar[str] = ""
    content_negotiation_class = FilesNegotiation

    def export(self, request: Request, pk: int) -> HttpResponseBase:
        sweep = visible_sweep(request, pk)
        raw = request.query_params.get("metrics", "0")
        if raw not in ("0", "1"):
            # Only what the schema documents ("true" was taken once, and the schema said 0/1).
            raise SpaceError({"metrics": f"must be 1 or 0, got {raw[:40]!r}"})
        long = raw == "1"
        response: HttpResponseBase
        if self.fmt == "parquet":
            # A Parquet file's footer describes the whole file: it is built in memory.
            frame = exports.metrics_frame(sweep) if long else exports.trials_frame(sweep)
            body, content_type = exports.render(frame, self.fmt)
            response = HttpResponse(body, content_type=content_type)
        else:
            chunks = (exports.stream_metrics if long else exports.stream_trials)(sweep, self.fmt)
            response = StreamingHttpResponse(
                _served(request, chunks), content_type=exports.CONTENT_TYPES[self.fmt]
            )
        kind = "metrics" if long else "trials"
        response["Content-Disposition"] = (
            f'attachment; filename="sweep-{sweep.pk}-{kind}.{self.fmt}"'
        )
        return response


def _served(request: Request, chunks: Iterator[bytes]) -> Iterator[bytes] | AsyncIterator[bytes]:
    """``chunks`` as the server can stream them. Under ASGI (daphne) Django reads a plain
    iterator into one list before sending it, so there each chunk is made in a worker
    thread, one at a time: the same thread every time (thread_sensitive), which the open
    database cursor needs."""
    if not isinstance(request._request, ASGIRequest):
        return chunks
    step = sync_to_async(next, thread_sensitive=True)

    async def pieces() -> AsyncIterator[bytes]:
        while (chunk := await step(chunks, None)) is not None:
            yield chunk

    return pieces()


def _export(fmt: str) -> type[ExportView]:
    media = exports.CONTENT_TYPES[fmt]
    body = {
        "csv": OpenApiTypes.STR,
        "json": {"type": "array", "items": {"type": "object", "additionalProperties": True}},
        "parquet": OpenApiTypes.BINARY,
    }[fmt]

    # A new function per view: extend_schema annotates the function object it is given.
    def get(self: ExportView, request: Request, pk: int) -> HttpResponseBase:
        return self.export(request, pk)

    documented = extend_schema(
        summary=f"Export a sweep as {fmt.upper()}",
        description=(
            "One row per trial with its params flattened (params.<name>), its status, best "
            "value and rung results (rung_<k>.value); with metrics=1, the long table of "
            "metric points (trial, name, step, value, time)."
        ),
        parameters=[
            OpenApiParameter(
                "metrics", str, enum=["0", "1"], description="1: the metric points instead."
            )
        ],
        responses={
            (200, media): OpenApiResponse(body, description=f"The table as {fmt}."),
            **{
                (code, "application/json"): response
                for code, response in error_responses(400, 404).items()
            },
        },
    )(get)
    return type(f"Export{fmt.title()}View", (ExportView,), {"fmt": fmt, "get": documented})


ExportCsvView = _export("csv")
ExportJsonView = _export("json")
ExportParquetView = _export("parquet")
