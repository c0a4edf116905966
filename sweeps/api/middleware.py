"""JSON answers for every ``/api/`` error, including those Django gives before or around
the API's views.

A script reads ``/api/`` answers as JSON. Django answers some requests itself, as HTML: a
path no route matches (``/api/%0A``: ``.`` in the catch-all route does not match a
newline), a body over ``DATA_UPLOAD_MAX_MEMORY_SIZE``, a CSRF failure, a server error
(with ``DEBUG``, the debug page, settings and all). This middleware sits outermost but for
gzip (which only compresses what it answers): it refuses an oversized body up front (413,
without reading it) and turns any other non-JSON error answer under ``/api/`` into the
API's shapes (see :mod:`sweeps.api.errors`).

It reads the body first, through ``request.body``, which stops at the limit (one byte past
it) whether the length was declared or not (a chunked ASGI body), so that no later reader
can raise ``RequestDataTooBig`` where only an HTML 400 would answer it.
"""

from __future__ import annotations

from collections.abc import Callable

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponseBase, JsonResponse, UnreadablePostError

from sweeps.api.parsers import body_limit, too_large_message

PREFIX = "/api/"
# Headers of the original answer that still hold for the JSON one.
KEPT_HEADERS = ("Allow", "WWW-Authenticate", "Retry-After")


class ApiErrorsMiddleware:
    """Under ``/api/``: 413 for a body over the limit; JSON for every error answer."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if not request.path_info.startswith(PREFIX):
            return self.get_response(request)
        try:
            request.body  # noqa: B018 - read (bounded) now; see the module docstring
        except RequestDataTooBig:
            return payload_too_large()
        except UnreadablePostError:
            return JsonResponse({"errors": {"body": "could not be read"}}, status=400)
        response = self.get_response(request)
        if response.status_code < 400 or _is_json(response):
            return response
        return json_error(response)


def payload_too_large() -> JsonResponse:
    limit = body_limit()
    message = too_large_message(limit) if limit is not None else "The body is too large."
    return JsonResponse({"detail": message}, status=413)


def _is_json(response: HttpResponseBase) -> bool:
    return response.get("Content-Type", "").split(";")[0].strip() == "application/json"


def json_error(response: HttpResponseBase) -> JsonResponse:
    """The API's error shape for an error ``response`` Django (or a plain view) gave."""
    code = response.status_code
    if code == 413:
        out = payload_too_large()
    elif code == 400:
        out = JsonResponse({"errors": {"request": "is malformed"}}, status=400)
    elif code >= 500:
        # Never the debug page: it shows settings and the request. The log has the traceback.
        out = JsonResponse({"detail": "Server error."}, status=code)
    elif code == 404:
        out = JsonResponse({"detail": "Not found."}, status=code)  # as DRF words it
    else:
        out = JsonResponse({"detail": response.reason_phrase or "Error."}, status=code)
    for header in KEPT_HEADERS:
        if header in response:
            out[header] = response[header]
    return out
